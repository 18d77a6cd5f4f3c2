package gateway

import (
	"context"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/servelab/servelab/internal/engine"
)

func TestNewTransport(t *testing.T) {
	t.Parallel()
	cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.VLLM, URL: "http://a:1"}, {Name: "b", Engine: engine.VLLM, URL: "http://b:1"}}})
	cfg.MaxIdleConnsPerHost = 300
	tr := NewTransport(cfg)
	if tr.MaxIdleConnsPerHost != 300 || tr.MaxIdleConns != 600 {
		t.Errorf("idle pool %d per host, %d total", tr.MaxIdleConnsPerHost, tr.MaxIdleConns)
	}
	if tr.Proxy != nil || !tr.DisableCompression || tr.Protocols.HTTP2() || !tr.Protocols.HTTP1() {
		t.Errorf("transport: proxy %v, compression off %v, protocols %v", tr.Proxy != nil, tr.DisableCompression, tr.Protocols)
	}
	if tr.ResponseHeaderTimeout != cfg.Timeouts.ResponseHeader.D() {
		t.Errorf("response header timeout %s", tr.ResponseHeaderTimeout)
	}
}

// TestConnectionReuse: 50 concurrent requests, twice, through the gateway
// open 50 upstream connections, not 100 (Go's default idle pool of 2 would
// open about 96).
func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	release := make(chan struct{})
	var arrived sync.WaitGroup
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		arrived.Done()
		<-release
		_, _ = io.WriteString(w, `{"choices":[]}`)
	}))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.LlamaCpp, URL: up.URL}}}), Options{}, true)
	before := conns.Load()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 100}}
	for range 2 {
		var wg sync.WaitGroup
		arrived.Add(50)
		for range 50 {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, gw.URL+"/v1/chat/completions", strings.NewReader(chatBody))
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		arrived.Wait() // all 50 in flight at once
		for range 50 {
			release <- struct{}{}
		}
		wg.Wait()
	}
	// A probe that finds every pooled connection busy dials one more.
	if got := conns.Load() - before; got > 55 {
		t.Errorf("upstream connections %d for 2×50 concurrent requests, want about 50", got)
	}
}

// TestNewTransportTLS: https backends are reached through the guard, with
// certificates checked against TLSClientConfig, and connections reused.
func TestNewTransportTLS(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "secure")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	tr := NewTransport(DefaultConfig())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	tr.TLSClientConfig.RootCAs = pool
	for range 3 {
		resp, err := roundTrip(t, tr, context.Background(), srv.URL+"/", "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, resp); got != "secure" {
			t.Errorf("got %q", got)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 3 sequential requests, want 1", n)
	}
	if _, err := roundTrip(t, NewTransport(DefaultConfig()), context.Background(), srv.URL+"/", "x"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted certificate accepted: %v", err)
	}
}
