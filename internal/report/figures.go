package report

import (
	"math"
	"slices"

	"github.com/servelab/servelab/benchmarks/stats"
)

// MinMax is the range of one figure over a load level's repeats.
type MinMax struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// figure is one number of a Point, named by its JSON path in the stack
// outputs ("ttftMs.p50"): the key of its spread and of a baseline
// comparison.
type figure struct {
	// Path is the figure's JSON path in a stack output's Run.
	Path string
	// Column heads its table column.
	Column string
	// HigherBetter is true for throughputs, false for latencies.
	HigherBetter bool
	// get reads it; false when the point does not have it (no goodput SLO,
	// a percentile not measured).
	get func(*Point) (float64, bool)
	// set writes it.
	set func(*Point, float64)
}

// Figure paths the charts read.
const (
	figRequestThroughput = "requestThroughput"
	figOutputThroughput  = "outputThroughput"
	figGoodput           = "goodput"
)

// figures are the compared figures in table order: throughputs, then the
// p50 and p99 of each latency. The paths are those of the Benchmark
// component's outputs, its spread and its baseline comparison.
func figures() []figure {
	plain := func(path, column string, field func(*Point) *float64) figure {
		return figure{Path: path, Column: column, HigherBetter: true,
			get: func(p *Point) (float64, bool) { v := *field(p); return v, !math.IsNaN(v) },
			set: func(p *Point, v float64) { *field(p) = v }}
	}
	latency := func(name, key string, field func(*Point) *Percentiles) []figure {
		pick := func(q *Percentiles, p50 bool) *float64 {
			if p50 {
				return &q.P50
			}
			return &q.P99
		}
		var out []figure
		for _, p50 := range []bool{true, false} {
			path, column := key+".p99", name+" p99"
			if p50 {
				path, column = key+".p50", name+" p50"
			}
			out = append(out, figure{Path: path, Column: column,
				get: func(p *Point) (float64, bool) { v := *pick(field(p), p50); return v, !math.IsNaN(v) },
				set: func(p *Point, v float64) { *pick(field(p), p50) = v }})
		}
		return out
	}
	return slices.Concat(
		[]figure{
			plain(figRequestThroughput, "req/s", func(p *Point) *float64 { return &p.RequestThroughput }),
			{Path: figGoodput, Column: "goodput req/s", HigherBetter: true,
				get: func(p *Point) (float64, bool) {
					if p.Goodput == nil || math.IsNaN(*p.Goodput) {
						return 0, false
					}
					return *p.Goodput, true
				},
				set: func(p *Point, v float64) { p.Goodput = &v }},
			plain(figOutputThroughput, "out tok/s", func(p *Point) *float64 { return &p.OutputThroughput }),
		},
		latency("TTFT", "ttftMs", func(p *Point) *Percentiles { return &p.TTFT }),
		latency("TPOT", "tpotMs", func(p *Point) *Percentiles { return &p.TPOT }),
		latency("ITL", "itlMs", func(p *Point) *Percentiles { return &p.ITL }),
		latency("E2EL", "e2elMs", func(p *Point) *Percentiles { return &p.E2EL }),
	)
}

// figureByPath returns the figure with that path.
func figureByPath(path string) (figure, bool) {
	fs := figures()
	i := slices.IndexFunc(fs, func(f figure) bool { return f.Path == path })
	if i < 0 {
		return figure{}, false
	}
	return fs[i], true
}

// median is the middle value, or the mean of the two middle ones (numpy's
// median, as the bench summarises repeats).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stats.PercentileSorted(s, 50)
}

// mergeRepeats condenses the repeats of one load level as the bench's
// summary does (contract C2): every figure is the median over the repeats
// that have it, Spread holds each figure's min and max, counts are totals,
// and the per-language figures are medians too.
func mergeRepeats(reps []Point) Point {
	if len(reps) == 1 {
		p := reps[0]
		p.Repeats = 1
		return p
	}
	out := Point{Level: reps[0].Level, Repeats: len(reps), Spread: map[string]MinMax{}}
	for _, r := range reps {
		out.Completed += r.Completed
		out.Failed += r.Failed
		out.Partial = out.Partial || r.Partial
	}
	for _, f := range figures() {
		var xs []float64
		for i := range reps {
			if v, ok := f.get(&reps[i]); ok {
				xs = append(xs, v)
			}
		}
		if len(xs) == 0 {
			if f.Path != figGoodput {
				f.set(&out, math.NaN())
			}
			continue
		}
		f.set(&out, median(xs))
		out.Spread[f.Path] = MinMax{Min: slices.Min(xs), Max: slices.Max(xs)}
	}
	out.Languages = mergeLanguages(reps)
	return out
}

// mergeLanguages condenses the per-language figures of a level's repeats:
// medians of throughput and latencies, totals of counts.
func mergeLanguages(reps []Point) []Language {
	var order []string
	byLang := map[string][]Language{}
	for _, r := range reps {
		for _, l := range r.Languages {
			if _, ok := byLang[l.Language]; !ok {
				order = append(order, l.Language)
			}
			byLang[l.Language] = append(byLang[l.Language], l)
		}
	}
	slices.Sort(order)
	out := make([]Language, 0, len(order))
	for _, lang := range order {
		ls := byLang[lang]
		m := Language{Language: lang}
		var tput, t50, t99, p50, p99 []float64
		for _, l := range ls {
			m.Completed += l.Completed
			m.Failed += l.Failed
			tput = append(tput, l.OutputThroughput)
			t50, t99 = append(t50, l.TTFT.P50), append(t99, l.TTFT.P99)
			p50, p99 = append(p50, l.TPOT.P50), append(p99, l.TPOT.P99)
		}
		m.OutputThroughput = median(tput)
		m.TTFT = Percentiles{P50: medianKnown(t50), P99: medianKnown(t99)}
		m.TPOT = Percentiles{P50: medianKnown(p50), P99: medianKnown(p99)}
		out = append(out, m)
	}
	return out
}

// medianKnown is the median of the values that are not NaN (not
// measured), NaN when none is.
func medianKnown(xs []float64) float64 {
	known := slices.DeleteFunc(slices.Clone(xs), math.IsNaN)
	if len(known) == 0 {
		return math.NaN()
	}
	return median(known)
}
