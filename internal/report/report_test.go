package report

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
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
// direct, ollama; concurrency 1 and 4; with provenance), a bench file
// (sim: sglang and llamacpp sims; concurrency 1, 4, 8) and a bench file
// with three repeats per level and its provenance (repeats: vllm through
// a gateway, vllm-direct, ollama), all on the multilingual set.
func mixedReport(t *testing.T) *Report {
	r := loadReport(t, "rtx5090.json", "sim.json", "repeats.json")
	r.Title = "rtx5090 stack vs simulated engines"
	return r
}

// compareReport is a stack output that compared itself with the rtx5090
// stack, next to rtx5090's output, with --baseline rtx5090.
func compareReport(t *testing.T) *Report {
	r := loadReport(t, "rtx5090-next.json", "rtx5090.json")
	r.Title = "rtx5090-next against rtx5090"
	if err := r.CompareWith("rtx5090"); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestGolden(t *testing.T) {
	t.Parallel()
	mixed := mixedReport(t)
	golden(t, "mixed.md", render(t, FormatMarkdown, mixed))
	golden(t, "mixed.html", render(t, FormatHTML, mixed))
	golden(t, "compare.md", render(t, FormatMarkdown, compareReport(t)))
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
		"# rtx5090 stack vs simulated engines\n\n8 series from 3 input files, 3 load levels.\n",
		"\n## Series\n", "\n## Provenance\n", "\n## Results\n", "\n## Gateway overhead\n",
		"\n## Per language\n\nThroughput is over the whole run's duration, so a run's languages add up to it. " +
			"With several runs, figures are medians and counts totals.\n\n<details>\n<summary>Per language: 180 rows</summary>\n\n| series |",
		"\n\n</details>\n",
		"- Latencies in ms; p50/p99 by linear interpolation. TTFT is the time to the first chunk with non-empty content",
		"| rtx5090 | vllm | 1 | inf | ",
		"| repeats | vllm | 4 | inf | ",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	if strings.Contains(md, "**Warning:**") {
		t.Error("warning for comparable inputs")
	}
	bad := string(render(t, FormatMarkdown, loadReport(t, "sim.json", "other-seed.json")))
	if !strings.Contains(bad, "\n> **Warning:** Not comparable: the inputs ran different workloads (dataset hash ") {
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
	if len(page) > 1_000_000 { // one embedded font alone is 0.5 MB per chart
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
	if want := []string{"Series", "Provenance", "Results", "Charts", "Gateway overhead", "Per language"}; !slices.Equal(headings, want) {
		t.Errorf("sections %q, want %q", headings, want)
	}
	// The per-language table and charts are folded.
	details := nodes(doc, "details")
	if len(details) != 1 || len(nodes(details[0], "table")) != 1 || len(nodes(details[0], "figure")) != 3 ||
		text(nodes(details[0], "summary")[0]) != "Per language: "+fmt.Sprint(len(languageTable(r).Rows))+" rows and 3 charts" {
		t.Errorf("want the per-language table and its 3 charts in one <details>, got %d blocks", len(details))
	}
	if !bytes.Contains(page, []byte("figure svg{display:block;width:100%;height:auto}")) {
		t.Error("charts do not take the page width")
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

	// Two throughput lines, four latency charts, latency against
	// throughput, TTFT by language at each of the three levels (every
	// series has languages); each with a caption.
	var ids []string
	for _, f := range nodes(doc, "figure") {
		for _, a := range f.Attr {
			if a.Key == "id" {
				ids = append(ids, a.Val)
			}
		}
		if len(nodes(f, "svg")) != 1 || len(nodes(f, "figcaption")) != 1 {
			t.Errorf("figure %v holds %d svg elements and %d captions", f.Attr, len(nodes(f, "svg")), len(nodes(f, "figcaption")))
		}
	}
	wantIDs := []string{"output-throughput", "request-throughput", "ttft", "tpot", "itl", "e2el", "latency-throughput",
		"ttft-languages-1", "ttft-languages-2", "ttft-languages-3"}
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
	if len(svgs) != 10 {
		t.Fatalf("%d svg elements, want 10", len(svgs))
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
					if !slices.Contains(tok.Attr, xml.Attr{Name: xml.Name{Local: "viewBox"}, Value: "0 0 720 273.6"}) {
						t.Errorf("svg %d attributes %v: want the fixed 720×273.6 pt canvas", i, tok.Attr)
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
		if i < 7 { // every series is in the legend of the level charts
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
