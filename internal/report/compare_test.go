package report

import (
	"bytes"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestStackComparisonIsShown: the comparison the Benchmark component
// exported (rtx5090-next against its baseline stack rtx5090) is a table
// with the component's verdicts and ratios.
func TestStackComparisonIsShown(t *testing.T) {
	t.Parallel()
	src, err := ReadFiles([]string{"testdata/inputs/rtx5090-next.json"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build("", src...)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Comparisons) != 1 {
		t.Fatalf("%d comparisons, want the stack's one", len(r.Comparisons))
	}
	c := r.Comparisons[0]
	sc := src[0].stack.Comparison
	if c.Source != "rtx5090-next" || c.Baseline != "rtx5090" || c.VerdictPct != sc.VerdictPct || len(c.Rows) != 6 {
		t.Fatalf("comparison %+v", c)
	}
	tbl := comparisonTable(1, c)
	if tbl.Heading != "Baseline comparison: rtx5090-next against rtx5090" {
		t.Errorf("heading %q", tbl.Heading)
	}
	for i, row := range c.Rows {
		label := strings.TrimPrefix(row.Series, "rtx5090-next/")
		i0 := slices.IndexFunc(sc.Targets[label], func(lc stackLevelComparison) bool { return lc.MaxConcurrency == row.MaxConcurrency })
		want := sc.Targets[label][i0]
		cells := tbl.Rows[i]
		if row.Against != "rtx5090/"+label || cells[4] != want.Verdict {
			t.Errorf("row %q: want against rtx5090/%s, verdict %s", cells, label, want.Verdict)
		}
		for j, f := range figures() {
			fc, ok := want.Figures[f.Path]
			cell := cells[5+j]
			if !ok {
				if cell != "-" {
					t.Errorf("%s %s: %q for a figure not compared", row.Series, f.Path, cell)
				}
				continue
			}
			if !strings.HasPrefix(cell, num(fc.Ratio)+"×") ||
				(fc.Verdict == Regressed) != strings.HasSuffix(cell, "▼") || (fc.Verdict == Improved) != strings.HasSuffix(cell, "▲") {
				t.Errorf("%s %s: cell %q for %+v", row.Series, f.Path, cell, fc)
			}
		}
	}
}

// TestBaselineSourceMatchesTheComponent: --baseline rtx5090 compares
// rtx5090-next's series label by label, and judges every figure as the
// Benchmark component did when rtx5090-next compared itself with the
// rtx5090 stack.
func TestBaselineSourceMatchesTheComponent(t *testing.T) {
	t.Parallel()
	r := compareReport(t)
	if len(r.Comparisons) != 2 {
		t.Fatalf("%d comparisons, want the stack's and --baseline's", len(r.Comparisons))
	}
	stack, ours := r.Comparisons[0], r.Comparisons[1]
	if !ours.BySource || ours.Source != "" || len(ours.Rows) != len(stack.Rows) {
		t.Fatalf("--baseline rows %d, stack rows %d", len(ours.Rows), len(stack.Rows))
	}
	for i, row := range ours.Rows {
		want := stack.Rows[i]
		if row.Series != want.Series || row.Against != want.Against || row.Level != want.Level || row.Verdict != want.Verdict {
			t.Errorf("row %d: %s vs %s at %s %s, component: %s vs %s %s", i, row.Series, row.Against, row.Level, row.Verdict,
				want.Series, want.Against, want.Verdict)
		}
		if len(row.Figures) != len(want.Figures) {
			t.Errorf("%s %s: %d figures, component %d", row.Series, row.Level, len(row.Figures), len(want.Figures))
		}
		for path, w := range want.Figures {
			got := row.Figures[path]
			// The component rounds ratios to 4 and changes to 2 decimals.
			if got.Verdict != w.Verdict || math.Abs(got.Ratio-w.Ratio) > 1e-4 || math.Abs(got.ChangePct-w.ChangePct) > 0.01 {
				t.Errorf("%s %s %s: %+v, component %+v", row.Series, row.Level, path, got, w)
			}
		}
	}
	if h := comparisonTable(2, ours).Heading; h != "Relative to rtx5090" {
		t.Errorf("heading %q", h)
	}
}

// TestBaselineSeries: --baseline with a series compares every other
// series, from bench files and stack outputs alike, at the levels it has.
func TestBaselineSeries(t *testing.T) {
	t.Parallel()
	r := loadReport(t, "rtx5090.json", "sim.json")
	if err := r.CompareWith("sim/sglang"); err != nil {
		t.Fatal(err)
	}
	c := r.Comparisons[0]
	var got []string
	for _, row := range c.Rows {
		if row.Against != "sim/sglang" {
			t.Errorf("row against %s", row.Against)
		}
		got = append(got, row.Series+" "+row.Conc())
	}
	// rtx5090 has levels 1 and 4, sim/llamacpp 1, 4 and 8; sim/sglang is
	// the baseline itself.
	want := []string{"rtx5090/ollama 1", "rtx5090/ollama 4", "rtx5090/vllm 1", "rtx5090/vllm 4", "rtx5090/vllm-direct 1",
		"rtx5090/vllm-direct 4", "sim/llamacpp 1", "sim/llamacpp 4", "sim/llamacpp 8"}
	if !slices.Equal(got, want) {
		t.Errorf("rows %q, want %q", got, want)
	}
	llama, _ := r.series("sim/llamacpp")
	sglang, _ := r.series("sim/sglang")
	row := c.Rows[8]
	ttft := row.Figures["ttftMs.p50"]
	if ttft.Ratio != llama.Points[2].TTFT.P50/sglang.Points[2].TTFT.P50 || ttft.Verdict != Regressed || row.Verdict != Regressed {
		t.Errorf("llamacpp at 8: %+v", row)
	}
}

func TestBaselineVerdicts(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	base := result("base", 1, inf, 1, "h")
	same := result("same", 1, inf, 1, "h")
	faster := result("faster", 1, inf, 1, "h")
	faster.TTFT = lat(10, 30) // p50 halved: improved; p99 equal
	mixed := result("mixed", 1, inf, 1, "h")
	mixed.OutputThroughput = 56 // +12 %: improved
	mixed.E2EL = lat(40, 63)    // p99 +5 %: not beyond 5 %
	mixed.TPOT = lat(2.2, 3)    // p50 +10 %: regressed
	r, err := Build("", benchSource(t, "s", base, same, faster, mixed))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CompareWith("s/base"); err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]string{}
	for _, row := range r.Comparisons[0].Rows {
		verdicts[row.Series] = row.Verdict
	}
	if want := map[string]string{"s/same": Unchanged, "s/faster": Improved, "s/mixed": Regressed}; !maps.Equal(verdicts, want) {
		t.Errorf("verdicts %v, want %v", verdicts, want)
	}
	m := r.Comparisons[0].Rows[0] // s/faster sorts first
	if m.Series != "s/faster" || m.Figures["ttftMs.p50"].ChangePct != 50 || m.Figures["ttftMs.p99"].Verdict != Unchanged {
		t.Errorf("faster %+v", m)
	}
	mixedRow := r.Comparisons[0].Rows[1]
	if f := mixedRow.Figures; f[figOutputThroughput].Verdict != Improved || f["tpotMs.p50"].Verdict != Regressed ||
		f["e2elMs.p99"].Verdict != Unchanged || math.Abs(f["tpotMs.p50"].ChangePct+10) > 1e-9 {
		t.Errorf("mixed %+v", f)
	}
	if _, ok := mixedRow.Figures[figGoodput]; ok {
		t.Error("goodput compared without SLOs")
	}
}

func TestBaselineErrors(t *testing.T) {
	t.Parallel()
	r := loadReport(t, "sim.json")
	err := r.CompareWith("sim/vllm")
	if err == nil || !strings.Contains(err.Error(), `--baseline "sim/vllm" is neither a series nor an input's name; series: sim/llamacpp, sim/sglang`) {
		t.Errorf("unknown name: %v", err)
	}
	if err := r.CompareWith("sim"); err == nil || !strings.Contains(err.Error(), `--baseline "sim": no other series has a load level in common with it`) {
		t.Errorf("a source compared with itself only: %v", err)
	}
	inf := math.Inf(1)
	r, err = Build("", benchSource(t, "a", result("x", 1, inf, 1, "h"), result("y", 8, inf, 1, "h")))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CompareWith("a/x"); err == nil || !strings.Contains(err.Error(), "no other series has a load level in common") {
		t.Errorf("no common level: %v", err)
	}
	if len(r.Comparisons) != 0 {
		t.Errorf("a failed --baseline added %d comparisons", len(r.Comparisons))
	}
}

// TestOverheadFromPairs: bench files that measure X and X-direct get
// gateway-overhead rows, X minus X-direct at each level both have; a
// stack output's own overhead is not computed twice.
func TestOverheadFromPairs(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	via1, via4 := result("vllm", 1, inf, 1, "h"), result("vllm", 4, inf, 1, "h")
	via1.TTFT, via1.E2EL = lat(22, 35), lat(45, 70)
	direct1 := result("vllm-direct", 1, inf, 1, "h")
	lonely := result("ollama", 1, inf, 1, "h")        // no direct sibling
	orphan := result("sglang-direct", 1, inf, 1, "h") // no gateway sibling
	r, err := Build("", benchSource(t, "lab", via1, via4, direct1, lonely, orphan), mustLoad(t, "rtx5090.json"))
	if err != nil {
		t.Fatal(err)
	}
	var derived, fromStack []Overhead
	for _, o := range r.Overhead {
		if o.Derived {
			derived = append(derived, o)
		} else {
			fromStack = append(fromStack, o)
		}
	}
	want := Overhead{Source: "lab", Framework: "vllm", Level: Level{1, inf}, TTFTP50Ms: 2, TTFTP99Ms: 5, E2ELP50Ms: 5, Derived: true}
	if len(derived) != 1 || derived[0] != want {
		t.Errorf("derived overhead %+v, want %+v", derived, want)
	}
	if len(fromStack) != 2 || fromStack[0].Source != "rtx5090" {
		t.Errorf("stack overhead %+v", fromStack)
	}
	rows := overheadTable(r).Rows
	if !slices.Equal(rows[0], []string{"lab", "vllm", "1", "inf", "2.00", "5.00", "5.00", "vllm − vllm-direct"}) || rows[1][7] != "stack output" {
		t.Errorf("overhead rows %q", rows)
	}
}

func mustLoad(t *testing.T, name string) Source {
	t.Helper()
	src, err := Load(NameOf(name), name, readInput(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// TestMarkdownEscapesHTML: labels and titles from the inputs cannot put
// HTML into the Markdown (GitHub renders raw tags); the only tags are the
// report's own <details> fold.
func TestMarkdownEscapesHTML(t *testing.T) {
	t.Parallel()
	r, err := Build(`<script>alert("t")</script> & more`,
		benchSource(t, "s", result(`<img src=x onerror=alert(1)>`, 1, math.Inf(1), 1, "h")))
	if err != nil {
		t.Fatal(err)
	}
	md := string(render(t, FormatMarkdown, r))
	for _, bad := range []string{"<script", "<img"} {
		if strings.Contains(md, bad) {
			t.Errorf("markdown holds %q:\n%s", bad, md)
		}
	}
	for _, want := range []string{"# &lt;script&gt;alert(\"t\")&lt;/script&gt; &amp; more\n", "| s/&lt;img src=x onerror=alert(1)&gt; | 1 | inf |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	// The HTML escapes them as text too.
	page := render(t, FormatHTML, r)
	if bytes.Contains(page, []byte("<img src=x")) || bytes.Contains(page, []byte("<script>")) {
		t.Error("the HTML page holds a raw tag from the inputs")
	}
}

func TestNoFoldWithoutLanguages(t *testing.T) {
	t.Parallel()
	r, err := Build("", benchSource(t, "s", result("a", 1, math.Inf(1), 1, "h")))
	if err != nil {
		t.Fatal(err)
	}
	if md := string(render(t, FormatMarkdown, r)); strings.Contains(md, "<details>") || strings.Contains(md, "## Per language") {
		t.Errorf("a fold without a per-language breakdown:\n%s", md)
	}
}
