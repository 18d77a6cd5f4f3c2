package monitoring_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// promtool returns the path of Debian's promtool, failing (never skipping)
// when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found in PATH: install it with `apt-get update && apt-get install -y prometheus` (make test does): %v", err)
	}
	return p
}

// runPromtool runs promtool with args and fails the test with its output
// when it exits non-zero.
func runPromtool(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool(t), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestPromtoolCheck runs promtool check config (which also checks the rule
// files it loads), check rules and check web-config on every lab's files,
// written to a temporary directory with the lab's RulesDir pointing there.
func TestPromtoolCheck(t *testing.T) {
	t.Parallel()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			lab := c.lab
			lab.RulesDir = filepath.Join(dir, "rules")
			files, err := monitoring.PrometheusFiles(lab)
			if err != nil {
				t.Fatal(err)
			}
			web, err := monitoring.WebConfig(testUser, testHash)
			if err != nil {
				t.Fatal(err)
			}
			files[monitoring.PrometheusWebConfigPath] = web
			// Container paths under /etc/prometheus land under dir; the
			// rules are already there.
			local := map[string][]byte{}
			for p, content := range files {
				if strings.HasPrefix(p, dir) {
					p = strings.TrimPrefix(p, dir)
				}
				local[p] = content
			}
			writeFiles(t, dir, local)
			cfg := filepath.Join(dir, "etc", "prometheus", "prometheus.yml")
			if lab.Kubernetes != nil {
				// Debian's promtool is built without Kubernetes discovery;
				// TestKubernetesDiscovery loads this config with Prometheus's
				// own loader and discovery plugin instead.
				t.Log("promtool check config skipped: kubernetes_sd_configs")
			} else if out := runPromtool(t, "check", "config", cfg); !strings.Contains(out, "SUCCESS: 2 rule files found") {
				t.Errorf("promtool check config did not load both rule files:\n%s", out)
			}
			runPromtool(t, "check", "rules",
				filepath.Join(lab.RulesDir, monitoring.RecordingRulesFile),
				filepath.Join(lab.RulesDir, monitoring.AlertRulesFile))
			runPromtool(t, "check", "web-config", filepath.Join(dir, "etc", "prometheus", "web.yml"))
		})
	}
}

// TestPromtoolWebConfigWithFreshHash checks a web config made from a hash
// generated the way pulumi-random's bcryptHash is (x/crypto/bcrypt, default
// cost), and that the hash is the password's.
func TestPromtoolWebConfigWithFreshHash(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("fresh-test-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web, err := monitoring.WebConfig("prometheus", string(hash))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(web, []byte("fresh-test-password")) {
		t.Fatal("web config holds the clear password")
	}
	path := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(path, web, 0o600); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "web-config", path)
	if err := bcrypt.CompareHashAndPassword([]byte(testHash), []byte(testPassword)); err != nil {
		t.Errorf("fixture testHash is not the hash of testPassword: %v", err)
	}
}

// ruleTestLab is the lab testdata/ruletests/lab.yml is written for: every
// sim flavour behind a gateway, one DCGM exporter, three models. The
// fixture's input series carry the labels this lab's prometheus.yml gives.
func ruleTestLab(rulesDir string) monitoring.Lab {
	return monitoring.Lab{
		Stack:    "ruletest",
		RulesDir: rulesDir,
		Gateway:  &monitoring.Target{Host: "local", Address: "gateway:8080"},
		Frameworks: []monitoring.Framework{
			{Name: "sim-vllm", Engine: engine.Sim, Flavour: engine.VLLM, Host: "local", Address: "sim-vllm:8000"},
			{Name: "sim-sglang", Engine: engine.Sim, Flavour: engine.SGLang, Host: "local", Address: "sim-sglang:30000"},
			{Name: "sim-ollama", Engine: engine.Sim, Flavour: engine.Ollama, Host: "local", Address: "sim-ollama:11434"},
			{Name: "sim-llamacpp", Engine: engine.Sim, Flavour: engine.LlamaCpp, Host: "local", Address: "sim-llamacpp:8080"},
		},
		DCGM:   []monitoring.Target{{Host: "local", Address: "dcgm:9400"}},
		Models: []string{"m1", "m2", "m3"},
	}
}

// TestPromtoolRuleUnitTests evaluates the generated rules on synthetic
// series with `promtool test rules`: each recorded signal's value per
// framework (engine metrics for some, gateway metrics for the others' gaps)
// and when each alert fires.
func TestPromtoolRuleUnitTests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files, err := monitoring.PrometheusFiles(ruleTestLab(dir))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range monitoring.RulesFiles() {
		if err := os.WriteFile(filepath.Join(dir, name), files[filepath.Join(dir, name)], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fixture, err := os.ReadFile(filepath.Join("testdata", "ruletests", "lab.yml"))
	if err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "lab_test.yml")
	if err := os.WriteFile(test, fixture, 0o644); err != nil {
		t.Fatal(err)
	}
	out := runPromtool(t, "test", "rules", test)
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules did not succeed:\n%s", out)
	}
}
