package demo

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// TestBenchKeys: as the stack's benchmark, the targets through the gateway
// send the gateway's key (0), each direct target of an engine that checks
// a key that engine's own, and a direct target of an engine without one
// (Ollama) none; every key reaches the bench by environment only.
func TestBenchKeys(t *testing.T) {
	in := []benchspec.Target{
		{Label: "sim-vllm", Framework: "sim-vllm", KeyIndex: 0},
		{Label: "sim-ollama", Framework: "sim-ollama", KeyIndex: 0},
		{Label: "sim-vllm-direct", Framework: "sim-vllm", Direct: true, KeyIndex: -1},
		{Label: "sim-ollama-direct", Framework: "sim-ollama", Direct: true, KeyIndex: -1},
		{Label: "sim-llamacpp-direct", Framework: "sim-llamacpp", Direct: true, KeyIndex: -1},
	}
	keys := map[string]string{"sim-vllm": "vllm-key", "sim-llamacpp": "llamacpp-key"}
	got, env := benchKeys(in, "gw-key", keys)
	wantEnv := []string{"SERVELAB_BENCH_KEY_0=gw-key", "SERVELAB_BENCH_KEY_1=vllm-key", "SERVELAB_BENCH_KEY_2=llamacpp-key"}
	if !slices.Equal(env, wantEnv) {
		t.Errorf("env %q, want %q", env, wantEnv)
	}
	for i, want := range []int{0, 0, 1, -1, 2} {
		if got[i].KeyIndex != want {
			t.Errorf("%s: key %d, want %d", got[i].Label, got[i].KeyIndex, want)
		}
	}
	if in[2].KeyIndex != -1 {
		t.Error("benchKeys changed its input")
	}
	doc, err := benchspec.TargetsFile(got)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(doc); strings.Contains(s, "-key") || !strings.Contains(s, `"api_key_env":"SERVELAB_BENCH_KEY_2"`) {
		t.Errorf("targets file %s: want key variables, no key", s)
	}
}

// TestRandomKey: letters and digits only, of the length asked, and not
// twice the same.
func TestRandomKey(t *testing.T) {
	a, err := randomKey(48)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomKey(48)
	if len(a) != 48 || a == b || strings.Trim(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != "" {
		t.Errorf("keys %q and %q", a, b)
	}
}

// TestEngineKeyFiles: startEngines writes one key file (0400) per engine
// that checks a key, in its flavour's format, where the plan's argv, the
// gateway and Prometheus read it, before any engine starts.
func TestEngineKeyFiles(t *testing.T) {
	dir := t.TempDir()
	keysDir := filepath.Join(dir, engineKeysDir)
	if err := os.Mkdir(keysDir, 0o700); err != nil {
		t.Fatal(err)
	}
	l := &lab{o: Options{Dir: dir, Servelab: filepath.Join(dir, "no-such-servelab")}, plan: &Plan{Engines: []Engine{
		{Name: "sim-vllm", KeyFile: filepath.Join(keysDir, "sim-vllm"), KeyFormat: "line", Args: []string{"sim"}},
		{Name: "sim-ollama", Args: []string{"sim"}},
	}}}
	if err := l.startEngines(); err == nil { // the binary does not exist: the keys are written first
		t.Fatal("engines started without a servelab binary")
	}
	if len(l.engineKeys) != 1 || len(l.engineKeys["sim-vllm"]) != engineKeyLen {
		t.Fatalf("engine keys %v", l.engineKeys)
	}
	st, err := os.Stat(filepath.Join(keysDir, "sim-vllm"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o400 {
		t.Errorf("key file mode %v, want 0400", st.Mode().Perm())
	}
	b, _ := os.ReadFile(filepath.Join(keysDir, "sim-vllm"))
	if string(b) != l.engineKeys["sim-vllm"]+"\n" {
		t.Errorf("key file %q, want the key on one line", b)
	}
	if entries, _ := os.ReadDir(keysDir); len(entries) != 1 {
		t.Errorf("%d key files, want 1 (Ollama takes none)", len(entries))
	}
}
