package report

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks"
)

// repeatSource writes results as a `servelab bench --runs` document in the
// shape of contract C2: each run carries repeats[i] as its "repeat"
// number, and the document a provenance when pv is not nil.
func repeatSource(t *testing.T, name string, pv map[string]any, results []benchmarks.Result, repeats []int) Source {
	t.Helper()
	var runs []map[string]any
	for i, r := range results {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if repeats != nil {
			m["repeat"] = repeats[i]
		}
		runs = append(runs, m)
	}
	doc := map[string]any{"runs": runs}
	if pv != nil {
		doc["provenance"] = pv
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Load(name, name+".json", b)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestBenchRepeatsBecomeMedianAndSpread reads the recorded three-repeat
// document: one point per level, each figure the median of the three
// runs, its spread their min and max, counts their totals.
func TestBenchRepeatsBecomeMedianAndSpread(t *testing.T) {
	t.Parallel()
	data := readInput(t, "repeats.json")
	runs, err := benchmarks.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	r := loadReport(t, "repeats.json")
	if len(r.Series) != 3 {
		t.Fatalf("series %v", seriesNames(r))
	}
	for _, s := range r.Series {
		if len(s.Points) != 2 {
			t.Fatalf("%s: %d points, want one per level", s.Name, len(s.Points))
		}
		for _, p := range s.Points {
			var reps []benchmarks.Result
			for _, run := range runs {
				if run.Label == s.Label && *run.MaxConcurrency == p.MaxConcurrency {
					reps = append(reps, run)
				}
			}
			var tput, ttft99 []float64
			completed := 0
			for _, run := range reps {
				tput = append(tput, run.OutputThroughput)
				v, _ := run.TTFT.At(99)
				ttft99 = append(ttft99, v)
				completed += run.Completed
			}
			slices.Sort(tput)
			slices.Sort(ttft99)
			if p.Repeats != 3 || len(reps) != 3 || p.Completed != completed {
				t.Errorf("%s %s: %d repeats of %d runs, completed %d of %d", s.Name, p.Level, p.Repeats, len(reps), p.Completed, completed)
			}
			if p.OutputThroughput != tput[1] || p.Spread[figOutputThroughput] != (MinMax{Min: tput[0], Max: tput[2]}) {
				t.Errorf("%s %s: output throughput %v %+v, want median and range of %v", s.Name, p.Level, p.OutputThroughput, p.Spread[figOutputThroughput], tput)
			}
			if p.TTFT.P99 != ttft99[1] || p.Spread["ttftMs.p99"] != (MinMax{Min: ttft99[0], Max: ttft99[2]}) {
				t.Errorf("%s %s: TTFT p99 %v %+v, want median and range of %v", s.Name, p.Level, p.TTFT.P99, p.Spread["ttftMs.p99"], ttft99)
			}
			if len(p.Spread) != 11 {
				t.Errorf("%s %s: spread of %d figures, want all 11 (goodput included)", s.Name, p.Level, len(p.Spread))
			}
		}
	}
	// Tables show median (min–max).
	row := resultsTable(r).Rows[0]
	p := r.Series[0].Points[0]
	mm := p.Spread[figOutputThroughput]
	if want := num(p.OutputThroughput) + " (" + num(mm.Min) + "–" + num(mm.Max) + ")"; row[3] != "3" || row[8] != want {
		t.Errorf("row %q: want runs 3 and output throughput %q", row, want)
	}
}

func TestRepeatsMedianOfEvenCountAndMissingValues(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	a, b := result("x", 4, inf, 1, "h"), result("x", 4, inf, 1, "h")
	a.OutputThroughput, b.OutputThroughput = 100, 200
	a.TTFT.Percentiles = a.TTFT.Percentiles[:1] // p99 not measured in one repeat
	g := 3.0
	a.RequestGoodput = &g // goodput in one repeat only
	b.Partial = true
	r, err := Build("", repeatSource(t, "s", nil, []benchmarks.Result{a, b}, []int{1, 2}))
	if err != nil {
		t.Fatal(err)
	}
	p := r.Series[0].Points[0]
	if p.OutputThroughput != 150 || p.TTFT.P99 != 30 || *p.Goodput != 3 || !p.Partial || p.Completed != 20 {
		t.Errorf("point %+v", p)
	}
	if p.Spread["ttftMs.p99"] != (MinMax{30, 30}) || p.Spread[figGoodput] != (MinMax{3, 3}) {
		t.Errorf("spread %+v", p.Spread)
	}
}

func TestRunsThatAreNotRepeats(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	two := []benchmarks.Result{result("a", 4, inf, 1, "h"), result("a", 4, inf, 1, "h")}
	for _, tt := range []struct {
		name    string
		repeats []int
	}{
		{"no repeat numbers", nil},
		{"the same number twice", []int{1, 1}},
		{"one without", []int{0, 2}},
	} {
		_, err := Build("", repeatSource(t, "dup", nil, two, tt.repeats))
		if err == nil || !strings.Contains(err.Error(), `dup.json: series "dup/a" has two runs at concurrency 4, rate inf that are not repeats of it`) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	_, err := Load("neg", "neg.json", []byte(`{"runs":[{"completed":1,"duration":1,"request_throughput":1,"repeat":-1}]}`))
	if err == nil || !strings.HasPrefix(err.Error(), "neg.json: ") || !strings.Contains(err.Error(), "repeat -1 is negative") {
		t.Errorf("negative repeat: %v", err)
	}
}

// stackWithSpread is a Benchmark component output in contract C2's
// shape: one target at one level, three repeats with their spread, the
// engine's KV-cache capacity, provenance run in an image.
const stackWithSpread = `{"benchmark":{
  "targets":{"sglang":[{"maxConcurrency":8,"requestRate":"inf","repeats":3,"completed":300,"failed":0,
    "requestThroughput":10,"outputThroughput":1000,"goodput":9,
    "ttftMs":{"p50":50,"p99":90},"tpotMs":{"p50":5,"p99":9},"itlMs":{"p50":5,"p99":12},"e2elMs":{"p50":600,"p99":900},
    "spread":{"requestThroughput":{"min":9.5,"max":10.4},"outputThroughput":{"min":950,"max":1040},"ttftMs.p50":{"min":48,"max":55}},
    "outputTokensSource":"usage"}]},
  "kvCacheCapacityTokens":{"sglang":471258},
  "provenance":{"specHash":"5e1f00d2aa77c0ffee","servelab":{"version":"0.2.0","image":"localhost/servelab:0.2.0-abc123"},
    "images":{"sglang":"lmsysorg/sglang@sha256:0123456789abcdef0123"},"datasetHash":"d5e7","seed":7,
    "workload":{"dataset":"random","numPrompts":200,"maxConcurrency":[8],"requestRate":[],"burstiness":1,"inputLen":1024,
      "outputLen":128,"warmup":"auto","repeats":3},
    "bench":{"servelabVersion":"0.2.0","binarySha256":"feedbeef00112233445566","datasetHash":"d5e7","seed":7}}}}`

func TestStackOutputWithRepeatsAndProvenance(t *testing.T) {
	t.Parallel()
	src, err := Load("h100", "h100.json", []byte(stackWithSpread))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build("", src)
	if err != nil {
		t.Fatal(err)
	}
	s := r.Series[0]
	p := s.Points[0]
	if p.Repeats != 3 || p.Spread["ttftMs.p50"] != (MinMax{48, 55}) || s.KVCacheTokens != "471258" ||
		s.Image != "lmsysorg/sglang@sha256:0123456789abcdef0123" || !s.Provenance.Recorded || s.Provenance.Seed != "7" {
		t.Fatalf("series %+v", s)
	}
	row := resultsTable(r).Rows[0]
	// runs, then req/s with its range, goodput without one, TTFT p50 with.
	if row[3] != "3" || row[6] != "10.00 (9.50–10.40)" || row[7] != "9.00" || row[9] != "50.00 (48.00–55.00)" || row[10] != "90.00" {
		t.Errorf("results row %q", row)
	}
	if got := seriesTable(r).Rows[0]; got[5] != "lmsysorg/sglang@sha256:0123456789ab" || got[6] != "471258" || got[7] != "0.2.0" {
		t.Errorf("series row %q", got)
	}
	prov := provenanceTable(r).Rows[0]
	want := []string{"h100", "stack output", "0.2.0", "feedbeef0011", "localhost/servelab:0.2.0-abc123", "5e1f00d2aa77", "d5e7", "7",
		"random, 200 prompts, concurrency 8, rate inf, input 1024 tokens, output 128 tokens, warm-up auto, 3 repeats"}
	if !slices.Equal(prov, want) {
		t.Errorf("provenance row\n got %q\nwant %q", prov, want)
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "Where a load level ran several times") }) {
		t.Errorf("notes %q lack the repeats note", r.Notes)
	}

	// An output from before repeats: one run, no spread, no provenance.
	old := `{"targets":{"v":[{"maxConcurrency":1,"requestRate":"inf","completed":3,"requestThroughput":1,"ttftMs":{"p50":1,"p99":2}}]}}`
	src, err = Load("old", "old.json", []byte(old))
	if err != nil {
		t.Fatal(err)
	}
	r, err = Build("", src)
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Series[0].Points[0]; p.Repeats != 1 || p.Spread != nil || r.Series[0].Provenance.Recorded || r.Sources[0].Provenance != nil {
		t.Errorf("old output: %+v", r.Series[0])
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool {
		return strings.HasPrefix(n, "Stack outputs made before servelab recorded provenance (old)")
	}) {
		t.Errorf("notes %q", r.Notes)
	}
}

// TestStackWorkloadIsChecked: stack outputs that record provenance take
// part in the comparability check, with bench files too.
func TestStackWorkloadIsChecked(t *testing.T) {
	t.Parallel()
	stack, err := Load("h100", "h100.json", []byte(stackWithSpread))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build("", stack, benchSource(t, "lab", result("x", 8, math.Inf(1), 42, "other")))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "dataset hash d5e7 (h100/sglang) vs other (lab/x); seed 7 (h100/sglang) vs 42 (lab/x)") {
		t.Errorf("warnings %q", r.Warnings)
	}
}

func TestBenchDocumentProvenance(t *testing.T) {
	t.Parallel()
	pv := map[string]any{"servelab_version": "0.2.0", "binary_sha256": "abcdef0123456789", "dataset_hash": "h", "seed": 1,
		"workload": map[string]any{"dataset": "random", "num_prompts": 10, "max_concurrency": []int{1, 0}, "request_rates": []any{"inf", 2.5},
			"burstiness": 0.5, "input_len": 64, "output_len": 8, "warmup": "auto", "repeats": 2}}
	r, err := Build("", repeatSource(t, "b", pv, []benchmarks.Result{result("x", 1, math.Inf(1), 1, "h")}, []int{1}))
	if err != nil {
		t.Fatal(err)
	}
	got := provenanceTable(r).Rows[0]
	want := []string{"b", "bench result", "0.2.0", "abcdef012345", "-", "-", "h", "1",
		"random, 10 prompts, concurrency 1/unlimited, rate inf/2.5, burstiness 0.5, input 64 tokens, output 8 tokens, warm-up auto, 2 repeats"}
	if !slices.Equal(got, want) {
		t.Errorf("provenance row\n got %q\nwant %q", got, want)
	}
}

func TestBenchBinaryHash(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		bench map[string]any
		want  string
	}{
		{map[string]any{"binarySha256": "a1"}, "a1"},                                // summary's camelCase mirror
		{map[string]any{"binary_sha256": "b2"}, "b2"},                               // the bench's own names
		{map[string]any{"provenance": map[string]any{"binary_sha256": "c3"}}, "c3"}, // the bench's document top level
		{map[string]any{"provenance": "x", "binarySha256": ""}, ""},                 // nothing usable
		{nil, ""},
	} {
		if got := benchBinaryHash(tt.bench); got != tt.want {
			t.Errorf("benchBinaryHash(%v) = %q, want %q", tt.bench, got, tt.want)
		}
	}
}
