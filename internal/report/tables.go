package report

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// table is one rendered table, shared by the Markdown and HTML writers so
// both show the same cells.
type table struct {
	ID      string // HTML anchor
	Heading string
	Intro   string // one sentence under the heading ("" for none)
	// Folded tables are long: both formats put them in a <details> block
	// that opens on a click.
	Folded  bool
	Columns []column
	Rows    [][]string
}

type column struct {
	Name  string
	Right bool // numeric: right-aligned
}

func left(name string) column  { return column{Name: name} }
func right(name string) column { return column{Name: name, Right: true} }

// tables returns the report's tables in output order; the provenance,
// per-language, gateway-overhead and comparison tables only when there is
// data for them.
func tables(r *Report) []table {
	out := []table{seriesTable(r)}
	if hasSourceProvenance(r) {
		out = append(out, provenanceTable(r))
	}
	out = append(out, resultsTable(r))
	for i, c := range r.Comparisons {
		out = append(out, comparisonTable(i+1, c))
	}
	if len(r.Overhead) > 0 {
		out = append(out, overheadTable(r))
	}
	if r.HasLanguages() {
		out = append(out, languageTable(r))
	}
	return out
}

func seriesTable(r *Report) table {
	t := table{
		ID: "series", Heading: "Series",
		Columns: []column{left("series"), left("file"), left("kind"), left("engine"), left("model"), left("image"),
			right("KV cache tokens"), left("servelab"), left("dataset"), right("seed"), left("dataset hash"),
			left("goodput SLO (ms)"), left("started")},
	}
	paths := map[string]string{}
	for _, s := range r.Sources {
		paths[s.Name] = s.Path
	}
	for _, s := range r.Series {
		p := s.Provenance
		t.Rows = append(t.Rows, []string{s.Name, paths[s.Source], string(s.Kind), dash(s.Engine), dash(s.Model),
			dash(shortHash(s.Image)), dash(s.KVCacheTokens), dash(p.Version), dash(p.Dataset), dash(p.Seed),
			dash(shortHash(p.DatasetSHA256)), dash(p.Goodput), dash(p.StartedAt)})
	}
	return t
}

func hasSourceProvenance(r *Report) bool {
	for _, s := range r.Sources {
		if s.Provenance != nil {
			return true
		}
	}
	return false
}

func provenanceTable(r *Report) table {
	t := table{
		ID: "provenance", Heading: "Provenance",
		Intro: "What produced each input's numbers: the servelab that ran the bench (its binary's SHA-256, or the image it ran in), " +
			"the stack's hash of everything that decides results, the hash of the requests sent, the seed and the workload. " +
			"Hashes are cut to 12 hex digits.",
		Columns: []column{left("input"), left("kind"), left("servelab"), left("binary sha256"), left("servelab image"),
			left("spec hash"), left("dataset hash"), right("seed"), left("workload")},
	}
	for _, s := range r.Sources {
		p := s.Provenance
		if p == nil {
			t.Rows = append(t.Rows, []string{s.Name, string(s.Kind), "-", "-", "-", "-", "-", "-", "not recorded"})
			continue
		}
		t.Rows = append(t.Rows, []string{s.Name, string(s.Kind), dash(p.Version), dash(short(p.BinarySHA256)), dash(p.Image),
			dash(short(p.SpecHash)), dash(short(p.DatasetHash)), dash(p.Seed), dash(p.Workload)})
	}
	return t
}

func resultsTable(r *Report) table {
	t := table{
		ID: "results", Heading: "Results",
		Intro:   "One row per series and load level. Throughputs per second; latencies in ms.",
		Columns: []column{left("series"), right("conc"), right("rate"), right("runs"), right("completed"), right("failed")},
	}
	if r.HasSpread() {
		t.Intro += " With several runs: median (min–max) over them; completed and failed are totals."
	}
	figs := figures()
	for _, f := range figs {
		t.Columns = append(t.Columns, right(f.Column))
	}
	for _, s := range r.Series {
		for _, p := range s.Points {
			name := s.Name
			if p.Partial {
				name += " (partial)"
			}
			row := []string{name, p.Conc(), p.Rate(), strconv.Itoa(max(p.Repeats, 1)), strconv.Itoa(p.Completed), strconv.Itoa(p.Failed)}
			for _, f := range figs {
				row = append(row, figureCell(p, f))
			}
			t.Rows = append(t.Rows, row)
		}
	}
	return t
}

// figureCell shows a figure, with its range over the repeats when there
// were several: "19.66 (19.10–20.02)". A goodput without SLOs is "-", a
// percentile not measured "n/a".
func figureCell(p Point, f figure) string {
	v, ok := f.get(&p)
	switch {
	case !ok && f.Path == figGoodput:
		return "-"
	case !ok:
		return "n/a"
	}
	if mm, ok := p.Spread[f.Path]; ok && p.Repeats > 1 {
		return fmt.Sprintf("%s (%s–%s)", num(v), num(mm.Min), num(mm.Max))
	}
	return num(v)
}

func languageTable(r *Report) table {
	t := table{
		ID: "languages", Heading: "Per language", Folded: true,
		Intro: "Throughput is over the whole run's duration, so a run's languages add up to it. " +
			"With several runs, figures are medians and counts totals.",
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
		Intro: "Latency through the gateway minus the same framework reached directly, at the same load level, in ms: " +
			"from a stack output with benchmark.direct, or computed from the series X and X-direct of one input.",
		Columns: []column{left("input"), left("framework"), right("conc"), right("rate"),
			right("ΔTTFT p50"), right("ΔTTFT p99"), right("ΔE2EL p50"), left("from")},
	}
	for _, o := range r.Overhead {
		from := "stack output"
		if o.Derived {
			from = o.Framework + " − " + o.Framework + directSuffix
		}
		t.Rows = append(t.Rows, []string{o.Source, o.Framework, o.Conc(), o.Rate(),
			num(o.TTFTP50Ms), num(o.TTFTP99Ms), num(o.E2ELP50Ms), from})
	}
	return t
}

// comparisonTable shows one comparison: a verdict per series and level,
// and each figure's ratio to the baseline's, marked ▲ (better) or ▼
// (worse) beyond the verdict threshold.
func comparisonTable(n int, c Comparison) table {
	t := table{
		ID:      fmt.Sprintf("comparison-%d", n),
		Columns: []column{left("series"), left("baseline"), right("conc"), right("rate"), left("verdict")},
	}
	rule := fmt.Sprintf("Ratio = value / baseline's value. ▲ better, ▼ worse by more than %s %% "+
		"(throughputs: higher is better; latencies: lower); a level is regressed when any figure is.", trimNum(c.VerdictPct))
	switch {
	case c.Source == "" && c.BySource:
		t.Heading = "Relative to " + c.Baseline
		t.Intro = "Each series against the series of " + c.Baseline + " with the same label (--baseline), at the load levels both have. " + rule
	case c.Source == "":
		t.Heading = "Relative to " + c.Baseline
		t.Intro = "Every series against " + c.Baseline + " (--baseline), at the load levels both have. " + rule
	default:
		t.Heading = "Baseline comparison: " + c.Source + " against " + c.Baseline
		t.Intro = "Computed by the stack " + c.Source + " at its last `up` against its baseline stack " + c.Baseline + ". " + rule
		if c.FailOnRegressionPct > 0 {
			t.Intro += fmt.Sprintf(" `up` fails when a figure regresses by more than %s %% (failOnRegression).", trimNum(c.FailOnRegressionPct))
		}
	}
	figs := figures()
	for _, f := range figs {
		t.Columns = append(t.Columns, right(f.Column))
	}
	for _, row := range c.Rows {
		cells := []string{row.Series, row.Against, row.Conc(), row.Rate(), dash(row.Verdict)}
		for _, f := range figs {
			cells = append(cells, ratioCell(row.Figures, f.Path))
		}
		t.Rows = append(t.Rows, cells)
	}
	return t
}

// ratioCell is "1.08× ▲": the ratio, marked by its verdict; "-" when the
// figure was not compared.
func ratioCell(figs map[string]Ratio, path string) string {
	r, ok := figs[path]
	if !ok {
		return "-"
	}
	cell := strconv.FormatFloat(r.Ratio, 'f', 2, 64) + "×"
	switch r.Verdict {
	case Improved:
		cell += " ▲"
	case Regressed:
		cell += " ▼"
	}
	return cell
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

// trimNum formats without trailing zeros: 5, 2.5.
func trimNum(v float64) string {
	return strings.TrimSuffix(strconv.FormatFloat(v, 'f', -1, 64), ".0")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
