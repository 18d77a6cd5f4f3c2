package summary_test

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/summary"
)

func result(label string, conc int, ttftP50, ttftP99, e2elP50 float64) benchmarks.Result {
	r := benchmarks.Result{Label: label, RequestRate: benchmarks.Rate(math.Inf(1)), OutputTokensSource: "usage"}
	r.MaxConcurrency = &conc
	r.Completed, r.OutputThroughput, r.RequestThroughput = 10, 123.4567, 4.25
	r.TTFT = benchmarks.Latency{Median: ttftP50, Percentiles: []benchmarks.Percentile{{P: 50, Value: ttftP50}, {P: 99, Value: ttftP99}}}
	r.E2EL = benchmarks.Latency{Median: e2elP50, Percentiles: []benchmarks.Percentile{{P: 50, Value: e2elP50}, {P: 99, Value: e2elP50 * 2}}}
	r.PerLanguage = map[string]benchmarks.LanguageMetrics{"ja": {Metrics: benchmarks.Metrics{Completed: 3, TTFT: r.TTFT}}}
	return r
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	runs := []benchmarks.Result{
		result("vllm", 1, 20.5, 30, 200),
		result("vllm", 8, 40, 80, 400),
		result("vllm-direct", 1, 20.25, 29.5, 199.9),
		result("vllm-direct", 8, 39.9, 79, 399),
		result("ollama", 1, 50, 60, 500), // no direct side: no overhead
	}
	got := summary.Summarise(runs, []summary.Pair{{Framework: "vllm", Via: "vllm", Direct: "vllm-direct"}, {Framework: "ollama", Via: "ollama", Direct: "ollama-direct"}})
	if len(got.Targets["vllm"]) != 2 || got.Targets["vllm"][1].MaxConcurrency != 8 {
		t.Fatalf("targets %+v", got.Targets)
	}
	r := got.Targets["vllm"][0]
	if r.TTFTMs != (summary.Percentiles{P50: 20.5, P99: 30}) || r.RequestRate != "inf" || r.OutputThroughput != 123.457 {
		t.Errorf("run %+v", r)
	}
	if r.Languages["ja"].TTFTMs.P99 != 30 || r.Languages["ja"].Completed != 3 {
		t.Errorf("languages %+v", r.Languages)
	}
	over := got.Overhead["vllm"]
	// 20.5-20.25 = 0.25, 30-29.5 = 0.5, 200-199.9 = 0.1; 40-39.9 = 0.1, 80-79 = 1, 400-399 = 1
	want := []summary.Overhead{
		{MaxConcurrency: 1, RequestRate: "inf", TTFTP50Ms: 0.25, TTFTP99Ms: 0.5, E2ELP50Ms: 0.1},
		{MaxConcurrency: 8, RequestRate: "inf", TTFTP50Ms: 0.1, TTFTP99Ms: 1, E2ELP50Ms: 1},
	}
	if len(over) != 2 || over[0] != want[0] || over[1] != want[1] {
		t.Errorf("overhead %+v, want %+v", over, want)
	}
	if _, ok := got.Overhead["ollama"]; ok {
		t.Error("overhead for a framework measured only through the gateway")
	}
}

func TestRepeatsGiveMedianAndSpread(t *testing.T) {
	t.Parallel()
	// Three repeats of c=8 (throughputs 10, 30, 20; TTFT p50 5, 9, 7) and one
	// run of c=1, in bench order.
	rep := func(conc int, tput, ttft float64, repeat int) benchmarks.Result {
		r := result("vllm", conc, ttft, 2*ttft, 100)
		r.RequestThroughput, r.OutputThroughput, r.Repeat = tput, 10*tput, repeat
		g := tput / 2
		r.RequestGoodput = &g
		r.Completed, r.Failed = 9, 1
		return r
	}
	runs := []benchmarks.Result{rep(8, 10, 5, 1), rep(8, 30, 9, 2), rep(8, 20, 7, 3), rep(1, 4, 3, 1)}
	runs[1].OutputTokensSource = "chunks"
	got := summary.Summarise(runs, nil).Targets["vllm"]
	if len(got) != 2 || got[0].MaxConcurrency != 8 || got[1].MaxConcurrency != 1 {
		t.Fatalf("runs %+v", got)
	}
	r := got[0]
	if r.Repeats != 3 || r.RequestThroughput != 20 || r.OutputThroughput != 200 || *r.Goodput != 10 || r.TTFTMs != (summary.Percentiles{P50: 7, P99: 14}) {
		t.Errorf("medians %+v", r)
	}
	if r.Completed != 27 || r.Failed != 3 || r.TokensFrom != "mixed" {
		t.Errorf("totals %d/%d, tokens from %s", r.Completed, r.Failed, r.TokensFrom)
	}
	want := map[string]summary.MinMax{
		"requestThroughput": {Min: 10, Max: 30}, "outputThroughput": {Min: 100, Max: 300}, "goodput": {Min: 5, Max: 15},
		"ttftMs.p50": {Min: 5, Max: 9}, "ttftMs.p99": {Min: 10, Max: 18}, "e2elMs.p50": {Min: 100, Max: 100},
	}
	for k, v := range want {
		if r.Spread[k] != v {
			t.Errorf("spread[%s] = %+v, want %+v", k, r.Spread[k], v)
		}
	}
	for _, k := range []string{"tpotMs.p50", "tpotMs.p99", "itlMs.p50", "itlMs.p99", "e2elMs.p99"} {
		if _, ok := r.Spread[k]; !ok {
			t.Errorf("spread lacks %s", k)
		}
	}
	if got[1].Repeats != 1 || got[1].Spread != nil {
		t.Errorf("a single run has spread %v", got[1].Spread)
	}
	// Even count: the median is the mean of the middle two.
	even := summary.Summarise([]benchmarks.Result{rep(8, 10, 5, 1), rep(8, 20, 7, 2)}, nil).Targets["vllm"][0]
	if even.RequestThroughput != 15 || even.TTFTMs.P50 != 6 {
		t.Errorf("even median %+v", even)
	}
	// Languages: medians of the repeats, totals of counts.
	if l := r.Languages["ja"]; l.Completed != 9 || l.TTFTMs.P50 != 7 {
		t.Errorf("languages %+v", r.Languages)
	}
}

func TestKVCapacityAndProvenance(t *testing.T) {
	t.Parallel()
	r := result("sglang", 4, 10, 20, 100)
	kv := int64(471258)
	r.KVCacheCapacityTokens = &kv
	doc := benchmarks.Runs{
		Provenance: &benchmarks.Provenance{
			ServelabVersion: "0.1.0", BinarySHA256: "beef", DatasetHash: "d1", Seed: 42,
			Workload: benchmarks.Workload{Dataset: "multilingual", NumPrompts: 110, Endpoint: "chat", MaxConcurrency: []int{1, 8, 32},
				RequestRates: []benchmarks.Rate{benchmarks.Rate(math.Inf(1)), 2}, Burstiness: 1, OutputLen: 64, Warmup: benchmarks.WarmupAuto, Repeats: 3},
		},
		Runs: []benchmarks.Result{r, result("ollama", 4, 10, 20, 100)},
	}
	got := summary.FromDocument(doc, nil)
	if len(got.KVCacheCapacityTokens) != 1 || got.KVCacheCapacityTokens["sglang"] != 471258 {
		t.Errorf("kv %v", got.KVCacheCapacityTokens)
	}
	p := got.Provenance
	if p == nil || p.BinarySHA256 != "beef" || p.DatasetHash != "d1" || p.Seed != 42 || p.Workload.Repeats != 3 ||
		!slices.Equal(p.Workload.RequestRates, []string{"inf", "2"}) || !slices.Equal(p.Workload.MaxConcurrency, []int{1, 8, 32}) {
		t.Fatalf("provenance %+v", p)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kvCacheCapacityTokens":{"sglang":471258}`, `"provenance":{"servelabVersion":"0.1.0"`, `"warmup":"auto"`, `"repeats":1`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("outputs lack %s: %s", want, b)
		}
	}
	if got := summary.FromDocument(benchmarks.Runs{Runs: doc.Runs}, nil); got.Provenance != nil {
		t.Error("provenance invented for a document without one")
	}
}
