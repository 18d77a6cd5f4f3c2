package benchmarks

import (
	"math"
	"testing"
	"time"
)

func msd(v float64) time.Duration { return time.Duration(v * float64(time.Millisecond)) }

// trace builds a completed record from a start offset, TTFT and ITLs (ms).
func trace(i int, t0 time.Time, startMS, ttftMS float64, itlsMS []float64, output, input int, lang string) record {
	r := record{index: i, language: lang, start: t0.Add(msd(startMS)), ttft: msd(ttftMS), output: output, input: input, outUsage: true, inUsage: true}
	e2el := ttftMS
	for _, g := range itlsMS {
		r.itls = append(r.itls, msd(g))
		e2el += g
	}
	r.e2el = msd(e2el)
	r.end = r.start.Add(r.e2el)
	return r
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestAggregateHandMadeTrace(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A: starts at 0, TTFT 100, gaps 20 and 30 -> E2EL 150, 3 tokens, TPOT (150-100)/2 = 25
	a := trace(0, t0, 0, 100, []float64{20, 30}, 3, 10, "en")
	// B: starts at 50, TTFT 200, gap 40 -> E2EL 240 (ends at 290), 2 tokens, TPOT 40/1 = 40
	b := trace(1, t0, 50, 200, []float64{40}, 2, 20, "zh")
	// C: starts at 10, fails at 500
	c := record{index: 2, language: "en", start: t0.Add(10 * time.Millisecond), end: t0.Add(500 * time.Millisecond), err: "HTTP 500: boom"}

	var res Result
	aggregate(&res, []record{c, b, a}, []float64{50, 99}, map[string]float64{"tpot": 30}, true)

	// duration = first start (0) to last end (C at 500 ms) = 0.5 s
	check := func(name string, got, want float64) {
		t.Helper()
		if !near(got, want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("duration", res.Duration, 0.5)
	if res.Completed != 2 || res.Failed != 1 {
		t.Fatalf("completed/failed = %d/%d, want 2/1", res.Completed, res.Failed)
	}
	check("request_throughput", res.RequestThroughput, 4)         // 2 / 0.5
	check("output_throughput", res.OutputThroughput, 10)          // (3+2) / 0.5
	check("total_token_throughput", res.TotalTokenThroughput, 70) // (10+20+3+2) / 0.5
	check("request_goodput", *res.RequestGoodput, 2)              // only A has TPOT ≤ 30: 1 / 0.5
	check("mean_ttft", res.TTFT.Mean, 150)                        // (100+200)/2
	check("median_ttft", res.TTFT.Median, 150)                    // rank 0.5 between 100 and 200
	check("std_ttft", res.TTFT.Std, 50)                           // population: sqrt((50²+50²)/2)
	check("p99_ttft", res.TTFT.Percentiles[1].Value, 199)         // rank 0.99: 100 + 100*0.99
	check("mean_itl", res.ITL.Mean, 30)                           // (20+30+40)/3
	check("std_itl", res.ITL.Std, math.Sqrt(200.0/3))             // sqrt((100+0+100)/3)
	check("p99_itl", res.ITL.Percentiles[1].Value, 39.8)          // rank 1.98: 30 + 10*0.98
	check("mean_tpot", res.TPOT.Mean, 32.5)                       // (25+40)/2
	check("std_tpot", res.TPOT.Std, 7.5)                          // sqrt((7.5²+7.5²)/2)
	check("mean_e2el", res.E2EL.Mean, 195)                        // (150+240)/2
	check("p50_e2el", res.E2EL.Percentiles[0].Value, 195)         // rank 0.5
	check("max_output_tokens_per_s", res.MaxOutputTokensPerS, 5)  // all 5 tokens within the first second
	if res.MaxConcurrentRequests != 2 {                           // A [0,150) overlaps B [50,290)
		t.Errorf("max_concurrent_requests = %d, want 2", res.MaxConcurrentRequests)
	}
	if res.OutputTokensSource != SourceUsage || res.InputTokensSource != SourceUsage {
		t.Errorf("sources = %s/%s", res.OutputTokensSource, res.InputTokensSource)
	}

	// Per language: en has A (completed) and C (failed); zh has B.
	en, zh := res.PerLanguage["en"], res.PerLanguage["zh"]
	if en.Completed != 1 || en.Failed != 1 || zh.Completed != 1 || zh.Failed != 0 {
		t.Errorf("per-language counts en %d/%d zh %d/%d", en.Completed, en.Failed, zh.Completed, zh.Failed)
	}
	check("en output_throughput", en.OutputThroughput, 6) // 3 tokens over the run's 0.5 s
	check("zh mean_ttft", zh.TTFT.Mean, 200)
	check("en goodput", *en.RequestGoodput, 2) // A meets TPOT ≤ 30
	check("zh goodput", *zh.RequestGoodput, 0) // B's TPOT is 40

	// Detailed arrays are in send order (index), failed entries zeroed.
	d := res.Detailed
	if len(d.StartTimes) != 3 || d.Errors[2] != "HTTP 500: boom" || d.TTFTs[2] != 0 || d.OutputLens[0] != 3 {
		t.Errorf("detailed = %+v", d)
	}
	check("start_times[1]", d.StartTimes[1], 0.05)
	check("itls[0][1]", d.ITLs[0][1], 0.03)
	if d.Languages[1] != "zh" || len(d.ITLs[2]) != 0 {
		t.Errorf("languages/itls of failed = %v %v", d.Languages, d.ITLs[2])
	}
}

func TestGoodputRules(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	// One-token output: TPOT counts as 0 for goodput (vLLM's rule).
	one := trace(0, t0, 0, 100, nil, 1, 1, "")
	tests := []struct {
		slo  map[string]float64
		want float64 // goodput over the 0.1 s run
	}{
		{map[string]float64{"tpot": 0}, 10},                // TPOT 0 ≤ 0
		{map[string]float64{"ttft": 100}, 10},              // boundary is inclusive
		{map[string]float64{"ttft": 99.9}, 0},              // 100 > 99.9
		{map[string]float64{"ttft": 500, "e2el": 50}, 0},   // every SLO must hold
		{map[string]float64{"ttft": 500, "e2el": 100}, 10}, // e2el = ttft = 100
	}
	for _, tt := range tests {
		var res Result
		aggregate(&res, []record{one}, []float64{99}, tt.slo, false)
		if !near(*res.RequestGoodput, tt.want) {
			t.Errorf("slo %v: goodput %v, want %v", tt.slo, *res.RequestGoodput, tt.want)
		}
		if res.TPOT.Mean != 0 {
			t.Errorf("one-token request contributed TPOT %v", res.TPOT.Mean)
		}
	}
	var res Result
	aggregate(&res, []record{one}, []float64{99}, nil, false)
	if res.RequestGoodput != nil {
		t.Error("goodput must be null without SLOs")
	}
}

func TestSourcesAndEmptyRun(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	a := trace(0, t0, 0, 1, []float64{1}, 2, 3, "")
	b := trace(1, t0, 0, 1, []float64{1}, 2, 3, "")
	b.outUsage, b.inUsage = false, false
	tests := []struct {
		recs    []record
		out, in string
	}{
		{[]record{a}, SourceUsage, SourceUsage},
		{[]record{b}, SourceChunks, SourceApprox},
		{[]record{a, b}, SourceMixed, SourceMixed},
		{[]record{{err: "x", start: t0, end: t0}}, SourceNone, SourceNone},
		{nil, SourceNone, SourceNone},
	}
	for i, tt := range tests {
		var res Result
		aggregate(&res, tt.recs, []float64{50}, nil, false)
		if res.OutputTokensSource != tt.out || res.InputTokensSource != tt.in {
			t.Errorf("case %d: sources %s/%s, want %s/%s", i, res.OutputTokensSource, res.InputTokensSource, tt.out, tt.in)
		}
	}
	var res Result
	aggregate(&res, nil, []float64{50}, nil, true)
	if res.Duration != 0 || res.RequestThroughput != 0 || res.TTFT.Mean != 0 || len(res.StartTimes) != 0 {
		t.Errorf("empty run = %+v", res.Metrics)
	}
}

func TestArrivalsStatistics(t *testing.T) {
	t.Parallel()
	const n = 20001
	for _, tt := range []struct {
		rate, burstiness float64
	}{{50, 1}, {50, 4}, {200, 0.5}} {
		offs := Arrivals(n, tt.rate, tt.burstiness, 42)
		if offs[0] != 0 {
			t.Fatalf("first offset = %v, want 0", offs[0])
		}
		var gaps []float64
		for i := 1; i < n; i++ {
			if offs[i] < offs[i-1] {
				t.Fatal("offsets decrease")
			}
			gaps = append(gaps, (offs[i] - offs[i-1]).Seconds())
		}
		mean, sd := 0.0, 0.0
		for _, g := range gaps {
			mean += g
		}
		mean /= float64(len(gaps))
		for _, g := range gaps {
			sd += (g - mean) * (g - mean)
		}
		sd = math.Sqrt(sd / float64(len(gaps)))
		// Gamma(k, 1/(rate·k)): mean 1/rate, coefficient of variation 1/√k.
		// With 20000 gaps the mean's standard error is (1/rate)/√(20000k),
		// under 0.8 % for k ≥ 0.5, so 4 % is > 5 σ; a wrong scale (e.g.
		// 1/rate without the 1/k) misses by a factor k.
		wantMean, wantCV := 1/tt.rate, 1/math.Sqrt(tt.burstiness)
		if math.Abs(mean-wantMean)/wantMean > 0.04 {
			t.Errorf("rate %v burstiness %v: mean gap %v, want %v ± 4%%", tt.rate, tt.burstiness, mean, wantMean)
		}
		if cv := sd / mean; math.Abs(cv-wantCV)/wantCV > 0.05 {
			t.Errorf("rate %v burstiness %v: CV %v, want %v ± 5%%", tt.rate, tt.burstiness, cv, wantCV)
		}
	}
	a, b := Arrivals(100, 10, 1, 7), Arrivals(100, 10, 1, 7)
	c := Arrivals(100, 10, 1, 8)
	if a[99] != b[99] || a[99] == c[99] {
		t.Error("arrivals are not a function of the seed")
	}
	for _, o := range Arrivals(5, math.Inf(1), 1, 1) {
		if o != 0 {
			t.Error("infinite rate must send everything at t0")
		}
	}
}
