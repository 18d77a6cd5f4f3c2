package gateway

import (
	"bufio"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The whole gateway suite also runs over DirectTransport with
// SERVELAB_GATEWAY_TEST_TRANSPORT=direct; these tests cover what is its own.

func directTestTransport() *DirectTransport {
	cfg := DefaultConfig()
	cfg.Timeouts.ResponseHeader = Duration(5 * time.Second)
	return NewDirectTransport(cfg)
}

func roundTrip(t *testing.T, tr http.RoundTripper, ctx context.Context, url, body string) (*http.Response, error) {
	t.Helper()
	b := []byte(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bodyReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(b))
	req.GetBody = func() (io.ReadCloser, error) { return bodyReader(b), nil }
	return tr.RoundTrip(req)
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func TestDirectTransportReuse(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/chunked" {
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		fmt.Fprintf(w, "echo:%s", b)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := directTestTransport()
	defer tr.CloseIdleConnections()
	for i := range 20 {
		path := "/len"
		if i%2 == 1 {
			path = "/chunked"
		}
		resp, err := roundTrip(t, tr, context.Background(), srv.URL+path, fmt.Sprint(i))
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != fmt.Sprintf("echo:%d", i) {
			t.Fatalf("request %d got %q", i, got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests, want 1", n)
	}
	// A body closed before its end does not go back to the pool.
	resp, err := roundTrip(t, tr, context.Background(), srv.URL+"/len", "x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp, err = roundTrip(t, tr, context.Background(), srv.URL+"/len", "y"); err != nil || readAll(t, resp) != "echo:y" {
		t.Fatalf("after an abandoned body: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the abandoned one closed)", n)
	}
}

// TestDirectTransportStaleConnection: a server that closes each connection
// after one answer (without saying so) makes every pooled connection stale;
// the request is replayed on a fresh one.
func TestDirectTransportStaleConnection(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}()
		}
	}()
	tr := directTestTransport()
	defer tr.CloseIdleConnections()
	for i := range 5 {
		resp, err := roundTrip(t, tr, context.Background(), "http://"+ln.Addr().String()+"/", "body")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if got := readAll(t, resp); got != "ok" {
			t.Fatalf("request %d got %q", i, got)
		}
		time.Sleep(10 * time.Millisecond) // let the server's close arrive
	}
}

func TestDirectTransportCancelAndTimeouts(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body to its end lets the server notice a client
		// that hangs up (and cancel r.Context()).
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/stall-body" {
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
		}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close) // the parallel subtests run after this function returns

	t.Run("cancel before headers", func(t *testing.T) {
		t.Parallel()
		tr := directTestTransport()
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := roundTrip(t, tr, ctx, srv.URL+"/stall", "x")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("cancel during body", func(t *testing.T) {
		t.Parallel()
		tr := directTestTransport()
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := roundTrip(t, tr, ctx, srv.URL+"/stall-body", "x")
		if err != nil {
			t.Fatal(err)
		}
		time.AfterFunc(50*time.Millisecond, cancel)
		done := make(chan error, 1)
		go func() { _, err := io.ReadAll(resp.Body); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("body read ended cleanly after a cancel")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("body read not interrupted by the cancel")
		}
		resp.Body.Close()
	})
	t.Run("response header timeout", func(t *testing.T) {
		t.Parallel()
		cfg := DefaultConfig()
		cfg.Timeouts.ResponseHeader = Duration(100 * time.Millisecond)
		tr := NewDirectTransport(cfg)
		_, err := roundTrip(t, tr, context.Background(), srv.URL+"/stall", "x")
		if !isTimeout(err) || isDialError(err) {
			t.Errorf("err = %v, want a timeout that is not a dial error", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		t.Parallel()
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		_, err := roundTrip(t, directTestTransport(), context.Background(), "http://"+addr+"/", "x")
		if !isDialError(err) {
			t.Errorf("err = %v, want a dial error", err)
		}
	})
}

func TestDirectTransportTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	defer srv.Close()
	tr := directTestTransport()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.tlsConfig.RootCAs = pool
	resp, err := roundTrip(t, tr, context.Background(), srv.URL+"/", "x")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, resp); got != "secure" {
		t.Errorf("got %q", got)
	}
	bad := directTestTransport() // no trust in the test CA
	if _, err := roundTrip(t, bad, context.Background(), srv.URL+"/", "x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate accepted: %v", err)
	}
}

// TestUpstreamClientSelectsTransport: with the nethttp core, upstreamClient
// "direct" makes New use a DirectTransport, the default an http.Transport.
func TestUpstreamClientSelectsTransport(t *testing.T) {
	t.Parallel()
	for client, want := range map[string]string{UpstreamHTTP: "*http.Transport", UpstreamDirect: "*gateway.DirectTransport"} {
		cfg := DefaultConfig()
		cfg.Core = CoreNetHTTP
		cfg.UpstreamClient = client
		cfg.Models = []Model{{Name: "m", Backends: []Backend{{Name: "b", Engine: "vllm", URL: "http://127.0.0.1:1"}}}}
		g, err := New(cfg, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%T", g.rt); got != want {
			t.Errorf("upstreamClient %q: transport %s, want %s", client, got, want)
		}
	}
}
