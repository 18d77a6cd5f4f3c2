package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

func TestLoadKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "keys")
	if err := os.WriteFile(file, []byte("# gateway keys\n\nkey-one\n  key-two  \n# key-commented\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name    string
		auth    Auth
		env     map[string]string
		allowed []string
		denied  []string
		err     bool
	}{
		{"off", Auth{}, nil, nil, nil, false},
		{"file", Auth{KeysFile: file}, nil, []string{"key-one", "key-two"}, []string{"key-commented", "# gateway keys", "", "key"}, false},
		{"env", Auth{KeysEnv: "K"}, map[string]string{"K": "a1, b2\nc3,,"}, []string{"a1", "b2", "c3"}, []string{"a1, b2", ""}, false},
		{"both", Auth{KeysFile: file, KeysEnv: "K"}, map[string]string{"K": "e1"}, []string{"key-one", "e1"}, nil, false},
		{"missing file", Auth{KeysFile: filepath.Join(dir, "nope")}, nil, nil, nil, true},
		{"empty env", Auth{KeysEnv: "K"}, map[string]string{"K": " , "}, nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ks, err := loadKeys(tc.auth, env(tc.env))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "auth") {
					t.Errorf("error %v should wrap ErrConfig and name auth", err)
				}
				return
			}
			for _, k := range tc.allowed {
				if !ks.allows(bearer(k)) {
					t.Errorf("key %q refused", k)
				}
			}
			for _, k := range tc.denied {
				if ks.allows(bearer(k)) {
					t.Errorf("key %q allowed", k)
				}
			}
			if tc.auth.Enabled() && ks.allows(&http.Request{Header: http.Header{}}) {
				t.Error("request without Authorization allowed")
			}
		})
	}
}

func bearer(k string) *http.Request {
	return &http.Request{Header: http.Header{"Authorization": {"Bearer " + k}}}
}

// keyedRequest sends body (none when empty) with key as a bearer token
// (none when empty) and returns the status and body.
func keyedRequest(t *testing.T, method, url, key, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAuthThroughGateway(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Auth.KeysEnv = "GW_KEYS"
	gw := startGateway(t, cfg, Options{Getenv: func(k string) string {
		if k == "GW_KEYS" {
			return "sekrit-1,sekrit-2"
		}
		return ""
	}}, true)
	for _, tc := range []struct {
		method, path, key string
		status            int
	}{
		{"POST", "/v1/chat/completions", "", 401},
		{"POST", "/v1/chat/completions", "wrong", 401},
		{"POST", "/v1/chat/completions", "sekrit-2", 200},
		{"GET", "/v1/models", "", 401},
		{"GET", "/v1/models", "sekrit-1", 200},
		{"GET", "/metrics", "", 401},
		{"GET", "/metrics", "sekrit-1", 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/readyz", "", 200},
	} {
		code, body := keyedRequest(t, tc.method, gw.URL+tc.path, tc.key, chatBody)
		if code != tc.status {
			t.Errorf("%s %s key %q: %d, want %d", tc.method, tc.path, tc.key, code, tc.status)
		}
		if code == 401 {
			if e := openAIError(t, body); e.Type != "authentication_error" {
				t.Errorf("401 type %q", e.Type)
			}
		}
	}
	if _, h := up.body(); h.Get("Authorization") != "" {
		t.Error("the gateway key was forwarded upstream")
	}
}

// TestMetricsListener: with metricsListen set, /metrics is served without
// auth on its own listener and not on the API listener.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.MetricsListen = "127.0.0.1:9"
	cfg.Auth.KeysEnv = "K"
	g, err := New(cfg, Options{Getenv: func(string) string { return "k" }, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	api := mustListen(t)
	met := mustListen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, api, met) }()
	defer func() { cancel(); <-done }()
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := get("http://" + met.Addr().String() + "/metrics"); c != 200 {
		t.Errorf("metrics listener /metrics = %d", c)
	}
	if c := get("http://" + api.Addr().String() + "/metrics"); c != 404 {
		t.Errorf("API listener /metrics = %d, want 404", c)
	}
	if c := get("http://" + met.Addr().String() + "/v1/models"); c != 404 {
		t.Errorf("metrics listener serves the API: %d", c)
	}
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// TestReadyzDetailsNeedKey: /readyz answers everyone with its status and
// the bare boolean; which models are not ready (their names) only to a
// client with a key.
func TestReadyzDetailsNeedKey(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	down := newFakeUpstream(t, "d", engine.VLLM, "secret-model")
	down.ready.Store(false)
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}, Model{Name: "secret-model", Backends: []Backend{down.backend()}})
	cfg.Auth.KeysEnv = "K"
	gw := startGateway(t, cfg, Options{Getenv: func(string) string { return testKey }}, false)
	waitFor(t, 5*time.Second, "m ready", func() bool { return gw.routes["m"].ready() })
	get := func(key string) (int, string) { return keyedRequest(t, http.MethodGet, gw.URL+"/readyz", key, "") }
	for _, key := range []string{"", "wrong"} {
		if code, body := get(key); code != http.StatusServiceUnavailable || body != "{\"ready\":false}\n" {
			t.Errorf("/readyz with key %q = %d %q, want 503 {\"ready\":false}", key, code, body)
		}
	}
	if code, body := get(testKey); code != http.StatusServiceUnavailable || body != "{\"ready\":false,\"notReady\":[\"secret-model\"]}\n" {
		t.Errorf("/readyz with the key = %d %q, want the models not ready", code, body)
	}
	down.ready.Store(true)
	waitFor(t, 5*time.Second, "every model ready", func() bool { return len(gw.NotReady()) == 0 })
	if code, body := get(""); code != http.StatusOK || body != "{\"ready\":true}\n" {
		t.Errorf("/readyz when ready = %d %q", code, body)
	}
}

// addrListener is a loopback listener that reports another address, so
// that the test can show what the gateway says when listening there
// without opening a port to the network.
type addrListener struct {
	net.Listener
	addr *net.TCPAddr
}

func (l addrListener) Addr() net.Addr { return l.addr }

// TestAuthOffWarning: a gateway without API keys on an address reachable
// from the network warns at start; on loopback, or with keys, it does not.
func TestAuthOffWarning(t *testing.T) {
	t.Parallel()
	const warning = "auth is off on a non-loopback address"
	for _, tc := range []struct {
		addr string
		auth bool
		warn bool
	}{
		{"0.0.0.0:8080", false, true},
		{"[::]:8080", false, true},
		{"10.1.2.3:8080", false, true},
		{"127.0.0.1:8080", false, false},
		{"[::1]:8080", false, false},
		{"0.0.0.0:8080", true, false},
	} {
		t.Run(fmt.Sprintf("%s auth %v", tc.addr, tc.auth), func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "a", engine.VLLM, "m")
			cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
			if tc.auth {
				cfg.Auth.KeysEnv = "K"
			}
			logs := &syncBuffer{}
			g, err := New(cfg, Options{Getenv: func(string) string { return testKey }, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			addr, err := net.ResolveTCPAddr("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- g.Serve(ctx, addrListener{mustListen(t), addr}, nil) }()
			waitFor(t, 5*time.Second, "the serving log line", func() bool { return strings.Contains(logs.String(), "gateway serving") })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(logs.String(), warning); got != tc.warn {
				t.Errorf("warning logged: %v, want %v\n%s", got, tc.warn, logs.String())
			}
		})
	}
}
