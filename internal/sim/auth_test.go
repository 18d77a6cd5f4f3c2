package sim_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

// TestAPIKeyProtectsWhatTheEngineProtects: with a key, each flavour
// answers 401 without it exactly where its engine does, and its health
// and (except llama.cpp) metrics paths stay open, so Docker healthchecks
// and Prometheus scrapes work with keys on.
func TestAPIKeyProtectsWhatTheEngineProtects(t *testing.T) {
	t.Parallel()
	const key = "k3y"
	tests := []struct {
		flavour engine.Kind
		open    []string
		closed  []string
	}{
		{engine.VLLM, []string{"/health", "/metrics"}, []string{"/v1/models"}},
		{engine.SGLang, []string{"/health", "/health_generate", "/metrics"}, []string{"/v1/models"}},
		{engine.LlamaCpp, []string{"/health", "/v1/models"}, []string{"/metrics"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.flavour), func(t *testing.T) {
			t.Parallel()
			_, ts := newSim(t, sim.Config{Flavour: tt.flavour, APIKey: key})
			for _, p := range tt.open {
				if code, _ := get(t, ts.URL+p); code != http.StatusOK {
					t.Errorf("GET %s without the key = %d, want 200", p, code)
				}
			}
			for _, p := range tt.closed {
				if code, _ := get(t, ts.URL+p); code != http.StatusUnauthorized {
					t.Errorf("GET %s without the key = %d, want 401", p, code)
				}
				if code := getWithKey(t, ts.URL+p, "wrong"); code != http.StatusUnauthorized {
					t.Errorf("GET %s with a wrong key = %d, want 401", p, code)
				}
				if code := getWithKey(t, ts.URL+p, key); code != http.StatusOK {
					t.Errorf("GET %s with the key = %d, want 200", p, code)
				}
			}
			body := `{"model":"test-model","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`
			if resp := post(t, ts.URL+"/v1/chat/completions", body); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("chat without the key = %d, want 401", resp.StatusCode)
			}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("chat with the key = %d", resp.StatusCode)
			}
		})
	}
	if err := (sim.Config{Flavour: engine.Ollama, Model: "m", MaxOutputTokens: 1, APIKey: key}).Validate(); err == nil || !strings.Contains(err.Error(), "--api-key-file") {
		t.Errorf("an Ollama sim with a key: %v", err)
	}
}

func getWithKey(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	if err := os.WriteFile(p, []byte("\n  abc123 \nsecond\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if k, err := sim.ReadKeyFile(p); err != nil || k != "abc123" {
		t.Errorf("ReadKeyFile = %q, %v", k, err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n \n"), 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.ReadKeyFile(empty); err == nil {
		t.Error("an empty key file was accepted")
	}
}
