package benchmark

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/servelab/servelab/benchmarks"
)

// Run is one load point of one target, as a stack output.
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

// ErrPartial is returned for interrupted runs: they fail `up`.
var ErrPartial = errors.New("benchmark run was interrupted (partial results)")

// Parse turns the bench's JSON stdout into Results. A partial run, a run
// whose every request failed, or a target that never ran is an error naming
// the target.
func Parse(stdout string, targets []Target) (Results, error) {
	runs, err := benchmarks.Decode(strings.NewReader(stdout))
	if err != nil {
		return Results{}, err
	}
	res := Results{Targets: map[string][]Run{}}
	var errs []error
	for _, r := range runs {
		if r.Partial {
			errs = append(errs, fmt.Errorf("%s: %w", r.Label, ErrPartial))
		}
		if r.Completed == 0 {
			errs = append(errs, fmt.Errorf("%s: every one of %d requests failed", r.Label, r.Failed))
		}
		res.Targets[r.Label] = append(res.Targets[r.Label], summarise(r))
	}
	for _, t := range targets {
		if _, ok := res.Targets[t.Label]; !ok {
			errs = append(errs, fmt.Errorf("%s: no result in the bench output", t.Label))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Results{}, err
	}
	res.Overhead = overhead(res.Targets, targets)
	return res, nil
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

func overhead(byLabel map[string][]Run, targets []Target) map[string][]Overhead {
	via, direct := map[string]string{}, map[string]string{}
	for _, t := range targets {
		if t.Framework == "" {
			continue
		}
		if t.Direct {
			direct[t.Framework] = t.Label
		} else {
			via[t.Framework] = t.Label
		}
	}
	out := map[string][]Overhead{}
	for fw, d := range direct {
		g, ok := via[fw]
		if !ok {
			continue
		}
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
