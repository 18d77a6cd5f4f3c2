package gateway

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/servelab/servelab/internal/engine"
)

// keyRecorder is a vLLM-like backend that records the Authorization header
// of every request it gets, probes included, and refuses requests without
// its key as vLLM started with --api-key does (probes of /v1/models too).
type keyRecorder struct {
	*httptest.Server
	key  string // "" accepts anything
	mu   sync.Mutex
	seen map[string]map[string]int // path → Authorization value → count
}

func newKeyRecorder(t *testing.T, key string) *keyRecorder {
	k := &keyRecorder{key: key, seen: map[string]map[string]int{}}
	k.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		auth := r.Header.Get("Authorization")
		k.mu.Lock()
		if k.seen[r.URL.Path] == nil {
			k.seen[r.URL.Path] = map[string]int{}
		}
		k.seen[r.URL.Path][auth]++
		k.mu.Unlock()
		if k.key != "" && auth != "Bearer "+k.key {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/models" {
			io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
			return
		}
		io.WriteString(w, chatAnswer("ok"))
	}))
	t.Cleanup(k.Close)
	return k
}

func (k *keyRecorder) headers(path string) map[string]int {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]int{}
	for v, n := range k.seen[path] {
		out[v] = n
	}
	return out
}

// TestBackendAPIKey: a backend with apiKeyFile gets "Authorization: Bearer
// <its key>" on proxied requests and probes, and never the client's key; a
// backend without one gets no Authorization at all. The key is in no log.
func TestBackendAPIKey(t *testing.T) {
	t.Parallel()
	const upstreamKey = "upstream-secret-7d1e"
	keyed := newKeyRecorder(t, upstreamKey)
	open := newKeyRecorder(t, "")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "vllm.key")
	if err := os.WriteFile(keyFile, []byte(upstreamKey+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(
		Model{Name: "m", Backends: []Backend{{Name: "keyed", Engine: engine.VLLM, URL: keyed.URL, APIKeyFile: keyFile}}},
		Model{Name: "m2", Backends: []Backend{{Name: "open", Engine: engine.VLLM, URL: open.URL, Model: "m"}}},
	)
	cfg.Auth.KeysEnv = "K"
	gw := startGateway(t, cfg, Options{Getenv: func(string) string { return testKey }}, true)
	for _, model := range []string{"m", "m2"} {
		for _, body := range []string{`{"model":%q}`, `{"model":%q,"stream":true}`} {
			code, _, got := post(t, gw.URL+"/v1/chat/completions", strings.Replace(body, "%q", `"`+model+`"`, 1), "Authorization", "Bearer "+testKey)
			if code != 200 {
				t.Fatalf("%s: %d %s", model, code, got)
			}
		}
	}
	want := "Bearer " + upstreamKey
	for _, path := range []string{"/v1/models", "/v1/chat/completions"} {
		if h := keyed.headers(path); len(h) != 1 || h[want] == 0 {
			t.Errorf("keyed backend %s saw Authorization %v, want only its own key", path, h)
		}
		if h := open.headers(path); len(h) != 1 || h[""] == 0 {
			t.Errorf("backend without a key %s saw Authorization %v, want none", path, h)
		}
	}
	if logs := gw.logs.String(); strings.Contains(logs, upstreamKey) || strings.Contains(logs, testKey) {
		t.Errorf("a key is in the logs:\n%s", logs)
	}
}

// TestBackendAPIKeyFileErrors: New refuses a key file it cannot use, naming
// the backend and the file, never the file's content.
func TestBackendAPIKeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, tc := range map[string]struct{ path, want string }{
		"missing":    {filepath.Join(dir, "nope"), "no such file"},
		"empty":      {write("empty", "\n \n"), "no key in the file"},
		"two lines":  {write("two", "secret-one\nsecret-two\n"), "one line of visible ASCII"},
		"with space": {write("space", "secret one"), "one line of visible ASCII"},
	} {
		cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "be", Engine: engine.VLLM, URL: "http://127.0.0.1:1", APIKeyFile: tc.path}}})
		_, err := New(cfg, Options{Logger: discardLogger()})
		if err == nil || !strings.Contains(err.Error(), "backend be") || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: err = %v, want one naming backend be and %q, without the key", name, err, tc.want)
		}
	}
}
