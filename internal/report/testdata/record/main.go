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
//     "benchmark" value is components/benchmark.Parse of recorded.json
//     (vllm through the gateway, vllm-direct, ollama), as the Benchmark
//     component exports it.
//
// Run from the repository root, then refresh the goldens:
//
//	go run ./internal/report/testdata/record && go test ./internal/report -update
//
// It lives under testdata so that the report's tests do not link the
// Pulumi SDK (components/benchmark imports it).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

const dir = "internal/report/testdata/inputs"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
}

func run() error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
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
	if err := writeBench("other-seed.json", other, false); err != nil {
		return err
	}

	recorded, err := os.ReadFile("components/benchmark/testdata/recorded.json")
	if err != nil {
		return err
	}
	results, err := benchmark.Parse(string(recorded), []benchmark.Target{
		{Label: "vllm", Engine: "gateway", Framework: "vllm"},
		{Label: "vllm-direct", Engine: "vllm", Framework: "vllm", Direct: true},
		{Label: "ollama", Engine: "gateway", Framework: "ollama"},
	})
	if err != nil {
		return fmt.Errorf("parse recorded bench output: %w", err)
	}
	stack := map[string]any{
		"benchmark": results,
		"gateway":   map[string]any{"url": "http://127.0.0.1:8080", "models": []string{"ollama", "vllm"}},
	}
	return writeJSON("rtx5090.json", stack)
}

func serve(cfg sim.Config) (*httptest.Server, error) {
	s, err := sim.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("sim %s: %w", cfg.Flavour, err)
	}
	return httptest.NewServer(s.Handler()), nil
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
