package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/probe"
)

func newProbeCmd() *cobra.Command {
	var (
		o    probe.Options
		list string
	)
	cmd := &cobra.Command{
		Use:   "probe URL",
		Short: "HTTP health check for Docker healthchecks: exit 0 when URL answers as expected",
		Long: "GET URL once and exit 0 when it answers --status (default 200) and, with --model, lists\n" +
			"that model (--list openai-models for /v1/models, ollama-tags for /api/tags); exit 1\n" +
			"otherwise, with the reason on stderr. For images without curl, e.g.\n" +
			"  healthcheck: [\"CMD\", \"/servelab\", \"probe\", \"http://127.0.0.1:8000/health\"]",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = args[0]
			o.Kind = engine.ProbeKind(list)
			if err := probe.Check(cmd.Context(), o); err != nil {
				return err
			}
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "ok")
			return err
		},
	}
	cmd.Flags().IntVar(&o.Status, "status", 200, "HTTP status that means healthy")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Second, "timeout of the whole check")
	cmd.Flags().StringVar(&o.Model, "model", "", "require this model in the body (see --list)")
	cmd.Flags().StringVar(&list, "list", string(engine.ProbeOpenAIModels), "how to read the model list: openai-models or ollama-tags")
	cmd.Flags().StringVar(&o.Body, "body", "", "POST this JSON instead of a GET (e.g. an Ollama model load: '{\"model\":\"M\"}' to /api/generate)")
	return cmd
}
