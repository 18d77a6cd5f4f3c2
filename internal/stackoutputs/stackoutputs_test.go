package stackoutputs_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/stackoutputs"
)

// simOutputs is `pulumi stack output --json [--show-secrets]` of a sim
// stack (abridged), with secrets shown or not.
func simOutputs(t *testing.T, showSecrets bool) stackoutputs.Outputs {
	t.Helper()
	key, grafana, prom := `"[secret]"`, `"[secret]"`, `"[secret]"`
	if showSecrets {
		key, grafana, prom = `"gw-key-123"`, `"grafana-pw-456"`, `"prom-pw-789"`
	}
	o, err := stackoutputs.Read(strings.NewReader(`{
  "program": "compare",
  "gateway": {"url": "http://127.0.0.1:8088", "apiKey": ` + key + `, "models": ["sim-vllm", "sim-ollama"]},
  "monitoring": {"prometheusUrl": "http://127.0.0.1:9090", "prometheusUser": "servelab", "prometheusPassword": ` + prom + `,
                 "grafanaUrl": "http://127.0.0.1:3000", "grafanaAdminPassword": ` + grafana + `},
  "frameworks": {"sim-vllm": {"engine": "sim", "model": "simulated-8b", "host": "local", "publishedUrl": "http://127.0.0.1:8000"},
                 "sim-ollama": {"engine": "sim", "model": "simulated-8b", "host": "local", "publishedUrl": "http://127.0.0.1:11434"}},
  "hosts": {"local": {"address": "localhost", "remote": false}},
  "benchmark": {"targets": {"sim-vllm": [{}, {}], "sim-vllm-direct": [{}, {}]}}
}`))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestSummaryShowsURLsAndNoSecret(t *testing.T) {
	var b bytes.Buffer
	if err := stackoutputs.Summary(&b, "sim", simOutputs(t, true)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"stack sim, program compare", "http://127.0.0.1:8088", "sim-vllm, sim-ollama", "make gateway STACK=sim",
		"http://127.0.0.1:9090", "http://127.0.0.1:3000", "make grafana STACK=sim", "http://127.0.0.1:11434", "2 targets × 2 load levels", "make report STACK=sim"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"gw-key-123", "grafana-pw-456", "prom-pw-789"} {
		if strings.Contains(out, secret) {
			t.Errorf("summary prints the secret %q:\n%s", secret, out)
		}
	}
}

func TestCredentials(t *testing.T) {
	var b bytes.Buffer
	if err := stackoutputs.Grafana(&b, simOutputs(t, true)); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "http://127.0.0.1:3000") || !strings.Contains(out, "grafana-pw-456") || !strings.Contains(out, "prom-pw-789") {
		t.Errorf("grafana:\n%s", out)
	}
	b.Reset()
	if err := stackoutputs.Gateway(&b, simOutputs(t, true)); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "gw-key-123") || !strings.Contains(out, "http://127.0.0.1:8088") {
		t.Errorf("gateway:\n%s", out)
	}
	b.Reset()
	if err := stackoutputs.Gateway(&b, simOutputs(t, false)); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "not readable") {
		t.Errorf("gateway without secrets:\n%s", out)
	}
	if err := stackoutputs.Grafana(&b, stackoutputs.Outputs{"program": "bench"}); err == nil {
		t.Error("grafana of a stack without monitoring: no error")
	}
	if _, err := stackoutputs.Read(strings.NewReader("{}")); err == nil || !strings.Contains(err.Error(), "make up") {
		t.Errorf("empty outputs: %v", err)
	}
}
