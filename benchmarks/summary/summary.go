// Package summary condenses `servelab bench` results into the compact
// shape servelab shows as stack outputs and reads back in reports: per
// target, per load level, throughputs and p50/p99 latencies, per language,
// and the gateway's overhead over direct access.
package summary

import (
	"fmt"
	"math"
	"slices"

	"github.com/servelab/servelab/benchmarks"
)

// Run is one load level of one target.
type Run struct {
	MaxConcurrency    int     `json:"maxConcurrency"` // 0 = unlimited
	RequestRate       string  `json:"requestRate"`
	Completed         int     `json:"completed"`
	Failed            int     `json:"failed"`
	RequestThroughput float64 `json:"requestThroughput"`
	OutputThroughput  float64 `json:"outputThroughput"`
	// Goodput is requests/s meeting every SLO; nil without SLOs.
	Goodput    *float64                   `json:"goodput,omitempty"`
	TTFTMs     Percentiles                `json:"ttftMs"`
	TPOTMs     Percentiles                `json:"tpotMs"`
	ITLMs      Percentiles                `json:"itlMs"`
	E2ELMs     Percentiles                `json:"e2elMs"`
	Languages  map[string]LanguageSummary `json:"languages,omitempty"`
	TokensFrom string                     `json:"outputTokensSource"`
}

// Percentiles are the p50 and p99 of a latency, in ms.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
}

// LanguageSummary is one language of a multilingual run.
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

// Results are the parsed bench output: runs by target label, and the
// gateway's overhead by framework when direct targets were measured.
type Results struct {
	Targets  map[string][]Run      `json:"targets"`
	Overhead map[string][]Overhead `json:"gatewayOverhead,omitempty"`
}

// Pair names the two targets that measure one framework: through the
// gateway (Via) and directly (Direct).
type Pair struct {
	Framework, Via, Direct string
}

// Summarise condenses results (in bench order) and, for every pair with
// both sides measured, the gateway's overhead at each common load level.
func Summarise(runs []benchmarks.Result, pairs []Pair) Results {
	res := Results{Targets: map[string][]Run{}}
	for _, r := range runs {
		res.Targets[r.Label] = append(res.Targets[r.Label], summarise(r))
	}
	res.Overhead = overhead(res.Targets, pairs)
	return res
}

func summarise(r benchmarks.Result) Run {
	run := Run{
		RequestRate:       rate(float64(r.RequestRate)),
		Completed:         r.Completed,
		Failed:            r.Failed,
		RequestThroughput: round(r.RequestThroughput),
		OutputThroughput:  round(r.OutputThroughput),
		TTFTMs:            pct(r.TTFT),
		TPOTMs:            pct(r.TPOT),
		ITLMs:             pct(r.ITL),
		E2ELMs:            pct(r.E2EL),
		TokensFrom:        r.OutputTokensSource,
	}
	if r.MaxConcurrency != nil {
		run.MaxConcurrency = *r.MaxConcurrency
	}
	if r.RequestGoodput != nil {
		g := round(*r.RequestGoodput)
		run.Goodput = &g
	}
	if len(r.PerLanguage) > 0 {
		run.Languages = map[string]LanguageSummary{}
		for lang, m := range r.PerLanguage {
			run.Languages[lang] = LanguageSummary{
				Completed: m.Completed, Failed: m.Failed, OutputThroughput: round(m.OutputThroughput),
				TTFTMs: pct(m.TTFT), TPOTMs: pct(m.TPOT),
			}
		}
	}
	return run
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

func pct(l benchmarks.Latency) Percentiles {
	p50, ok := l.At(50)
	if !ok {
		p50 = l.Median
	}
	p99, _ := l.At(99)
	return Percentiles{P50: round(p50), P99: round(p99)}
}

func rate(r float64) string {
	if math.IsInf(r, 1) {
		return "inf"
	}
	return fmt.Sprintf("%g", r)
}

// round keeps three decimals: outputs stay readable and stable.
func round(x float64) float64 { return math.Round(x*1000) / 1000 }
