package main

import (
	"github.com/spf13/cobra"

	"github.com/servelab/servelab/internal/report"
)

func newReportCmd() *cobra.Command {
	var (
		opts   report.Options
		format string
	)
	cmd := &cobra.Command{
		Use:   "report [flags] RESULTS...",
		Short: "Compare bench results and stack outputs in a Markdown table or an HTML page with charts",
		Long: "Read `servelab bench` JSON files (one Result or {\"runs\":[...]}) and `pulumi stack output --json`\n" +
			"files (the Benchmark component's results under \"benchmark\"), in any mix, and write one comparison:\n" +
			"a series per file/label, a row per load level. Each file's name without extension names its series\n" +
			"(rtx5090.json → rtx5090/vllm); --name NAME=FILE overrides it. --format md (default) or html writes\n" +
			"to --output (default stdout); --out-dir DIR writes report.md and report.html. --baseline NAME adds\n" +
			"ratios against a series (every series against it) or an input (series compared label by label).\n" +
			"A bad input is an error naming the file, and nothing is written. See docs/report.md.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("format") {
				var err error
				if opts.Formats, err = report.ParseFormats(format); err != nil {
					return err
				}
			}
			opts.Files = args
			return report.Run(opts, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "md", "md, html, or md,html (several need --out-dir; default with --out-dir: md,html)")
	f.StringVar(&opts.Output, "output", "-", "output file for one format (- = stdout)")
	f.StringVar(&opts.OutDir, "out-dir", "", "directory receiving report.md and/or report.html")
	f.StringVar(&opts.Title, "title", report.DefaultTitle, "report title")
	f.StringArrayVar(&opts.Names, "name", nil, "NAME=FILE: name FILE's series NAME/<label> instead of the file name (repeatable)")
	f.StringVar(&opts.Baseline, "baseline", "", "series (SOURCE/LABEL) or input name to compare every other series with, as ratios")
	return cmd
}
