package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/logging"
)

// vLLM's defaults for a target given by --host/--port, and for
// --dataset-name custom's --custom-output-len.
const (
	vllmHost            = "127.0.0.1"
	vllmPort            = 8000
	vllmCustomOutputLen = 256
)

// runBench checks the flags, runs the benchmark and writes its outputs.
func runBench(cmd *cobra.Command, fl benchFlags, cfg benchmarks.Config) error {
	stderr := cmd.ErrOrStderr()
	usage := func(err error) error { return exitError{code: exitUsage, err: err} }
	if err := errors.Join(benchmarks.ValidFormat(fl.format), benchmarks.ValidSummary(fl.summary), logging.ValidFormat(fl.logFormat)); err != nil {
		return usage(err)
	}
	if _, err := logging.ParseLevel(fl.logLevel); err != nil {
		return usage(err)
	}
	mode, err := progressMode(fl, stderr)
	if err != nil {
		return usage(err)
	}
	console := benchmarks.NewConsole(stderr, benchmarks.ConsoleOptions{
		Mode: mode,
		// Progress records share the logs' format and show whatever
		// --log-level says.
		Handler: func(w io.Writer) slog.Handler {
			h, _ := logging.Handler(w, fl.logFormat, slog.LevelInfo)
			return h
		},
	})
	defer console.Close()
	log, err := logging.New(console, fl.logFormat, fl.logLevel)
	if err != nil {
		return usage(err)
	}
	cfg.Logger = log
	if mode != benchmarks.ProgressNone {
		cfg.Progress = console
	}
	if err := benchConfig(cmd, fl, &cfg, log); err != nil {
		return usage(err)
	}
	if err := cfg.Validate(); err != nil {
		return usage(err)
	}
	if err := checkOutputPaths(fl); err != nil {
		return usage(err)
	}
	if sum, err := benchmarks.ExecutableSHA256(); err == nil {
		cfg.BinarySHA256 = sum
	} else {
		log.Warn("provenance without binary_sha256", "error", err.Error())
	}
	prov, err := benchmarks.NewProvenance(cfg)
	if err != nil {
		return usage(err)
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	ctx, abort, stopWatch := benchmarks.Interrupts(cmd.Context(), sigs, log)
	defer stopWatch()
	cfg.Abort = abort

	results, runErr := benchmarks.Run(ctx, cfg)
	console.Close()
	if err := benchmarks.WriteHuman(stderr, fl.summary, results); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	doc := benchmarks.Runs{Provenance: &prov, Runs: results}
	if runErr != nil {
		return benchFailure(runErr, doc, fl.partial)
	}
	return writeBenchOutputs(cmd, fl, doc, len(cfg.Targets) > 1)
}

// progressMode resolves --progress (and vLLM's --disable-tqdm): auto is a
// bar on a terminal, lines elsewhere.
func progressMode(fl benchFlags, stderr io.Writer) (string, error) {
	if fl.disableTqdm {
		return benchmarks.ProgressNone, nil
	}
	switch fl.progress {
	case "auto":
		if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			return benchmarks.ProgressBar, nil
		}
		return benchmarks.ProgressLines, nil
	case benchmarks.ProgressBar, benchmarks.ProgressLines, benchmarks.ProgressNone:
		return fl.progress, nil
	}
	return "", fmt.Errorf("--progress %q: want auto, bar, lines or none", fl.progress)
}

// benchConfig turns the flags into cfg, reporting every bad one.
func benchConfig(cmd *cobra.Command, fl benchFlags, cfg *benchmarks.Config, log *slog.Logger) error {
	changed := cmd.Flags().Changed
	var errs []error
	bad := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if fl.targetsFile != "" {
		for _, f := range []string{"base-url", "host", "port", "model", "label", "engine", "image", "api-key-env", "api-key-file", "metrics-url"} {
			if changed(f) {
				bad(fmt.Errorf("--targets excludes --%s: set it per target in the file", f))
			}
		}
		targets, err := readTargets(fl.targetsFile)
		bad(err)
		cfg.Targets = targets
	} else {
		t := fl.target
		switch {
		case t.BaseURL != "" && (changed("host") || changed("port")):
			bad(errors.New("--base-url excludes --host and --port"))
		case t.BaseURL == "":
			host, port := vllmHost, vllmPort
			if fl.host != "" {
				host = fl.host
			}
			if changed("port") {
				port = fl.port
			}
			t.BaseURL = "http://" + net.JoinHostPort(host, strconv.Itoa(port))
			if !changed("host") && !changed("port") {
				log.Info("no --base-url, --host or --targets: benchmarking vLLM's default address", "base_url", t.BaseURL)
			}
		}
		if err := benchmarks.CheckURL(t.BaseURL); err != nil {
			bad(fmt.Errorf("--base-url %w", err))
		}
		if t.MetricsURL != "" {
			if err := benchmarks.CheckURL(t.MetricsURL); err != nil {
				bad(fmt.Errorf("--metrics-url %w", err))
			}
		}
		cfg.Targets = []benchmarks.Target{t}
	}

	// The request shape: --backend (vLLM) and --endpoint must agree.
	cfg.Endpoint = benchmarks.EndpointChat
	if fl.backend != "" {
		kind, err := benchmarks.ParseBackend(fl.backend)
		bad(err)
		if err == nil {
			cfg.Endpoint = kind
		}
	}
	if fl.endpoint != "" {
		kind, _, err := benchmarks.ParseEndpoint(fl.endpoint)
		if err != nil {
			bad(fmt.Errorf("--endpoint: %w", err))
		} else if fl.backend != "" && kind != cfg.Endpoint {
			bad(fmt.Errorf("--backend %s sends %s requests but --endpoint %s takes %s requests", fl.backend, cfg.Endpoint, fl.endpoint, kind))
		}
		cfg.Endpoint = fl.endpoint
	}

	// The workload, with vLLM's spellings folded in.
	cfg.Dataset = fl.ds
	if cfg.Dataset.Kind == "custom" {
		cfg.Dataset.Kind = dataset.JSONL
		if !changed("output-len") {
			cfg.Dataset.OutputLen = vllmCustomOutputLen
		}
	}
	if cfg.Dataset.Kind == dataset.Random && changed("output-len") {
		if changed("random-output-len") {
			bad(errors.New("--output-len and --random-output-len both set the random dataset's output length: give one"))
		}
		cfg.Dataset.RandomOutputLen, cfg.Dataset.OutputLen = cfg.Dataset.OutputLen, 0
	}
	var err error
	if fl.conc != "" {
		cfg.MaxConcurrency, err = benchmarks.ParseInts("--max-concurrency", fl.conc)
		bad(err)
	}
	cfg.RequestRates, err = benchmarks.ParseRates(fl.rates)
	bad(err)
	cfg.Goodput, err = benchmarks.ParseGoodput(strings.TrimPrefix(fl.goodput, ","))
	bad(err)
	cfg.Percentiles, err = benchmarks.ParseFloats("--percentiles", fl.percentiles)
	bad(err)
	if fl.percentileMetrics != "" {
		for _, m := range strings.Split(fl.percentileMetrics, ",") {
			if m = strings.TrimSpace(m); m != "ttft" && m != "tpot" && m != "itl" && m != "e2el" {
				bad(fmt.Errorf("--percentile-metrics: %q is not ttft, tpot, itl or e2el", m))
			}
		}
	}
	switch fl.warmup {
	case "auto":
		cfg.Warmup = benchmarks.WarmupAuto
	default:
		n, err := strconv.Atoi(fl.warmup)
		if err != nil || n < 0 {
			bad(fmt.Errorf("--warmup %q: want auto or a number ≥ 0", fl.warmup))
		}
		cfg.Warmup = n
	}
	if cfg.Repeats < 1 { // the library reads 0 as 1; the flag says what it means
		bad(fmt.Errorf("--repeats must be in 1..100, got %d", cfg.Repeats))
	}
	if changed("deadline") && cfg.Deadline <= 0 {
		bad(fmt.Errorf("--deadline must be > 0, got %s", cfg.Deadline))
	}
	return errors.Join(errs...)
}

func readTargets(path string) ([]benchmarks.Target, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--targets: %w", err)
	}
	defer f.Close()
	ts, err := benchmarks.ParseTargets(f)
	if err != nil {
		return nil, fmt.Errorf("--targets %s: %w", path, err)
	}
	return ts, nil
}

// checkOutputPaths refuses, before anything is measured, output files
// whose directory does not exist.
func checkOutputPaths(fl benchFlags) error {
	var errs []error
	for flag, path := range map[string]string{"--output": fl.output, "--partial-results": fl.partial} {
		if path == "" || path == "-" {
			continue
		}
		if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("%s %s: directory %s does not exist", flag, path, filepath.Dir(path)))
		}
	}
	return errors.Join(errs...)
}

// benchFailure maps Run's error to the exit status, keeps what was
// measured in --partial-results, and returns the short summary stderr
// ends with. stdout stays empty.
func benchFailure(runErr error, doc benchmarks.Runs, partialPath string) error {
	code := exitFailures
	switch {
	case errors.Is(runErr, benchmarks.ErrConfig):
		code = exitUsage
	case errors.Is(runErr, benchmarks.ErrDeadline):
		code = exitDeadline
	case errors.Is(runErr, benchmarks.ErrInterrupted):
		code = exitInterrupted
	}
	msg := runErr.Error()
	switch n := len(doc.Runs); {
	case n == 0:
	case partialPath == "":
		msg += fmt.Sprintf("\n%d runs measured; pass --partial-results PATH to keep them", n)
	default:
		if err := writeFile(partialPath, func(w io.Writer) error {
			return benchmarks.WriteDocument(w, benchmarks.FormatJSON, doc, true)
		}); err != nil {
			msg += "\n" + err.Error()
		} else {
			msg += fmt.Sprintf("\n%d runs measured, written to %s", n, partialPath)
		}
	}
	return exitError{code: code, err: errors.New(msg)}
}

// writeBenchOutputs writes the results to --output (stdout by default)
// and, with --save-result, to vLLM's result file.
func writeBenchOutputs(cmd *cobra.Command, fl benchFlags, doc benchmarks.Runs, severalTargets bool) error {
	forceRuns := fl.forceRuns || severalTargets
	write := func(w io.Writer) error { return benchmarks.WriteDocument(w, fl.format, doc, forceRuns) }
	var err error
	if fl.output == "" || fl.output == "-" {
		err = write(cmd.OutOrStdout())
	} else {
		err = writeFile(fl.output, write)
	}
	if err != nil || !fl.saveResult {
		return err
	}
	name := fl.resultFilename
	if name == "" {
		name = benchmarks.ResultFilename(doc.Runs)
	}
	if fl.resultDir != "" {
		if err := os.MkdirAll(fl.resultDir, 0o755); err != nil {
			return fmt.Errorf("--result-dir: %w", err)
		}
		name = filepath.Join(fl.resultDir, name)
	}
	return writeFile(name, func(w io.Writer) error {
		return benchmarks.WriteDocument(w, benchmarks.FormatJSON, doc, forceRuns)
	})
}

// writeFile writes path through fn.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
