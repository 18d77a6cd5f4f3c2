package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

// h1Gateway starts a gateway on the h1 core (skipping where it does not
// run).
func h1Gateway(t *testing.T, cfg Config) *testGateway {
	t.Helper()
	if !h1Available {
		t.Skip("the h1 core needs Linux")
	}
	cfg.Core = CoreH1
	gw := startGateway(t, cfg, Options{}, true)
	if gw.core() != CoreH1 {
		t.Fatalf("core %s, want h1", gw.core())
	}
	return gw
}

// rawExchange writes raw bytes to addr and returns what comes back until
// the connection closes or d passes.
func rawExchange(t *testing.T, addr, raw string, d time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

func hostOf(url string) string { return strings.TrimPrefix(url, "http://") }

func TestCoreDefault(t *testing.T) {
	t.Parallel()
	if got := DefaultConfig().Core; got != CoreH1 {
		t.Errorf("default core %q, want h1", got)
	}
	cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.VLLM, URL: "http://127.0.0.1:1"}}})
	g, err := New(cfg, Options{Transport: NewTransport(cfg)})
	if err != nil {
		t.Fatal(err)
	}
	if g.core() != CoreNetHTTP {
		t.Errorf("a Transport in Options serves with %s, want nethttp", g.core())
	}
	cfg.Core = "fast"
	if err := cfg.Check(); err == nil || !strings.Contains(err.Error(), `core: unknown core "fast"`) {
		t.Errorf("Check: %v", err)
	}
}

// TestH1HangupCancelsUpstream: a client that closes its connection while
// the gateway waits on the backend (before its headers, or in the middle of
// a non-streamed body) cancels the backend request at once; it is counted
// as canceled and logged with status 499. The gateway's own timeouts are an
// hour: only the hang-up can end the backend request within the test.
func TestH1HangupCancelsUpstream(t *testing.T) {
	t.Parallel()
	for _, mode := range []behaviour{behaveStallHeaders, behaveStallJSON} {
		t.Run(fmt.Sprint(mode), func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "a", engine.VLLM, "m")
			up.setMode(mode)
			cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
			cfg.Timeouts.ResponseHeader = Duration(time.Hour)
			cfg.Timeouts.StreamIdle = Duration(time.Hour)
			gw := h1Gateway(t, cfg)
			c, err := net.Dial("tcp", hostOf(gw.URL))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", len(chatBody), chatBody)
			awaitSignal(t, up.received, "request at the backend")
			c.Close()
			awaitSignal(t, up.ended, "end of the backend request")
			if n := up.canceled.Load(); n != 1 {
				t.Errorf("backend saw %d cancelled requests, want 1", n)
			}
			// The log line is written after the metrics are.
			gw.logs.await(t, time.Minute, "499 logged", `"status":499`)
			if n := upstreamErrors(t, gw, "a", reasonCanceled); n != 1 {
				t.Errorf("upstream errors (canceled) = %v, want 1", n)
			}
		})
	}
}

// TestH1EarlyAnswers: answers given before the body is read go out at once
// and close the connection; a body that came whole keeps it.
func TestH1EarlyAnswers(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.MaxBodyBytes = 1000
	cfg.Auth.KeysEnv = "K"
	cfg.Core = CoreH1
	if !h1Available {
		t.Skip("the h1 core needs Linux")
	}
	gw := startGateway(t, cfg, Options{Getenv: func(string) string { return "key" }}, true)
	addr := hostOf(gw.URL)
	// No key, a large body announced and none sent: 401 at once, closed.
	got := rawExchange(t, addr, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 200000\r\n\r\n{", 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 401 ") || !strings.Contains(got, "Connection: close\r\n") || !strings.Contains(got, "invalid_api_key") {
		t.Errorf("unauthenticated large body: %q", got)
	}
	// Over maxBodyBytes: 413 before reading.
	got = rawExchange(t, addr, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer key\r\nContent-Length: 5000\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(got, "HTTP/1.1 413 ") || !strings.Contains(got, "Connection: close\r\n") {
		t.Errorf("too large: %q", got)
	}
	// Expect: 100-continue gets its interim answer, then the real one.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer key\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", len(chatBody))
	br := bufio.NewReader(c)
	if l, _ := br.ReadString('\n'); l != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("want 100 Continue, got %q", l)
	}
	_, _ = br.ReadString('\n')
	io.WriteString(c, chatBody)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after 100-continue: %v %v", resp, err)
	}
	resp.Body.Close()
	// A wrong key with the body sent whole keeps the connection.
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer nope\r\nContent-Length: %d\r\n\r\n%s", len(chatBody), chatBody)
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 401 || resp.Close {
		t.Fatalf("wrong key, whole body: %v %v", resp, err)
	}
}

// TestH1Framing: pipelined requests are answered in order; a chunked
// request body is forwarded with its length; an HTTP/1.0 client gets a
// stream without chunked framing, ended by closing the connection.
func TestH1Framing(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	gw := h1Gateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}))
	addr := hostOf(gw.URL)

	req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Request-Id: first\r\nContent-Length: %d\r\n\r\n%s", len(chatBody), chatBody) +
		fmt.Sprintf("POST /v1/completions HTTP/1.1\r\nHost: gw\r\nX-Request-Id: second\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(chatBody), chatBody)
	got := rawExchange(t, addr, req, 5*time.Second)
	br := bufio.NewReader(strings.NewReader(got))
	for _, want := range []string{"first", "second"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("pipelined %s: %v in %q", want, err, got)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != want {
			t.Errorf("pipelined answer %d %q, want %q", resp.StatusCode, resp.Header.Get("X-Request-Id"), want)
		}
	}

	chunked := "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		fmt.Sprintf("5\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", chatBody[:5], len(chatBody)-5, chatBody[5:])
	if got := rawExchange(t, addr, chunked, 5*time.Second); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Errorf("chunked request body: %q", got)
	}
	if b, h := up.body(); string(b) != chatBody || h.Get("Content-Length") != "" && h.Get("Content-Length") != fmt.Sprint(len(chatBody)) {
		t.Errorf("backend got %q", b)
	}

	old := fmt.Sprintf("POST /v1/chat/completions HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s", len(streamBody), streamBody)
	got = rawExchange(t, addr, old, 5*time.Second)
	head, body, _ := strings.Cut(got, "\r\n\r\n")
	if strings.Contains(strings.ToLower(head), "transfer-encoding") || !strings.HasPrefix(body, "data: ") || !strings.HasSuffix(body, "data: [DONE]\n\n") {
		t.Errorf("HTTP/1.0 stream: %q", got)
	}
}

// TestH1MalformedRequests get their 4xx/5xx and a closed connection.
func TestH1MalformedRequests(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	gw := h1Gateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}))
	for raw, status := range map[string]string{
		"GARBAGE\r\n\r\n": "400",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n": "400",
		"GET / HTTP/2.0\r\n\r\n": "505",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX: " + strings.Repeat("a", h1MaxHead) + "\r\n\r\n": "431",
	} {
		got := rawExchange(t, hostOf(gw.URL), raw, 5*time.Second)
		if !strings.HasPrefix(got, "HTTP/1.1 "+status+" ") || !strings.Contains(got, "Connection: close") {
			t.Errorf("%.40q: %.120q, want %s", raw, got, status)
		}
	}
	if v := metricValue(t, gw, metricnames.GatewayInFlight, map[string]string{"backend": "a"}); v != 0 {
		t.Errorf("in flight %v", v)
	}
}

// TestH1TLSBackend: the h1 client speaks TLS to an https backend, verifies
// its certificate (an untrusted one is a connect failure, 502) and reuses
// the connection.
func TestH1TLSBackend(t *testing.T) {
	t.Parallel()
	if !h1Available {
		t.Skip("the h1 core needs Linux")
	}
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.Close()
	up.Server = httptest.NewUnstartedServer(up.Config.Handler)
	var conns atomic.Int64
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.StartTLS()
	defer up.Close()
	roots := x509.NewCertPool()
	roots.AddCert(up.Certificate())
	cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.VLLM, URL: up.URL}}})
	cfg.Core = CoreH1
	probe := NewTransport(cfg)
	probe.TLSClientConfig = &tls.Config{RootCAs: roots}
	g, err := New(cfg, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	g.probes.client.Transport = probe
	for _, b := range g.h1.backends {
		b.pool.tlsConfig.RootCAs = roots
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, ln, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, 10*time.Second, "the backend ready", func() bool { return g.NotReady() == nil })
	url := "http://" + ln.Addr().String() + "/v1/chat/completions"
	before := conns.Load()
	for range 3 {
		if code, _, body := post(t, url, chatBody); code != 200 || !strings.Contains(body, "hello from a") {
			t.Fatalf("over TLS: %d %s", code, body)
		}
	}
	if n := conns.Load() - before; n != 1 {
		t.Errorf("%d TLS connections for 3 requests, want 1", n)
	}
	for _, b := range g.h1.backends {
		b.pool.closeIdle()
		b.pool.tlsConfig = &tls.Config{ServerName: "127.0.0.1"} // no trust in the test CA
	}
	if code, _, body := post(t, url, chatBody); code != http.StatusBadGateway {
		t.Errorf("untrusted certificate: %d %s", code, body)
	}
}

// wrappedConn hides the socket's syscall.Conn, as a listener's accounting
// wrapper does, and exposes the connection with NetConn.
type wrappedConn struct{ net.Conn }

func (w wrappedConn) NetConn() net.Conn { return w.Conn }

type wrappingListener struct{ net.Listener }

func (l wrappingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// TestH1HangupThroughWrappedListener: the hang-up watch finds the socket
// under a wrapped connection.
func TestH1HangupThroughWrappedListener(t *testing.T) {
	t.Parallel()
	if !h1Available {
		t.Skip("the h1 core needs Linux")
	}
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	up.setMode(behaveStallHeaders)
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Core = CoreH1
	cfg.Timeouts.ResponseHeader = Duration(time.Hour) // only the hang-up can end the backend request
	g, err := New(cfg, Options{Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, wrappingListener{ln}, nil) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, 10*time.Second, "the backend ready", func() bool { return g.NotReady() == nil })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", len(chatBody), chatBody)
	awaitSignal(t, up.received, "request at the backend")
	c.Close()
	awaitSignal(t, up.ended, "end of the backend request")
	if n := up.canceled.Load(); n != 1 {
		t.Errorf("backend saw %d cancelled requests, want 1", n)
	}
}
