package report

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Verdicts of a comparison, as the Benchmark component writes them.
const (
	Regressed = "regressed"
	Improved  = "improved"
	Unchanged = "unchanged"
)

// DefaultVerdictPct is the change, in percent, beyond which --baseline
// calls a figure improved or regressed: the Benchmark component's default.
const DefaultVerdictPct = 5.0

// Comparison sets series against a baseline, per load level.
type Comparison struct {
	// Source is the stack output that computed it at its `up`; "" for
	// the one --baseline asks for.
	Source string
	// Baseline is what the rows are compared with: the baseline stack, or
	// the --baseline series or source.
	Baseline string
	// BySource is true when --baseline named an input: each series is
	// compared with the series of that input with the same label.
	BySource bool
	// VerdictPct is the change beyond which a figure counts as improved
	// or regressed.
	VerdictPct float64
	// FailOnRegressionPct is the stack's failOnRegression (0: none).
	FailOnRegressionPct float64
	// Rows are sorted by series and level.
	Rows []ComparisonRow
}

// ComparisonRow compares one series at one level with its baseline.
type ComparisonRow struct {
	Series string
	// Against names the baseline's series ("h100/vllm").
	Against string
	Level
	// Verdict is regressed (any figure worse beyond VerdictPct), improved
	// (none worse, some better) or unchanged.
	Verdict string
	// Figures by figure path.
	Figures map[string]Ratio
}

// Ratio is one figure against the baseline's.
type Ratio struct {
	Baseline float64 `json:"baseline"`
	Value    float64 `json:"value"`
	// Ratio is Value / Baseline.
	Ratio float64 `json:"ratio"`
	// ChangePct is the change in percent, signed so that negative is worse.
	ChangePct float64 `json:"changePct"`
	Verdict   string  `json:"verdict"`
}

// stackComparisonOf is the comparison a stack output computed against its
// baseline stack, if it has one.
func stackComparisonOf(src Source) (Comparison, bool) {
	sc := src.stack.Comparison
	if sc == nil {
		return Comparison{}, false
	}
	c := Comparison{Source: src.Name, Baseline: sc.Baseline, VerdictPct: sc.VerdictPct, FailOnRegressionPct: sc.FailOnRegression}
	for label, list := range sc.Targets {
		for _, lc := range list {
			rate, _ := parseRate(lc.RequestRate) // checked by decodeStack
			c.Rows = append(c.Rows, ComparisonRow{
				Series: seriesName(src.Name, label), Against: seriesName(sc.Baseline, label),
				Level:   Level{MaxConcurrency: lc.MaxConcurrency, RequestRate: rate},
				Verdict: lc.Verdict, Figures: lc.Figures,
			})
		}
	}
	sortRows(c.Rows)
	return c, true
}

func sortRows(rows []ComparisonRow) {
	slices.SortFunc(rows, func(a, b ComparisonRow) int {
		if c := strings.Compare(a.Series, b.Series); c != 0 {
			return c
		}
		return a.Level.Compare(b.Level)
	})
}

// CompareWith adds the comparison of every other series with name, at
// each load level both have. name is a series ("rtx5090/vllm": every
// series against it) or a source ("before": each series of the other
// sources against the series of that source with the same label).
func (r *Report) CompareWith(name string) error {
	c := Comparison{Baseline: name, VerdictPct: DefaultVerdictPct}
	baselineOf := func(s Series) (Series, bool) { return Series{}, false }
	if b, ok := r.series(name); ok {
		baselineOf = func(s Series) (Series, bool) { return b, s.Name != b.Name }
	} else if slices.ContainsFunc(r.Sources, func(src SourceInfo) bool { return src.Name == name }) {
		c.BySource = true
		baselineOf = func(s Series) (Series, bool) {
			if s.Source == name {
				return Series{}, false
			}
			return r.series(seriesName(name, s.Label))
		}
	} else {
		return fmt.Errorf("--baseline %q is neither a series nor an input's name; series: %s", name, strings.Join(seriesNames(r), ", "))
	}
	for _, s := range r.Series {
		base, ok := baselineOf(s)
		if !ok {
			continue
		}
		for _, p := range s.Points {
			bp, ok := base.at(p.Level)
			if !ok {
				continue
			}
			c.Rows = append(c.Rows, compareRow(s.Name, base.Name, p, bp, c.VerdictPct))
		}
	}
	if len(c.Rows) == 0 {
		return fmt.Errorf("--baseline %q: no other series has a load level in common with it", name)
	}
	sortRows(c.Rows)
	r.Comparisons = append(r.Comparisons, c)
	return nil
}

func seriesNames(r *Report) []string {
	out := make([]string, len(r.Series))
	for i, s := range r.Series {
		out[i] = s.Name
	}
	return out
}

// compareRow compares every figure both points have, as the Benchmark
// component compares a stack with its baseline stack.
func compareRow(series, against string, p, base Point, pct float64) ComparisonRow {
	row := ComparisonRow{Series: series, Against: against, Level: p.Level, Verdict: Unchanged, Figures: map[string]Ratio{}}
	for _, f := range figures() {
		v, okV := f.get(&p)
		b, okB := f.get(&base)
		if !okV || !okB || b == 0 {
			continue
		}
		change := (v - b) / b * 100
		if !f.HigherBetter {
			change = -change
		}
		ratio := Ratio{Baseline: b, Value: v, Ratio: v / b, ChangePct: change, Verdict: Unchanged}
		if math.IsInf(ratio.Ratio, 0) || math.IsNaN(ratio.Ratio) {
			continue
		}
		switch {
		case change < -pct:
			ratio.Verdict = Regressed
			row.Verdict = Regressed
		case change > pct:
			ratio.Verdict = Improved
			if row.Verdict == Unchanged {
				row.Verdict = Improved
			}
		}
		row.Figures[f.Path] = ratio
	}
	return row
}
