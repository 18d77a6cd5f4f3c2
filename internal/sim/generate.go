package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks/tokens"
	"github.com/servelab/servelab/internal/engine"
)

type reqKind int

const (
	kindChat reqKind = iota
	kindCompletions
)

// errInjected is the failure drawn with probability Config.FailureRate.
var errInjected = errors.New("simulated failure (--failure-rate)")

// vocabulary of generated text: one word per token.
var vocabulary = [...]string{
	"the", "model", "is", "simulated", "and", "every", "token", "arrives", "on", "time",
	"servelab", "measures", "latency", "with", "care", "so", "engines", "can", "be", "compared",
	"fairly", "under", "the", "same", "load", "while", "prompts", "stream", "back", "one",
	"word", "at", "a", "time", "from", "this", "synthetic", "server", "which", "has",
	"no", "weights", "but", "keeps", "its", "promises", "about", "pace", "queue", "capacity",
}

// plan is one generation request, decided before any waiting.
type plan struct {
	id           string
	textSeed     uint64
	promptTokens int
	n            int // tokens to generate
	rng          *rand.Rand
}

func (s *Server) newPlan(prefix, promptText string, promptTokens, n int) *plan {
	seq := s.seq.Add(1)
	h := fnv.New64a()
	_, _ = h.Write([]byte(promptText)) // hash writes never fail
	return &plan{
		id:           prefix + strconv.FormatUint(seq, 10),
		textSeed:     h.Sum64() ^ uint64(s.cfg.Seed),
		promptTokens: promptTokens,
		n:            n,
		rng:          rand.New(rand.NewPCG(uint64(s.cfg.Seed), seq)),
	}
}

// word returns token i of the plan's text (deterministic).
func (p *plan) word(i int) string {
	x := p.textSeed + uint64(i)*0x9e3779b97f4a7c15 // splitmix64
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	x ^= x >> 31
	return vocabulary[x%uint64(len(vocabulary))]
}

// token returns the text of token i: the word, with a leading space after
// the first.
func (p *plan) token(i int) string {
	if i == 0 {
		return p.word(0)
	}
	return " " + p.word(i)
}

// text returns the whole generated text.
func (p *plan) text() string {
	var b strings.Builder
	for i := range p.n {
		b.WriteString(p.token(i))
	}
	return b.String()
}

func (s *Server) jitter(p *plan, d time.Duration) time.Duration {
	if s.cfg.Jitter == 0 || d == 0 {
		return d
	}
	f := 1 + s.cfg.Jitter*(2*p.rng.Float64()-1)
	return time.Duration(float64(d) * f)
}

// timing records when a generation's phases happened.
type timing struct {
	arrival, admitted, first, last time.Time
}

// run waits for a decode slot, then calls emit for each token at its
// absolute deadline: admitted + ttft + Σ itl. It updates the flavour's
// metrics from real traffic.
func (s *Server) run(ctx context.Context, p *plan, emit func(i int) error) (timing, error) {
	t := timing{arrival: time.Now()}
	if p.rng.Float64() < s.cfg.FailureRate {
		return t, errInjected
	}
	addGauge(s.m.waiting, 1)
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			addGauge(s.m.waiting, -1)
			return t, ctx.Err()
		}
		defer func() { <-s.slots }()
	}
	addGauge(s.m.waiting, -1)
	t.admitted = time.Now()
	observe(s.m.queue, t.admitted.Sub(t.arrival))
	running := s.running.Add(1)
	s.setLoadGauges(running)
	defer func() { s.setLoadGauges(s.running.Add(-1)) }()
	addCounter(s.m.promptTokens, float64(p.promptTokens))

	clock := s.pacer.clock()
	deadline := t.admitted.Add(s.jitter(p, s.cfg.TTFT))
	var prev time.Time
	for i := range p.n {
		if i > 0 {
			deadline = deadline.Add(s.jitter(p, s.cfg.ITL))
		}
		if err := clock.sleepUntil(ctx, deadline); err != nil {
			return t, err
		}
		if err := emit(i); err != nil {
			return t, err
		}
		now := time.Now()
		if i == 0 {
			t.first = now
			observe(s.m.ttft, now.Sub(t.arrival))
			if s.m.promptTPS != nil && now.After(t.admitted) {
				s.m.promptTPS.Set(float64(p.promptTokens) / now.Sub(t.admitted).Seconds())
			}
		} else {
			observe(s.m.itl, now.Sub(prev))
		}
		prev = now
		addCounter(s.m.genTokens, 1)
		addCounter(s.m.nDecode, 1)
	}
	t.last = prev
	observe(s.m.e2e, t.last.Sub(t.arrival))
	if p.n > 1 {
		tpot := t.last.Sub(t.first) / time.Duration(p.n-1)
		observe(s.m.tpot, tpot)
		if s.m.predictedTPS != nil && tpot > 0 {
			s.m.predictedTPS.Set(1 / tpot.Seconds())
		}
	}
	return t, nil
}

// setLoadGauges publishes running, KV use (running/capacity: every running
// request holds an equal share of the simulated cache) and SGLang's
// generation throughput (running requests × tokens/s each).
func (s *Server) setLoadGauges(running int64) {
	setGauge(s.m.running, float64(running))
	if s.cfg.Capacity > 0 {
		setGauge(s.m.kvUsage, float64(running)/float64(s.cfg.Capacity))
	}
	if s.cfg.ITL > 0 {
		setGauge(s.m.genThroughput, float64(running)/s.cfg.ITL.Seconds())
	}
	setGauge(s.m.cacheHitRate, 0)
}

// openAIRequest is the subset of an OpenAI chat/completions request the sim
// reads. Other fields (temperature, ignore_eos, stop, ...) are accepted and
// ignored.
type openAIRequest struct {
	Model    string `json:"model"`
	Messages []struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	} `json:"messages"`
	Prompt              json.RawMessage `json:"prompt"`
	MaxTokens           *int            `json:"max_tokens"`
	MaxCompletionTokens *int            `json:"max_completion_tokens"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// contentText returns a chat message content's text: a string, or the
// "text" parts of a content-part array.
func contentText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", errors.New("messages[].content must be a string or an array of content parts")
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Type == "text" {
			b.WriteString(p.Text)
		}
	}
	return b.String(), nil
}

// promptOf returns the text and token count of the request's input.
func promptOf(kind reqKind, req *openAIRequest) (string, int, error) {
	if kind == kindChat {
		if len(req.Messages) == 0 {
			return "", 0, errors.New("messages: at least one message is required")
		}
		var b strings.Builder
		n := 0
		for _, m := range req.Messages {
			t, err := contentText(m.Content)
			if err != nil {
				return "", 0, err
			}
			b.WriteString(t)
			b.WriteByte('\n')
			n += tokens.Approx(t)
		}
		return b.String(), n, nil
	}
	if len(req.Prompt) == 0 {
		return "", 0, errors.New("prompt is required")
	}
	var one string
	if err := json.Unmarshal(req.Prompt, &one); err == nil {
		return one, tokens.Approx(one), nil
	}
	var many []string
	if err := json.Unmarshal(req.Prompt, &many); err != nil {
		return "", 0, errors.New("prompt must be a string or an array of strings")
	}
	n := 0
	for _, p := range many {
		n += tokens.Approx(p)
	}
	return strings.Join(many, "\n"), n, nil
}

// maxTokens applies the flavour's rule: vLLM, SGLang and llama.cpp take
// max_completion_tokens over max_tokens; Ollama's OpenAI layer has no
// max_completion_tokens field and silently ignores it (its struct lacks the
// field), so only max_tokens limits an Ollama-flavoured completion.
func (s *Server) maxTokens(req *openAIRequest) (int, error) {
	v := req.MaxTokens
	name := "max_tokens"
	if s.cfg.Flavour != engine.Ollama && req.MaxCompletionTokens != nil {
		v, name = req.MaxCompletionTokens, "max_completion_tokens"
	}
	if v == nil {
		return s.cfg.MaxOutputTokens, nil
	}
	if *v < 1 {
		return 0, fmt.Errorf("%s must be at least 1, got %d", name, *v)
	}
	return *v, nil
}

func (s *Server) modelMatches(name string) bool {
	switch s.cfg.Flavour {
	case engine.LlamaCpp:
		return true // llama.cpp serves one model whatever the request names
	case engine.Ollama:
		return engine.OllamaTag(name) == engine.OllamaTag(s.cfg.Model)
	default:
		return name == "" || name == s.cfg.Model
	}
}

func (s *Server) handleOpenAI(kind reqKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req openAIRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 32<<20)).Decode(&req); err != nil {
			openAIError(w, http.StatusBadRequest, "BadRequestError", "invalid JSON body: "+err.Error())
			return
		}
		if !s.modelMatches(req.Model) {
			msg := fmt.Sprintf("The model `%s` does not exist.", req.Model)
			if s.cfg.Flavour == engine.Ollama {
				msg = fmt.Sprintf("model %q not found, try pulling it first", req.Model)
			}
			openAIError(w, http.StatusNotFound, "NotFoundError", msg)
			return
		}
		text, promptTokens, err := promptOf(kind, &req)
		if err != nil {
			openAIError(w, http.StatusBadRequest, "BadRequestError", err.Error())
			return
		}
		n, err := s.maxTokens(&req)
		if err != nil {
			openAIError(w, http.StatusBadRequest, "BadRequestError", err.Error())
			return
		}
		if s.cfg.Flavour == engine.Ollama {
			if _, err := s.ollamaLoad(r); err != nil {
				return
			}
		}
		prefix := "chatcmpl-sim-"
		if kind == kindCompletions {
			prefix = "cmpl-sim-"
		}
		p := s.newPlan(prefix, text, promptTokens, n)
		if req.Stream {
			s.stream(w, r, kind, p, req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
			return
		}
		s.complete(w, r, kind, p)
	}
}

func usageOf(p *plan) map[string]int {
	return map[string]int{"prompt_tokens": p.promptTokens, "completion_tokens": p.n, "total_tokens": p.promptTokens + p.n}
}

// complete answers a non-streaming request when the whole completion is
// generated.
func (s *Server) complete(w http.ResponseWriter, r *http.Request, kind reqKind, p *plan) {
	created := time.Now().Unix()
	if _, err := s.run(r.Context(), p, func(int) error { return nil }); err != nil {
		s.failed(w, err)
		return
	}
	choice := map[string]any{"index": 0, "finish_reason": "length", "logprobs": nil}
	object := "chat.completion"
	if kind == kindChat {
		choice["message"] = map[string]any{"role": "assistant", "content": p.text()}
	} else {
		object = "text_completion"
		choice["text"] = p.text()
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": p.id, "object": object, "created": created, "model": s.cfg.Model,
		"choices": []any{choice}, "usage": usageOf(p),
	})
}

func (s *Server) failed(w http.ResponseWriter, err error) {
	if errors.Is(err, errInjected) {
		openAIError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
		return
	}
	s.log.Debug("request ended", "err", err) // client gone or server closing
}

// sseWriter writes one SSE event per call and flushes it.
type sseWriter struct {
	w   http.ResponseWriter
	f   http.Flusher
	buf []byte
}

func (sw *sseWriter) send(b []byte) error {
	if _, err := sw.w.Write(b); err != nil {
		return err
	}
	sw.f.Flush()
	return nil
}

// stream answers a streaming request, one SSE event per token, with the
// flavour's framing of the final chunks:
//   - vLLM, SGLang: the last token chunk carries finish_reason "length";
//     with include_usage a final {"choices":[],"usage":{...}} chunk follows.
//   - Ollama: a final chunk with empty content and finish_reason "length";
//     usage only with include_usage, in a {"choices":[]} chunk.
//   - llama.cpp: a first chunk {"delta":{"role":"assistant","content":null}},
//     then a final {"delta":{}} chunk with finish_reason, usage and timings
//     (always, include_usage or not).
//
// Every stream ends with "data: [DONE]".
func (s *Server) stream(w http.ResponseWriter, r *http.Request, kind reqKind, p *plan, includeUsage bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		openAIError(w, http.StatusInternalServerError, "InternalServerError", "streaming unsupported by the connection")
		return
	}
	created := strconv.FormatInt(time.Now().Unix(), 10)
	object := "chat.completion.chunk"
	if kind == kindCompletions {
		object = "text_completion"
	}
	modelJSON, _ := json.Marshal(s.cfg.Model) // a string always marshals
	// head is everything before "choices".
	head := []byte(`{"id":"` + p.id + `","object":"` + object + `","created":` + created + `,"model":` + string(modelJSON) + `,`)
	sw := &sseWriter{w: w, f: f, buf: make([]byte, 0, 512)}
	flavour := s.cfg.Flavour
	lastFinishes := flavour == engine.VLLM || flavour == engine.SGLang

	tokenEvent := func(i int) []byte {
		b := append(sw.buf[:0], "data: "...)
		if i == 0 && flavour == engine.LlamaCpp && kind == kindChat {
			b = append(b, head...)
			b = append(b, `"choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}`+"\n\ndata: "...)
		}
		b = append(b, head...)
		tok := p.token(i) // vocabulary words need no JSON escaping
		if kind == kindChat {
			b = append(b, `"choices":[{"index":0,"delta":{`...)
			if i == 0 || flavour == engine.Ollama {
				b = append(b, `"role":"assistant",`...)
			}
			b = append(b, `"content":"`...)
			b = append(b, tok...)
			b = append(b, `"},"logprobs":null,"finish_reason":`...)
		} else {
			b = append(b, `"choices":[{"index":0,"text":"`...)
			b = append(b, tok...)
			b = append(b, `","logprobs":null,"finish_reason":`...)
		}
		if lastFinishes && i == p.n-1 {
			b = append(b, `"length"`...)
		} else {
			b = append(b, `null`...)
		}
		b = append(b, "}]}\n\n"...)
		sw.buf = b
		return b
	}

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	t, err := s.run(r.Context(), p, func(i int) error {
		if i == 0 {
			w.WriteHeader(http.StatusOK)
		}
		return sw.send(tokenEvent(i))
	})
	if err != nil {
		if t.first.IsZero() {
			s.failed(w, err)
		}
		return
	}
	usage, _ := json.Marshal(usageOf(p)) // a map of ints always marshals
	var tail []byte
	switch flavour {
	case engine.VLLM, engine.SGLang:
		if includeUsage {
			tail = fmt.Appendf(tail, "data: %s\"choices\":[],\"usage\":%s}\n\n", head, usage)
		}
	case engine.Ollama:
		if kind == kindChat {
			tail = fmt.Appendf(tail, "data: %s\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":\"length\"}]}\n\n", head)
		} else {
			tail = fmt.Appendf(tail, "data: %s\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":\"length\"}]}\n\n", head)
		}
		if includeUsage {
			tail = fmt.Appendf(tail, "data: %s\"choices\":[],\"usage\":%s}\n\n", head, usage)
		}
	case engine.LlamaCpp:
		promptMS := float64(t.first.Sub(t.admitted)) / 1e6
		predictedMS := float64(t.last.Sub(t.first)) / 1e6
		timings := fmt.Sprintf(`{"prompt_n":%d,"prompt_ms":%.3f,"predicted_n":%d,"predicted_ms":%.3f}`, p.promptTokens, promptMS, p.n, predictedMS)
		choice := `{"finish_reason":"length","index":0,"delta":{}}`
		if kind == kindCompletions {
			choice = `{"finish_reason":"length","index":0,"text":""}`
		}
		tail = fmt.Appendf(tail, "data: %s\"choices\":[%s],\"usage\":%s,\"timings\":%s}\n\n", head, choice, usage, timings)
	}
	tail = append(tail, "data: [DONE]\n\n"...)
	_ = sw.send(tail) // a failed write means the client left
}
