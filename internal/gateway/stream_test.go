package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

const streamBody = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`

// readStream posts a streaming request and reads the whole response; err is
// a transport or read error (a clean end of stream is no error).
func readStream(ctx context.Context, client *http.Client, url, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestSSEScan(t *testing.T) {
	t.Parallel()
	role := `data: {"choices":[{"delta":{"role":"assistant","content":""}}]}` + "\n\n"
	content := `data: {"choices":[{"delta":{"content":"Hi"}}]}` + "\n\n"
	usage := `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":42,"total_tokens":45}}` + "\n\n"
	tests := []struct {
		name        string
		chat        bool
		chunks      []string
		firstAt     int // index of the chunk that carries the first content, -1 none
		tokens      int64
		tokensFound bool
	}{
		{"role then content", true, []string{role, content, usage}, 1, 42, true},
		{"no content", true, []string{role, usage}, -1, 42, true},
		{"content in text is not a key", true, []string{`data: {"choices":[{"delta":{"content":"","x":"\"content\":\"y\""}}]}` + "\n\n"}, -1, 0, false},
		{"reasoning first", true, []string{`data: {"choices":[{"delta":{"reasoning_content":"think"}}]}` + "\n\n", content}, 0, 0, false},
		{"spaced", true, []string{`data: {"delta": {"content" :  "x"}}` + "\n\n"}, 0, 0, false},
		{"completions text", false, []string{`data: {"choices":[{"text":""}]}` + "\n\n", `data: {"choices":[{"text":"a"}]}` + "\n\n", usage}, 1, 42, true},
		{"key split across reads", true, []string{role + `data: {"choices":[{"delta":{"cont`, `ent":"Hi"}}]}` + "\n\n"}, 1, 0, false},
		{"value split after quote", true, []string{role + `data: {"choices":[{"delta":{"content":"`, `Hi"}}]}` + "\n\n"}, 1, 0, false},
		{"usage split in number", true, []string{role, `data: {"usage":{"completion_tokens":1`, `23}}` + "\n\n"}, -1, 123, true},
		{"byte by byte", true, splitBytes(role + content + usage), len(role) + strings.Index(content, `"Hi`) + 1, 42, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sseScan{chat: tc.chat}
			first := -1
			for i, c := range tc.chunks {
				if s.feed([]byte(c)) {
					if first >= 0 {
						t.Fatalf("first content reported twice (%d and %d)", first, i)
					}
					first = i
				}
			}
			if first != tc.firstAt {
				t.Errorf("first content at chunk %d, want %d", first, tc.firstAt)
			}
			if s.tokens != tc.tokens || s.hasTokens != tc.tokensFound {
				t.Errorf("tokens = %d,%v, want %d,%v", s.tokens, s.hasTokens, tc.tokens, tc.tokensFound)
			}
		})
	}
}

func splitBytes(s string) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i : i+1]
	}
	return out
}

func FuzzSSEScan(f *testing.F) {
	f.Add([]byte(`data: {"choices":[{"delta":{"content":"Hi"}}],"usage":{"completion_tokens":7}}`+"\n\n"), 3)
	f.Add([]byte("data: [DONE]\n\n"), 1)
	f.Fuzz(func(t *testing.T, b []byte, cut int) {
		// Feeding in two pieces finds what feeding in one finds.
		whole := sseScan{chat: true}
		whole.feed(b)
		split := sseScan{chat: true}
		if cut < 0 {
			cut = -cut
		}
		if len(b) > 0 {
			cut %= len(b) + 1
		} else {
			cut = 0
		}
		split.feed(b[:cut])
		split.feed(b[cut:])
		if whole.content && !split.content {
			t.Errorf("content found whole but not split at %d", cut)
		}
		if whole.hasTokens && (!split.hasTokens || split.tokens != whole.tokens) {
			t.Errorf("tokens whole %d, split %d,%v", whole.tokens, split.tokens, split.hasTokens)
		}
	})
}

// streamGateway starts a gateway in front of one fake upstream.
func streamGateway(t *testing.T, up *fakeUpstream, tweak func(*Config)) *testGateway {
	t.Helper()
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	if tweak != nil {
		tweak(&cfg)
	}
	return startGateway(t, cfg, Options{}, true)
}

func upstreamErrors(t *testing.T, gw *testGateway, backend, reason string) float64 {
	t.Helper()
	return metricValue(t, gw, metricnames.GatewayUpstreamErrors, map[string]string{"backend": backend, "reason": reason})
}

// TestStreamFaults: a backend that dies or goes silent after the client got
// its 200 never gives the client a clean end of stream. At an event
// boundary the client gets an SSE event in OpenAI's error shape and no
// [DONE]; inside an event the connection is cut. Either way the request is
// counted and logged as the failure it was (502, or 504 when idle).
func TestStreamFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      behaviour
		status    int    // the status the client gets
		recorded  int    // the status in metrics and logs
		errorCode string // the code of the final error event, "" for none
		broken    bool   // the client's read fails: the connection was cut
		contains  []string
		absent    []string
		reason    string
	}{
		{"killed mid-stream", behaveKillMidway, 200, 502, "upstream_error", false, []string{"tok0", "tok1"}, []string{"tok2", "[DONE]"}, reasonStreamBroken},
		{"stalled", behaveStall, 200, 504, "upstream_timeout", false, []string{"tok0"}, []string{"tok1", "[DONE]"}, reasonStreamIdle},
		{"killed inside an event", behaveKillMidEvent, 200, 502, "", true, []string{"tok0"}, []string{"[DONE]", `"error"`}, reasonStreamBroken},
		{"stalled before headers", behaveStallHeaders, 504, 504, "", false, []string{"upstream_timeout"}, nil, reasonTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "a", engine.VLLM, "m")
			up.setMode(tc.mode)
			gw := streamGateway(t, up, func(c *Config) {
				c.Timeouts.StreamIdle = Duration(200 * time.Millisecond)
				c.Timeouts.ResponseHeader = Duration(200 * time.Millisecond)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, body, err := readStream(ctx, http.DefaultClient, gw.URL+"/v1/chat/completions", streamBody)
			switch {
			case tc.broken && err == nil:
				t.Fatalf("the stream ended cleanly, want the connection cut (body %q)", body)
			case !tc.broken && err != nil:
				t.Fatalf("client saw %v, want a clean end (body %q)", err, body)
			}
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			for _, s := range tc.contains {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q: %q", s, body)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(body, s) {
					t.Errorf("body has %q: %q", s, body)
				}
			}
			if tc.errorCode != "" {
				events := strings.Split(strings.TrimSuffix(body, "\n\n"), "\n\n")
				last, ok := strings.CutPrefix(events[len(events)-1], "data: ")
				if e := openAIError(t, last); !ok || e.Code != tc.errorCode || e.Type != "server_error" {
					t.Errorf("last event %q, want an OpenAI error with code %s", events[len(events)-1], tc.errorCode)
				}
			}
			waitFor(t, 5*time.Second, "upstream error "+tc.reason, func() bool {
				return upstreamErrors(t, gw, "a", tc.reason) == 1
			})
			waitFor(t, 5*time.Second, fmt.Sprintf("the request counted as %d", tc.recorded), func() bool {
				return metricValue(t, gw, metricnames.GatewayRequests, map[string]string{"backend": "a", "code": strconv.Itoa(tc.recorded)}) == 1
			})
			if v := metricValue(t, gw, metricnames.GatewayRequests, map[string]string{"backend": "a", "code": "200"}); v != 0 {
				t.Errorf("failed request counted as 200 (%v)", v)
			}
			logs := gw.logs.String()
			if !strings.Contains(logs, `"level":"WARN","msg":"request"`) || !strings.Contains(logs, fmt.Sprintf(`"status":%d`, tc.recorded)) {
				t.Errorf("no WARN request log with status %d:\n%s", tc.recorded, logs)
			}
			if tc.status != tc.recorded && !strings.Contains(logs, `"sent_status":200`) {
				t.Errorf("request log lacks sent_status 200:\n%s", logs)
			}
			if tc.mode != behaveKillMidway && tc.mode != behaveKillMidEvent {
				waitFor(t, 5*time.Second, "the upstream request to be cancelled", func() bool { return up.canceled.Load() == 1 })
			}
		})
	}
}

// TestStreamFaultIsAnErrorToOpenAIClients: OpenAI's own client reports a
// stream whose backend died as an error, not as a short answer.
func TestStreamFaultIsAnErrorToOpenAIClients(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.setMode(behaveKillMidway)
	gw := streamGateway(t, up, nil)
	client := openai.NewClient(option.WithBaseURL(gw.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var text strings.Builder
	for stream.Next() {
		if c := stream.Current(); len(c.Choices) > 0 {
			text.WriteString(c.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err == nil || !strings.Contains(err.Error(), "upstream_error") {
		t.Errorf("stream error = %v after %q, want the gateway's upstream_error", err, text.String())
	}
}

// TestLargeResponseCutIsNotCleanEnd: a non-streamed answer too large to
// buffer is relayed as it comes; when the backend breaks off after the
// client got its headers, the connection is cut, never ended cleanly.
func TestLargeResponseCutIsNotCleanEnd(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.setMode(behaveHugeTruncated)
	gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}), Options{}, true)
	resp, err := http.Post(gw.URL+"/v1/embeddings", "application/json", strings.NewReader(chatBody))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || err == nil {
		t.Fatalf("status %d, %d bytes, read error %v: want 200 and a cut connection", resp.StatusCode, n, err)
	}
	waitFor(t, 5*time.Second, "the request counted as 502", func() bool {
		return metricValue(t, gw, metricnames.GatewayRequests, map[string]string{"backend": "a", "code": "502"}) == 1
	})
}

func TestMalformedSSEPassesThrough(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.setMode(behaveMalformedSSE)
	gw := streamGateway(t, up, nil)
	direct, derr := func() (string, error) {
		_, b, err := readStream(context.Background(), http.DefaultClient, up.URL+"/v1/chat/completions", streamBody)
		return b, err
	}()
	code, via, err := readStream(context.Background(), http.DefaultClient, gw.URL+"/v1/chat/completions", streamBody)
	if err != nil || derr != nil || code != 200 {
		t.Fatalf("status %d err %v / direct err %v", code, err, derr)
	}
	if via != direct {
		t.Errorf("bytes changed in transit:\nvia    %q\ndirect %q", via, direct)
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.chunks, up.gap = 1000, 20*time.Millisecond
	gw := streamGateway(t, up, nil)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(streamBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	for !strings.Contains(mustLine(t, r), "tok0") {
	}
	cancel()
	resp.Body.Close()
	waitFor(t, 5*time.Second, "upstream cancellation", func() bool { return up.canceled.Load() == 1 })
	waitFor(t, 5*time.Second, "canceled counted", func() bool { return upstreamErrors(t, gw, "a", reasonCanceled) == 1 })
	waitFor(t, 5*time.Second, "in-flight back to 0", func() bool {
		return metricValue(t, gw, metricnames.GatewayInFlight, map[string]string{"backend": "a"}) == 0
	})
}

func mustLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	l, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read line: %v", err)
	}
	return l
}

// TestSlowReader: a client that reads slowly still gets every byte; one
// that stops reading is cut off after streamIdle and the upstream stopped.
func TestSlowReader(t *testing.T) {
	t.Parallel()
	t.Run("slow", func(t *testing.T) {
		t.Parallel()
		up := newFakeUpstream(t, "a", engine.VLLM, "m")
		up.chunks = 300
		gw := streamGateway(t, up, nil)
		req, _ := http.NewRequest(http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(streamBody))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var got strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := resp.Body.Read(buf)
			got.Write(buf[:n])
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Microsecond)
		}
		if !strings.Contains(got.String(), "tok299 ") || !strings.HasSuffix(got.String(), "data: [DONE]\n\n") {
			t.Errorf("slow reader got %d bytes without the end", got.Len())
		}
	})
	t.Run("stopped", func(t *testing.T) {
		t.Parallel()
		up := newFakeUpstream(t, "a", engine.VLLM, "m")
		up.setMode(behaveFlood)
		gw := streamGateway(t, up, func(c *Config) { c.Timeouts.StreamIdle = Duration(300 * time.Millisecond) })
		d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
			return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		}}
		conn, err := d.Dial("tcp", strings.TrimPrefix(gw.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(streamBody), streamBody)
		if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		// Stop reading: the gateway's writes block, then time out; the
		// request ends (its log line is written after its metrics) and
		// the upstream request is cancelled. Both are waited for as
		// signals; the minute only turns a hang into a failure.
		gw.logs.await(t, time.Minute, "request log line", `"msg":"request"`)
		if n := upstreamErrors(t, gw, "a", reasonCanceled); n != 1 {
			t.Errorf("upstream errors (canceled) = %v, want 1", n)
		}
		awaitSignal(t, up.ended, "end of the upstream request")
		if n := up.canceled.Load(); n != 1 {
			t.Errorf("upstream saw %d cancelled requests, want 1", n)
		}
	})
}

// TestThousandStreams runs 1,000 concurrent streams, a third of whose
// clients disconnect at a random moment: every other client gets its whole
// stream, nothing hangs (every request has a deadline) and the goroutine
// count returns to its baseline. It does not call t.Parallel: the
// goroutine count must not see other tests.
func TestThousandStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	baseline := runtime.NumGoroutine()
	up := newFakeUpstream(t, "a", engine.SGLang, "m")
	up.chunks, up.gap = 10, 5*time.Millisecond
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	// Under -race on two shared cores the machine is saturated; readiness
	// probes are not what this test is about.
	cfg.Timeouts.Probe = Duration(20 * time.Second)
	cfg.Timeouts.StreamIdle = Duration(20 * time.Second)
	cfg.Timeouts.ResponseHeader = Duration(20 * time.Second)
	gw := startGateway(t, cfg, Options{}, true)
	tr := &http.Transport{MaxIdleConnsPerHost: 1000, DisableCompression: true}
	client := &http.Client{Transport: tr}

	const n = 1000
	var (
		wg                       sync.WaitGroup
		complete, cut, truncated atomic.Int64
		errMu                    sync.Mutex
		errs                     []error
		samples                  []string
	)
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			disconnect := i%3 == 0
			if disconnect {
				time.AfterFunc(time.Duration(rand.IntN(60))*time.Millisecond, cancel)
			}
			code, body, err := readStream(ctx, client, gw.URL+"/v1/chat/completions", streamBody)
			switch {
			case disconnect && err != nil && errors.Is(err, context.Canceled):
				cut.Add(1)
			case err != nil:
				errMu.Lock()
				errs = append(errs, err)
				errMu.Unlock()
			case code == 200 && strings.HasSuffix(body, "data: [DONE]\n\n") && strings.Contains(body, "tok9"):
				complete.Add(1)
			default:
				if truncated.Add(1) <= 3 {
					errMu.Lock()
					samples = append(samples, fmt.Sprintf("%d %q", code, body[max(0, len(body)-200):]))
					errMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs[:min(len(errs), 5)] {
		t.Errorf("stream error: %v", err)
	}
	if got := complete.Load() + cut.Load(); got != n || truncated.Load() != 0 {
		t.Logf("truncated samples: %q", samples)
		for _, l := range strings.Split(gw.logs.String(), "\n") {
			if strings.Contains(l, "not ready") {
				t.Log(l)
			}
		}
		for _, r := range reasons {
			t.Logf("upstream errors %s: %v", r, upstreamErrors(t, gw, "a", r))
		}
		t.Errorf("complete %d + disconnected %d != %d; truncated %d, errors %d", complete.Load(), cut.Load(), n, truncated.Load(), len(errs))
	}
	if complete.Load() < n*2/3 {
		t.Errorf("only %d complete streams, want at least %d", complete.Load(), n*2/3)
	}
	t.Logf("complete %d, disconnected %d", complete.Load(), cut.Load())

	tr.CloseIdleConnections()
	gw.stop()
	up.Close()
	waitFor(t, 20*time.Second, fmt.Sprintf("goroutines back to baseline %d", baseline), func() bool {
		return runtime.NumGoroutine() <= baseline+2
	})
}
