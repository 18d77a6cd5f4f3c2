package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ from the current output")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update)", err)
	}
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		line := func(ls []string) string {
			if i < len(ls) {
				return ls[i]
			}
			return "<end of file>"
		}
		t.Errorf("%s differs at line %d (review, then go test ./internal/report -update):\n got: %.300s\nwant: %.300s", path, i+1, line(gl), line(wl))
	}
}

func render(t *testing.T, f Format, r *Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, f, r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// mixedReport is a stack output (rtx5090: vllm via the gateway, vllm
// direct, ollama; concurrency 1 and 4) with a bench file (sim: sglang and
// llamacpp sims; concurrency 1, 4, 8), all on the multilingual set.
func mixedReport(t *testing.T) *Report {
	r := loadReport(t, "rtx5090.json", "sim.json")
	r.Title = "rtx5090 stack vs simulated engines"
	return r
}

func TestGolden(t *testing.T) {
	t.Parallel()
	mixed := mixedReport(t)
	golden(t, "mixed.md", render(t, FormatMarkdown, mixed))
	golden(t, "mixed.html", render(t, FormatHTML, mixed))
	golden(t, "incomparable.md", render(t, FormatMarkdown, loadReport(t, "sim.json", "other-seed.json")))
}

func TestRenderIsDeterministic(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{FormatMarkdown, FormatHTML} {
		a, b := render(t, f, mixedReport(t)), render(t, f, mixedReport(t))
		if !bytes.Equal(a, b) {
			t.Errorf("%s: two renders of the same inputs differ", f)
		}
	}
}

func TestMarkdownSections(t *testing.T) {
	t.Parallel()
	md := string(render(t, FormatMarkdown, mixedReport(t)))
	for _, want := range []string{
		"# rtx5090 stack vs simulated engines\n\n5 series from 2 input files, 3 load levels.\n",
		"\n## Series\n", "\n## Results\n", "\n## Per language\n", "\n## Gateway overhead\n",
		"- Latencies in ms; p50/p99 by linear interpolation. TTFT is the time to the first chunk with non-empty content",
		"| rtx5090 | vllm | 1 | inf | ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "**Warning:**") {
		t.Error("warning for comparable inputs")
	}
	bad := string(render(t, FormatMarkdown, loadReport(t, "sim.json", "other-seed.json")))
	if !strings.Contains(bad, "\n> **Warning:** Not comparable: the bench results ran different workloads (dataset_sha256 ") {
		t.Errorf("no warning line in the incomparable report:\n%.600s", bad)
	}
	if strings.Contains(bad, "## Gateway overhead") {
		t.Error("gateway overhead table without overhead data")
	}
}

// TestMarkdownCellsEscaped keeps a label with a pipe inside its cell.
func TestMarkdownCellsEscaped(t *testing.T) {
	t.Parallel()
	r, err := Build("a | b\ntitle", benchSource(t, "s", result("x|y", 1, math.Inf(1), 1, "h")))
	if err != nil {
		t.Fatal(err)
	}
	md := string(render(t, FormatMarkdown, r))
	if !strings.HasPrefix(md, "# a | b title\n") || !strings.Contains(md, "| s/x\\|y | 1 | inf |") {
		t.Errorf("markdown:\n%s", md)
	}
}

// nodes returns every element named tag under n, in document order.
func nodes(n *html.Node, tag string) []*html.Node {
	var out []*html.Node
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.Data == tag {
			out = append(out, d)
		}
	}
	return out
}

func text(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

func TestHTMLIsSelfContainedAndMatchesTheTables(t *testing.T) {
	t.Parallel()
	r := mixedReport(t)
	page := render(t, FormatHTML, r)
	if len(page) > 250_000 {
		t.Errorf("page is %d bytes: fonts embedded?", len(page))
	}
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for d := range doc.Descendants() {
		if d.Type != html.ElementNode {
			continue
		}
		switch d.Data {
		case "script", "link", "img", "iframe", "object", "embed", "image":
			t.Errorf("<%s> element: the page must not load or run anything", d.Data)
		}
		for _, a := range d.Attr {
			external := strings.Contains(a.Val, "://") && a.Key != "xmlns" && !(a.Namespace == "xmlns" || a.Key == "xmlns:xlink")
			if a.Key == "src" || a.Key == "href" || strings.HasPrefix(a.Key, "on") || external {
				t.Errorf("<%s %s=%q>: external reference or script", d.Data, a.Key, a.Val)
			}
		}
	}
	if bytes.Contains(page, []byte("url(")) || bytes.Contains(page, []byte("@import")) {
		t.Error("CSS loads something")
	}
	if got := text(nodes(doc, "title")[0]); got != r.Title {
		t.Errorf("title %q", got)
	}
	var headings []string
	for _, h := range nodes(doc, "h2") {
		headings = append(headings, text(h))
	}
	if want := []string{"Series", "Results", "Charts", "Per language", "Gateway overhead"}; !slices.Equal(headings, want) {
		t.Errorf("sections %q, want %q", headings, want)
	}

	// The HTML tables hold exactly the cells of the Markdown tables.
	want := tables(r)
	got := nodes(doc, "table")
	if len(got) != len(want) {
		t.Fatalf("%d tables, want %d", len(got), len(want))
	}
	for i, tbl := range got {
		var head []string
		for _, th := range nodes(tbl, "th") {
			head = append(head, text(th))
		}
		var cols []string
		for _, c := range want[i].Columns {
			cols = append(cols, c.Name)
		}
		if !slices.Equal(head, cols) {
			t.Errorf("table %s: header %q, want %q", want[i].ID, head, cols)
		}
		rows := nodes(tbl, "tr")[1:]
		if len(rows) != len(want[i].Rows) {
			t.Fatalf("table %s: %d rows, want %d", want[i].ID, len(rows), len(want[i].Rows))
		}
		for j, tr := range rows {
			var cells []string
			for _, td := range nodes(tr, "td") {
				cells = append(cells, text(td))
			}
			if !slices.Equal(cells, want[i].Rows[j]) {
				t.Errorf("table %s row %d: %q, want %q", want[i].ID, j, cells, want[i].Rows[j])
			}
		}
	}

	// Two throughput lines, TTFT and TPOT bars, TTFT by language at each of
	// the three levels (every series has languages).
	var ids []string
	for _, f := range nodes(doc, "figure") {
		for _, a := range f.Attr {
			if a.Key == "id" {
				ids = append(ids, a.Val)
			}
		}
		if len(nodes(f, "svg")) != 1 {
			t.Errorf("figure %v holds %d svg elements", f.Attr, len(nodes(f, "svg")))
		}
	}
	wantIDs := []string{"output-throughput", "request-throughput", "ttft", "tpot", "ttft-languages-1", "ttft-languages-2", "ttft-languages-3"}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("figures %q, want %q", ids, wantIDs)
	}
}

var svgElement = regexp.MustCompile(`(?s)<svg.*?</svg>`)

// TestSVGIsWellFormedXML decodes every inline SVG with encoding/xml and
// checks the canvas size, the legend and that fonts are named, not
// embedded.
func TestSVGIsWellFormedXML(t *testing.T) {
	t.Parallel()
	r := mixedReport(t)
	svgs := svgElement.FindAll(render(t, FormatHTML, r), -1)
	if len(svgs) != 7 {
		t.Fatalf("%d svg elements, want 7", len(svgs))
	}
	for i, svg := range svgs {
		dec := xml.NewDecoder(bytes.NewReader(svg))
		var texts []string
		var inText bool
		for {
			tok, err := dec.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("svg %d is not well-formed XML: %v", i, err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				if tok.Name.Local == "svg" {
					if !slices.Contains(tok.Attr, xml.Attr{Name: xml.Name{Local: "viewBox"}, Value: "0 0 540 244.8"}) {
						t.Errorf("svg %d attributes %v: want the fixed 540×244.8 pt canvas", i, tok.Attr)
					}
				}
				inText = tok.Name.Local == "text"
			case xml.CharData:
				if inText {
					texts = append(texts, string(tok))
				}
			case xml.EndElement:
				inText = false
			}
		}
		if i < 4 { // every series is in the legend of the level charts
			for _, s := range r.Series {
				if !slices.Contains(texts, s.Name) {
					t.Errorf("svg %d: no legend text %q in %q", i, s.Name, texts)
				}
			}
		}
		if bytes.Contains(svg, []byte("@font-face")) || !bytes.Contains(svg, []byte("font-family:Liberation Sans")) {
			t.Errorf("svg %d: want Liberation Sans named and not embedded", i)
		}
	}
}

// rectPath matches the filled bars the rects plotter draws.
var rectPath = regexp.MustCompile(`<path d="M([-0-9.e]+),([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+L[-0-9.e]+,([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+Z" style="fill:(#[0-9A-F]{6})" />`)

// barHeights returns the heights of the bars filled with colour, in order.
func barHeights(t *testing.T, svg, colour string) []float64 {
	t.Helper()
	var out []float64
	for _, m := range rectPath.FindAllStringSubmatch(svg, -1) {
		if m[4] != colour {
			continue
		}
		y0, err0 := strconv.ParseFloat(m[2], 64)
		y1, err1 := strconv.ParseFloat(m[3], 64)
		if err0 != nil || err1 != nil {
			t.Fatalf("path %s", m[0])
		}
		out = append(out, math.Abs(y1-y0))
	}
	return out
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }

// TestBarHeightsFollowPercentiles checks the TTFT chart draws each series'
// p50 (solid) and p99 (tint) bars at heights proportional to the values.
func TestBarHeightsFollowPercentiles(t *testing.T) {
	t.Parallel()
	r := mixedReport(t)
	xLabel, ticks := levelAxis(r.Levels)
	c, err := latencyChart("ttft", "TTFT", xLabel, ticks, r, func(p Point) Percentiles { return p.TTFT })
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range r.Series {
		inner := barHeights(t, c.SVG, hex(seriesColor(i)))
		outer := barHeights(t, c.SVG, hex(tint(seriesColor(i))))
		// One bar per point, then the legend swatch.
		if len(inner) != len(s.Points)+1 || len(outer) != len(s.Points)+1 {
			t.Fatalf("%s: %d solid and %d tint fills, want %d each", s.Name, len(inner), len(outer), len(s.Points)+1)
		}
		for j, p := range s.Points {
			// Heights share one scale: compare ratios with the first series'
			// first p50 (vgsvg writes 5 significant digits).
			ref := barHeights(t, c.SVG, hex(seriesColor(0)))[0] / r.Series[0].Points[0].TTFT.P50
			if got, want := inner[j]/ref, p.TTFT.P50; math.Abs(got-want) > 1e-3*want {
				t.Errorf("%s %s: p50 bar %.4f ms, want %.4f", s.Name, p.Level, got, want)
			}
			if got, want := outer[j]/ref, p.TTFT.P99; math.Abs(got-want) > 1e-3*want {
				t.Errorf("%s %s: p99 bar %.4f ms, want %.4f", s.Name, p.Level, got, want)
			}
		}
	}
}

func TestBarsWithoutP99(t *testing.T) {
	t.Parallel()
	a := result("a", 1, math.Inf(1), 1, "h")
	a.TTFT.Percentiles = a.TTFT.Percentiles[:1]
	r, err := Build("", benchSource(t, "s", a))
	if err != nil {
		t.Fatal(err)
	}
	xLabel, ticks := levelAxis(r.Levels)
	c, err := latencyChart("ttft", "TTFT", xLabel, ticks, r, func(p Point) Percentiles { return p.TTFT })
	if err != nil {
		t.Fatal(err)
	}
	if n := len(barHeights(t, c.SVG, hex(tint(seriesColor(0))))); n != 1 {
		t.Errorf("%d tint fills, want only the legend swatch (no p99 measured)", n)
	}
	if n := len(barHeights(t, c.SVG, hex(seriesColor(0)))); n != 2 {
		t.Errorf("%d solid fills, want the p50 bar and the legend swatch", n)
	}
}

func TestLevelAxis(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	for _, tt := range []struct {
		levels []Level
		label  string
		ticks  []string
	}{
		{[]Level{{1, inf}, {8, inf}, {0, inf}}, "max concurrency (request rate inf)", []string{"1", "8", "unlimited"}},
		{[]Level{{4, 1}, {4, 2.5}, {4, inf}}, "request rate, req/s (max concurrency 4)", []string{"1", "2.5", "inf"}},
		{[]Level{{1, 2}, {8, inf}}, "max concurrency / request rate", []string{"1/2", "8/inf"}},
	} {
		label, ticks := levelAxis(tt.levels)
		if label != tt.label || !slices.Equal(ticks, tt.ticks) {
			t.Errorf("levelAxis(%v) = %q %q, want %q %q", tt.levels, label, ticks, tt.label, tt.ticks)
		}
	}
}

func TestHTMLWarning(t *testing.T) {
	t.Parallel()
	doc, err := html.Parse(bytes.NewReader(render(t, FormatHTML, loadReport(t, "sim.json", "other-seed.json"))))
	if err != nil {
		t.Fatal(err)
	}
	var warnings []string
	for _, p := range nodes(doc, "p") {
		if slices.Contains(p.Attr, html.Attribute{Key: "class", Val: "warning"}) {
			warnings = append(warnings, text(p))
		}
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "Warning: Not comparable") {
		t.Errorf("warnings %q", warnings)
	}
}
