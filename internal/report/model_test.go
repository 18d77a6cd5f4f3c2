package report

import (
	"bytes"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks"
)

// loadReport builds a report from files in testdata/inputs.
func loadReport(t *testing.T, names ...string) *Report {
	t.Helper()
	var files []string
	for _, n := range names {
		files = append(files, filepath.Join("testdata", "inputs", n))
	}
	srcs, err := ReadFiles(files, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build("", srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func lat(p50, p99 float64) benchmarks.Latency {
	return benchmarks.Latency{Mean: p50, Median: p50, Percentiles: []benchmarks.Percentile{{P: 50, Value: p50}, {P: 99, Value: p99}}}
}

// result is a hand-made bench run at concurrency conc (0 = unlimited).
func result(label string, conc int, rate float64, seed int64, hash string) benchmarks.Result {
	r := benchmarks.Result{
		ServelabVersion: "0.1.0", Label: label, Model: "m", Engine: "sim", Seed: seed, Dataset: "random", DatasetSHA256: hash,
		RequestRate: benchmarks.Rate(rate), Burstiness: 1, NumPrompts: 10,
		Metrics: benchmarks.Metrics{
			Completed: 10, Duration: 2, RequestThroughput: 5, OutputThroughput: 50,
			TTFT: lat(20, 30), TPOT: lat(2, 3), ITL: lat(2, 4), E2EL: lat(40, 60),
		},
	}
	if conc > 0 {
		r.MaxConcurrency = &conc
	}
	return r
}

// benchSource encodes results as `servelab bench` writes them and loads
// them as the file name.json.
func benchSource(t *testing.T, name string, results ...benchmarks.Result) Source {
	t.Helper()
	var buf bytes.Buffer
	if err := benchmarks.Write(&buf, benchmarks.FormatJSON, results, true); err != nil {
		t.Fatal(err)
	}
	src, err := Load(name, name+".json", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestBuildMixedInputs(t *testing.T) {
	t.Parallel()
	r := loadReport(t, "sim.json", "rtx5090.json")
	if want := []string{"rtx5090/ollama", "rtx5090/vllm", "rtx5090/vllm-direct", "sim/llamacpp", "sim/sglang"}; !slices.Equal(seriesNames(r), want) {
		t.Errorf("series %v, want %v", seriesNames(r), want)
	}
	inf := math.Inf(1)
	if want := []Level{{1, inf}, {4, inf}, {8, inf}}; !slices.Equal(r.Levels, want) {
		t.Errorf("levels %v, want %v", r.Levels, want)
	}
	if len(r.Warnings) != 0 {
		t.Errorf("warnings %q for inputs of one workload", r.Warnings)
	}
	if !slices.Contains(r.Notes, "Stack outputs (rtx5090) keep three decimals and record no engine or model.") {
		t.Errorf("notes %q lack the stack-output note", r.Notes)
	}

	// Bench values pass through unrounded, from the same run.
	runs, err := benchmarks.Decode(bytes.NewReader(readInput(t, "sim.json")))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(runs, func(x benchmarks.Result) bool { return x.Label == "sglang" && *x.MaxConcurrency == 4 })
	want := runs[i]
	got := r.Series[4].Points[1]
	wantP99, _ := want.TTFT.At(99)
	if got.Level != (Level{4, inf}) || got.OutputThroughput != want.OutputThroughput || got.TTFT.P99 != wantP99 ||
		got.E2EL.P50 != want.E2EL.Median || got.Completed != want.Completed || *got.Goodput != *want.RequestGoodput {
		t.Errorf("sim/sglang at 4: %+v, want the values of %+v", got, want)
	}
	if len(got.Languages) != len(want.PerLanguage) || got.Languages[0].Language != "ar" ||
		got.Languages[0].TTFT.P50 != want.PerLanguage["ar"].TTFT.Median {
		t.Errorf("languages %+v", got.Languages)
	}
	if s := r.Series[4]; s.Engine != "sglang" || s.Model != "qwen" || s.Provenance.Seed != "42" || s.Provenance.Goodput != "ttft:100" {
		t.Errorf("sim/sglang provenance %+v", s)
	}

	// Stack outputs: the component's rounded numbers; gateway overhead kept.
	vllm := r.Series[1]
	if vllm.Kind != KindStack || len(vllm.Points) != 2 || vllm.Points[0].TTFT.P50 != 20.702 {
		t.Errorf("rtx5090/vllm %+v", vllm)
	}
	if len(r.Overhead) != 2 || r.Overhead[0].Source != "rtx5090" || r.Overhead[0].Framework != "vllm" ||
		r.Overhead[0].Level != (Level{1, inf}) || r.Overhead[1].Level != (Level{4, inf}) {
		t.Fatalf("overhead %+v", r.Overhead)
	}
	// Overhead is gateway minus direct, as the component computed it.
	direct := r.Series[2].Points[0]
	if d := r.Overhead[0].TTFTP50Ms - (vllm.Points[0].TTFT.P50 - direct.TTFT.P50); math.Abs(d) > 0.0015 {
		t.Errorf("overhead ttft p50 %v, gateway %v − direct %v", r.Overhead[0].TTFTP50Ms, vllm.Points[0].TTFT.P50, direct.TTFT.P50)
	}
}

func TestIncomparableInputsWarn(t *testing.T) {
	t.Parallel()
	r := loadReport(t, "sim.json", "other-seed.json")
	if len(r.Warnings) != 1 {
		t.Fatalf("warnings %q, want one", r.Warnings)
	}
	w := r.Warnings[0]
	for _, want := range []string{
		"Not comparable",
		"seed 7 (other-seed/sglang) vs 42 (sim/llamacpp, sim/sglang)",
		"vs 0240ab5e7abe (sim/llamacpp, sim/sglang)",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warning %q lacks %q", w, want)
		}
	}
	if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "seed differs (see Series)") }) {
		t.Errorf("notes %q: the provenance line should say the seed differs", r.Notes)
	}

	t.Run("same hash, other seed", func(t *testing.T) {
		t.Parallel()
		r, err := Build("", benchSource(t, "a", result("x", 1, math.Inf(1), 1, "abc")), benchSource(t, "b", result("x", 1, math.Inf(1), 2, "abc")))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "(seed 1 (a/x) vs 2 (b/x))") {
			t.Errorf("warnings %q", r.Warnings)
		}
	})
	t.Run("one workload in two files", func(t *testing.T) {
		t.Parallel()
		r, err := Build("", benchSource(t, "a", result("x", 1, math.Inf(1), 1, "abc")), benchSource(t, "b", result("y", 4, math.Inf(1), 1, "abc")))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 0 {
			t.Errorf("warnings %q", r.Warnings)
		}
	})
	t.Run("seeds differ inside one series", func(t *testing.T) {
		t.Parallel()
		r, err := Build("", benchSource(t, "a", result("x", 1, math.Inf(1), 1, "abc"), result("x", 4, math.Inf(1), 2, "abc")))
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], "seed 1 (a/x) vs 2 (a/x)") {
			t.Errorf("warnings %q", r.Warnings)
		}
	})
}

func TestLevelsSort(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	src := benchSource(t, "s",
		result("a", 0, inf, 1, "h"), result("a", 8, inf, 1, "h"), result("a", 8, 2, 1, "h"), result("a", 1, inf, 1, "h"),
		result("b", 0, 2, 1, "h"))
	r, err := Build("", src)
	if err != nil {
		t.Fatal(err)
	}
	want := []Level{{1, inf}, {8, 2}, {8, inf}, {0, 2}, {0, inf}}
	if !slices.Equal(r.Levels, want) {
		t.Errorf("levels %v, want %v", r.Levels, want)
	}
	var got []Level
	for _, p := range r.Series[0].Points {
		got = append(got, p.Level)
	}
	if want := []Level{{1, inf}, {8, 2}, {8, inf}, {0, inf}}; !slices.Equal(got, want) {
		t.Errorf("series a levels %v, want %v", got, want)
	}
	if l := (Level{0, inf}); l.Conc() != "unlimited" || l.Rate() != "inf" || (Level{4, 2.5}).String() != "concurrency 4, rate 2.5" {
		t.Errorf("level formatting: %q %q %q", l.Conc(), l.Rate(), Level{4, 2.5})
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	_, err := Build("", benchSource(t, "dup", result("a", 4, inf, 1, "h"), result("a", 4, inf, 1, "h")))
	if err == nil || !strings.Contains(err.Error(), `dup.json: series "dup/a" has two runs at concurrency 4, rate inf`) {
		t.Errorf("duplicate level: %v", err)
	}
	_, err = Build("", benchSource(t, "x", result("y/z", 1, inf, 1, "h")), benchSource(t, "x/y", result("z", 1, inf, 1, "h")))
	if err == nil || !strings.Contains(err.Error(), `x/y.json: series "x/y/z" is also in x.json`) {
		t.Errorf("colliding series: %v", err)
	}
	if _, err := Build(""); err == nil {
		t.Error("no error without sources")
	}
}

func TestMissingValuesAndPartialRuns(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	noP99 := result("a", 1, inf, 1, "h")
	noP99.TTFT.Percentiles = noP99.TTFT.Percentiles[:1] // --percentiles 50
	partial := result("a", 4, inf, 1, "h")
	partial.Partial = true
	g := 3.5
	withSLO := result("b", 1, inf, 1, "h")
	withSLO.RequestGoodput = &g
	withSLO.Config.Goodput = map[string]float64{"ttft": 100, "tpot": 20}
	r, err := Build("", benchSource(t, "s", noP99, partial, withSLO))
	if err != nil {
		t.Fatal(err)
	}
	if p := r.Series[0].Points[0]; !math.IsNaN(p.TTFT.P99) || p.TTFT.P50 != 20 {
		t.Errorf("ttft %+v, want p50 20 and p99 NaN", p.TTFT)
	}
	rows := resultsTable(r).Rows
	if rows[0][0] != "s/a" || rows[0][9] != "20.00" || rows[0][10] != "n/a" || rows[0][7] != "-" {
		t.Errorf("row without p99 or goodput: %q", rows[0])
	}
	if rows[1][0] != "s/a (partial)" {
		t.Errorf("partial row %q", rows[1])
	}
	if rows[2][7] != "3.50" {
		t.Errorf("goodput cell %q, want 3.50", rows[2][7])
	}
	for _, want := range []string{"(partial) marks an interrupted run", "Goodput SLOs differ, so goodput columns do not compare: none (s/a) vs tpot:20,ttft:100 (s/b)"} {
		if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, want) }) {
			t.Errorf("notes %q lack %q", r.Notes, want)
		}
	}
}

func TestVersionsDifferNote(t *testing.T) {
	t.Parallel()
	a, b := result("x", 1, math.Inf(1), 1, "h"), result("x", 1, math.Inf(1), 1, "h")
	b.ServelabVersion = "0.2.0"
	r, err := Build("", benchSource(t, "a", a), benchSource(t, "b", b))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Warnings) != 0 || !slices.Contains(r.Notes, "servelab versions differ: 0.1.0 (a/x) vs 0.2.0 (b/x).") {
		t.Errorf("warnings %q notes %q", r.Warnings, r.Notes)
	}
}
