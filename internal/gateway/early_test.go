package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

const testKey = "gw-test-key"

// authGateway starts a gateway with auth on (key testKey) in front of one
// fake upstream, config tweaked by tweak.
func authGateway(t *testing.T, tweak func(*Config)) (*testGateway, *fakeUpstream) {
	t.Helper()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Auth = Auth{KeysEnv: "GW_KEYS"}
	if tweak != nil {
		tweak(&cfg)
	}
	gw := startGateway(t, cfg, Options{Getenv: func(string) string { return testKey }}, true)
	return gw, up
}

// noUpstreamRequests checks, when the test and its subtests are done, that
// no request reached up.
func noUpstreamRequests(t *testing.T, up *fakeUpstream) {
	t.Cleanup(func() {
		if n := up.hits.Load(); n != 0 {
			t.Errorf("upstream got %d requests", n)
		}
	})
}

// TestEarlyAnswersDoNotWaitForTheBody: an answer the gateway gives without
// needing the body (no key, wrong method or path, declared length over the
// limit, or an endpoint that ignores bodies) is sent as soon as the headers
// are in, with Connection: close, and the connection is closed: a client
// that declares a large body and sends it one byte at a time holds nothing.
// No deadline can answer for the gateway here: both are an hour.
func TestEarlyAnswersDoNotWaitForTheBody(t *testing.T) {
	t.Parallel()
	gw, up := authGateway(t, func(c *Config) {
		c.MaxBodyBytes = 100000
		c.Timeouts.RequestHeader = Duration(time.Hour)
		c.Timeouts.RequestRead = Duration(time.Hour)
	})
	key := "Authorization: Bearer " + testKey + "\r\n"
	tests := []struct {
		name, method, path, auth string
		length                   int
		status                   int
	}{
		{"no key", "POST", "/v1/chat/completions", "", 90000, 401},
		{"wrong key", "POST", "/v1/completions", "Authorization: Bearer nope\r\n", 90000, 401},
		{"wrong method", "PUT", "/v1/chat/completions", key, 90000, 405},
		{"unknown path", "POST", "/v2/chat", key, 90000, 404},
		{"declared length over the limit", "POST", "/v1/chat/completions", key, 200000, 413},
		{"models list with a body", "GET", "/v1/models", key, 90000, 200},
		{"health with a body", "GET", "/healthz", "", 90000, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, gw.URL)
			c.send(t, fmt.Sprintf("%s %s HTTP/1.1\r\nHost: gw\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{",
				tc.method, tc.path, tc.auth, tc.length))
			resp, body := c.response(t)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if !resp.Close { // http.ReadResponse takes Connection: close out of the headers into Close
				t.Errorf("early answer without Connection: close (headers %v)", resp.Header)
			}
			if tc.status >= 400 {
				openAIError(t, body)
			}
			if closed, rest := c.closedByPeer(t); !closed {
				t.Errorf("connection still open %s after the early answer (then read %q)", liveness, rest)
			}
		})
	}
	noUpstreamRequests(t, up)
}

// TestRequestDeadlineFromFirstByte: headers and body must arrive within
// timeouts.requestHeader and timeouts.requestRead of the request's start,
// however steadily the bytes trickle in; an authenticated client too.
func TestRequestDeadlineFromFirstByte(t *testing.T) {
	t.Parallel()
	gw, up := authGateway(t, func(c *Config) {
		c.Timeouts.RequestHeader = Duration(200 * time.Millisecond)
		c.Timeouts.RequestRead = Duration(400 * time.Millisecond)
	})
	chatHead := "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + testKey + "\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name    string
		prefix  string
		dribble string // sent one byte at a time, 20 ms apart, until the gateway closes
		want408 bool   // a 408 answer must come before the close
	}{
		{"headers trickling", "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Slow: ", strings.Repeat("a", 10000), false},
		{"headers stalled", "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n", "", false},
		{"body trickling", chatHead + "Content-Length: 100000\r\n\r\n", `{"model":"m","x":"` + strings.Repeat("b", 10000), true},
		{"body stalled", chatHead + "Content-Length: 100000\r\n\r\n{", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, gw.URL)
			c.send(t, tc.prefix)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			defer func() { close(stop); wg.Wait() }()
			if tc.dribble != "" {
				wg.Go(func() {
					tick := time.NewTicker(20 * time.Millisecond)
					defer tick.Stop()
					for i := 0; i < len(tc.dribble); i++ {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						if _, err := c.Write([]byte{tc.dribble[i]}); err != nil {
							return
						}
					}
				})
			}
			closed, got := c.closedByPeer(t)
			if !closed {
				t.Fatalf("connection still open %s after the request started (read %q)", liveness, got)
			}
			if tc.want408 && !strings.HasPrefix(got, "HTTP/1.1 408 ") {
				t.Errorf("want a 408 answer before the close, got %q", got)
			}
			if got != "" && !strings.HasPrefix(got, "HTTP/1.1 408 ") {
				t.Errorf("answer %q, want 408 or nothing", got)
			}
		})
	}
	noUpstreamRequests(t, up)
}

// TestConnectionCap: beyond maxConnections open connections a new one is
// answered 503 and closed, and counted; once one closes, a new one is
// served.
func TestConnectionCap(t *testing.T) {
	t.Parallel()
	gw, _ := authGateway(t, func(c *Config) {
		c.MaxConnections = 3
		c.Timeouts.RequestHeader = Duration(time.Hour)
		c.Timeouts.RequestRead = Duration(time.Hour)
	})
	api := map[string]string{"listener": "api"}
	var held []*rawConn
	for range 3 {
		c := dialRaw(t, gw.URL)
		c.send(t, "GET /healthz HTTP/1.1\r\n") // headers never finished
		held = append(held, c)
	}
	waitFor(t, liveness, "3 open connections", func() bool {
		return metricValue(t, gw, metricnames.GatewayConnections, api) == 3
	})
	over := dialRaw(t, gw.URL)
	closed, got := over.closedByPeer(t)
	if !closed || !strings.HasPrefix(got, "HTTP/1.1 503 ") || !strings.Contains(got, "Connection: close") {
		t.Fatalf("connection over the cap: closed %v, read %q; want a 503 with Connection: close, then the close", closed, got)
	}
	if v := metricValue(t, gw, metricnames.GatewayConnectionsRefused, api); v != 1 {
		t.Errorf("%s = %v, want 1", metricnames.GatewayConnectionsRefused, v)
	}
	held[0].Close()
	waitFor(t, liveness, "the closed connection to be released", func() bool {
		return metricValue(t, gw, metricnames.GatewayConnections, api) == 2
	})
	c := dialRaw(t, gw.URL)
	c.send(t, "GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
	if resp, body := c.response(t); resp.StatusCode != 200 {
		t.Errorf("after a slot freed: %d %s", resp.StatusCode, body)
	}
}

// TestBodyMemoryFollowsArrivingBytes: a declared Content-Length reserves no
// memory; the body buffer grows with the bytes that arrive. Clients declare
// 8 MiB each and send nothing; "100 Continue" tells the test that the
// gateway has started reading the body. Not parallel: it measures the
// process's heap.
func TestBodyMemoryFollowsArrivingBytes(t *testing.T) {
	gw, up := authGateway(t, func(c *Config) {
		c.MaxBodyBytes = 16 << 20
		c.Timeouts.RequestHeader = Duration(time.Hour)
		c.Timeouts.RequestRead = Duration(time.Hour)
	})
	const conns, declared = 24, 8 << 20
	before := liveHeap()
	for range conns {
		c := dialRaw(t, gw.URL)
		c.send(t, fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", testKey, declared))
		if resp, body := c.response(t); resp.StatusCode != 100 {
			t.Fatalf("want 100 Continue, got %d %s", resp.StatusCode, body)
		}
	}
	grown := int64(liveHeap()) - int64(before)
	t.Logf("live heap grew by %.1f MiB with %d connections declaring %d MiB each", float64(grown)/(1<<20), conns, declared>>20)
	if grown > conns<<20 {
		t.Errorf("live heap grew by %.1f MiB for %d bodies of which no byte arrived (want < 1 MiB each)", float64(grown)/(1<<20), conns)
	}
	noUpstreamRequests(t, up)
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestEarlyAnswerLingers: after an early answer the gateway half-closes the
// connection and goes on reading what the client still sends, for up to
// timeouts.lingerClose, before it closes: a client still sending its body
// is never reset (a reset can destroy the answer before the client reads
// it), and one that sends on past the bound is cut.
func TestEarlyAnswerLingers(t *testing.T) {
	t.Parallel()
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
	t.Run("the answer ends with a close, not a reset", func(t *testing.T) {
		t.Parallel()
		gw, up := authGateway(t, nil)
		noUpstreamRequests(t, up)
		c := dialRaw(t, gw.URL)
		// More body than the gateway reads with the head: bytes it has
		// not read are in its socket when it answers.
		c.send(t, fmt.Sprintf(head, 1<<20)+strings.Repeat("x", 64<<10))
		resp, body := c.response(t)
		if resp.StatusCode != 401 || !resp.Close {
			t.Fatalf("status %d (close %v): %s", resp.StatusCode, resp.Close, body)
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Errorf("after the answer: %v, want EOF (the gateway's FIN, not a reset)", err)
		}
	})
	t.Run("what the client still sends is read", func(t *testing.T) {
		t.Parallel()
		gw, up := authGateway(t, func(c *Config) { c.Timeouts.LingerClose = Duration(time.Hour) })
		noUpstreamRequests(t, up)
		c := dialRaw(t, gw.URL)
		const rest = 16 << 20 // more than the kernel buffers on both sides hold
		c.send(t, fmt.Sprintf(head, rest))
		if resp, body := c.response(t); resp.StatusCode != 401 || !resp.Close {
			t.Fatalf("status %d (close %v): %s", resp.StatusCode, resp.Close, body)
		}
		// The body goes on after the answer, as from a client that sends
		// its whole request before it reads: it gets through only if the
		// gateway reads it.
		_ = c.SetWriteDeadline(time.Now().Add(liveness))
		if _, err := c.Write(make([]byte, rest)); err != nil {
			t.Fatalf("sending the rest of the body after the answer: %v", err)
		}
		if err := c.Conn.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if closed, got := c.closedByPeer(t); !closed || got != "" {
			t.Errorf("after the client's close: closed %v, read %q", closed, got)
		}
	})
	t.Run("a client that sends on is cut", func(t *testing.T) {
		t.Parallel()
		gw, up := authGateway(t, func(c *Config) { c.Timeouts.LingerClose = Duration(50 * time.Millisecond) })
		noUpstreamRequests(t, up)
		c := dialRaw(t, gw.URL)
		c.send(t, fmt.Sprintf(head, 1<<40))
		if resp, body := c.response(t); resp.StatusCode != 401 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		_ = c.SetWriteDeadline(time.Now().Add(liveness))
		chunk := make([]byte, 64<<10)
		var err error
		for err == nil {
			_, err = c.Write(chunk)
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
			t.Errorf("a client sending on after the answer: %v, want the connection cut after timeouts.lingerClose", err)
		}
	})
}
