package benchmark

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

// Baseline compares a run with another stack's benchmark outputs, read
// with a StackReference.
type Baseline struct {
	// Stack is a stack of this project ("h100") or "org/project/stack".
	Stack string
	// FailOnRegression fails the deployment when any figure is worse than
	// the baseline's by more than this many percent; 0 only reports.
	FailOnRegression float64
}

// DefaultVerdictPct is the change, in percent, beyond which a figure is
// reported as improved or regressed when no FailOnRegression is set.
const DefaultVerdictPct = 5.0

// figure is one compared number of a run, by its JSON path in the outputs.
type figure struct {
	path         string
	higherBetter bool
}

var figures = []figure{
	{"requestThroughput", true}, {"outputThroughput", true}, {"goodput", true},
	{"ttftMs.p50", false}, {"ttftMs.p99", false}, {"tpotMs.p50", false}, {"tpotMs.p99", false},
	{"itlMs.p50", false}, {"itlMs.p99", false}, {"e2elMs.p50", false}, {"e2elMs.p99", false},
}

// Comparison is the outputs' benchmark.comparison.
type Comparison struct {
	Baseline string `json:"baseline"`
	// VerdictPct is the change beyond which a figure counts as improved
	// or regressed: FailOnRegression, or DefaultVerdictPct.
	VerdictPct       float64                      `json:"verdictPct"`
	FailOnRegression float64                      `json:"failOnRegressionPct,omitempty"`
	Targets          map[string][]LevelComparison `json:"targets"`
}

// LevelComparison compares one target at one load level.
type LevelComparison struct {
	MaxConcurrency int    `json:"maxConcurrency"`
	RequestRate    string `json:"requestRate"`
	// Verdict is regressed (any figure worse beyond VerdictPct), improved
	// (none worse, some better) or unchanged.
	Verdict string                      `json:"verdict"`
	Figures map[string]FigureComparison `json:"figures"`
}

// FigureComparison is one figure against the baseline's.
type FigureComparison struct {
	Baseline float64 `json:"baseline"`
	Value    float64 `json:"value"`
	// Ratio is Value / Baseline; ChangePct the change in percent, signed
	// so that negative is worse.
	Ratio     float64 `json:"ratio"`
	ChangePct float64 `json:"changePct"`
	Verdict   string  `json:"verdict"`
}

// Verdicts.
const (
	Regressed = "regressed"
	Improved  = "improved"
	Unchanged = "unchanged"
)

// benchOutputs is the part of a stack's benchmark output a comparison
// reads.
type benchOutputs struct {
	Targets    map[string][]map[string]any `json:"targets"`
	Provenance *Provenance                 `json:"provenance"`
}

// Compare compares current (this run's benchmark output) with baseline
// (the baseline stack's benchmark output, as a StackReference returns it).
// It refuses to compare unlike runs: a baseline without benchmark outputs
// or provenance, or with a different workload, is an error naming what
// differs. With b.FailOnRegression set, any figure worse by more than that
// is an error naming target, load level, figure, baseline and new value.
func Compare(b Baseline, baseline any, current map[string]any) (Comparison, error) {
	where := fmt.Sprintf("baseline stack %q", b.Stack)
	if baseline == nil {
		return Comparison{}, fmt.Errorf("%s has no benchmark outputs: run its benchmark first (make up STACK=%s)", where, b.Stack)
	}
	var base, cur benchOutputs
	if err := recode(baseline, &base); err != nil || len(base.Targets) == 0 {
		return Comparison{}, fmt.Errorf("%s has no benchmark results in its benchmark output", where)
	}
	if base.Provenance == nil {
		return Comparison{}, fmt.Errorf("%s's benchmark output has no provenance (an older servelab made it): re-run its benchmark with make bench STACK=%s", where, b.Stack)
	}
	if err := recode(current, &cur); err != nil || cur.Provenance == nil {
		return Comparison{}, fmt.Errorf("this stack's benchmark output has no provenance")
	}
	if diff := workloadDiff(*base.Provenance, *cur.Provenance); len(diff) > 0 {
		return Comparison{}, fmt.Errorf("%s ran a different workload, so its numbers do not compare: %s", where, strings.Join(diff, "; "))
	}

	pct := DefaultVerdictPct
	if b.FailOnRegression > 0 {
		pct = b.FailOnRegression
	}
	c := Comparison{Baseline: b.Stack, VerdictPct: pct, FailOnRegression: b.FailOnRegression, Targets: map[string][]LevelComparison{}}
	var regressions []string
	for _, label := range slices.Sorted(maps.Keys(cur.Targets)) {
		for _, run := range cur.Targets[label] {
			i := slices.IndexFunc(base.Targets[label], func(r map[string]any) bool { return sameLevel(r, run) })
			if i < 0 {
				continue
			}
			lc := LevelComparison{MaxConcurrency: int(number(run, "maxConcurrency")), RequestRate: text(run, "requestRate"),
				Verdict: Unchanged, Figures: map[string]FigureComparison{}}
			for _, f := range figures {
				bv, okB := lookup(base.Targets[label][i], f.path)
				nv, okN := lookup(run, f.path)
				if !okB || !okN || bv == 0 {
					continue
				}
				fc := compareFigure(f, bv, nv, pct)
				lc.Figures[f.path] = fc
				switch {
				case fc.Verdict == Regressed:
					lc.Verdict = Regressed
					if b.FailOnRegression > 0 {
						regressions = append(regressions, fmt.Sprintf("%s at %s: %s %s, baseline %s (%+.1f%%)",
							label, levelText(lc.MaxConcurrency, lc.RequestRate), f.path, num(nv), num(bv), fc.ChangePct))
					}
				case fc.Verdict == Improved && lc.Verdict == Unchanged:
					lc.Verdict = Improved
				}
			}
			c.Targets[label] = append(c.Targets[label], lc)
		}
	}
	if len(c.Targets) == 0 {
		return Comparison{}, fmt.Errorf("%s has no target and load level in common with this stack (its targets: %s)", where, strings.Join(slices.Sorted(maps.Keys(base.Targets)), ", "))
	}
	if len(regressions) > 0 {
		return c, fmt.Errorf("benchmark regressed beyond %g%% against %s:\n  %s", b.FailOnRegression, where, strings.Join(regressions, "\n  "))
	}
	return c, nil
}

func compareFigure(f figure, base, value, pct float64) FigureComparison {
	change := (value - base) / base * 100
	if !f.higherBetter {
		change = -change
	}
	fc := FigureComparison{Baseline: base, Value: value, Ratio: round4(value / base), ChangePct: round2(change), Verdict: Unchanged}
	switch {
	case change < -pct:
		fc.Verdict = Regressed
	case change > pct:
		fc.Verdict = Improved
	}
	return fc
}

// workloadDiff lists what makes two runs' workloads differ.
func workloadDiff(base, cur Provenance) []string {
	var diff []string
	add := func(name string, b, c any) {
		bj, _ := json.Marshal(b)
		cj, _ := json.Marshal(c)
		if string(bj) != string(cj) {
			diff = append(diff, fmt.Sprintf("%s %s (baseline) vs %s (this stack)", name, bj, cj))
		}
	}
	bw, cw := base.Workload, cur.Workload
	add("datasetHash", base.DatasetHash, cur.DatasetHash)
	add("dataset", bw.Dataset, cw.Dataset)
	add("inputLen", bw.InputLen, cw.InputLen)
	add("outputLen", bw.OutputLen, cw.OutputLen)
	add("maxConcurrency", bw.MaxConcurrency, cw.MaxConcurrency)
	add("requestRate", bw.RequestRate, cw.RequestRate)
	add("burstiness", bw.Burstiness, cw.Burstiness)
	add("goodput", bw.Goodput, cw.Goodput)
	return diff
}

func sameLevel(a, b map[string]any) bool {
	return number(a, "maxConcurrency") == number(b, "maxConcurrency") && text(a, "requestRate") == text(b, "requestRate")
}

func levelText(c int, rate string) string {
	if c == 0 {
		return "concurrency unlimited, rate " + rate
	}
	return fmt.Sprintf("concurrency %d, rate %s", c, rate)
}

// lookup reads a number at a dotted path; absent or null is not found.
func lookup(run map[string]any, path string) (float64, bool) {
	var v any = run
	for _, key := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		v = m[key]
	}
	f, ok := v.(float64)
	return f, ok && !math.IsNaN(f)
}

func number(m map[string]any, key string) float64 {
	f, _ := m[key].(float64)
	return f
}

func text(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

func num(f float64) string { return fmt.Sprintf("%.4g", f) }

func round2(x float64) float64 { return math.Round(x*100) / 100 }
func round4(x float64) float64 { return math.Round(x*10000) / 10000 }

// recode converts decoded JSON (or a struct) into out.
func recode(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}
