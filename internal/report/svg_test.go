package report

import (
	"encoding/xml"
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks"
)

// svgMark is one drawn element of a chart, in drawing order.
type svgMark struct {
	tag          string // "path" or "text"
	d            string // path data
	fill, stroke string // "#RRGGBB", "" when none
	text         string
	y, size      float64 // a text's baseline (up is positive) and font size
}

// svgDoc is a chart's SVG, decoded with encoding/xml.
type svgDoc struct {
	width, height float64 // the viewBox
	marks         []svgMark
}

func parseSVG(t *testing.T, svg string) svgDoc {
	t.Helper()
	var doc svgDoc
	dec := xml.NewDecoder(strings.NewReader(svg))
	var cur *svgMark
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("svg is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range tok.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch tok.Name.Local {
			case "svg":
				if _, err := fmt.Sscanf(attr["viewBox"], "0 0 %g %g", &doc.width, &doc.height); err != nil {
					t.Fatalf("viewBox %q: %v", attr["viewBox"], err)
				}
			case "path", "text":
				m := svgMark{tag: tok.Name.Local, d: attr["d"]}
				for _, decl := range strings.Split(attr["style"], ";") {
					k, v, _ := strings.Cut(decl, ":")
					switch {
					case k == "fill" && v != "none":
						m.fill = v
					case k == "stroke" && v != "none":
						m.stroke = v
					case k == "font-size":
						m.size, _ = strconv.ParseFloat(strings.TrimSuffix(v, "px"), 64)
					}
				}
				if y, err := strconv.ParseFloat(attr["y"], 64); err == nil {
					m.y = -y // vgsvg flips text back with scale(1, -1)
				}
				doc.marks = append(doc.marks, m)
				cur = &doc.marks[len(doc.marks)-1]
			}
		case xml.CharData:
			if cur != nil && cur.tag == "text" {
				cur.text += string(tok)
			}
		case xml.EndElement:
			cur = nil
		}
	}
	return doc
}

// legendEntry is one legend line: its text and the colours of its
// thumbnail.
type legendEntry struct {
	name    string
	y, size float64
	colours []string
}

// legend reads the legend, which drawSVG draws first: thumbnails, then
// the entry's text, for each series, up to the first text that names no
// series. White (the canvas) is not a series colour.
func legend(doc svgDoc, names []string) []legendEntry {
	var out []legendEntry
	var colours []string
	for _, m := range doc.marks {
		if m.tag == "text" {
			if !slices.Contains(names, m.text) {
				break
			}
			slices.Sort(colours)
			out = append(out, legendEntry{name: m.text, y: m.y, size: m.size, colours: slices.Compact(colours)})
			colours = nil
			continue
		}
		for _, c := range []string{m.fill, m.stroke} {
			if c != "" && c != "#FFFFFF" {
				colours = append(colours, c)
			}
		}
	}
	return out
}

func hex(c color.RGBA) string { return fmt.Sprintf("#%02X%02X%02X", c.R, c.G, c.B) }

// quad matches the floating bars the bars plotter draws.
var quad = regexp.MustCompile(`^M([-0-9.e]+),([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+L[-0-9.e]+,([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+Z$`)

// barsOf returns the [bottom, top] of the bars filled with colour, in
// drawing order (the legend swatch first).
func barsOf(t *testing.T, doc svgDoc, colour string) [][2]float64 {
	t.Helper()
	var out [][2]float64
	for _, m := range doc.marks {
		sub := quad.FindStringSubmatch(m.d)
		if m.tag != "path" || m.fill != colour || sub == nil {
			continue
		}
		y0, err0 := strconv.ParseFloat(sub[2], 64)
		y1, err1 := strconv.ParseFloat(sub[3], 64)
		if err0 != nil || err1 != nil {
			t.Fatalf("path %s", m.d)
		}
		out = append(out, [2]float64{math.Min(y0, y1), math.Max(y0, y1)})
	}
	return out
}

// seriesReport makes a bench report with n series named s01…, at
// concurrency 1, 4 and 16; series i (from 0) has TTFT p50 (20+5i)·(1+level)
// ms, p99 1.5 times that, and the last series is slow times slower.
func seriesReport(t *testing.T, n int, slow float64) *Report {
	t.Helper()
	src := benchSource(t, "lab", func() []benchmarks.Result {
		var out []benchmarks.Result
		for i := range n {
			for j, conc := range []int{1, 4, 16} {
				r := result(fmt.Sprintf("s%02d", i+1), conc, math.Inf(1), 1, "h")
				p50 := (20 + 5*float64(i)) * float64(1+j)
				if i == n-1 {
					p50 *= slow
				}
				r.TTFT, r.TPOT, r.ITL, r.E2EL = lat(p50, 1.5*p50), lat(p50/10, p50/5), lat(p50/10, p50/4), lat(10*p50, 12*p50)
				r.RequestThroughput = 100 / (p50 / 20)
				r.OutputThroughput = 1600 / (p50 / 20)
				out = append(out, r)
			}
		}
		return out
	}()...)
	r, err := Build("ten engines", src)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTenSeriesAreReadable is the screenshot-free check of issue 11: an
// HTML report of 10 series, one 50× slower than the rest, parsed chart by
// chart. Every series is in every legend with its own colour (the same in
// every chart), legend lines do not overlap and stay on the canvas, and
// in the latency charts two fast engines 25 % apart stay visibly apart
// (log axis) although the slow one is in the same chart.
func TestTenSeriesAreReadable(t *testing.T) {
	t.Parallel()
	r := seriesReport(t, 10, 50)
	page := render(t, FormatHTML, r)
	svgs := svgElement.FindAllString(string(page), -1)
	names := seriesNames(r)
	levelCharts := []string{"output-throughput", "request-throughput", "ttft", "tpot", "itl", "e2el", "latency-throughput"}
	if len(svgs) != len(levelCharts) {
		t.Fatalf("%d charts, want %d", len(svgs), len(levelCharts))
	}
	colourOf := map[string]string{} // from the first chart's legend
	for i, svg := range svgs {
		id := levelCharts[i]
		doc := parseSVG(t, svg)
		entries := legend(doc, names)
		var got []string
		for _, e := range entries {
			got = append(got, e.name)
		}
		if !slices.Equal(got, names) {
			t.Fatalf("%s: legend %q, want %q", id, got, names)
		}
		seen := map[string]string{}
		for k, e := range entries {
			for _, c := range e.colours {
				if prev, ok := seen[c]; ok {
					t.Errorf("%s: %s and %s share the colour %s", id, prev, e.name, c)
				}
				seen[c] = e.name
			}
			if i == 0 {
				if len(e.colours) != 1 {
					t.Fatalf("%s: %s's line and marker have colours %q, want one", id, e.name, e.colours)
				}
				colourOf[e.name] = e.colours[0]
			} else if !slices.Contains(e.colours, colourOf[e.name]) {
				t.Errorf("%s: %s drawn in %q, not in its colour %s", id, e.name, e.colours, colourOf[e.name])
			}
			if e.y-e.size < 0 || e.y > doc.height {
				t.Errorf("%s: legend line %s at y=%.1f is off the %.1f pt canvas", id, e.name, e.y, doc.height)
			}
			if k > 0 && entries[k-1].y-e.y < e.size {
				t.Errorf("%s: legend lines %s and %s are %.1f pt apart, less than their %.0f pt font", id, entries[k-1].name, e.name,
					entries[k-1].y-e.y, e.size)
			}
			if !strings.Contains(svg, "stroke:"+colourOf[e.name]) && !strings.Contains(svg, "fill:"+colourOf[e.name]) {
				t.Errorf("%s: no mark in %s's colour", id, e.name)
			}
		}
		if len(seen) < 10 {
			t.Errorf("%s: %d distinct colours for 10 series", id, len(seen))
		}
	}

	// Latency: s01 and s02 differ by 25 % (20 and 25 ms TTFT at concurrency
	// 1); s10 is 50× slower. Their p50s (the bottoms of their bars) must
	// stay at least 4 pt apart (a linear axis would put them 0.7 pt apart).
	for i, id := range []string{"ttft", "tpot", "itl", "e2el"} {
		doc := parseSVG(t, svgs[2+i])
		if !slices.ContainsFunc(doc.marks, func(m svgMark) bool { return strings.HasSuffix(m.text, ", ms (log scale)") }) {
			t.Errorf("%s: the y axis is not logarithmic with an engine 50× slower", id)
		}
		b1, b2 := barsOf(t, doc, hex(tint(seriesColor(0)))), barsOf(t, doc, hex(tint(seriesColor(1))))
		if len(b1) != 4 || len(b2) != 4 { // the swatch, then three levels
			t.Fatalf("%s: %d and %d bars for s01 and s02, want 4", id, len(b1), len(b2))
		}
		if gap := b2[1][0] - b1[1][0]; gap < 4 {
			t.Errorf("%s: s01's and s02's p50 are %.2f pt apart", id, gap)
		}
	}
}

// TestRangeBarsFollowPercentiles checks, on a linear and on a log axis,
// that each latency bar starts at the series' p50 and ends at its p99.
func TestRangeBarsFollowPercentiles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		r    *Report
		log  bool
	}{
		{"close engines", seriesReport(t, 4, 1), false},
		{"one engine 50× slower", seriesReport(t, 4, 50), true},
		{"recorded inputs", loadReport(t, "rtx5090.json", "repeats.json"), true}, // p50 16 ms to p99 156 ms
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			xLabel, ticks := levelAxis(tt.r.Levels)
			c, err := latencyChart("ttft", "TTFT", "ttftMs", xLabel, ticks, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			doc := parseSVG(t, c.SVG)
			scale := func(v float64) float64 {
				if tt.log {
					return math.Log10(v)
				}
				return v
			}
			// Canvas y = a + b·scale(value): fit on the first series' first
			// bar, check every other bar edge.
			first := barsOf(t, doc, hex(tint(seriesColor(0))))[1]
			p0 := tt.r.Series[0].Points[0].TTFT
			b := (first[1] - first[0]) / (scale(p0.P99) - scale(p0.P50))
			a := first[0] - b*scale(p0.P50)
			for i, s := range tt.r.Series {
				bars := barsOf(t, doc, hex(tint(seriesColor(i))))[1:]
				if len(bars) != len(s.Points) {
					t.Fatalf("%s: %d bars for %d points", s.Name, len(bars), len(s.Points))
				}
				for j, p := range s.Points {
					for k, v := range []float64{p.TTFT.P50, p.TTFT.P99} {
						if got := (bars[j][k] - a) / b; math.Abs(got-scale(v)) > 1e-3*math.Max(1, math.Abs(scale(v))) {
							t.Errorf("%s %s: bar edge %d at %.4f, want %.4f", s.Name, p.Level, k, got, scale(v))
						}
					}
				}
			}
			isLog := slices.ContainsFunc(doc.marks, func(m svgMark) bool { return strings.Contains(m.text, "(log scale)") })
			if isLog != tt.log {
				t.Errorf("log axis %v, want %v", isLog, tt.log)
			}
		})
	}
}

// TestSpreadWhiskers: a level measured three times draws a min–max whisker
// in the series' colour on its throughput line, spanning the range of the
// three runs.
func TestSpreadWhiskers(t *testing.T) {
	t.Parallel()
	r := loadReport(t, "repeats.json")
	xLabel, ticks := levelAxis(r.Levels)
	c, err := lineChart("output-throughput", "Output throughput", "tokens/s", xLabel, ticks, r, figOutputThroughput)
	if err != nil {
		t.Fatal(err)
	}
	doc := parseSVG(t, c.SVG)
	for i, s := range r.Series {
		var spans []float64
		for _, m := range doc.marks {
			var x0, y0, x1, y1 float64
			if m.stroke != hex(seriesColor(i)) {
				continue
			}
			if n, _ := fmt.Sscanf(m.d, "M%g,%gL%g,%g", &x0, &y0, &x1, &y1); n == 4 && x0 == x1 && y1 > y0 {
				spans = append(spans, y1-y0) // a vertical whisker (caps are horizontal)
			}
		}
		if len(spans) != len(s.Points) {
			t.Fatalf("%s: %d whiskers for %d levels", s.Name, len(spans), len(s.Points))
		}
		for j, p := range s.Points {
			mm := p.Spread[figOutputThroughput]
			ref := spans[0] / (s.Points[0].Spread[figOutputThroughput].Max - s.Points[0].Spread[figOutputThroughput].Min)
			if got := spans[j] / ref; math.Abs(got-(mm.Max-mm.Min)) > 1e-2*(mm.Max-mm.Min)+1e-3 {
				t.Errorf("%s %s: whisker spans %.3f tok/s, want %.3f", s.Name, p.Level, got, mm.Max-mm.Min)
			}
		}
	}
}

func TestRangeOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		values []float64
		want   axisRange
	}{
		{[]float64{20, 30, 150}, axisRange{Min: 0, Max: 162}},
		{[]float64{20, 1000}, axisRange{Min: 20, Max: 2000, Log: true}},
		{[]float64{0.7, 40, math.NaN()}, axisRange{Min: 0.5, Max: 50, Log: true}},
		{[]float64{3, 100}, axisRange{Min: 2, Max: 200, Log: true}}, // 2 % headroom above
		{[]float64{0, 1000}, axisRange{Min: 0, Max: 1080}},          // zero: no log
		{[]float64{-5, 10}, axisRange{Min: -5.4, Max: 10.8}},        // negative overhead
		{nil, axisRange{Min: 0, Max: 1}},
	} {
		got := rangeOf(tt.values)
		near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9*math.Max(1, math.Abs(b)) }
		if got.Log != tt.want.Log || !near(got.Min, tt.want.Min) || !near(got.Max, tt.want.Max) {
			t.Errorf("rangeOf(%v) = %+v, want %+v", tt.values, got, tt.want)
		}
	}
}

func TestLogTicks(t *testing.T) {
	t.Parallel()
	labels := func(lo, hi float64) []string {
		var out []string
		for _, tk := range (logTicks{}).Ticks(lo, hi) {
			if tk.Label != "" {
				out = append(out, tk.Label)
			}
		}
		return out
	}
	if got, want := labels(10, 1000), []string{"10", "20", "50", "100", "200", "500", "1000"}; !slices.Equal(got, want) {
		t.Errorf("10–1000: %q, want %q", got, want)
	}
	if got, want := labels(0.1, 10000), []string{"0.1", "1", "10", "100", "1000", "10000"}; !slices.Equal(got, want) {
		t.Errorf("0.1–10000: %q, want %q", got, want)
	}
	if n := len((logTicks{}).Ticks(10, 100)); n != 10 {
		t.Errorf("10–100: %d ticks, want 10 (10, 20, …, 100)", n)
	}
}

// TestLegendDrawnFirst keeps the order the SVG checks rely on: the legend
// before the plot.
func TestLegendDrawnFirst(t *testing.T) {
	t.Parallel()
	r := seriesReport(t, 3, 1)
	page := render(t, FormatHTML, r)
	for _, svg := range svgElement.FindAll(page, -1) {
		doc := parseSVG(t, string(svg))
		i := slices.IndexFunc(doc.marks, func(m svgMark) bool { return m.tag == "text" })
		if !slices.Contains(seriesNames(r), doc.marks[i].text) {
			t.Errorf("first text %q is not a legend entry", doc.marks[i].text)
		}
	}
}
