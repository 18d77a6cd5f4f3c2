package report

import (
	"math"
	"strconv"
)

// table is one rendered table, shared by the Markdown and HTML writers so
// both show the same cells.
type table struct {
	ID      string // HTML anchor
	Heading string
	Intro   string // one sentence under the heading ("" for none)
	Columns []column
	Rows    [][]string
}

type column struct {
	Name  string
	Right bool // numeric: right-aligned
}

func left(name string) column  { return column{Name: name} }
func right(name string) column { return column{Name: name, Right: true} }

// tables returns the report's tables in output order; the per-language and
// gateway-overhead tables only when there is data for them.
func tables(r *Report) []table {
	out := []table{seriesTable(r), resultsTable(r)}
	if r.HasLanguages() {
		out = append(out, languageTable(r))
	}
	if len(r.Overhead) > 0 {
		out = append(out, overheadTable(r))
	}
	return out
}

func seriesTable(r *Report) table {
	t := table{
		ID: "series", Heading: "Series",
		Columns: []column{left("series"), left("file"), left("kind"), left("engine"), left("model"),
			left("servelab"), left("dataset"), right("seed"), left("dataset sha256"), left("goodput SLO (ms)"), left("started")},
	}
	paths := map[string]string{}
	for _, s := range r.Sources {
		paths[s.Name] = s.Path
	}
	for _, s := range r.Series {
		p := s.Provenance
		t.Rows = append(t.Rows, []string{s.Name, paths[s.Source], string(s.Kind), dash(s.Engine), dash(s.Model),
			dash(p.Version), dash(p.Dataset), dash(p.Seed), dash(shortHash(p.DatasetSHA256)), dash(p.Goodput), dash(p.StartedAt)})
	}
	return t
}

func resultsTable(r *Report) table {
	t := table{
		ID: "results", Heading: "Results",
		Intro: "One row per series and load level. Throughputs per second; latencies in ms.",
		Columns: []column{left("series"), right("conc"), right("rate"), right("completed"), right("failed"),
			right("req/s"), right("goodput req/s"), right("out tok/s"),
			right("TTFT p50"), right("TTFT p99"), right("TPOT p50"), right("TPOT p99"),
			right("ITL p50"), right("ITL p99"), right("E2EL p50"), right("E2EL p99")},
	}
	for _, s := range r.Series {
		for _, p := range s.Points {
			name := s.Name
			if p.Partial {
				name += " (partial)"
			}
			t.Rows = append(t.Rows, []string{name, p.Conc(), p.Rate(), strconv.Itoa(p.Completed), strconv.Itoa(p.Failed),
				num(p.RequestThroughput), optNum(p.Goodput), num(p.OutputThroughput),
				num(p.TTFT.P50), num(p.TTFT.P99), num(p.TPOT.P50), num(p.TPOT.P99),
				num(p.ITL.P50), num(p.ITL.P99), num(p.E2EL.P50), num(p.E2EL.P99)})
		}
	}
	return t
}

func languageTable(r *Report) table {
	t := table{
		ID: "languages", Heading: "Per language",
		Intro: "Throughput is over the whole run's duration, so a run's languages add up to it.",
		Columns: []column{left("series"), right("conc"), right("rate"), left("language"), right("completed"), right("failed"),
			right("out tok/s"), right("TTFT p50"), right("TTFT p99"), right("TPOT p50"), right("TPOT p99")},
	}
	for _, s := range r.Series {
		for _, p := range s.Points {
			for _, l := range p.Languages {
				t.Rows = append(t.Rows, []string{s.Name, p.Conc(), p.Rate(), l.Language, strconv.Itoa(l.Completed), strconv.Itoa(l.Failed),
					num(l.OutputThroughput), num(l.TTFT.P50), num(l.TTFT.P99), num(l.TPOT.P50), num(l.TPOT.P99)})
			}
		}
	}
	return t
}

func overheadTable(r *Report) table {
	t := table{
		ID: "overhead", Heading: "Gateway overhead",
		Intro: "Latency through the gateway minus the same framework reached directly, at the same load level, in ms " +
			"(from stack outputs with benchmark.direct).",
		Columns: []column{left("stack"), left("framework"), right("conc"), right("rate"),
			right("ΔTTFT p50"), right("ΔTTFT p99"), right("ΔE2EL p50")},
	}
	for _, o := range r.Overhead {
		t.Rows = append(t.Rows, []string{o.Stack, o.Framework, o.Conc(), o.Rate(),
			num(o.TTFTP50Ms), num(o.TTFTP99Ms), num(o.E2ELP50Ms)})
	}
	return t
}

// num formats with two decimals; NaN (not measured) as "n/a".
func num(v float64) string {
	if math.IsNaN(v) {
		return "n/a"
	}
	s := strconv.FormatFloat(v, 'f', 2, 64)
	if s == "-0.00" {
		return "0.00"
	}
	return s
}

func optNum(v *float64) string {
	if v == nil {
		return "-"
	}
	return num(*v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
