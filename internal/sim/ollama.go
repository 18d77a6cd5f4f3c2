package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks/tokens"
	"github.com/servelab/servelab/internal/engine"
)

// Ollama's native API, as far as servelab uses it: /api/tags and /api/pull
// for readiness, /api/generate and /api/chat for generation with Ollama's
// timing fields (durations in nanoseconds).

func (s *Server) handleOllamaTags(w http.ResponseWriter, r *http.Request) {
	models := []map[string]any{}
	if s.Ready() {
		tag := engine.OllamaTag(s.cfg.Model)
		models = append(models, map[string]any{
			"name": tag, "model": tag, "modified_at": s.readyAt.UTC().Format(time.RFC3339),
			"size": 0, "digest": "servelab-sim",
			"details": map[string]any{"family": OwnedBy, "format": "sim"},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

// handleOllamaPS lists the loaded models (Ollama's `ollama ps`): the model
// once its lazy load has finished, else nothing.
func (s *Server) handleOllamaPS(w http.ResponseWriter, r *http.Request) {
	models := []map[string]any{}
	if at, ok := s.model.loadedSince(s.cfg.LoadDelay); ok {
		tag := engine.OllamaTag(s.cfg.Model)
		models = append(models, map[string]any{
			"name": tag, "model": tag, "size": 0, "size_vram": 0, "digest": "servelab-sim",
			"details":    map[string]any{"family": OwnedBy, "format": "sim"},
			"expires_at": at.Add(24 * time.Hour).UTC().Format(time.RFC3339),
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"models": models})
}

// ollamaLoad waits for the "download" (the start-up delay) and the lazy
// model load, and returns how long that took: Ollama's load_duration.
func (s *Server) ollamaLoad(r *http.Request) (time.Duration, error) {
	waited := max(time.Until(s.readyAt), 0)
	if err := s.waitReady(r); err != nil {
		return 0, err
	}
	loading, err := s.model.ensure(r.Context(), s.cfg.LoadDelay)
	return waited + loading, err
}

// keepAliveZero reports whether a request's keep_alive (seconds as a
// number, or a duration string) asks to unload the model after answering.
func keepAliveZero(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		return n == 0
	}
	var str string
	if json.Unmarshal(raw, &str) != nil {
		return false
	}
	if d, err := time.ParseDuration(str); err == nil {
		return d == 0
	}
	return str == "0"
}

// handleOllamaPull "downloads" the served model: it waits for the start-up
// delay. Pulling any other model fails as Ollama does for an unknown name.
func (s *Server) handleOllamaPull(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model  string `json:"model"`
		Name   string `json:"name"`
		Stream *bool  `json:"stream"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
		return
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if engine.OllamaTag(name) != engine.OllamaTag(s.cfg.Model) {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "pull model manifest: file does not exist"})
		return
	}
	stream := req.Stream == nil || *req.Stream
	if stream {
		w.Header().Set("Content-Type", "application/x-ndjson")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "pulling manifest"})
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	if err := s.waitReady(r); err != nil {
		return
	}
	if stream {
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "success"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "success"})
}

// handleOllamaGenerate serves /api/generate (chat=false) and /api/chat.
// stream defaults to true (NDJSON lines); options.num_predict limits the
// output (default Config.MaxOutputTokens). The model is loaded on first
// use (Config.LoadDelay), as Ollama does; an empty prompt only loads it,
// answering done_reason "load", and keep_alive 0 unloads it afterwards.
func (s *Server) handleOllamaGenerate(chat bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Prompt   string `json:"prompt"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			Stream    *bool           `json:"stream"`
			KeepAlive json.RawMessage `json:"keep_alive"`
			Options   struct {
				NumPredict *int `json:"num_predict"`
			} `json:"options"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON body: " + err.Error()})
			return
		}
		if engine.OllamaTag(req.Model) != engine.OllamaTag(s.cfg.Model) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "model '" + req.Model + "' not found"})
			return
		}
		arrival := time.Now()
		load, err := s.ollamaLoad(r)
		if err != nil {
			return
		}
		if keepAliveZero(req.KeepAlive) {
			defer s.model.unload()
		}
		text, promptTokens := req.Prompt, tokens.Approx(req.Prompt)
		if chat {
			var b strings.Builder
			promptTokens = 0
			for _, m := range req.Messages {
				b.WriteString(m.Content)
				b.WriteByte('\n')
				promptTokens += tokens.Approx(m.Content)
			}
			text = b.String()
		}
		base := map[string]any{"model": req.Model, "created_at": time.Now().UTC().Format(time.RFC3339Nano)}
		if text == "" {
			base["done"], base["done_reason"] = true, "load"
			if chat {
				base["message"] = map[string]string{"role": "assistant", "content": ""}
			} else {
				base["response"] = ""
			}
			base["load_duration"] = load.Nanoseconds()
			writeJSON(w, http.StatusOK, base)
			return
		}
		n := s.cfg.MaxOutputTokens
		if req.Options.NumPredict != nil && *req.Options.NumPredict > 0 {
			n = *req.Options.NumPredict
		}
		p := s.newPlan("", text, promptTokens, n)
		stream := req.Stream == nil || *req.Stream
		line := func(tok string, done bool) map[string]any {
			m := map[string]any{"model": req.Model, "created_at": time.Now().UTC().Format(time.RFC3339Nano), "done": done}
			if chat {
				m["message"] = map[string]string{"role": "assistant", "content": tok}
			} else {
				m["response"] = tok
			}
			return m
		}
		enc := json.NewEncoder(w)
		f, _ := w.(http.Flusher)
		if stream {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		t, err := s.run(r.Context(), p, func(i int) error {
			if !stream {
				return nil
			}
			if err := enc.Encode(line(p.token(i), false)); err != nil {
				return err
			}
			if f != nil {
				f.Flush()
			}
			return nil
		})
		if err != nil {
			if t.first.IsZero() && errors.Is(err, errInjected) {
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			}
			return
		}
		final := line("", true)
		if !stream {
			final = line(p.text(), true)
		}
		final["done_reason"] = "length"
		final["total_duration"] = time.Since(arrival).Nanoseconds()
		final["load_duration"] = load.Nanoseconds()
		final["prompt_eval_count"] = p.promptTokens
		final["prompt_eval_duration"] = t.first.Sub(t.admitted).Nanoseconds()
		final["eval_count"] = p.n
		final["eval_duration"] = t.last.Sub(t.first).Nanoseconds()
		if !stream {
			writeJSON(w, http.StatusOK, final)
			return
		}
		_ = enc.Encode(final) // a failed write means the client left
	}
}
