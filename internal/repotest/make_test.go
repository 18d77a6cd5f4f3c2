package repotest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runMake runs make in the repository root with extra variables and
// environment; it returns the combined output and whether make succeeded.
func runMake(t *testing.T, env []string, args ...string) (string, bool) {
	t.Helper()
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Fatalf("make is not installed: %v", err)
	}
	cmd := exec.Command(makeBin, append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// TestUpChecksPulumiBeforeBuilding: without the Pulumi CLI, make up,
// preview and bench stop at once with a message naming it, before they
// build anything (GO=false would fail the build).
func TestUpChecksPulumiBeforeBuilding(t *testing.T) {
	for _, target := range []string{"up", "preview", "bench", "outputs", "report"} {
		out, ok := runMake(t, nil, target, "STACK=sim", "PULUMI=servelab-no-such-pulumi", "GO=false")
		if ok || !strings.Contains(out, "the Pulumi CLI is not installed") {
			t.Errorf("make %s without the Pulumi CLI: ok %v, output:\n%s", target, ok, out)
		}
		if strings.Contains(out, "build -trimpath") {
			t.Errorf("make %s built before checking for the Pulumi CLI:\n%s", target, out)
		}
	}
}

// TestOutputTargets: make outputs, grafana and gateway read the stack's
// outputs with the Pulumi CLI against servelab's state (nobody exports
// PULUMI_BACKEND_URL), secrets only where asked for.
func TestOutputTargets(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "calls")
	fixture := filepath.Join(dir, "outputs.json")
	write(t, fixture, `{"program":"compare","gateway":{"url":"http://127.0.0.1:8088","apiKey":"gw-key-123","models":["sim-vllm"]},`+
		`"monitoring":{"prometheusUrl":"http://127.0.0.1:9090","prometheusUser":"servelab","prometheusPassword":"prom-pw-789",`+
		`"grafanaUrl":"http://127.0.0.1:3000","grafanaAdminPassword":"grafana-pw-456"}}`, 0o644)
	pulumi := filepath.Join(dir, "pulumi")
	write(t, pulumi, "#!/bin/sh\nprintf '%s %s\\n' \"$PULUMI_BACKEND_URL\" \"$*\" >>"+log+"\ncat "+fixture+"\n", 0o755)
	state := filepath.Join(dir, "state")
	vars := []string{"STACK=sim", "PULUMI=" + pulumi, "STATE_DIR=" + state}
	env := []string{"PULUMI_CONFIG_PASSPHRASE=test-only"}

	for _, c := range []struct {
		target, want, call string
		notWant            []string
	}{
		{"outputs", "http://127.0.0.1:3000", "stack output --json --stack sim", []string{"gw-key-123", "grafana-pw-456", "prom-pw-789"}},
		{"grafana", "grafana-pw-456", "stack output --json --show-secrets --stack sim", []string{"gw-key-123"}},
		{"gateway", "gw-key-123", "stack output --json --show-secrets --stack sim", []string{"grafana-pw-456"}},
	} {
		if err := os.Remove(log); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		out, ok := runMake(t, env, append([]string{c.target}, vars...)...)
		if !ok || !strings.Contains(out, c.want) {
			t.Errorf("make %s: ok %v, want %q in:\n%s", c.target, ok, c.want, out)
		}
		for _, s := range c.notWant {
			if strings.Contains(out, s) {
				t.Errorf("make %s prints %q:\n%s", c.target, s, out)
			}
		}
		calls, err := os.ReadFile(log)
		if err != nil {
			t.Fatalf("make %s did not run the Pulumi CLI: %v", c.target, err)
		}
		if want := "file://" + state + " " + c.call + "\n"; string(calls) != want {
			t.Errorf("make %s ran the Pulumi CLI as %q, want %q", c.target, calls, want)
		}
	}
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
