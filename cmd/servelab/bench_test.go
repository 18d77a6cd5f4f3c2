package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

// benchSim serves a simulated vLLM (model "tiny") on loopback.
func benchSim(t *testing.T, cfg sim.Config) *httptest.Server {
	t.Helper()
	cfg.Flavour, cfg.Model, cfg.MaxOutputTokens = engine.VLLM, "tiny", 8
	if cfg.TTFT == 0 {
		cfg.TTFT = 2 * time.Millisecond
	}
	if cfg.ITL == 0 {
		cfg.ITL = time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

// bench runs `servelab bench` in-process with a small workload and
// returns stdout, stderr and the exit status main would use.
func bench(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	base := []string{"bench", "--num-prompts", "4", "--random-input-len", "8", "--random-output-len", "3", "--seed", "1"}
	out, errOut, err := servelab(context.Background(), append(base, args...)...)
	var ee exitError
	switch {
	case err == nil:
		code = 0
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 1
	}
	return out, errOut, code
}

// summaryLines is the message stderr ends with ("servelab: ..." and the
// lines after it).
func summaryLines(t *testing.T, stderr string) []string {
	t.Helper()
	i := strings.LastIndex(stderr, "servelab: ")
	if i < 0 {
		t.Fatalf("stderr has no final summary:\n%s", stderr)
	}
	return strings.Split(strings.TrimSpace(stderr[i:]), "\n")
}

func TestBenchSucceeds(t *testing.T) {
	t.Parallel()
	ts := benchSim(t, sim.Config{KVCacheTokens: 1024})
	out, stderr, code := bench(t, "--base-url", ts.URL, "--model", "tiny", "--max-concurrency", "1,2", "--repeats", "2",
		"--metrics-url", ts.URL+"/metrics", "--log-format", "text")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var doc benchmarks.Runs
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("stdout is not the runs document: %v\n%s", err, out)
	}
	p := doc.Provenance
	if len(doc.Runs) != 4 || p == nil || len(p.BinarySHA256) != 64 || p.Workload.Repeats != 2 || p.Workload.Warmup != benchmarks.WarmupAuto ||
		p.DatasetHash != doc.Runs[0].DatasetSHA256 || p.Seed != 1 {
		t.Fatalf("document: %d runs, provenance %+v", len(doc.Runs), p)
	}
	if kv := doc.Runs[0].KVCacheCapacityTokens; kv == nil || *kv != 1024 {
		t.Errorf("kv capacity %v", kv)
	}
	// Logs in the chosen format, progress records, the vLLM-style summary.
	for _, want := range []string{"level=INFO", `msg="bench progress"`, "run=1/4", "Successful requests:", "Run 4/4: tiny"} {
		if !strings.Contains(stderr, want) && !(want == "Run 4/4: tiny" && strings.Contains(stderr, "Run 4/4: ")) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, `{"time"`) {
		t.Error("JSON log records with --log-format text")
	}
}

func TestBenchFailureExitsOneWithEmptyStdout(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		fmt.Fprint(w, `{"object":"error","message":"The model qwen-8b does not exist.","code":404}`)
	}))
	defer ts.Close()
	partial := filepath.Join(t.TempDir(), "partial.json")
	out, stderr, code := bench(t, "--base-url", ts.URL, "--model", "qwen-8b", "--label", "gw", "--max-concurrency", "2", "--partial-results", partial)
	if code != exitFailures || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	lines := summaryLines(t, stderr)
	if len(lines) > 10 {
		t.Errorf("summary has %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	msg := strings.Join(lines, "\n")
	for _, want := range []string{"1 of 1 runs failed", "run 1/1 (gw, max_concurrency 2, request_rate inf)", "no request completed: 4 of 4 failed",
		"first error: HTTP 404: The model qwen-8b does not exist.", "1 runs measured, written to " + partial} {
		if !strings.Contains(msg, want) {
			t.Errorf("summary lacks %q:\n%s", want, msg)
		}
	}
	b, err := os.ReadFile(partial)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := benchmarks.DecodeDocument(strings.NewReader(string(b)))
	if err != nil || len(doc.Runs) != 1 || doc.Runs[0].Failed != 4 || doc.Provenance == nil || doc.Runs[0].ErrorSummary["HTTP 404: The model qwen-8b does not exist."] != 4 {
		t.Errorf("partial results %s: %v", b, err)
	}
}

func TestBenchPartialFailuresAreNeverSilent(t *testing.T) {
	t.Parallel()
	s := benchSim(t, sim.Config{})
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/chat/completions" && n.Add(1) == 2 {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"message":"overloaded"}}`)
			return
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, s.URL+r.URL.Path, r.Body)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer ts.Close()
	// 1 of 4 failed: within --max-failure-ratio 0.5 (exit 0), above the
	// default 0.05 (exit 1). Either way stderr says what failed.
	for _, tt := range []struct {
		ratio string
		code  int
	}{{"0.5", 0}, {"0.05", exitFailures}} {
		n.Store(0)
		out, stderr, code := bench(t, "--base-url", ts.URL, "--model", "tiny", "--max-concurrency", "1", "--warmup", "0", "--max-failure-ratio", tt.ratio, "--log-level", "warn")
		if code != tt.code || (code == 0) != (out != "") {
			t.Errorf("ratio %s: exit %d (want %d), stdout %d bytes", tt.ratio, code, tt.code, len(out))
		}
		if !strings.Contains(stderr, "1× HTTP 503: overloaded") || !strings.Contains(stderr, "bench run done with failures") {
			t.Errorf("ratio %s: stderr does not name the failure:\n%s", tt.ratio, stderr)
		}
	}
}

func TestBenchDeadlineExitsThree(t *testing.T) {
	t.Parallel()
	ts := benchSim(t, sim.Config{ITL: 50 * time.Millisecond})
	partial := filepath.Join(t.TempDir(), "p.json")
	out, stderr, code := bench(t, "--base-url", ts.URL, "--model", "tiny", "--random-output-len", "60", "--max-concurrency", "4,8",
		"--warmup", "0", "--deadline", "1s", "--partial-results", partial)
	if code != exitDeadline || out != "" {
		t.Fatalf("exit %d, stdout %q\n%s", code, out, stderr)
	}
	msg := strings.Join(summaryLines(t, stderr), "\n")
	if !strings.HasPrefix(msg, "servelab: deadline 1s reached after 1 of 2 runs; run ") || !strings.Contains(msg, "written to "+partial) {
		t.Errorf("summary:\n%s", msg)
	}
	b, _ := os.ReadFile(partial)
	doc, err := benchmarks.DecodeDocument(strings.NewReader(string(b)))
	if err != nil || len(doc.Runs) != 1 || !doc.Runs[0].Partial {
		t.Errorf("partial results %s: %v", b, err)
	}
}

func TestBenchVLLMFlags(t *testing.T) {
	t.Parallel()
	ts := benchSim(t, sim.Config{})
	host, port, _ := strings.Cut(strings.TrimPrefix(ts.URL, "http://"), ":")
	dir := t.TempDir()
	out, stderr, code := bench(t, "--host", host, "--port", port, "--model", "tiny", "--dataset-name", "random", "--input-len", "6",
		"--metric-percentiles", "25,50", "--percentile-metrics", "ttft,tpot,itl,e2el", "--num-warmups", "2",
		"--backend", "openai", "--endpoint", "/v1/completions", "--goodput", "ttft:500", "tpot:50", "--disable-tqdm",
		"--save-result", "--result-dir", filepath.Join(dir, "res"), "--result-filename", "r.json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	cfg := r["config"].(map[string]any)
	good := cfg["goodput"].(map[string]any)
	if r["backend"] != "openai" || r["endpoint"] != "completions" || r["endpoint_path"] != "/v1/completions" || r["model_id"] != "tiny" ||
		r["p25_ttft_ms"] == nil || r["date"] == nil || cfg["warmup"] != 2.0 || good["ttft"] != 500.0 || good["tpot"] != 50.0 ||
		cfg["random_input_len"] != 6.0 || r["base_url"] != ts.URL {
		t.Errorf("result %v", r)
	}
	if strings.Contains(stderr, "bench progress") {
		t.Error("--disable-tqdm still shows progress")
	}
	saved, err := os.ReadFile(filepath.Join(dir, "res", "r.json"))
	if err != nil || !strings.Contains(string(saved), `"backend": "openai"`) {
		t.Errorf("--save-result: %v\n%s", err, saved)
	}
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--base-url", "http://127.0.0.1:1", "--max-concurency", "4"}, "unknown flag: --max-concurency (did you mean --max-concurrency?)"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--dataset-nme", "random"}, "(did you mean --dataset-name?)"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--tokenizer", "x"}, "unknown flag: --tokenizer: a `vllm bench serve` flag servelab does not support: servelab runs offline without a tokenizer"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--api-key", "sk"}, "unknown flag: --api-key: keys never go on the command line"},
		{[]string{"--base-url", "localhost:8000"}, `--base-url "localhost:8000" has no scheme: write http://localhost:8000`},
		{[]string{"--base-url", "http://127.0.0.1:1", "--host", "h"}, "--base-url excludes --host and --port"},
		{[]string{"--base-url", "http://127.0.0.1:1", "tpot:50"}, `unexpected argument "tpot:50"`},
		{[]string{"--base-url", "http://127.0.0.1:1", "--goodput", "ttft:5", "itl:5"}, `unexpected argument "itl:5"`},
		{[]string{"--base-url", "http://127.0.0.1:1", "--backend", "openai-chat", "--endpoint", "/v1/completions"}, "--backend openai-chat sends chat requests but --endpoint /v1/completions takes completions requests"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--backend", "tgi"}, `--backend "tgi"`},
		{[]string{"--base-url", "http://127.0.0.1:1", "--repeats", "0"}, "--repeats must be in 1..100"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--warmup", "many"}, `--warmup "many"`},
		{[]string{"--base-url", "http://127.0.0.1:1", "--deadline", "0s"}, "--deadline must be > 0"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--log-format", "xml"}, "--log-format"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--progress", "loud"}, "--progress"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--output-len", "5", "--random-output-len", "5"}, "give one"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--output", "/nonexistent/dir/out.json"}, "directory /nonexistent/dir does not exist"},
		{[]string{"--base-url", "http://127.0.0.1:1", "--num-prompts", "x"}, `invalid argument "x"`},
	} {
		out, stderr, code := bench(t, tt.args...)
		if code != exitUsage || out != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("bench %v: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, out, stderr, tt.want)
		}
	}
}

// TestBenchDocsListEveryFlag: docs/bench.md documents every flag of the
// command and lists every vLLM flag in its compatibility table.
func TestBenchDocsListEveryFlag(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "bench.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	newBenchCmd().Flags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(doc, "`--"+f.Name+"`") && !strings.Contains(doc, "`--"+f.Name+" ") {
			t.Errorf("docs/bench.md does not document --%s", f.Name)
		}
	})
	for alias, to := range benchAliases {
		if !strings.Contains(doc, "| `--"+alias+"` | alias of `--"+to+"` |") {
			t.Errorf("docs/bench.md's vLLM table lacks the alias --%s of --%s", alias, to)
		}
	}
	for _, v := range benchmarks.VLLMFlags() {
		if !strings.Contains(doc, "| `--"+v.Name+"` |") {
			t.Errorf("docs/bench.md's vLLM table lacks --%s", v.Name)
		}
		if v.Servelab != "" && newBenchCmd().Flags().Lookup(v.Servelab) == nil {
			t.Errorf("vLLM's --%s maps to --%s, which bench does not have", v.Name, v.Servelab)
		}
		if to, ok := benchAliases[v.Name]; ok && to != v.Servelab {
			t.Errorf("--%s is an alias of --%s but the table says --%s", v.Name, to, v.Servelab)
		}
		if v.Servelab != "" && v.Servelab != v.Name {
			if _, ok := benchAliases[v.Name]; !ok && v.Name != "disable-tqdm" {
				t.Errorf("vLLM's --%s is said to map to --%s but is no alias", v.Name, v.Servelab)
			}
		}
	}
}
