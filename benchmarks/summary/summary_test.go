package summary_test

import (
	"math"
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
