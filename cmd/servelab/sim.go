package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/logging"
	"github.com/servelab/servelab/internal/sim"
)

func newSimCmd() *cobra.Command {
	var (
		cfg       sim.Config
		flavour   string
		listen    string
		logLevel  string
		logFormat string
		keyFile   string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a SIMULATED inference engine (vLLM, SGLang, Ollama or llama.cpp API; no model)",
		Long: "Serve a simulated engine that speaks --flavour's API, health endpoints and /metrics,\n" +
			"with synthetic text, exact usage, configurable TTFT/ITL/jitter, a decode capacity with a\n" +
			"queue, a start-up delay and injected failures. It marks itself as simulated: a banner\n" +
			"log line, owned_by \"servelab-sim\" and an X-Servelab-Sim response header. See docs/sim.md.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logging.New(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			k, err := engine.ParseFlavour(flavour)
			if err != nil {
				return fmt.Errorf("--flavour: %w", err)
			}
			cfg.Flavour = k
			if keyFile != "" {
				if cfg.APIKey, err = sim.ReadKeyFile(keyFile); err != nil {
					return fmt.Errorf("--api-key-file: %w", err)
				}
			}
			if listen == "" {
				if listen, err = sim.DefaultAddr(k); err != nil {
					return err
				}
			}
			cfg.Logger = log
			return sim.Run(cmd.Context(), cfg, listen)
		},
	}
	f := cmd.Flags()
	// --flavor is the same flag, spelled the American way.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "flavor" {
			name = "flavour"
		}
		return pflag.NormalizedName(name)
	})
	f.StringVar(&flavour, "flavour", "", "engine to simulate: vllm, sglang, ollama or llamacpp (--flavor works too)")
	f.StringVar(&listen, "listen", "", "listen address (default 0.0.0.0:<the flavour's port: 8000, 30000, 11434, 8080>)")
	f.StringVar(&cfg.Model, "model", "sim-model", "served model name")
	f.DurationVar(&cfg.TTFT, "ttft", 50*time.Millisecond, "time from admission to the first token")
	f.DurationVar(&cfg.ITL, "itl", 10*time.Millisecond, "time between tokens")
	f.Float64Var(&cfg.Jitter, "jitter", 0, "scale each delay by a uniform factor in [1−j, 1+j], 0 ≤ j < 1")
	f.IntVar(&cfg.Capacity, "capacity", 256, "requests decoded at once; more wait in a FIFO queue (0 = unlimited)")
	f.DurationVar(&cfg.StartupDelay, "startup-delay", 0, "time until the engine is ready (health endpoints behave as while loading)")
	f.Float64Var(&cfg.FailureRate, "failure-rate", 0, "probability that a generation request fails with HTTP 500")
	f.Int64Var(&cfg.Seed, "seed", 0, "seed of jitter, failures and generated text")
	f.IntVar(&cfg.MaxOutputTokens, "max-output-tokens", 128, "completion length when a request sets no max_tokens")
	f.StringVar(&keyFile, "api-key-file", "", "require the key in this file (its first line) on the paths the flavour's engine protects (not ollama)")
	f.DurationVar(&cfg.LoadDelay, "load-delay", 0, "ollama: time to load the model on first use (Ollama loads lazily)")
	f.IntVar(&cfg.KVCacheTokens, "kv-cache-tokens", sim.DefaultKVCacheTokens, "KV-cache capacity reported in /metrics (vLLM, SGLang flavours)")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", logging.JSON, "log format on stderr: json or text (as bench and gateway)")
	_ = cmd.MarkFlagRequired("flavour")
	return cmd
}
