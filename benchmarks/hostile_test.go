package benchmarks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Endpoints that misbehave on purpose: each request must fail with an
// error naming what was wrong, never count as a clean completion, and the
// bench must stop reading early instead of buffering or counting without
// bound.

// hostile serves handler on loopback for the test.
func hostile(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	return ts
}

// runHostile benches n requests of max_tokens 4 against ts and returns the
// one result.
func runHostile(t *testing.T, ts *httptest.Server, n int, mut func(*Config)) Result {
	t.Helper()
	cfg := baseConfig(ts.URL, n)
	cfg.Dataset.RandomOutputLen, cfg.Dataset.RandomRangeRatio = 4, 0
	cfg.Timeout = 20 * time.Second
	cfg.SaveDetailed = true
	if mut != nil {
		mut(&cfg)
	}
	res, _ := Run(context.Background(), cfg)
	if len(res) != 1 {
		t.Fatalf("%d results, want 1", len(res))
	}
	return res[0]
}

func wantAllFailed(t *testing.T, r Result, n int, want string) {
	t.Helper()
	if r.Completed != 0 || r.Failed != n {
		t.Fatalf("completed %d failed %d (errors %q), want every one of %d requests failed", r.Completed, r.Failed, r.Errors, n)
	}
	for i, e := range r.Errors {
		if !strings.Contains(e, want) {
			t.Errorf("request %d error %q, want it to mention %q", i, e, want)
		}
	}
}

// TestHostileHugeEvent: 1 MiB data lines with no blank line between them
// grow one event without bound. The bench fails the request once an event
// passes the cap (1 MiB by default) instead of buffering 8 MiB and more.
func TestHostileHugeEvent(t *testing.T) {
	t.Parallel()
	line := "data: " + strings.Repeat("a", 1<<20) + "\n"
	ts := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for range 8 { // 8 MiB, then hold the stream open
			if _, err := fmt.Fprint(w, line); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	})
	r := runHostile(t, ts, 2, nil)
	wantAllFailed(t, r, 2, "SSE event larger than 1 MiB")
}

// TestHostileEndlessStream: a valid stream that never stops, for a request
// of max_tokens 4, is stopped and failed long before it ends (the server
// gives up after 20,000 chunks).
func TestHostileEndlessStream(t *testing.T) {
	t.Parallel()
	sent := make(chan int, 4)
	ts := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		n := 0
		defer func() { sent <- n }()
		for ; n < 20000; n++ {
			if _, err := fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d \"}}]}\n\n", n); err != nil {
				return
			}
			if n%16 == 0 {
				w.(http.Flusher).Flush()
			}
		}
	})
	r := runHostile(t, ts, 1, nil)
	wantAllFailed(t, r, 1, "chunks for max_tokens 4")
	if n := <-sent; n >= 20000 {
		t.Errorf("the server wrote all %d chunks: the bench read the whole stream", n)
	}
}

// TestHostileStreamWithoutDone: a stream that stops without "data: [DONE]"
// is a failure, even with content and usage.
func TestHostileStreamWithoutDone(t *testing.T) {
	t.Parallel()
	ts := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 4 {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
		}
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\n")
	})
	r := runHostile(t, ts, 3, nil)
	wantAllFailed(t, r, 3, "stream ended without [DONE]")
}

// TestHostileImpossibleUsage: usage counts no server can produce for a
// request of max_tokens 4 fail the request instead of entering the totals.
func TestHostileImpossibleUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, usage, want string }{
		{"more than max_tokens", `{"prompt_tokens":3,"completion_tokens":5000}`, "completion_tokens 5000 > max_tokens 4"},
		{"negative completion", `{"prompt_tokens":3,"completion_tokens":-3}`, "completion_tokens -3"},
		{"2^31 completion", `{"prompt_tokens":3,"completion_tokens":2147483648}`, "out of range"},
		{"negative prompt", `{"prompt_tokens":-1,"completion_tokens":4}`, "prompt_tokens -1"},
		{"2^31 prompt", `{"prompt_tokens":2147483648,"completion_tokens":4}`, "out of range"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := hostile(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range 4 {
					fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d \"}}]}\n\n", i)
				}
				fmt.Fprintf(w, "data: {\"choices\":[],\"usage\":%s}\n\ndata: [DONE]\n\n", tt.usage)
			})
			r := runHostile(t, ts, 2, nil)
			wantAllFailed(t, r, 2, "impossible usage")
			wantAllFailed(t, r, 2, tt.want)
		})
	}
}
