// Command record regenerates the report's test inputs in
// internal/report/testdata/inputs from real code paths:
//
//   - sim.json: `servelab bench` (benchmarks.Run) against two in-process
//     sims (SGLang and llama.cpp flavours), the multilingual set with seed
//     42, 22 prompts, 16 output tokens, goodput ttft:100, concurrency
//     1, 4 and 8 — the workload of components/benchmark/testdata/recorded.json;
//   - other-seed.json: one run of the same workload with seed 7 (a single
//     Result object, not comparable with the others);
//   - rtx5090.json: a `pulumi stack output --json` document whose
//     "benchmark" value is what the Benchmark component exports, run
//     under Pulumi's mock engine on recorded.json (vllm through the
//     gateway, vllm-direct, ollama; concurrency 1 and 4): results, gateway
//     overhead and provenance;
//   - repeats.json: the same workload and targets measured three times
//     per load level through a real in-process gateway (vllm, ollama) and
//     directly (vllm-direct), against sims a little faster than the ones
//     of recorded.json, written as a `servelab bench --runs --repeats 3`
//     document: each run carries its "repeat" number, and the document its
//     "provenance" (contract C2);
//   - rtx5090-next.json: the Benchmark component's output for the first
//     repeat of repeats.json, with rtx5090.json's benchmark output as its
//     baseline stack (StackReference mocked): results, provenance and the
//     component's own comparison.
//
// Run from the repository root, then refresh the goldens:
//
//	go run ./internal/report/testdata/record && go test ./internal/report -update
//
// It lives under testdata so that the report's tests do not link the
// Pulumi SDK (components/benchmark imports it).
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/internal/sim"
	"github.com/servelab/servelab/internal/version"
)

const dir = "internal/report/testdata/inputs"

// repeats is how often repeats.json measures each load level.
const repeats = 3

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func run() error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	binHash, err := executableHash()
	if err != nil {
		return err
	}
	if err := recordSims(quiet); err != nil {
		return err
	}

	// The stack targets and workload of components/benchmark's tests,
	// which recorded.json was measured with.
	targets := []benchmark.Target{
		{Label: "vllm", BaseURL: "http://gateway:8080", Model: "vllm", Engine: "gateway", Framework: "vllm", KeyIndex: 0,
			ImageDigest: pulumi.String("localhost/servelab@sha256:" + binHash)},
		{Label: "vllm-direct", BaseURL: "http://vllm:8000", Model: "qwen", Engine: "vllm", Framework: "vllm", Direct: true, KeyIndex: -1,
			ImageDigest: pulumi.String("localhost/servelab@sha256:" + binHash)},
		{Label: "ollama", BaseURL: "http://gateway:8080", Model: "ollama", Engine: "gateway", Framework: "ollama", KeyIndex: 0,
			ImageDigest: pulumi.String("localhost/servelab@sha256:" + binHash)},
	}
	workload := benchspec.Workload{Dataset: "multilingual", NumPrompts: 22, MaxConcurrency: []int{1, 4}, OutputLen: 16, Seed: 42,
		Goodput: map[string]float64{"ttft": 100}}

	recorded, err := os.ReadFile("components/benchmark/testdata/recorded.json")
	if err != nil {
		return err
	}
	base, err := stackOutput(string(recorded), targets, workload, binHash, nil, nil)
	if err != nil {
		return fmt.Errorf("rtx5090 outputs: %w", err)
	}
	if err := writeJSON("rtx5090.json", map[string]any{
		"benchmark": base,
		"gateway":   map[string]any{"url": "http://127.0.0.1:8080", "models": []string{"ollama", "vllm"}},
	}); err != nil {
		return err
	}

	first, err := recordRepeats(quiet, workload, binHash)
	if err != nil {
		return err
	}
	var doc bytes.Buffer
	if err := benchmarks.Write(&doc, benchmarks.FormatJSON, first, true); err != nil {
		return err
	}
	next, err := stackOutput(doc.String(), targets, workload, binHash, &benchmark.Baseline{Stack: "rtx5090"}, base)
	if err != nil {
		return fmt.Errorf("rtx5090-next outputs: %w", err)
	}
	return writeJSON("rtx5090-next.json", map[string]any{"benchmark": next})
}

// recordSims writes sim.json and other-seed.json.
func recordSims(quiet *slog.Logger) error {
	sglang, err := serve(sim.Config{Flavour: engine.SGLang, Model: "qwen", TTFT: 15 * time.Millisecond, ITL: 2 * time.Millisecond,
		Jitter: 0.2, Capacity: 4, Seed: 1, MaxOutputTokens: 16, Logger: quiet})
	if err != nil {
		return err
	}
	defer sglang.Close()
	llamacpp, err := serve(sim.Config{Flavour: engine.LlamaCpp, Model: "qwen-gguf", TTFT: 25 * time.Millisecond, ITL: 4 * time.Millisecond,
		Jitter: 0.2, Capacity: 2, Seed: 2, MaxOutputTokens: 16, Logger: quiet})
	if err != nil {
		return err
	}
	defer llamacpp.Close()

	cfg := benchmarks.Config{
		Targets: []benchmarks.Target{
			{Label: "sglang", BaseURL: sglang.URL, Model: "qwen", Engine: "sglang"},
			{Label: "llamacpp", BaseURL: llamacpp.URL, Model: "qwen-gguf", Engine: "llamacpp"},
		},
		Endpoint:       benchmarks.EndpointChat,
		Dataset:        dataset.Spec{Kind: dataset.Multilingual, NumPrompts: 22, Seed: 42, OutputLen: 16},
		MaxConcurrency: []int{1, 4, 8},
		RequestRates:   []float64{math.Inf(1)},
		Goodput:        map[string]float64{"ttft": 100},
		Logger:         quiet,
	}
	runs, err := benchmarks.Run(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("bench sims: %w", err)
	}
	if err := writeBench("sim.json", runs, true); err != nil {
		return err
	}

	cfg.Targets = cfg.Targets[:1]
	cfg.Dataset.Seed = 7
	cfg.MaxConcurrency = []int{4}
	other, err := benchmarks.Run(context.Background(), cfg)
	if err != nil {
		return fmt.Errorf("bench sim with seed 7: %w", err)
	}
	return writeBench("other-seed.json", other, false)
}

// recordRepeats measures vllm (through a real gateway), vllm-direct and
// ollama (through the gateway) `repeats` times, writes repeats.json and
// returns the first repeat's runs.
func recordRepeats(quiet *slog.Logger, w benchspec.Workload, binHash string) ([]benchmarks.Result, error) {
	vllm, err := serve(sim.Config{Flavour: engine.VLLM, Model: "qwen", TTFT: 15 * time.Millisecond, ITL: 2 * time.Millisecond,
		Jitter: 0.2, Capacity: 4, Seed: 3, MaxOutputTokens: 16, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer vllm.Close()
	ollama, err := serve(sim.Config{Flavour: engine.Ollama, Model: "qwen-ollama", TTFT: 28 * time.Millisecond, ITL: 3 * time.Millisecond,
		Jitter: 0.2, Capacity: 4, Seed: 4, MaxOutputTokens: 16, Logger: quiet})
	if err != nil {
		return nil, err
	}
	defer ollama.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gw, err := startGateway(ctx, quiet, []gateway.Model{
		{Name: "vllm", Backends: []gateway.Backend{{Name: "vllm", Engine: engine.VLLM, URL: vllm.URL, Model: "qwen"}}},
		{Name: "ollama", Backends: []gateway.Backend{{Name: "ollama", Engine: engine.Ollama, URL: ollama.URL, Model: "qwen-ollama"}}},
	})
	if err != nil {
		return nil, err
	}

	cfg := benchmarks.Config{
		Targets: []benchmarks.Target{
			{Label: "vllm", BaseURL: gw, Model: "vllm", Engine: "gateway"},
			{Label: "vllm-direct", BaseURL: vllm.URL, Model: "qwen", Engine: "vllm"},
			{Label: "ollama", BaseURL: gw, Model: "ollama", Engine: "gateway"},
		},
		Endpoint:       benchmarks.EndpointChat,
		Dataset:        dataset.Spec{Kind: dataset.Multilingual, NumPrompts: w.NumPrompts, Seed: w.Seed, OutputLen: w.OutputLen},
		MaxConcurrency: w.MaxConcurrency,
		RequestRates:   []float64{math.Inf(1)},
		Goodput:        w.Goodput,
		Logger:         quiet,
	}
	var reps [][]benchmarks.Result
	for i := range repeats {
		runs, err := benchmarks.Run(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("bench repeat %d: %w", i+1, err)
		}
		reps = append(reps, runs)
	}
	// The bench's order: targets, then levels, then repeats.
	var out []map[string]any
	for k := range reps[0] {
		for i, runs := range reps {
			m, err := asMap(runs[k])
			if err != nil {
				return nil, err
			}
			m["repeat"] = i + 1
			out = append(out, m)
		}
	}
	provenance := map[string]any{
		"servelab_version": version.Version, "binary_sha256": binHash, "dataset_hash": reps[0][0].DatasetSHA256, "seed": w.Seed,
		"workload": map[string]any{
			"dataset": w.Dataset, "num_prompts": w.NumPrompts, "endpoint": "chat", "max_concurrency": w.MaxConcurrency,
			"request_rates": []string{"inf"}, "burstiness": 1, "output_len": w.OutputLen, "warmup": 0, "repeats": repeats,
			"ignore_eos": false, "temperature": 0,
		},
	}
	if err := writeJSON("repeats.json", map[string]any{"provenance": provenance, "runs": out}); err != nil {
		return nil, err
	}
	return reps[0], nil
}

// startGateway serves the servelab gateway on loopback in front of models
// and returns its base URL once every backend is ready.
func startGateway(ctx context.Context, log *slog.Logger, models []gateway.Model) (string, error) {
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Models = models
	cfg.ProbeInterval = gateway.Duration(100 * time.Millisecond)
	g, err := gateway.New(cfg, gateway.Options{Logger: log})
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return "", err
	}
	go func() { _ = g.Serve(ctx, ln, nil) }()
	url := "http://" + ln.Addr().String()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "", errors.New("gateway: backends not ready after 30s")
}

// stackOutput runs the Benchmark component under Pulumi's mock engine with
// stdout as the bench's output and returns its results output: what
// `pulumi stack output benchmark` shows. With a baseline, the baseline
// stack's benchmark output is baseOut.
func stackOutput(stdout string, targets []benchmark.Target, w benchspec.Workload, binHash string,
	baseline *benchmark.Baseline, baseOut map[string]any) (map[string]any, error) {
	m := pulumitest.New(func(args pulumi.MockResourceArgs) resource.PropertyMap {
		switch {
		case args.TypeToken == "pulumi:pulumi:StackReference":
			return resource.PropertyMap{"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{"benchmark": baseOut}))}
		case strings.HasSuffix(args.Name, "-run"):
			return resource.PropertyMap{"stdout": resource.NewProperty(stdout)}
		}
		return nil
	})
	var results map[string]any
	err := m.Run("servelab", "rtx5090", nil, nil, func(ctx *pulumi.Context) error {
		b, err := benchmark.NewBenchmark(ctx, "benchmark", &benchmark.BenchmarkArgs{
			Binary: "bin/servelab", BinarySHA256: binHash, Targets: targets, Workload: w, Baseline: baseline,
			Keys: []pulumi.StringInput{pulumi.ToSecret(pulumi.String("recorder-key")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		res, err := internals.UnsafeAwaitOutput(ctx.Context(), b.Results)
		if err != nil {
			return err
		}
		results, _ = res.Value.(map[string]any)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if results == nil {
		return nil, errors.New("the component exported no results")
	}
	return results, nil
}

// executableHash is the SHA-256 of this program's binary: the servelab
// code that recorded the inputs, standing in for bin/servelab.
func executableHash() (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func serve(cfg sim.Config) (*httptest.Server, error) {
	s, err := sim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("sim %s: %w", cfg.Flavour, err)
	}
	return httptest.NewServer(s.Handler()), nil
}

func asMap(r benchmarks.Result) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func writeBench(name string, runs []benchmarks.Result, asRuns bool) error {
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	if err := benchmarks.Write(f, benchmarks.FormatJSON, runs, asRuns); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}
