package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// behaviour is how a fake upstream answers API requests.
type behaviour int32

const (
	behaveOK            behaviour = iota
	behave503                     // 503 with an error body
	behave500                     // 500 with an error body
	behaveKillMidway              // stream two chunks, then hijack and close
	behaveStall                   // stream one chunk, then stop writing
	behaveStallHeaders            // never send headers
	behaveMalformedSSE            // send bytes that are not proper SSE
	behaveHangup                  // hijack and close before any response
	behaveFlood                   // stream 64 KiB events until the client goes away
	behaveTruncatedJSON           // promise 1000 bytes of JSON, send 10, close
	behaveStallJSON               // send JSON headers, then nothing
	behaveHugeJSON                // a 5 MiB JSON answer
	behaveKillMidEvent            // stream one chunk and half of the next, then hijack and close
	behaveHugeTruncated           // promise 6 MiB of JSON, send 5 MiB, close
)

// fakeUpstream imitates an inference engine of one flavour: its readiness
// probe endpoint and the OpenAI endpoints, with chosen misbehaviour.
type fakeUpstream struct {
	*httptest.Server
	t       testing.TB
	name    string
	flavour engine.Kind
	served  string
	ready   atomic.Bool
	mode    atomic.Int32
	chunks  int           // content chunks per stream
	gap     time.Duration // between stream chunks

	hits        atomic.Int64 // API requests
	probes      atomic.Int64
	canceled    atomic.Int64  // API requests whose context ended early
	received    chan struct{} // receives when an API request arrives
	ended       chan struct{} // receives when an API request's handler returns
	mu          sync.Mutex
	lastBody    []byte
	lastHeaders http.Header
}

func newFakeUpstream(t testing.TB, name string, flavour engine.Kind, served string) *fakeUpstream {
	t.Helper()
	f := &fakeUpstream{t: t, name: name, flavour: flavour, served: served, chunks: 5,
		received: make(chan struct{}, 64), ended: make(chan struct{}, 64)}
	f.ready.Store(true)
	mux := http.NewServeMux()
	spec := engine.MustSpec(flavour)
	mux.HandleFunc("GET "+spec.Ready.Path, f.probe)
	mux.HandleFunc("POST /v1/chat/completions", f.api)
	mux.HandleFunc("POST /v1/completions", f.api)
	mux.HandleFunc("POST /v1/embeddings", f.api)
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

func (f *fakeUpstream) setMode(b behaviour) { f.mode.Store(int32(b)) }

func (f *fakeUpstream) backend() Backend {
	return Backend{Name: f.name, Engine: f.flavour, URL: f.URL, Model: f.served}
}

func (f *fakeUpstream) body() ([]byte, http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastBody, f.lastHeaders
}

// probe answers the flavour's readiness endpoint as the real engine does.
func (f *fakeUpstream) probe(w http.ResponseWriter, r *http.Request) {
	f.probes.Add(1)
	ready := f.ready.Load()
	switch f.flavour {
	case engine.VLLM:
		if !ready {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"object":"list","data":[{"id":%q,"object":"model"}]}`, f.served)
	case engine.Ollama:
		if !ready { // running, model not pulled yet
			fmt.Fprint(w, `{"models":[]}`)
			return
		}
		fmt.Fprintf(w, `{"models":[{"name":%q,"model":%q}]}`, engine.OllamaTag(f.served), engine.OllamaTag(f.served))
	default: // sglang /health_generate, llama.cpp /health
		if !ready {
			http.Error(w, `{"error":{"message":"Loading model"}}`, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"status":"ok"}`)
	}
}

type fakeRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (f *fakeUpstream) api(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	select {
	case f.received <- struct{}{}:
	default:
	}
	defer func() {
		if r.Context().Err() != nil {
			f.canceled.Add(1)
		}
		select {
		case f.ended <- struct{}{}:
		default:
		}
	}()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	f.mu.Lock()
	f.lastBody, f.lastHeaders = body, r.Header.Clone()
	f.mu.Unlock()
	var req fakeRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json"}}`, http.StatusBadRequest)
		return
	}
	if req.Model != f.served {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":{"message":"model %q does not exist"}}`, req.Model)
		return
	}
	switch behaviour(f.mode.Load()) {
	case behave503:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"message":"overloaded"}}`)
		return
	case behave500:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `{"error":{"message":"engine died"}}`)
		return
	case behaveStallHeaders:
		<-r.Context().Done()
		return
	case behaveHangup:
		hijackClose(w)
		return
	case behaveTruncatedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, `{"id":"x",`)
		w.(http.Flusher).Flush()
		hijackClose(w)
		return
	case behaveStallJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	case behaveHugeJSON:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[{"embedding":"%s"}],"usage":{"completion_tokens":0}}`, strings.Repeat("0", 5<<20))
		return
	case behaveHugeTruncated:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(6<<20))
		fmt.Fprintf(w, `{"object":"list","data":[{"embedding":"%s`, strings.Repeat("0", 5<<20))
		w.(http.Flusher).Flush()
		hijackClose(w)
		return
	}
	switch {
	case r.URL.Path == "/v1/embeddings":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.25,-0.5]}],"model":%q,"usage":{"prompt_tokens":3,"total_tokens":3}}`, f.served)
	case req.Stream:
		f.stream(w, r, req)
	default:
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/completions" {
			fmt.Fprintf(w, `{"id":"cmpl-1","object":"text_completion","created":1,"model":%q,"choices":[{"index":0,"text":"hello from %s","finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, f.served, f.name)
			return
		}
		fmt.Fprintf(w, `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":"hello from %s"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, f.served, f.name)
	}
}

// stream writes a vLLM-style SSE stream: a role chunk with empty content,
// f.chunks content chunks f.gap apart, a usage chunk when asked, [DONE].
func (f *fakeUpstream) stream(w http.ResponseWriter, r *http.Request, req fakeRequest) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fl := w.(http.Flusher)
	chat := r.URL.Path == "/v1/chat/completions"
	send := func(s string) bool {
		if _, err := io.WriteString(w, s); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	mode := behaviour(f.mode.Load())
	if mode == behaveFlood {
		ev := "data: " + strings.Repeat("x", 64<<10) + "\n\n"
		for i := 0; i < 4096 && send(ev); i++ {
		}
		return
	}
	if mode == behaveMalformedSSE {
		send("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\ngarbage without framing\r\n: comment\n\ndata: {not json\n\n\x00\xff")
		return
	}
	if chat {
		send(`data: {"id":"c","object":"chat.completion.chunk","model":"` + f.served + `","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}` + "\n\n")
	}
	for i := range f.chunks {
		if f.gap > 0 {
			select {
			case <-time.After(f.gap):
			case <-r.Context().Done():
				return
			}
		}
		var ev string
		if chat {
			ev = fmt.Sprintf(`data: {"id":"c","object":"chat.completion.chunk","model":%q,"choices":[{"index":0,"delta":{"content":"tok%d "}}]}`, f.served, i)
		} else {
			ev = fmt.Sprintf(`data: {"id":"c","object":"text_completion","model":%q,"choices":[{"index":0,"text":"tok%d "}]}`, f.served, i)
		}
		if !send(ev + "\n\n") {
			return
		}
		if mode == behaveKillMidway && i == 1 {
			hijackClose(w)
			return
		}
		if mode == behaveKillMidEvent && i == 0 {
			send(`data: {"id":"c","object":"chat.compl`)
			hijackClose(w)
			return
		}
		if mode == behaveStall && i == 0 {
			<-r.Context().Done()
			return
		}
	}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		obj := "chat.completion.chunk"
		if !chat {
			obj = "text_completion"
		}
		send(fmt.Sprintf(`data: {"id":"c","object":%q,"model":%q,"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":%d,"total_tokens":%d}}`+"\n\n", obj, f.served, f.chunks, f.chunks+3))
	}
	send("data: [DONE]\n\n")
}

func hijackClose(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

// upstreamClient is one way the gateway reaches backends, with the config
// change that selects it.
type upstreamClient struct {
	name string
	set  func(*Config)
}

// upstreamClients lists every upstream client: the h1 core's own (where
// that core runs) and the nethttp core's two.
func upstreamClients() []upstreamClient {
	var cs []upstreamClient
	if h1Available {
		cs = append(cs, upstreamClient{"h1", func(c *Config) { c.Core = CoreH1 }})
	}
	return append(cs,
		upstreamClient{"nethttp-http", func(c *Config) { c.Core, c.UpstreamClient = CoreNetHTTP, UpstreamHTTP }},
		upstreamClient{"nethttp-direct", func(c *Config) { c.Core, c.UpstreamClient = CoreNetHTTP, UpstreamDirect }})
}

// testConfig returns a config for tests: loopback listener, fast probes,
// short idle timeout, models given, and the core SERVELAB_GATEWAY_TEST_CORE
// names when set, or the nethttp core with DirectTransport when
// SERVELAB_GATEWAY_TEST_TRANSPORT=direct (tests of one core or client set
// theirs after this).
func testConfig(models ...Model) Config {
	cfg := DefaultConfig()
	if core := os.Getenv("SERVELAB_GATEWAY_TEST_CORE"); core != "" {
		cfg.Core = core
	}
	if os.Getenv("SERVELAB_GATEWAY_TEST_TRANSPORT") == UpstreamDirect {
		cfg.Core, cfg.UpstreamClient = CoreNetHTTP, UpstreamDirect
	}
	cfg.Listen = "127.0.0.1:0"
	cfg.ProbeInterval = Duration(20 * time.Millisecond)
	cfg.Timeouts.Probe = Duration(time.Second)
	cfg.Timeouts.StreamIdle = Duration(2 * time.Second)
	cfg.Timeouts.ResponseHeader = Duration(5 * time.Second)
	cfg.Timeouts.Shutdown = Duration(2 * time.Second)
	cfg.Ejection.BaseBackoff = Duration(100 * time.Millisecond)
	cfg.Ejection.MaxBackoff = Duration(400 * time.Millisecond)
	cfg.Models = models
	return cfg
}

// testGateway is a gateway serving on a loopback listener.
type testGateway struct {
	*Gateway
	URL  string
	logs *syncBuffer
	stop func() // cancels Serve and waits for it to return
}

type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed (and replaced) at each write
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return s.b.Write(p)
}

// await returns once the buffer holds substr, woken by each write. d only
// turns a hang into a failure: what the test waits for happens at once, or
// without the code under test never.
func (s *syncBuffer) await(t testing.TB, d time.Duration, what, substr string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		s.mu.Lock()
		if strings.Contains(s.b.String(), substr) {
			s.mu.Unlock()
			return
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("no %s after %s", what, d)
		}
	}
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway serves cfg until the test ends; when waitReady, it returns
// once every backend is ready.
func startGateway(t testing.TB, cfg Config, opts Options, waitReady bool) *testGateway {
	t.Helper()
	logs := &syncBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	g, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, nil) }()
	tg := &testGateway{Gateway: g, URL: "http://" + ln.Addr().String(), logs: logs}
	var once sync.Once
	tg.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return after cancel")
			}
		})
	}
	t.Cleanup(tg.stop)
	if waitReady {
		waitFor(t, 10*time.Second, "every backend ready", func() bool {
			for _, r := range g.ordered {
				for _, u := range r.backends {
					if !u.routable() {
						return false
					}
				}
			}
			return true
		})
	}
	return tg
}

// waitFor polls cond until it holds or the deadline passes.
// awaitSignal returns once ch delivers. The minute only turns a hang into a
// failure: what the test waits for happens at once, or without the code
// under test not before the gateway's own (longer) timeouts.
func awaitSignal(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("no %s within a minute", what)
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// post sends body to the gateway and returns status, headers and body.
func post(t testing.TB, url, body string, headers ...string) (int, http.Header, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// openAIError decodes an OpenAI-shaped error body, failing the test when
// the shape is wrong.
func openAIError(t testing.TB, body string) errorDetail {
	t.Helper()
	var e errorBody
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Message == "" || e.Error.Type == "" || e.Error.Code == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, body)
	}
	return e.Error
}
