// Package summary condenses `servelab bench` results into the compact
// shape servelab shows as stack outputs and reads back in reports: per
// target, per load level, throughputs and p50/p99 latencies — the median
// over the level's repeats, with their min–max spread — per language, the
// engines' KV-cache capacity, the gateway's overhead over direct access,
// and the provenance of the runs.
package summary

import (
	"fmt"
	"math"
	"slices"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/stats"
)

// Run is one load level of one target. With repeats, every figure is the
// median over them, Spread holds their range, and Completed and Failed
// are totals over them.
type Run struct {
	MaxConcurrency int    `json:"maxConcurrency"` // 0 = unlimited
	RequestRate    string `json:"requestRate"`
	// Repeats is how many runs of the level the figures summarise (always
	// ≥ 1 in a summary; absent only in outputs older than repeats).
	Repeats           int     `json:"repeats,omitempty"`
	Completed         int     `json:"completed"`
	Failed            int     `json:"failed"`
	RequestThroughput float64 `json:"requestThroughput"`
	OutputThroughput  float64 `json:"outputThroughput"`
	// Goodput is requests/s meeting every SLO; nil without SLOs.
	Goodput *float64    `json:"goodput,omitempty"`
	TTFTMs  Percentiles `json:"ttftMs"`
	TPOTMs  Percentiles `json:"tpotMs"`
	ITLMs   Percentiles `json:"itlMs"`
	E2ELMs  Percentiles `json:"e2elMs"`
	// Spread is the min and max over the repeats of each figure, keyed by
	// its JSON path ("requestThroughput", "ttftMs.p50", ...); absent with
	// one repeat.
	Spread     map[string]MinMax          `json:"spread,omitempty"`
	Languages  map[string]LanguageSummary `json:"languages,omitempty"`
	TokensFrom string                     `json:"outputTokensSource"`
}

// MinMax is the range of a figure over a level's repeats.
type MinMax struct {
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

// Percentiles are the p50 and p99 of a latency, in ms.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// LanguageSummary is one language of a multilingual run (medians over
// repeats; counts are totals).
type LanguageSummary struct {
	Completed        int         `json:"completed"`
	Failed           int         `json:"failed"`
	OutputThroughput float64     `json:"outputThroughput"`
	TTFTMs           Percentiles `json:"ttftMs"`
	TPOTMs           Percentiles `json:"tpotMs"`
}

// Overhead compares a framework reached through the gateway with the same
// framework reached directly, at one load point: gateway minus direct.
type Overhead struct {
	MaxConcurrency int     `json:"maxConcurrency"`
	RequestRate    string  `json:"requestRate"`
	TTFTP50Ms      float64 `json:"ttftP50Ms"`
	TTFTP99Ms      float64 `json:"ttftP99Ms"`
	E2ELP50Ms      float64 `json:"e2elP50Ms"`
}

// Results are the parsed bench output: runs by target label, the gateway's
// overhead by framework when direct targets were measured, each target's
// KV-cache capacity when its engine reported one, and the provenance of
// the runs.
type Results struct {
	Targets  map[string][]Run      `json:"targets"`
	Overhead map[string][]Overhead `json:"gatewayOverhead,omitempty"`
	// KVCacheCapacityTokens is the engine's KV-cache capacity in tokens by
	// target label (targets whose metrics_url gave one).
	KVCacheCapacityTokens map[string]int64 `json:"kvCacheCapacityTokens,omitempty"`
	Provenance            *Provenance      `json:"provenance,omitempty"`
}

// Provenance mirrors the bench's provenance (benchmarks.Provenance) in the
// outputs' camelCase.
type Provenance struct {
	ServelabVersion string   `json:"servelabVersion"`
	BinarySHA256    string   `json:"binarySha256"`
	DatasetHash     string   `json:"datasetHash"`
	Seed            int64    `json:"seed"`
	Workload        Workload `json:"workload"`
}

// Workload mirrors benchmarks.Workload.
type Workload struct {
	Dataset        string            `json:"dataset"`
	DatasetPath    string            `json:"datasetPath,omitempty"`
	NumPrompts     int               `json:"numPrompts"`
	Endpoint       string            `json:"endpoint"`
	MaxConcurrency []int             `json:"maxConcurrency"`
	RequestRates   []string          `json:"requestRates"`
	Burstiness     float64           `json:"burstiness"`
	InputLen       int               `json:"inputLen,omitempty"`
	OutputLen      int               `json:"outputLen,omitempty"`
	RangeRatio     float64           `json:"rangeRatio,omitempty"`
	Warmup         benchmarks.Warmup `json:"warmup"` // a number or "auto"
	Repeats        int               `json:"repeats"`
	IgnoreEOS      bool              `json:"ignoreEos"`
	Temperature    float64           `json:"temperature"`
}

// Pair names the two targets that measure one framework: through the
// gateway (Via) and directly (Direct).
type Pair struct {
	Framework, Via, Direct string
}

// FromDocument condenses a bench document (benchmarks.DecodeDocument):
// Summarise's results plus the document's provenance.
func FromDocument(doc benchmarks.Runs, pairs []Pair) Results {
	res := Summarise(doc.Runs, pairs)
	if p := doc.Provenance; p != nil {
		w := p.Workload
		res.Provenance = &Provenance{
			ServelabVersion: p.ServelabVersion, BinarySHA256: p.BinarySHA256, DatasetHash: p.DatasetHash, Seed: p.Seed,
			Workload: Workload{
				Dataset: w.Dataset, DatasetPath: w.DatasetPath, NumPrompts: w.NumPrompts, Endpoint: w.Endpoint,
				MaxConcurrency: w.MaxConcurrency, Burstiness: w.Burstiness, InputLen: w.InputLen, OutputLen: w.OutputLen,
				RangeRatio: w.RangeRatio, Warmup: w.Warmup, Repeats: w.Repeats, IgnoreEOS: w.IgnoreEOS, Temperature: w.Temperature,
			},
		}
		for _, r := range w.RequestRates {
			res.Provenance.Workload.RequestRates = append(res.Provenance.Workload.RequestRates, rate(float64(r)))
		}
	}
	return res
}

// Summarise condenses results (in bench order): one Run per target and
// load level, its figures the median over the level's repeats; and, for
// every pair with both sides measured, the gateway's overhead at each
// common load level.
func Summarise(runs []benchmarks.Result, pairs []Pair) Results {
	res := Results{Targets: map[string][]Run{}}
	type key struct {
		label string
		conc  int
		rate  string
	}
	groups := map[key][]benchmarks.Result{}
	var order []key
	for _, r := range runs {
		k := key{r.Label, conc(r), rate(float64(r.RequestRate))}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
		if r.KVCacheCapacityTokens != nil {
			if res.KVCacheCapacityTokens == nil {
				res.KVCacheCapacityTokens = map[string]int64{}
			}
			res.KVCacheCapacityTokens[r.Label] = *r.KVCacheCapacityTokens
		}
	}
	for _, k := range order {
		res.Targets[k.label] = append(res.Targets[k.label], summarise(groups[k]))
	}
	res.Overhead = overhead(res.Targets, pairs)
	return res
}

// figure is one summarised number of a run: its JSON path and where it
// comes from in a Result.
type figure struct {
	path string
	get  func(benchmarks.Result) float64
	set  func(*Run, float64)
}

func figures() []figure {
	lat := func(name string, l func(benchmarks.Result) benchmarks.Latency, p func(*Run) *Percentiles) []figure {
		return []figure{
			{name + ".p50", func(r benchmarks.Result) float64 { return pct(l(r)).P50 }, func(run *Run, v float64) { p(run).P50 = v }},
			{name + ".p99", func(r benchmarks.Result) float64 { return pct(l(r)).P99 }, func(run *Run, v float64) { p(run).P99 = v }},
		}
	}
	return slices.Concat(
		[]figure{
			{"requestThroughput", func(r benchmarks.Result) float64 { return r.RequestThroughput }, func(run *Run, v float64) { run.RequestThroughput = v }},
			{"outputThroughput", func(r benchmarks.Result) float64 { return r.OutputThroughput }, func(run *Run, v float64) { run.OutputThroughput = v }},
		},
		lat("ttftMs", func(r benchmarks.Result) benchmarks.Latency { return r.TTFT }, func(run *Run) *Percentiles { return &run.TTFTMs }),
		lat("tpotMs", func(r benchmarks.Result) benchmarks.Latency { return r.TPOT }, func(run *Run) *Percentiles { return &run.TPOTMs }),
		lat("itlMs", func(r benchmarks.Result) benchmarks.Latency { return r.ITL }, func(run *Run) *Percentiles { return &run.ITLMs }),
		lat("e2elMs", func(r benchmarks.Result) benchmarks.Latency { return r.E2EL }, func(run *Run) *Percentiles { return &run.E2ELMs }),
	)
}

// summarise condenses the repeats of one level.
func summarise(reps []benchmarks.Result) Run {
	first := reps[0]
	run := Run{RequestRate: rate(float64(first.RequestRate)), MaxConcurrency: conc(first), Repeats: len(reps), TokensFrom: first.OutputTokensSource}
	for _, r := range reps {
		run.Completed += r.Completed
		run.Failed += r.Failed
		if r.OutputTokensSource != run.TokensFrom {
			run.TokensFrom = benchmarks.SourceMixed
		}
	}
	spread := map[string]MinMax{}
	note := func(path string, xs []float64) float64 {
		spread[path] = MinMax{Min: round(slices.Min(xs)), Max: round(slices.Max(xs))}
		return round(median(xs))
	}
	for _, f := range figures() {
		xs := make([]float64, len(reps))
		for i, r := range reps {
			xs[i] = f.get(r)
		}
		f.set(&run, note(f.path, xs))
	}
	var goods []float64
	for _, r := range reps {
		if r.RequestGoodput != nil {
			goods = append(goods, *r.RequestGoodput)
		}
	}
	if len(goods) > 0 {
		g := note("goodput", goods)
		run.Goodput = &g
	}
	if len(reps) > 1 {
		run.Spread = spread
	}
	run.Languages = languages(reps)
	return run
}

// languages condenses the per-language metrics of a level's repeats.
func languages(reps []benchmarks.Result) map[string]LanguageSummary {
	byLang := map[string][]benchmarks.LanguageMetrics{}
	for _, r := range reps {
		for lang, m := range r.PerLanguage {
			byLang[lang] = append(byLang[lang], m)
		}
	}
	if len(byLang) == 0 {
		return nil
	}
	res := map[string]LanguageSummary{}
	for lang, ms := range byLang {
		var s LanguageSummary
		var tput, t50, t99, p50, p99 []float64
		for _, m := range ms {
			s.Completed += m.Completed
			s.Failed += m.Failed
			tput = append(tput, m.OutputThroughput)
			t, p := pct(m.TTFT), pct(m.TPOT)
			t50, t99, p50, p99 = append(t50, t.P50), append(t99, t.P99), append(p50, p.P50), append(p99, p.P99)
		}
		s.OutputThroughput = round(median(tput))
		s.TTFTMs = Percentiles{P50: round(median(t50)), P99: round(median(t99))}
		s.TPOTMs = Percentiles{P50: round(median(p50)), P99: round(median(p99))}
		res[lang] = s
	}
	return res
}

func overhead(byLabel map[string][]Run, pairs []Pair) map[string][]Overhead {
	out := map[string][]Overhead{}
	for _, p := range pairs {
		fw, g, d := p.Framework, p.Via, p.Direct
		for _, gr := range byLabel[g] {
			i := slices.IndexFunc(byLabel[d], func(dr Run) bool {
				return dr.MaxConcurrency == gr.MaxConcurrency && dr.RequestRate == gr.RequestRate
			})
			if i < 0 {
				continue
			}
			dr := byLabel[d][i]
			out[fw] = append(out[fw], Overhead{
				MaxConcurrency: gr.MaxConcurrency, RequestRate: gr.RequestRate,
				TTFTP50Ms: round(gr.TTFTMs.P50 - dr.TTFTMs.P50),
				TTFTP99Ms: round(gr.TTFTMs.P99 - dr.TTFTMs.P99),
				E2ELP50Ms: round(gr.E2ELMs.P50 - dr.E2ELMs.P50),
			})
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func conc(r benchmarks.Result) int {
	if r.MaxConcurrency == nil {
		return 0
	}
	return *r.MaxConcurrency
}

func pct(l benchmarks.Latency) Percentiles {
	p50, ok := l.At(50)
	if !ok {
		p50 = l.Median
	}
	p99, _ := l.At(99)
	return Percentiles{P50: p50, P99: p99}
}

// median is the middle value (the mean of the two middle ones for an even
// count), as numpy's median.
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return stats.PercentileSorted(s, 50)
}

func rate(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return fmt.Sprintf("%g", r)
}

// round keeps three decimals: outputs stay readable and stable.
func round(x float64) float64 { return math.Round(x*1000) / 1000 }
