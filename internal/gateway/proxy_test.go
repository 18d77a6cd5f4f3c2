package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}]}`

func readyGauge(t *testing.T, gw *testGateway, backend string) float64 {
	t.Helper()
	return metricValue(t, gw, metricnames.GatewayBackendReady, map[string]string{"backend": backend})
}

// TestRetryAndEjection: a 5xx storm on one backend is retried on the other
// (the client never sees it), ejects the failing backend, which comes back
// once it answers its probe again after the backoff.
func TestRetryAndEjection(t *testing.T) {
	t.Parallel()
	bad := newFakeUpstream(t, "bad", engine.VLLM, "m")
	good := newFakeUpstream(t, "good", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Routing: RoundRobin, Backends: []Backend{bad.backend(), good.backend()}})
	cfg.Ejection.BaseBackoff = Duration(500 * time.Millisecond)
	cfg.Ejection.MaxBackoff = Duration(time.Second)
	gw := startGateway(t, cfg, Options{}, true)
	bad.setMode(behave503)
	for i := range 20 {
		code, _, body := post(t, gw.URL+"/v1/chat/completions", chatBody)
		if code != 200 || !strings.Contains(body, "hello from good") {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	// Each ejection follows 3 failures in a row; after its backoff the
	// probe (which passes) lets the backend fail again.
	ejections := int64(strings.Count(gw.logs.String(), `"msg":"backend ejected"`))
	hits := bad.hits.Load()
	if ejections < 1 || hits > 3*(ejections+1) || hits >= 10 {
		t.Errorf("bad backend: %d requests, %d ejections", hits, ejections)
	}
	if v := upstreamErrors(t, gw, "bad", reasonStatus5xx); v != float64(hits) {
		t.Errorf("status_5xx errors = %v, want %d", v, hits)
	}
	bad.setMode(behaveOK)
	waitFor(t, 5*time.Second, "bad backend to recover", func() bool { return readyGauge(t, gw, "bad") == 1 })
	before := bad.hits.Load()
	for range 4 {
		post(t, gw.URL+"/v1/chat/completions", chatBody)
	}
	if bad.hits.Load() == before {
		t.Error("recovered backend gets no traffic")
	}
}

func TestRetryOnConnectFailure(t *testing.T) {
	t.Parallel()
	gone := newFakeUpstream(t, "gone", engine.LlamaCpp, "m")
	good := newFakeUpstream(t, "good", engine.LlamaCpp, "m")
	cfg := testConfig(Model{Name: "m", Routing: RoundRobin, Backends: []Backend{gone.backend(), good.backend()}})
	cfg.ProbeInterval = Duration(time.Hour) // only the first probe: it passes
	gw := startGateway(t, cfg, Options{}, true)
	gone.Close() // now connections are refused
	for i := range 6 {
		code, _, body := post(t, gw.URL+"/v1/chat/completions", chatBody)
		if code != 200 {
			t.Fatalf("request %d: %d %s", i, code, body)
		}
	}
	if v := upstreamErrors(t, gw, "gone", reasonConnect); v < 1 {
		t.Errorf("connect errors = %v", v)
	}
}

func TestRetryOnHangup(t *testing.T) {
	t.Parallel()
	bad := newFakeUpstream(t, "bad", engine.VLLM, "m")
	good := newFakeUpstream(t, "good", engine.VLLM, "m")
	gw := startGateway(t, testConfig(Model{Name: "m", Routing: RoundRobin, Backends: []Backend{bad.backend(), good.backend()}}), Options{}, true)
	bad.setMode(behaveHangup)
	for range 4 {
		if code, _, body := post(t, gw.URL+"/v1/chat/completions", chatBody); code != 200 {
			t.Fatalf("%d %s", code, body)
		}
	}
	if bad.hits.Load() == 0 {
		t.Fatal("the failing backend was never tried")
	}
}

func TestRetryLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		retries   int
		mode      behaviour
		status    int
		totalHits int64
	}{
		{"503 passed through when every backend fails", 2, behave503, 503, 3},
		{"retries bound the attempts", 1, behave503, 503, 2},
		{"no retries", 0, behave503, 503, 1},
		{"500 is not retried", 2, behave500, 500, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var ups []*fakeUpstream
			var bs []Backend
			for _, n := range []string{"a", "b", "c"} {
				u := newFakeUpstream(t, n, engine.VLLM, "m")
				ups = append(ups, u)
				bs = append(bs, u.backend())
			}
			cfg := testConfig(Model{Name: "m", Backends: bs})
			cfg.Retries = tc.retries
			gw := startGateway(t, cfg, Options{}, true)
			for _, u := range ups {
				u.setMode(tc.mode)
			}
			code, _, body := post(t, gw.URL+"/v1/chat/completions", chatBody)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			if !strings.Contains(body, "overloaded") && !strings.Contains(body, "engine died") {
				t.Errorf("upstream's error body not passed through: %s", body)
			}
			var hits int64
			for _, u := range ups {
				hits += u.hits.Load()
			}
			if hits != tc.totalHits {
				t.Errorf("upstream requests = %d, want %d", hits, tc.totalHits)
			}
		})
	}
}

func TestNonStreamedBodyFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   behaviour
		status int
		reason string
	}{
		{"body cut short", behaveTruncatedJSON, 502, reasonStreamBroken},
		{"body stalled", behaveStallJSON, 504, reasonStreamIdle},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "a", engine.VLLM, "m")
			up.setMode(tc.mode)
			cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
			cfg.Timeouts.StreamIdle = Duration(200 * time.Millisecond)
			gw := startGateway(t, cfg, Options{}, true)
			code, _, body := post(t, gw.URL+"/v1/chat/completions", chatBody)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			openAIError(t, body)
			waitFor(t, 5*time.Second, "upstream error "+tc.reason, func() bool {
				return upstreamErrors(t, gw, "a", tc.reason) == 1
			})
		})
	}
	t.Run("larger than the buffer", func(t *testing.T) {
		t.Parallel()
		up := newFakeUpstream(t, "a", engine.VLLM, "m")
		up.setMode(behaveHugeJSON)
		gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}), Options{}, true)
		code, _, body := post(t, gw.URL+"/v1/embeddings", chatBody)
		if code != 200 || len(body) < 5<<20 || !strings.HasSuffix(body, `"usage":{"completion_tokens":0}}`) {
			t.Fatalf("status %d, %d bytes", code, len(body))
		}
	})
}

// TestNoRetryAfterStreamStarted: once bytes reached the client, a broken
// stream is not replayed elsewhere.
func TestNoRetryAfterStreamStarted(t *testing.T) {
	t.Parallel()
	bad := newFakeUpstream(t, "bad", engine.VLLM, "m")
	good := newFakeUpstream(t, "good", engine.VLLM, "m")
	// Round robin sends the first request to the first backend.
	gw := startGateway(t, testConfig(Model{Name: "m", Routing: RoundRobin, Backends: []Backend{bad.backend(), good.backend()}}), Options{}, true)
	bad.setMode(behaveKillMidway)
	_, body, err := readStream(context.Background(), http.DefaultClient, gw.URL+"/v1/chat/completions", streamBody)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "tok1") || strings.Contains(body, "[DONE]") {
		t.Fatalf("want the broken stream's first chunks only, got %q", body)
	}
	if good.hits.Load() != 0 {
		t.Errorf("a started stream was replayed on another backend")
	}
}

func TestShutdownDrainsStreams(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.chunks, up.gap = 10, 30*time.Millisecond
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Timeouts.Shutdown = Duration(5 * time.Second)
	gw := startGateway(t, cfg, Options{}, true)
	done := make(chan string, 1)
	go func() {
		_, body, err := readStream(context.Background(), http.DefaultClient, gw.URL+"/v1/chat/completions", streamBody)
		if err != nil {
			body = "error: " + err.Error()
		}
		done <- body
	}()
	waitFor(t, 5*time.Second, "stream to start", func() bool { return up.hits.Load() == 1 })
	gw.stop() // returns once drained
	select {
	case body := <-done:
		if !strings.HasSuffix(body, "data: [DONE]\n\n") {
			t.Errorf("stream cut by a graceful shutdown: %q", body)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client still waiting after shutdown")
	}
	if _, err := http.Get(gw.URL + "/healthz"); err == nil {
		t.Error("gateway still accepts connections after shutdown")
	}
}

func TestShutdownCancelsAfterDrainTimeout(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.chunks, up.gap = 1000, 20*time.Millisecond
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Timeouts.Shutdown = Duration(200 * time.Millisecond)
	gw := startGateway(t, cfg, Options{}, true)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _, err := readStream(ctx, http.DefaultClient, gw.URL+"/v1/chat/completions", streamBody)
		done <- err
	}()
	waitFor(t, 5*time.Second, "stream to start", func() bool { return up.hits.Load() == 1 })
	gw.stop()
	select {
	case <-done: // ended, cleanly or not: it did not hang
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after the drain timeout")
	}
	waitFor(t, 5*time.Second, "upstream cancelled", func() bool { return up.canceled.Load() == 1 })
}

// stubTransport answers every request in memory, for benchmarks of the
// gateway alone.
type stubTransport struct{ body []byte }

func (s stubTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return &http.Response{
		StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(string(s.body))),
		ContentLength: int64(len(s.body)), Request: r,
	}, nil
}

const benchResponse = `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`

// BenchmarkProxyHandler measures the gateway's own work per request (body
// read, scan, route, forward, relay, metrics) with an in-memory upstream.
func BenchmarkProxyHandler(b *testing.B) {
	cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.VLLM, URL: "http://a:8000"}}})
	g, err := New(cfg, Options{Transport: stubTransport{body: []byte(benchResponse)}, Logger: discardLogger()})
	if err != nil {
		b.Fatal(err)
	}
	g.routes["m"].backends[0].probed(true, time.Now())
	h := g.Handler()
	body := benchChatBody()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkProxyLoopback measures a full request over loopback: client →
// gateway → httptest upstream, one at a time.
func BenchmarkProxyLoopback(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/v1/models" {
			_, _ = io.WriteString(w, `{"data":[{"id":"m"}]}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, benchResponse)
	}))
	defer up.Close()
	cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.VLLM, URL: up.URL}}})
	gw := startGateway(b, cfg, Options{Logger: discardLogger()}, true)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	body := benchChatBody()
	for _, target := range []struct{ name, url string }{{"direct", up.URL}, {"gateway", gw.URL}} {
		b.Run(target.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.Post(target.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}

func benchChatBody() string {
	return `{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` +
		strings.Repeat("Explain the difference between TCP and UDP. ", 20) + `"}],"max_tokens":128,"temperature":0.7,"stream":false}`
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
