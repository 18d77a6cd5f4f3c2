package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

func ollamaPS(t *testing.T, url string) []string {
	t.Helper()
	code, body := get(t, url+"/api/ps")
	if code != http.StatusOK {
		t.Fatalf("/api/ps = %d", code)
	}
	var ps struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
	}
	if err := json.Unmarshal([]byte(body), &ps); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range ps.Models {
		names = append(names, m.Name)
	}
	return names
}

// generate sends a non-streaming /api/generate and returns its final line.
func generate(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp := post(t, url+"/api/generate", body)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("generate = %d %s", resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOllamaLoadsTheModelLazily: as Ollama, the sim loads nothing at start;
// the first generation pays the load (load_duration ≥ --load-delay) and
// /api/ps lists the model only from then on.
func TestOllamaLoadsTheModelLazily(t *testing.T) {
	t.Parallel()
	const delay = 30 * time.Millisecond
	_, ts := newSim(t, sim.Config{Flavour: engine.Ollama, Model: "llama3.2", LoadDelay: delay})
	if got := ollamaPS(t, ts.URL); len(got) != 0 {
		t.Fatalf("/api/ps before any request lists %v", got)
	}
	first := generate(t, ts.URL, `{"model":"llama3.2","prompt":"hi","stream":false,"options":{"num_predict":2}}`)
	if ns, _ := first["load_duration"].(float64); time.Duration(ns) < delay {
		t.Errorf("first generation's load_duration %v, want at least the load delay %v", time.Duration(ns), delay)
	}
	if got := ollamaPS(t, ts.URL); len(got) != 1 || got[0] != "llama3.2:latest" {
		t.Errorf("/api/ps after the first generation lists %v", got)
	}
	second := generate(t, ts.URL, `{"model":"llama3.2","prompt":"hi","stream":false,"options":{"num_predict":2}}`)
	if second["load_duration"] != 0.0 {
		t.Errorf("second generation's load_duration %v, want 0 (loaded)", second["load_duration"])
	}
}

// TestOllamaExplicitLoadAndUnload: a generate with an empty prompt loads
// the model (done_reason "load"), so the next request is served warm; a
// keep_alive of 0 unloads it.
func TestOllamaExplicitLoadAndUnload(t *testing.T) {
	t.Parallel()
	_, ts := newSim(t, sim.Config{Flavour: engine.Ollama, Model: "m", LoadDelay: 20 * time.Millisecond})
	load := generate(t, ts.URL, `{"model":"m","keep_alive":-1}`)
	if load["done_reason"] != "load" || load["done"] != true {
		t.Fatalf("load answer %v", load)
	}
	if got := ollamaPS(t, ts.URL); len(got) != 1 {
		t.Fatalf("/api/ps after the load lists %v", got)
	}
	resp := post(t, ts.URL+"/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("chat = %d", resp.StatusCode)
	}
	warm := generate(t, ts.URL, `{"model":"m","prompt":"x","stream":false,"keep_alive":"0s","options":{"num_predict":1}}`)
	if warm["load_duration"] != 0.0 {
		t.Errorf("load_duration after an explicit load = %v, want 0", warm["load_duration"])
	}
	if got := ollamaPS(t, ts.URL); len(got) != 0 {
		t.Errorf("/api/ps after keep_alive 0 lists %v", got)
	}
}

func TestLoadDelayIsOllamas(t *testing.T) {
	t.Parallel()
	err := sim.Config{Flavour: engine.VLLM, Model: "m", MaxOutputTokens: 1, LoadDelay: time.Second}.Validate()
	if err == nil || !strings.Contains(err.Error(), "--load-delay") {
		t.Errorf("Validate = %v", err)
	}
}
