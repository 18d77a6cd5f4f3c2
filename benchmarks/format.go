package benchmarks

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Formats accepted by Write.
const (
	FormatJSON     = "json"
	FormatMarkdown = "md"
	FormatCSV      = "csv"
)

// Write writes results in format, as WriteDocument does for a document
// without provenance.
func Write(w io.Writer, format string, results []Result, forceRuns bool) error {
	return WriteDocument(w, format, Runs{Runs: results}, forceRuns)
}

// WriteDocument writes doc in format: json writes one Result object when
// there is exactly one run and {"provenance":...,"runs":[...]} otherwise
// (or always, with forceRuns); md writes a summary table plus a
// per-language table when any run has languages; csv writes one header and
// one row per run and per (run, language).
func WriteDocument(w io.Writer, format string, doc Runs, forceRuns bool) error {
	switch format {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		var v any = doc
		if len(doc.Runs) == 1 && !forceRuns {
			v = doc.Runs[0]
		}
		if doc.Runs == nil {
			doc.Runs = []Result{}
			v = doc
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write json: %w", err)
		}
		return nil
	case FormatMarkdown:
		return writeMarkdown(w, doc.Runs)
	case FormatCSV:
		return writeCSV(w, doc.Runs)
	}
	return fmt.Errorf("--format %q: want json, md or csv", format)
}

// ResultFilename is the file name `vllm bench serve --save-result` uses
// for a run: {backend}-{rate}qps[-concurrency{c}]-{model}-{date}.json,
// model being the last path element of the model name. Several runs (a
// sweep, several targets or repeats) are saved together as
// {backend}-sweep-{model}-{date}.json.
func ResultFilename(results []Result) string {
	if len(results) == 0 {
		return "servelab-bench.json"
	}
	r := results[0]
	model := r.Model
	if i := strings.LastIndexByte(model, '/'); i >= 0 {
		model = model[i+1:]
	}
	model = strings.Map(func(c rune) rune {
		if c == '/' || c == '\\' || c == 0 {
			return '_'
		}
		return c
	}, model)
	if len(results) > 1 {
		return fmt.Sprintf("%s-sweep-%s-%s.json", r.Backend, model, r.Date)
	}
	rate := r.RequestRate.String() // "inf", or a float as Python prints it: 10.0, 0.25
	if !r.RequestRate.Inf() && !strings.ContainsAny(rate, ".e") {
		rate += ".0"
	}
	conc := ""
	if r.MaxConcurrency != nil {
		conc = fmt.Sprintf("-concurrency%d", *r.MaxConcurrency)
	}
	return fmt.Sprintf("%s-%sqps%s-%s-%s.json", r.Backend, rate, conc, model, r.Date)
}

// ValidFormat checks a --format value.
func ValidFormat(f string) error {
	if f != FormatJSON && f != FormatMarkdown && f != FormatCSV {
		return fmt.Errorf("--format %q: want json, md or csv", f)
	}
	return nil
}

func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

func p99(l Latency) string {
	if v, ok := l.At(99); ok {
		return f2(v)
	}
	return "-"
}

func goodput(m Metrics) string {
	if m.RequestGoodput == nil {
		return "-"
	}
	return f2(*m.RequestGoodput)
}

func writeMarkdown(w io.Writer, results []Result) error {
	var b strings.Builder
	b.WriteString("| label | engine | conc | rate | ok | failed | req/s | goodput | out tok/s | TTFT mean | TTFT p99 | TPOT mean | TPOT p99 | ITL mean | ITL p99 | E2EL mean | E2EL p99 |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		label := r.Label
		if r.Partial {
			label += " (partial)"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			label, r.Engine, concString(r.MaxConcurrency), r.RequestRate, r.Completed, r.Failed,
			f2(r.RequestThroughput), goodput(r.Metrics), f2(r.OutputThroughput),
			f2(r.TTFT.Mean), p99(r.TTFT), f2(r.TPOT.Mean), p99(r.TPOT), f2(r.ITL.Mean), p99(r.ITL), f2(r.E2EL.Mean), p99(r.E2EL))
	}
	b.WriteString("\nLatencies in ms; TTFT counts to the first chunk with content.\n")
	if slices.ContainsFunc(results, func(r Result) bool { return len(r.PerLanguage) > 0 }) {
		b.WriteString("\n| label | conc | rate | language | ok | failed | out tok/s | TTFT mean | TTFT p99 | TPOT mean | ITL mean | E2EL mean |\n")
		b.WriteString("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range results {
			for _, lang := range sortedKeys(r.PerLanguage) {
				m := r.PerLanguage[lang].Metrics
				fmt.Fprintf(&b, "| %s | %s | %s | %s | %d | %d | %s | %s | %s | %s | %s | %s |\n",
					r.Label, concString(r.MaxConcurrency), r.RequestRate, lang, m.Completed, m.Failed,
					f2(m.OutputThroughput), f2(m.TTFT.Mean), p99(m.TTFT), f2(m.TPOT.Mean), f2(m.ITL.Mean), f2(m.E2EL.Mean))
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("write markdown: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// csvColumns are the CSV header: identity columns, then the metrics under
// their JSON names; latency columns follow for each reported percentile.
func csvColumns(percentiles []float64) []string {
	cols := []string{"label", "engine", "model", "base_url", "endpoint", "dataset", "seed", "max_concurrency",
		"request_rate", "burstiness", "language", "partial", "completed", "failed", "total_input_tokens",
		"total_output_tokens", "duration", "request_throughput", "request_goodput", "output_throughput",
		"total_token_throughput"}
	for _, name := range latencyNames {
		cols = append(cols, "mean_"+name+"_ms", "median_"+name+"_ms", "std_"+name+"_ms")
		for _, p := range percentiles {
			cols = append(cols, "p"+PercentileKey(p)+"_"+name+"_ms")
		}
	}
	return cols
}

func writeCSV(w io.Writer, results []Result) error {
	var ps []float64
	for _, r := range results {
		for _, p := range r.TTFT.Percentiles {
			if !slices.Contains(ps, p.P) {
				ps = append(ps, p.P)
			}
		}
	}
	slices.Sort(ps)
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns(ps)); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	num := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	row := func(r Result, lang string, m Metrics) []string {
		conc := ""
		if r.MaxConcurrency != nil {
			conc = strconv.Itoa(*r.MaxConcurrency)
		}
		good := ""
		if m.RequestGoodput != nil {
			good = num(*m.RequestGoodput)
		}
		out := []string{r.Label, r.Engine, r.Model, r.BaseURL, r.Endpoint, r.Dataset, strconv.FormatInt(r.Seed, 10),
			conc, r.RequestRate.String(), num(r.Burstiness), lang, strconv.FormatBool(r.Partial),
			strconv.Itoa(m.Completed), strconv.Itoa(m.Failed), strconv.Itoa(m.TotalInputTokens),
			strconv.Itoa(m.TotalOutputTokens), num(m.Duration), num(m.RequestThroughput), good,
			num(m.OutputThroughput), num(m.TotalTokenThroughput)}
		for _, name := range latencyNames {
			l := m.latency(name)
			out = append(out, num(l.Mean), num(l.Median), num(l.Std))
			for _, p := range ps {
				v, ok := l.At(p)
				if ok {
					out = append(out, num(v))
				} else {
					out = append(out, "")
				}
			}
		}
		return out
	}
	for _, r := range results {
		if err := cw.Write(row(r, "", r.Metrics)); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
		for _, lang := range sortedKeys(r.PerLanguage) {
			if err := cw.Write(row(r, lang, r.PerLanguage[lang].Metrics)); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
