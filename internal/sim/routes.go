package sim

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servelab/servelab/internal/engine"
)

// routes builds the flavour's API. Health and readiness follow package
// engine's facts:
//   - vLLM: GET /health 200 once up (503 before; Run keeps the port closed
//     until then), GET /v1/models lists the model.
//   - SGLang: GET /health and GET /health_generate 503 until warm, then 200;
//     GET /v1/models answers during warm-up; generation 503 until warm.
//   - Ollama: GET / and GET /api/version answer at once; GET /api/tags lists
//     the model once the start-up delay ("download") has passed; POST
//     /api/pull waits for it; generation waits for the load as Ollama does.
//   - llama.cpp: every endpoint answers 503 {"error":{"code":503,"message":
//     "Loading model","type":"unavailable_error"}} until loaded, then GET
//     /health 200 {"status":"ok"}.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", s.handleModels)
	mux.HandleFunc("POST /v1/chat/completions", s.handleOpenAI(kindChat))
	mux.HandleFunc("POST /v1/completions", s.handleOpenAI(kindCompletions))
	if s.spec.HasMetrics() {
		mux.Handle("GET "+s.spec.MetricsPath, promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	}
	switch s.cfg.Flavour {
	case engine.VLLM:
		mux.HandleFunc("GET /health", s.handleEmptyHealth)
	case engine.SGLang:
		mux.HandleFunc("GET /health", s.handleEmptyHealth)
		mux.HandleFunc("GET /health_generate", s.handleEmptyHealth)
	case engine.LlamaCpp:
		mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		})
	case engine.Ollama:
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("Ollama is running (servelab sim)"))
		})
		mux.HandleFunc("GET /api/version", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, map[string]string{"version": "0.0.0-servelab-sim"})
		})
		mux.HandleFunc("GET /api/tags", s.handleOllamaTags)
		mux.HandleFunc("GET /api/ps", s.handleOllamaPS)
		mux.HandleFunc("POST /api/pull", s.handleOllamaPull)
		mux.HandleFunc("POST /api/generate", s.handleOllamaGenerate(false))
		mux.HandleFunc("POST /api/chat", s.handleOllamaGenerate(true))
	}
	return s.gate(mux)
}

// gate marks every response as simulated, checks the API key where the
// flavour's engine does and applies the flavour's behaviour while loading.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(Header, string(s.cfg.Flavour))
		if !s.authorized(r) {
			s.unauthorized(w)
			return
		}
		if !s.Ready() {
			switch s.cfg.Flavour {
			case engine.LlamaCpp:
				writeJSON(w, http.StatusServiceUnavailable, map[string]any{
					"error": map[string]any{"code": 503, "message": "Loading model", "type": "unavailable_error"},
				})
				return
			case engine.VLLM:
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			case engine.SGLang:
				switch r.URL.Path {
				case "/v1/models", s.spec.MetricsPath:
				default:
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) handleEmptyHealth(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleModels(w http.ResponseWriter, r *http.Request) {
	id := s.cfg.Model
	if s.cfg.Flavour == engine.Ollama {
		if !s.Ready() {
			writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{}})
			return
		}
		id = engine.OllamaTag(id)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data": []map[string]any{{
			"id": id, "object": "model", "created": s.readyAt.Unix(), "owned_by": OwnedBy, "root": s.cfg.Model,
		}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // a failed write means the client left
}

// openAIError writes an OpenAI-shaped error body.
func openAIError(w http.ResponseWriter, status int, typ, msg string) {
	writeJSON(w, status, map[string]any{
		"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": status},
	})
}

// waitReady blocks until the start-up delay has passed or ctx ends.
func (s *Server) waitReady(r *http.Request) error {
	d := time.Until(s.readyAt)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}
