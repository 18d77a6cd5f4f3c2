package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/gateway"
)

// servelab runs the root command in-process, as the binary would.
func servelab(ctx context.Context, args ...string) (string, string, error) {
	root := newRootCmd()
	var out, errb bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestSubcommands wires every subcommand together the way the stack does:
// a sim, probes against it, a gateway config check, a bench against the
// sim and a report of the bench's output.
func TestSubcommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	addr := freeAddr(t)
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() {
		_, _, err := servelab(simCtx, "sim", "--flavour", "vllm", "--listen", addr, "--model", "tiny", "--ttft", "5ms", "--itl", "1ms")
		simDone <- err
	}()
	defer func() {
		stopSim()
		select {
		case <-simDone:
		case <-time.After(10 * time.Second):
			t.Error("sim did not stop on cancel")
		}
	}()

	base := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, err := servelab(ctx, "probe", base+"/health"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sim never became healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, _, err := servelab(ctx, "probe", "--model", "tiny", base+"/v1/models"); err != nil {
		t.Errorf("probe for the served model: %v", err)
	}
	if _, _, err := servelab(ctx, "probe", "--model", "other", base+"/v1/models"); err == nil {
		t.Error("probe accepted a model the sim does not serve")
	}

	cfg := gateway.DefaultConfig()
	cfg.Models = []gateway.Model{{Name: "tiny", Backends: []gateway.Backend{{Name: "sim", Engine: "vllm", URL: base}}}}
	good := filepath.Join(dir, "gateway.json")
	writeJSON(t, good, cfg)
	if out, _, err := servelab(ctx, "gateway", "--config", good, "--check"); err != nil || !strings.Contains(out, "ok (1 models)") {
		t.Errorf("gateway --check: %q %v", out, err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"models":[{"name":"tiny","backends":[{"name":"sim","engine":"tgi","url":"x"}]}],"listn":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := servelab(ctx, "gateway", "--config", bad, "--check"); err == nil ||
		!strings.Contains(err.Error(), `listn: unknown key "listn"`) || !strings.Contains(err.Error(), "models[0].backends[0].engine") {
		t.Errorf("gateway --check on a bad config: %v", err)
	}

	result := filepath.Join(dir, "bench.json")
	if _, stderr, err := servelab(ctx, "bench", "--base-url", base, "--model", "tiny", "--num-prompts", "6",
		"--random-input-len", "16", "--random-output-len", "4", "--max-concurrency", "2", "--seed", "1", "--output", result); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr)
	}
	var res map[string]any
	b, err := os.ReadFile(result)
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("bench output %q: %v", b, err)
	}
	if res["completed"] != 6.0 || res["model"] != "tiny" {
		t.Errorf("bench result completed=%v model=%v", res["completed"], res["model"])
	}
	out, _, err := servelab(ctx, "report", result)
	if err != nil || !strings.Contains(out, "bench/") || !strings.Contains(out, "TTFT") {
		t.Errorf("report: %v\n%s", err, out)
	}
	if _, _, err := servelab(ctx, "report", "--baseline", "other/x", result); err == nil || !strings.Contains(err.Error(), `--baseline "other/x"`) {
		t.Errorf("report --baseline with an unknown series: %v", err)
	}
}

func TestSubcommandErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sim", "--flavour", "tgi"}, `unknown flavour "tgi"`},
		{[]string{"bench", "--base-url", "http://127.0.0.1:1", "--api-key", "sk-x"}, "unknown flag: --api-key"},
		{[]string{"bench", "--base-url", "http://127.0.0.1:1", "--format", "xml"}, "xml"},
		{[]string{"gateway"}, `required flag(s) "config" not set`},
		{[]string{"report"}, ""},
		{[]string{"report", "/nonexistent.json"}, "/nonexistent.json"},
		{[]string{"probe"}, "accepts 1 arg"},
	} {
		_, _, err := servelab(ctx, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("servelab %v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestExampleGatewayConfig: the quick-start config shipped in examples/
// passes `servelab gateway --check`, and teaches the safe setup: a
// loopback listener and API keys on.
func TestExampleGatewayConfig(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "examples", "gateway.json")
	out, _, err := servelab(context.Background(), "gateway", "--config", path, "--check")
	if err != nil || !strings.Contains(out, "ok (2 models)") {
		t.Fatalf("gateway --check %s: %q %v", path, out, err)
	}
	cfg, err := gateway.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() || !cfg.Auth.Enabled() {
		t.Errorf("example listens on %q with auth %+v: want loopback and keys", cfg.Listen, cfg.Auth)
	}
}

// TestLogFormat: sim and gateway log in the format --log-format names,
// as the bench does (TestBenchSucceeds), and refuse an unknown one.
func TestLogFormat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	simAddr, gwAddr := freeAddr(t), freeAddr(t)
	cfg := gateway.DefaultConfig()
	cfg.Listen = gwAddr
	cfg.Models = []gateway.Model{{Name: "tiny", Backends: []gateway.Backend{{Name: "sim", Engine: "vllm", URL: "http://" + simAddr}}}}
	conf := filepath.Join(t.TempDir(), "gateway.json")
	writeJSON(t, conf, cfg)

	// logs starts a subcommand, waits until url answers, stops it and
	// returns what it logged.
	logs := func(url string, args ...string) string {
		t.Helper()
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		done := make(chan string, 1)
		go func() {
			_, stderr, err := servelab(runCtx, args...)
			if err != nil && runCtx.Err() == nil {
				t.Errorf("servelab %v: %v", args, err)
			}
			done <- stderr
		}()
		for ctx.Err() == nil {
			if _, _, err := servelab(ctx, "probe", url); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		return <-done
	}
	for _, format := range []string{"text", "json"} {
		for name, stderr := range map[string]string{
			"sim":     logs("http://"+simAddr+"/health", "sim", "--flavour", "vllm", "--listen", simAddr, "--log-format", format),
			"gateway": logs("http://"+gwAddr+"/healthz", "gateway", "--config", conf, "--log-format", format),
		} {
			first, _, _ := strings.Cut(strings.TrimSpace(stderr), "\n")
			isJSON := json.Valid([]byte(first))
			switch {
			case first == "":
				t.Errorf("%s --log-format %s logged nothing", name, format)
			case format == "json" && !isJSON:
				t.Errorf("%s --log-format json: first line is not JSON: %s", name, first)
			case format == "text" && (isJSON || !strings.Contains(first, "level=")):
				t.Errorf("%s --log-format text: first line is not a text record: %s", name, first)
			}
		}
	}
	for _, args := range [][]string{
		{"sim", "--flavour", "vllm", "--log-format", "yaml"},
		{"gateway", "--config", conf, "--log-format", "yaml"},
	} {
		if _, _, err := servelab(ctx, args...); err == nil || !strings.Contains(err.Error(), `--log-format "yaml"`) {
			t.Errorf("servelab %v: %v, want the format refused", args, err)
		}
	}
}
