package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	do := func(method, path, key string) (int, string) {
		req, _ := http.NewRequest(method, gw.URL+path, strings.NewReader(chatBody))
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
		code, body := do(tc.method, tc.path, tc.key)
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
