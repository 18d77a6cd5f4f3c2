package benchmarks

import (
	"fmt"
	"io"
	"strings"
)

// Summary styles (--summary): what WriteHuman prints on stderr at the end.
const (
	// SummaryAuto is SummaryFull up to AutoFullRuns runs, SummaryTable
	// beyond.
	SummaryAuto = "auto"
	// SummaryFull prints one block per run, as `vllm bench serve` does.
	SummaryFull = "full"
	// SummaryTable prints one row per run.
	SummaryTable = "table"
	// SummaryNone prints nothing.
	SummaryNone = "none"
)

// AutoFullRuns is the most runs SummaryAuto prints as full blocks.
const AutoFullRuns = 8

// ValidSummary checks a --summary value.
func ValidSummary(s string) error {
	switch s {
	case SummaryAuto, SummaryFull, SummaryTable, SummaryNone:
		return nil
	}
	return fmt.Errorf("--summary %q: want auto, full, table or none", s)
}

// WriteHuman writes the runs' summary for people in style: vLLM's result
// block per run (full) or one row per run (table). Either way every run
// with failures lists its error summary.
func WriteHuman(w io.Writer, style string, results []Result) error {
	if style == SummaryAuto {
		style = SummaryFull
		if len(results) > AutoFullRuns {
			style = SummaryTable
		}
	}
	var b strings.Builder
	switch style {
	case SummaryFull:
		for i, r := range results {
			writeBlock(&b, r, i+1, len(results))
		}
	case SummaryTable:
		writeTable(&b, results)
	default:
		return nil
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// runTitle names a run: label, level, repeat.
func runTitle(r Result) string {
	s := fmt.Sprintf("%s c=%s r=%s", r.Label, concLabel(deref(r.MaxConcurrency)), r.RequestRate)
	if r.Repeat > 1 {
		s += fmt.Sprintf(" repeat %d", r.Repeat)
	}
	if r.Partial {
		s += " (partial)"
	}
	return s
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// writeBlock writes vLLM's "Serving Benchmark Result" block for one run.
func writeBlock(b *strings.Builder, r Result, k, n int) {
	const width = 50
	center := func(title string, fill byte) { // as Python's "{:{c}^50}"
		if len(title) >= width {
			b.WriteString(title + "\n")
			return
		}
		left := (width - len(title)) / 2
		b.WriteString(strings.Repeat(string(fill), left) + title + strings.Repeat(string(fill), width-len(title)-left) + "\n")
	}
	row := func(name string, v any) {
		if f, ok := v.(float64); ok {
			v = fmt.Sprintf("%.2f", f)
		}
		fmt.Fprintf(b, "%-40s %v\n", name, v)
	}
	center(fmt.Sprintf(" Run %d/%d: %s ", k, n, runTitle(r)), '=')
	row("Successful requests:", r.Completed)
	row("Failed requests:", r.Failed)
	row("Maximum request concurrency:", concString(r.MaxConcurrency))
	row("Request rate configured (RPS):", r.RequestRate.String())
	row("Benchmark duration (s):", r.Duration)
	row("Total input tokens:", r.TotalInputTokens)
	row("Total generated tokens:", r.TotalOutputTokens)
	row("Request throughput (req/s):", r.RequestThroughput)
	if r.RequestGoodput != nil {
		row("Request goodput (req/s):", *r.RequestGoodput)
	}
	row("Output token throughput (tok/s):", r.OutputThroughput)
	row("Peak output token throughput (tok/s):", r.MaxOutputTokensPerS)
	row("Peak concurrent requests:", r.MaxConcurrentRequests)
	row("Total token throughput (tok/s):", r.TotalTokenThroughput)
	if r.KVCacheCapacityTokens != nil {
		row("KV-cache capacity (tokens):", *r.KVCacheCapacityTokens)
	}
	for _, m := range []struct{ key, title, short string }{
		{"ttft", "Time to First Token", "TTFT"},
		{"tpot", "Time per Output Token (excl. 1st token)", "TPOT"},
		{"itl", "Inter-token Latency", "ITL"},
		{"e2el", "End-to-end Latency", "E2EL"},
	} {
		l := r.latency(m.key)
		center(m.title, '-')
		row("Mean "+m.short+" (ms):", l.Mean)
		row("Median "+m.short+" (ms):", l.Median)
		for _, p := range l.Percentiles {
			row("P"+PercentileKey(p.P)+" "+m.short+" (ms):", p.Value)
		}
	}
	if r.Failed > 0 {
		center("Errors", '-')
		writeErrors(b, r)
	}
	b.WriteString(strings.Repeat("=", width) + "\n")
}

// writeErrors lists a run's error summary, most frequent first.
func writeErrors(b *strings.Builder, r Result) {
	for _, e := range sortedErrors(r.ErrorSummary) {
		fmt.Fprintf(b, "%6d× %s\n", r.ErrorSummary[e], e)
	}
}

// writeTable writes one row per run, then the errors of runs that had any.
func writeTable(b *strings.Builder, results []Result) {
	fmt.Fprintf(b, "%4s  %-24s %5s %6s %3s %6s %6s %9s %10s %9s %9s %9s %9s\n",
		"run", "label", "conc", "rate", "rep", "ok", "failed", "req/s", "out tok/s", "TTFT p50", "TPOT p50", "ITL p50", "E2EL p50")
	for i, r := range results {
		label := r.Label
		if r.Partial {
			label += " (partial)"
		}
		fmt.Fprintf(b, "%4d  %-24s %5s %6s %3d %6d %6d %9.2f %10.2f %9.2f %9.2f %9.2f %9.2f\n",
			i+1, label, concLabel(deref(r.MaxConcurrency)), r.RequestRate, max(r.Repeat, 1), r.Completed, r.Failed,
			r.RequestThroughput, r.OutputThroughput, r.TTFT.Median, r.TPOT.Median, r.ITL.Median, r.E2EL.Median)
	}
	b.WriteString("Latencies in ms; TTFT counts to the first chunk with content.\n")
	for i, r := range results {
		if r.Failed > 0 {
			fmt.Fprintf(b, "run %d (%s): %d failed:\n", i+1, runTitle(r), r.Failed)
			writeErrors(b, r)
		}
	}
}
