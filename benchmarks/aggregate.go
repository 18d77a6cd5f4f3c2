package benchmarks

import (
	"slices"
	"time"

	"github.com/servelab/servelab/benchmarks/stats"
)

// aggregate fills res's metrics, per-language breakdown, peak figures,
// token sources and (when detailed) per-request arrays from the run's
// records, as docs/bench.md's "Metric definitions" say:
//   - duration: first dispatch to the last request's end (success or not);
//   - throughputs: completed requests and their tokens over duration;
//   - TTFT, E2EL: per completed request; ITL: every gap of every completed
//     request; TPOT: (E2EL−TTFT)/(output−1) for completed requests with
//     output > 1;
//   - goodput: completed requests meeting every SLO (TPOT counted as 0 for
//     a one-token output, as vLLM does) over duration.
func aggregate(res *Result, recs []record, percentiles []float64, slo map[string]float64, detailed bool) {
	slices.SortFunc(recs, func(a, b record) int { return a.index - b.index })
	var first, last time.Time
	for _, r := range recs {
		if !r.start.IsZero() && (first.IsZero() || r.start.Before(first)) {
			first = r.start
		}
		if r.end.After(last) {
			last = r.end
		}
	}
	duration := 0.0
	if !first.IsZero() && last.After(first) {
		duration = last.Sub(first).Seconds()
	}
	res.Metrics = metricsOf(recs, duration, percentiles, slo)

	langs := map[string][]record{}
	for _, r := range recs {
		if r.language != "" {
			langs[r.language] = append(langs[r.language], r)
		}
	}
	if len(langs) > 0 {
		res.PerLanguage = make(map[string]LanguageMetrics, len(langs))
		for lang, rs := range langs {
			res.PerLanguage[lang] = LanguageMetrics{metricsOf(rs, duration, percentiles, slo)}
		}
	}

	errs := errorCounter{}
	for _, r := range recs {
		errs.add(r.err, r.end)
	}
	res.ErrorSummary, res.FirstError = errs.counts, errs.first
	if res.ErrorSummary == nil {
		res.ErrorSummary = map[string]int{}
	}
	res.OutputTokensSource, res.InputTokensSource = sources(recs)
	res.MaxOutputTokensPerS, res.MaxConcurrentRequests = peaks(recs, first)

	if detailed {
		d := &Detailed{
			StartTimes: make([]float64, len(recs)), TTFTs: make([]float64, len(recs)),
			ITLs: make([][]float64, len(recs)), Latencies: make([]float64, len(recs)),
			InputLens: make([]int, len(recs)), OutputLens: make([]int, len(recs)),
			Errors: make([]string, len(recs)), Languages: make([]string, len(recs)),
		}
		for i, r := range recs {
			if !r.start.IsZero() {
				d.StartTimes[i] = r.start.Sub(first).Seconds()
			}
			d.ITLs[i] = []float64{}
			d.Errors[i] = r.err
			d.Languages[i] = r.language
			d.InputLens[i] = r.input
			if r.ok() {
				d.TTFTs[i] = r.ttft.Seconds()
				d.Latencies[i] = r.e2el.Seconds()
				d.OutputLens[i] = r.output
				for _, g := range r.itls {
					d.ITLs[i] = append(d.ITLs[i], g.Seconds())
				}
			}
		}
		res.Detailed = d
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// metricsOf computes the aggregate metrics of recs over duration seconds.
func metricsOf(recs []record, duration float64, percentiles []float64, slo map[string]float64) Metrics {
	var m Metrics
	var ttfts, tpots, itls, e2els []float64
	good := 0
	for _, r := range recs {
		if !r.ok() {
			m.Failed++
			continue
		}
		m.Completed++
		m.TotalInputTokens += r.input
		m.TotalOutputTokens += r.output
		ttft, e2el := ms(r.ttft), ms(r.e2el)
		ttfts = append(ttfts, ttft)
		e2els = append(e2els, e2el)
		tpot := 0.0
		if r.output > 1 {
			tpot = (e2el - ttft) / float64(r.output-1)
			tpots = append(tpots, tpot)
		}
		for _, g := range r.itls {
			itls = append(itls, ms(g))
		}
		if meets(slo, ttft, tpot, e2el) {
			good++
		}
	}
	if duration > 0 {
		m.Duration = duration
		m.RequestThroughput = float64(m.Completed) / duration
		m.OutputThroughput = float64(m.TotalOutputTokens) / duration
		m.TotalTokenThroughput = float64(m.TotalInputTokens+m.TotalOutputTokens) / duration
	}
	if len(slo) > 0 {
		g := 0.0
		if duration > 0 {
			g = float64(good) / duration
		}
		m.RequestGoodput = &g
	}
	m.TTFT = latency(ttfts, percentiles)
	m.TPOT = latency(tpots, percentiles)
	m.ITL = latency(itls, percentiles)
	m.E2EL = latency(e2els, percentiles)
	return m
}

// meets reports whether a request meets every configured SLO (ms).
func meets(slo map[string]float64, ttft, tpot, e2el float64) bool {
	if len(slo) == 0 {
		return false
	}
	if v, ok := slo["ttft"]; ok && ttft > v {
		return false
	}
	if v, ok := slo["tpot"]; ok && tpot > v {
		return false
	}
	if v, ok := slo["e2el"]; ok && e2el > v {
		return false
	}
	return true
}

func latency(xs []float64, percentiles []float64) Latency {
	s := stats.Summarize(xs, percentiles)
	l := Latency{Mean: s.Mean, Median: s.Median, Std: s.Std}
	for i, p := range percentiles {
		l.Percentiles = append(l.Percentiles, Percentile{P: p, Value: s.Percentiles[i]})
	}
	slices.SortStableFunc(l.Percentiles, func(a, b Percentile) int { return cmpFloat(a.P, b.P) })
	return l
}

// sources classifies where the completed requests' token counts came from.
func sources(recs []record) (output, input string) {
	var n, outUsage, inUsage int
	for _, r := range recs {
		if !r.ok() {
			continue
		}
		n++
		if r.outUsage {
			outUsage++
		}
		if r.inUsage {
			inUsage++
		}
	}
	classify := func(k int, none string) string {
		switch {
		case n == 0:
			return SourceNone
		case k == n:
			return SourceUsage
		case k == 0:
			return none
		}
		return SourceMixed
	}
	return classify(outUsage, SourceChunks), classify(inUsage, SourceApprox)
}

// peaks computes vLLM's max_output_tokens_per_s (most content chunks in any
// one-second bucket from the first dispatch) and max_concurrent_requests
// (peak overlap of completed requests' [start, start+e2el) intervals).
func peaks(recs []record, first time.Time) (float64, int) {
	buckets := map[int64]int{}
	type event struct {
		t     time.Time
		delta int
	}
	var events []event
	for _, r := range recs {
		if !r.ok() {
			continue
		}
		t := r.start.Add(r.ttft)
		buckets[int64(t.Sub(first)/time.Second)]++
		for _, g := range r.itls {
			t = t.Add(g)
			buckets[int64(t.Sub(first)/time.Second)]++
		}
		events = append(events, event{r.start, 1}, event{r.start.Add(r.e2el), -1})
	}
	maxTok := 0
	for _, c := range buckets {
		maxTok = max(maxTok, c)
	}
	slices.SortFunc(events, func(a, b event) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return a.delta - b.delta // an end before a start at the same instant
	})
	cur, peak := 0, 0
	for _, e := range events {
		cur += e.delta
		peak = max(peak, cur)
	}
	return float64(maxTok), peak
}
