package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/logging"
	"github.com/servelab/servelab/internal/strictjson"
)

// Exit statuses of `servelab bench` (the contract with the Benchmark
// component): on any of them but 0, stdout stays empty.
const (
	exitFailures    = 1   // a run completed nothing or failed more than --max-failure-ratio; a target was unreachable
	exitUsage       = 2   // bad flag or configuration; nothing was measured
	exitDeadline    = 3   // --deadline reached
	exitInterrupted = 130 // Ctrl-C or SIGTERM
)

// benchAliases map vLLM's spellings (and older ones) to servelab's flags.
var benchAliases = map[string]string{
	"dataset-name":        "dataset",
	"metric-percentiles":  "percentiles",
	"num-warmups":         "warmup",
	"input-len":           "random-input-len",
	"custom-output-len":   "output-len",
	"sharegpt-output-len": "output-len",
	"endpoint-type":       "backend",
}

type benchFlags struct {
	target            benchmarks.Target
	targetsFile       string
	host              string
	port              int
	endpoint, backend string
	ds                dataset.Spec
	conc, rates       string
	warmup            string
	goodput           string
	percentiles       string
	percentileMetrics string
	output, format    string
	forceRuns         bool
	saveResult        bool
	resultDir         string
	resultFilename    string
	partial           string
	progress          string
	disableTqdm       bool
	summary           string
	logLevel          string
	logFormat         string
}

func newBenchCmd() *cobra.Command {
	var (
		fl  benchFlags
		cfg benchmarks.Config
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark OpenAI-compatible endpoints with a seeded workload (vLLM bench serve metrics)",
		Long: "Send the same seeded workload to one target (--base-url) or several (--targets FILE),\n" +
			"streaming every response, and report vLLM's `bench serve` metrics (TTFT, TPOT, ITL, E2EL,\n" +
			"throughputs, goodput) under vLLM's JSON field names, with provenance and a per-language\n" +
			"breakdown. --max-concurrency and --request-rate take lists: each combination is one load\n" +
			"level, run --repeats times. vLLM's flag spellings are accepted. API keys come from\n" +
			"--api-key-env or --api-key-file, never from argv.\n\n" +
			"Exit status: 0 ok; 1 failures (a run completed nothing or failed more than\n" +
			"--max-failure-ratio, or a target was unreachable); 2 usage or configuration error;\n" +
			"3 --deadline reached; 130 interrupted. On any failure stdout stays empty, stderr ends with\n" +
			"a short summary and --partial-results keeps what was measured. See docs/bench.md.",
		Args: goodputArgs(&fl.goodput),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, fl, cfg)
		},
	}
	f := cmd.Flags()
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if to, ok := benchAliases[name]; ok {
			return pflag.NormalizedName(to)
		}
		return pflag.NormalizedName(name)
	})
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitError{code: exitUsage, err: benchFlagError(c.Flags(), err)}
	})

	// Targets.
	f.StringVar(&fl.target.BaseURL, "base-url", "", "target base URL, e.g. http://127.0.0.1:8000 (a trailing /v1 is accepted)")
	f.StringVar(&fl.host, "host", "", "with --port, target http://HOST:PORT when --base-url is absent (vLLM's; default 127.0.0.1)")
	f.IntVar(&fl.port, "port", 0, "with --host, target http://HOST:PORT when --base-url is absent (vLLM's; default 8000)")
	f.StringVar(&fl.target.Model, "model", "", "model name to request (default: the first model /v1/models lists)")
	f.StringVar(&fl.target.Label, "label", "", "label of the target in results (default: host:port)")
	f.StringVar(&fl.target.Engine, "engine", "", "engine behind the target (vllm, sglang, ollama, llamacpp, sim, gateway); provenance only")
	f.StringVar(&fl.target.Image, "image", "", "container image of the target; provenance only")
	f.StringVar(&fl.target.APIKeyEnv, "api-key-env", "", "name of the environment variable holding the API key")
	f.StringVar(&fl.target.APIKeyFile, "api-key-file", "", "file holding the API key")
	f.StringVar(&fl.target.MetricsURL, "metrics-url", "", "the engine's Prometheus endpoint: its KV-cache capacity is recorded (no key is sent)")
	f.StringVar(&fl.targetsFile, "targets", "", `JSON file {"targets":[{label,base_url,model,engine,image,endpoint,metrics_url,api_key_env|api_key_file}]}, benched in order`)
	f.StringVar(&fl.endpoint, "endpoint", "", "chat (/v1/chat/completions), completions (/v1/completions) or a full path (default chat, or as --backend says)")
	f.StringVar(&fl.backend, "backend", "", "vLLM's request shape: openai-chat (chat completions) or openai (completions) (alias --endpoint-type)")

	// Workload.
	f.StringVar(&fl.ds.Kind, "dataset", dataset.Random, "workload: random, multilingual, sharegpt, jsonl (custom = jsonl) (alias --dataset-name)")
	f.StringVar(&fl.ds.Path, "dataset-path", "", "file for --dataset sharegpt (JSON array) or jsonl (lines {prompt,max_tokens,language})")
	f.IntVar(&fl.ds.RandomInputLen, "random-input-len", 1024, "random dataset: input length in (approximate) tokens (alias --input-len)")
	f.IntVar(&fl.ds.RandomOutputLen, "random-output-len", 128, "random dataset: max_tokens")
	f.Float64Var(&fl.ds.RandomRangeRatio, "random-range-ratio", 0, "random dataset: lengths uniform in [len·(1−r), len·(1+r)], 0 ≤ r < 1")
	f.IntVar(&fl.ds.OutputLen, "output-len", 0, "random: = --random-output-len; other datasets: replace every prompt's max_tokens (0 keeps the dataset's) (aliases --custom-output-len, --sharegpt-output-len)")
	f.IntVar(&fl.ds.NumPrompts, "num-prompts", 1000, "measured requests per run")
	f.Int64Var(&fl.ds.Seed, "seed", 0, "seed of the workload sampling and of the arrival process")

	// Load.
	f.StringVar(&fl.rates, "request-rate", "inf", "arrival rate(s) in requests/s, comma-separated; inf sends all at once")
	f.Float64Var(&cfg.Burstiness, "burstiness", 1, "gamma shape of inter-arrival gaps: 1 Poisson, <1 burstier, >1 steadier")
	f.StringVar(&fl.conc, "max-concurrency", "", "cap(s) on in-flight requests, comma-separated; 0 or empty = unlimited")
	f.StringVar(&fl.warmup, "warmup", "auto", "unmeasured requests before each load level: auto (the level's concurrency; all prompts when unlimited) or a number (alias --num-warmups)")
	f.IntVar(&cfg.Repeats, "repeats", 1, "runs per load level (1..100)")
	f.DurationVar(&cfg.Deadline, "deadline", 0, "bound on the whole invocation: when reached, in-flight requests are cancelled, what was measured is kept, exit 3")
	f.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "per-request timeout")
	f.DurationVar(&cfg.Grace, "grace", 5*time.Second, "after Ctrl-C, how long in-flight requests may finish before they are aborted (a second Ctrl-C aborts at once)")

	// Requests.
	f.Float64Var(&cfg.Temperature, "temperature", 0, "sampling temperature sent with every request")
	f.BoolVar(&cfg.IgnoreEOS, "ignore-eos", false, `send "ignore_eos": true (vLLM, SGLang, llama.cpp; refused for --engine ollama)`)
	f.IntVar(&cfg.MaxEventBytes, "max-event-bytes", 1<<20, "largest SSE event accepted in a response; a bigger one fails that request")

	// Metrics and judgement.
	f.StringVar(&fl.goodput, "goodput", "", "SLOs in ms for request_goodput: ttft:500,tpot:50 or, as vLLM, ttft:500 tpot:50")
	f.StringVar(&fl.percentiles, "percentiles", "50,90,99", "percentiles to report, comma-separated (alias --metric-percentiles)")
	f.StringVar(&fl.percentileMetrics, "percentile-metrics", "", "vLLM's: accepted (ttft,tpot,itl,e2el); every metric is always reported")
	f.Float64Var(&cfg.MaxFailureRatio, "max-failure-ratio", benchmarks.DefaultMaxFailureRatio, "a run with a larger share of failed requests fails the bench (exit 1)")

	// Output.
	f.BoolVar(&cfg.SaveDetailed, "save-detailed", false, "add per-request arrays (start_times, ttfts, itls, latencies, input_lens, output_lens, errors, languages)")
	f.StringVar(&fl.output, "output", "-", "result file (- = stdout); written only on success")
	f.StringVar(&fl.format, "format", benchmarks.FormatJSON, "json, md or csv")
	f.BoolVar(&fl.forceRuns, "runs", false, `always write JSON as {"provenance":...,"runs":[...]}, even for a single run`)
	f.BoolVar(&fl.saveResult, "save-result", false, "also save the JSON document to --result-dir/--result-filename (vLLM's)")
	f.StringVar(&fl.resultDir, "result-dir", "", "directory for --save-result (default: the current directory)")
	f.StringVar(&fl.resultFilename, "result-filename", "", "file name for --save-result (default: vLLM's {backend}-{rate}qps[-concurrency{c}]-{model}-{date}.json)")
	f.StringVar(&fl.partial, "partial-results", "", "on failure (exit 1, 3 or 130), write what was measured to this file as the JSON document")
	f.StringVar(&fl.progress, "progress", "auto", "progress on stderr: auto (bar on a terminal, else lines), bar, lines (a record every 10 s), none")
	f.BoolVar(&fl.disableTqdm, "disable-tqdm", false, "vLLM's: = --progress none")
	f.StringVar(&fl.summary, "summary", benchmarks.SummaryAuto, "summary on stderr at the end: auto (full up to 8 runs, else table), full (vLLM's block per run), table, none")
	f.StringVar(&fl.logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")
	f.StringVar(&fl.logFormat, "log-format", logging.JSON, "log format on stderr: json or text (as gateway and sim)")
	return cmd
}

// goodputArgs accepts vLLM's space-separated goodput pairs
// (`--goodput ttft:500 tpot:50`): positional arguments that look like
// METRIC:MS after --goodput join its value. Anything else is refused.
func goodputArgs(goodput *string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		for _, a := range args {
			k, _, ok := strings.Cut(a, ":")
			if !ok || !cmd.Flags().Changed("goodput") || (k != "ttft" && k != "tpot" && k != "e2el") {
				return exitError{code: exitUsage, err: fmt.Errorf("unexpected argument %q: bench takes only flags (goodput pairs follow --goodput)", a)}
			}
			*goodput += "," + a
		}
		return nil
	}
}

// benchFlagError explains an unknown flag: a vLLM flag servelab does not
// support says why; a typo gets "did you mean".
func benchFlagError(fs *pflag.FlagSet, err error) error {
	const prefix = "unknown flag: --"
	msg := err.Error()
	if !strings.HasPrefix(msg, prefix) {
		return err
	}
	name := strings.TrimPrefix(msg, prefix)
	if name == "api-key" {
		return fmt.Errorf("%s: keys never go on the command line: use --api-key-env NAME or --api-key-file PATH", msg)
	}
	for _, v := range benchmarks.VLLMFlags() {
		if v.Name == name && v.Servelab == "" {
			return fmt.Errorf("%s: a `vllm bench serve` flag servelab does not support: %s", msg, v.Note)
		}
	}
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	for alias := range benchAliases {
		names = append(names, alias)
	}
	if s := strictjson.Suggest(name, names); s != "" {
		return fmt.Errorf("%s (did you mean --%s?)", msg, s)
	}
	return err
}
