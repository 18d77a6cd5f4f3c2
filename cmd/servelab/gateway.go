package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/logging"
)

func newGatewayCmd() *cobra.Command {
	var (
		configPath string
		logLevel   string
		logFormat  string
		checkOnly  bool
	)
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the OpenAI-compatible gateway in front of the framework backends",
		Long: "Run the OpenAI-compatible gateway: it routes /v1/chat/completions, /v1/completions and\n" +
			"/v1/embeddings by the request's model to ready backends, and serves /v1/models,\n" +
			"/healthz, /readyz and /metrics. API keys come from the config's auth.keysFile or\n" +
			"auth.keysEnv, never from flags. SIGTERM drains in-flight requests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logging.New(cmd.ErrOrStderr(), logFormat, logLevel)
			if err != nil {
				return err
			}
			cfg, err := gateway.LoadConfig(configPath)
			if err != nil {
				return err
			}
			if checkOnly {
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d models)\n", configPath, len(cfg.Models))
				return err
			}
			g, err := gateway.New(cfg, gateway.Options{Logger: log})
			if err != nil {
				return err
			}
			return g.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "gateway config file (JSON, see docs/gateway.md)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	cmd.Flags().StringVar(&logFormat, "log-format", logging.JSON, "log format on stderr: json or text (as bench and sim)")
	cmd.Flags().BoolVar(&checkOnly, "check", false, "validate the config (and nothing else) and exit")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
