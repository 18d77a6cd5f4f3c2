package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
)

// Exit statuses of `servelab bench` when results were written but the
// benchmark did not fully succeed.
const (
	exitRunFailed   = 2   // some run completed no request
	exitInterrupted = 130 // interrupted: results are partial
)

func newBenchCmd() *cobra.Command {
	var (
		target      benchmarks.Target
		targetsFile string
		endpoint    string
		ds          dataset.Spec
		conc, rates string
		burstiness  float64
		warmup      int
		goodput     string
		percentiles string
		timeout     time.Duration
		grace       time.Duration
		temperature float64
		ignoreEOS   bool
		detailed    bool
		output      string
		format      string
		forceRuns   bool
		logLevel    string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark OpenAI-compatible endpoints with a seeded workload (vLLM bench serve metrics)",
		Long: "Send the same seeded workload to one target (--base-url) or several (--targets FILE),\n" +
			"streaming every response, and report vLLM's `bench serve` metrics (TTFT, TPOT, ITL, E2EL,\n" +
			"throughputs, goodput) under vLLM's JSON field names, with provenance and a per-language\n" +
			"breakdown. --max-concurrency and --request-rate take lists: each combination is one run.\n" +
			"API keys come from --api-key-env or --api-key-file, never from argv. Exit status: 0 ok,\n" +
			"1 usage or setup error (nothing written), 2 a run completed no request, 130 interrupted\n" +
			"(partial results written). See docs/bench.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			if err := benchmarks.ValidFormat(format); err != nil {
				return err
			}
			cfg := benchmarks.Config{
				Endpoint: endpoint, Dataset: ds, Burstiness: burstiness, Warmup: warmup,
				Timeout: timeout, Grace: grace, Temperature: temperature, IgnoreEOS: ignoreEOS,
				SaveDetailed: detailed,
				Logger:       slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})),
				Progress:     benchmarks.TerminalProgress(os.Stderr),
			}
			if targetsFile != "" {
				for _, f := range []string{"base-url", "model", "label", "engine", "image", "api-key-env", "api-key-file"} {
					if cmd.Flags().Changed(f) {
						return fmt.Errorf("--targets excludes --%s: set it per target in the file", f)
					}
				}
				f, err := os.Open(targetsFile)
				if err != nil {
					return fmt.Errorf("--targets: %w", err)
				}
				cfg.Targets, err = benchmarks.ParseTargets(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("--targets %s: %w", targetsFile, err)
				}
			} else if target.BaseURL != "" {
				cfg.Targets = []benchmarks.Target{target}
			}
			var err error
			if conc != "" {
				if cfg.MaxConcurrency, err = benchmarks.ParseInts("--max-concurrency", conc); err != nil {
					return err
				}
			}
			if cfg.RequestRates, err = benchmarks.ParseRates(rates); err != nil {
				return err
			}
			if cfg.Goodput, err = benchmarks.ParseGoodput(goodput); err != nil {
				return err
			}
			if cfg.Percentiles, err = benchmarks.ParseFloats("--percentiles", percentiles); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			var file *os.File
			if output != "" && output != "-" {
				if file, err = os.Create(output); err != nil {
					return fmt.Errorf("--output: %w", err)
				}
				out = file
			}
			results, runErr := benchmarks.Run(cmd.Context(), cfg)
			if len(results) > 0 || runErr == nil {
				if err := benchmarks.Write(out, format, results, forceRuns || len(cfg.Targets) > 1); err != nil {
					return closeWith(file, err)
				}
			}
			if err := closeWith(file, nil); err != nil {
				return err
			}
			switch {
			case runErr == nil:
				return nil
			case len(results) == 0:
				return runErr
			case errors.Is(runErr, benchmarks.ErrInterrupted):
				return exitError{code: exitInterrupted, err: runErr}
			default:
				return exitError{code: exitRunFailed, err: runErr}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&target.BaseURL, "base-url", "", "target base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted)")
	f.StringVar(&target.Model, "model", "", "model name to request (default: the first model /v1/models lists)")
	f.StringVar(&target.Label, "label", "", "label of the target in results (default: host:port)")
	f.StringVar(&target.Engine, "engine", "", "engine behind the target (vllm, sglang, ollama, llamacpp, sim, gateway); provenance only")
	f.StringVar(&target.Image, "image", "", "container image of the target; provenance only")
	f.StringVar(&target.APIKeyEnv, "api-key-env", "", "name of the environment variable holding the API key")
	f.StringVar(&target.APIKeyFile, "api-key-file", "", "file holding the API key")
	f.StringVar(&targetsFile, "targets", "", `JSON file {"targets":[{label,base_url,model,engine,image,endpoint,api_key_env|api_key_file}]}, benched in order`)
	f.StringVar(&endpoint, "endpoint", benchmarks.EndpointChat, "chat (/v1/chat/completions) or completions (/v1/completions)")
	f.StringVar(&ds.Kind, "dataset", dataset.Random, "workload: random, multilingual, sharegpt or jsonl")
	f.StringVar(&ds.Path, "dataset-path", "", "file for --dataset sharegpt (JSON array) or jsonl (lines {prompt,max_tokens,language})")
	f.IntVar(&ds.RandomInputLen, "random-input-len", 1024, "random dataset: input length in (approximate) tokens")
	f.IntVar(&ds.RandomOutputLen, "random-output-len", 128, "random dataset: max_tokens")
	f.Float64Var(&ds.RandomRangeRatio, "random-range-ratio", 0, "random dataset: lengths uniform in [len·(1−r), len·(1+r)], 0 ≤ r < 1")
	f.IntVar(&ds.OutputLen, "output-len", 0, "non-random datasets: replace every prompt's max_tokens (0 keeps the dataset's)")
	f.IntVar(&ds.NumPrompts, "num-prompts", 1000, "measured requests per run")
	f.Int64Var(&ds.Seed, "seed", 0, "seed of the workload sampling and of the arrival process")
	f.StringVar(&rates, "request-rate", "inf", "arrival rate(s) in requests/s, comma-separated; inf sends all at once")
	f.Float64Var(&burstiness, "burstiness", 1, "gamma shape of inter-arrival gaps: 1 Poisson, <1 burstier, >1 steadier")
	f.StringVar(&conc, "max-concurrency", "", "cap(s) on in-flight requests, comma-separated; 0 or empty = unlimited")
	f.IntVar(&warmup, "warmup", 0, "unmeasured requests sent before each run")
	f.StringVar(&goodput, "goodput", "", "SLOs in ms for request_goodput, e.g. ttft:500,tpot:50,e2el:2000")
	f.StringVar(&percentiles, "percentiles", "50,90,99", "percentiles to report, comma-separated")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "per-request timeout")
	f.DurationVar(&grace, "grace", 5*time.Second, "on interrupt, how long in-flight requests may finish before they are aborted")
	f.Float64Var(&temperature, "temperature", 0, "sampling temperature sent with every request")
	f.BoolVar(&ignoreEOS, "ignore-eos", false, `send "ignore_eos": true (vLLM, SGLang, llama.cpp; refused for --engine ollama)`)
	f.BoolVar(&detailed, "save-detailed", false, "add per-request arrays (start_times, ttfts, itls, latencies, input_lens, output_lens, errors, languages)")
	f.StringVar(&output, "output", "-", "result file (- = stdout)")
	f.StringVar(&format, "format", benchmarks.FormatJSON, "json, md or csv")
	f.BoolVar(&forceRuns, "runs", false, `always write JSON as {"runs":[...]}, even for a single run`)
	f.StringVar(&logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
	return cmd
}

// closeWith closes f (when not nil) and returns err, or the close error.
func closeWith(f *os.File, err error) error {
	if f == nil {
		return err
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("--output: %w", cerr)
	}
	return err
}
