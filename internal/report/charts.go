package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart canvas size: fixed, so the SVG is the same for the same inputs.
// The page scales it to its width.
const (
	chartWidth  = 10 * vg.Inch
	chartHeight = 3.8 * vg.Inch
	// legendMax caps the legend column's share of the width.
	legendMax = 0.3 * chartWidth
)

// chart is one SVG figure of the HTML page.
type chart struct {
	ID    string
	Title string
	// Caption says how to read it, in a sentence.
	Caption string
	// SVG is an <svg> element (no XML prolog), ready to inline in HTML.
	SVG string
}

// languageChartPrefix starts the IDs of the per-language charts.
const languageChartPrefix = "ttft-languages-"

// charts draws the report's figures: output and request throughput per
// level (one line per series), TTFT, TPOT, ITL and E2EL p50/p99 per
// series at each level, end-to-end latency against output throughput,
// and per-language TTFT at each level that has languages. A series keeps
// its colour and marker in every chart.
func charts(r *Report) ([]chart, error) {
	if len(r.Series) == 0 || len(r.Levels) == 0 {
		return nil, nil
	}
	xLabel, ticks := levelAxis(r.Levels)
	draws := []func() (chart, error){
		func() (chart, error) {
			return lineChart("output-throughput", "Output throughput", "tokens/s", xLabel, ticks, r, figOutputThroughput)
		},
		func() (chart, error) {
			return lineChart("request-throughput", "Request throughput", "requests/s", xLabel, ticks, r, figRequestThroughput)
		},
		func() (chart, error) { return latencyChart("ttft", "TTFT", "ttftMs", xLabel, ticks, r) },
		func() (chart, error) { return latencyChart("tpot", "TPOT", "tpotMs", xLabel, ticks, r) },
		func() (chart, error) { return latencyChart("itl", "ITL", "itlMs", xLabel, ticks, r) },
		func() (chart, error) { return latencyChart("e2el", "E2EL", "e2elMs", xLabel, ticks, r) },
		func() (chart, error) { return latencyThroughputChart(r) },
	}
	var out []chart
	for _, d := range draws {
		c, err := d()
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.ID, err)
		}
		out = append(out, c)
	}
	for i, l := range r.Levels {
		c, ok, err := languageChart(fmt.Sprintf("%s%d", languageChartPrefix, i+1), l, r)
		if err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.ID, err)
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// levelAxis names the x axis and its ticks: the concurrency when every
// level has the same rate, the rate when every level has the same
// concurrency, else "concurrency/rate".
func levelAxis(levels []Level) (string, []string) {
	sameRate, sameConc := true, true
	for _, l := range levels[1:] {
		sameRate = sameRate && l.RequestRate == levels[0].RequestRate
		sameConc = sameConc && l.MaxConcurrency == levels[0].MaxConcurrency
	}
	ticks := make([]string, len(levels))
	for i, l := range levels {
		switch {
		case sameRate:
			ticks[i] = l.Conc()
		case sameConc:
			ticks[i] = l.Rate()
		default:
			ticks[i] = l.Conc() + "/" + l.Rate()
		}
	}
	switch {
	case sameRate:
		return "max concurrency (request rate " + levels[0].Rate() + ")", ticks
	case sameConc:
		return "request rate, req/s (max concurrency " + levels[0].Conc() + ")", ticks
	}
	return "max concurrency / request rate", ticks
}

func levelIndex(levels []Level, l Level) int {
	return slices.Index(levels, l)
}

// lineChart draws one figure per level, a line per series, with min–max
// whiskers where a level ran several times.
func lineChart(id, title, yLabel, xLabel string, ticks []string, r *Report, path string) (chart, error) {
	c := chart{ID: id, Title: title, Caption: "One line per series across the load levels" + whiskerNote(r, "; the markers are medians and ")}
	f, ok := figureByPath(path)
	if !ok {
		return c, fmt.Errorf("no figure %q", path)
	}
	p, leg := newPlot(title, xLabel)
	var values []float64
	for i, s := range r.Series {
		var xys plotter.XYs
		w := whiskers{colour: seriesColor(i)}
		for _, pt := range s.Points {
			v, ok := f.get(&pt)
			if !ok || math.IsInf(v, 0) {
				continue
			}
			x := float64(levelIndex(r.Levels, pt.Level)) + dodge(i, len(r.Series))
			xys = append(xys, plotter.XY{X: x, Y: v})
			values = append(values, v)
			if mm, ok := pt.Spread[path]; ok {
				w.segs = append(w.segs, seg{at: x, lo: mm.Min, hi: mm.Max})
				values = append(values, mm.Min, mm.Max)
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return c, fmt.Errorf("series %s: %w", s.Name, err)
		}
		line.Color, line.Width, line.Dashes = seriesColor(i), vg.Points(1.5), seriesDashes(i)
		points.GlyphStyle = markerStyle(i)
		p.Add(line, w, points)
		leg.Add(s.Name, line, points)
	}
	ax := rangeOf(values)
	p.Y.Label.Text = yLabel + ax.suffix()
	levelTicks(p, ticks)
	ax.apply(&p.Y)
	svg, err := drawSVG(p, leg)
	c.SVG = svg
	return c, err
}

// rangeSeries is one series of a latency chart: a p50 and a p99 per group
// it has, with their spread over repeats.
type rangeSeries struct {
	name   string
	colour int // the series' index in the report: its colour and marker
	values []rangeValue
}

type rangeValue struct {
	group    int
	p        Percentiles
	s50, s99 *MinMax
}

// latencyChart draws a latency's p50 and p99 per series at each level.
func latencyChart(id, metric, key, xLabel string, ticks []string, r *Report) (chart, error) {
	title := metric + ": p50 (marker) and p99 (top of the bar)"
	var series []rangeSeries
	for i, s := range r.Series {
		rs := rangeSeries{name: s.Name, colour: i}
		for _, pt := range s.Points {
			v := rangeValue{group: levelIndex(r.Levels, pt.Level)}
			switch key {
			case "ttftMs":
				v.p = pt.TTFT
			case "tpotMs":
				v.p = pt.TPOT
			case "itlMs":
				v.p = pt.ITL
			case "e2elMs":
				v.p = pt.E2EL
			}
			if mm, ok := pt.Spread[key+".p50"]; ok {
				v.s50 = &mm
			}
			if mm, ok := pt.Spread[key+".p99"]; ok {
				v.s99 = &mm
			}
			rs.values = append(rs.values, v)
		}
		series = append(series, rs)
	}
	svg, err := rangeChart(title, xLabel, metric+", ms", ticks, series)
	return chart{ID: id, Title: title, SVG: svg, Caption: "Each series has one slot per load level: the marker is p50, " +
		"the light bar reaches up to p99" + whiskerNote(r, "; ")}, err
}

// languageChart draws per-language TTFT p50/p99 at one level; ok is false
// when no series has languages there.
func languageChart(id string, l Level, r *Report) (chart, bool, error) {
	title := "TTFT by language at " + l.String() + ": p50 (marker) and p99 (top of the bar)"
	c := chart{ID: id, Title: title, Caption: "One group per language, one slot per series."}
	var langs []string
	for _, s := range r.Series {
		if pt, ok := s.at(l); ok {
			for _, lang := range pt.Languages {
				if !slices.Contains(langs, lang.Language) {
					langs = append(langs, lang.Language)
				}
			}
		}
	}
	if len(langs) == 0 {
		return c, false, nil
	}
	slices.Sort(langs)
	var series []rangeSeries
	for i, s := range r.Series {
		pt, ok := s.at(l)
		if !ok || len(pt.Languages) == 0 {
			continue
		}
		rs := rangeSeries{name: s.Name, colour: i}
		for _, lang := range pt.Languages {
			rs.values = append(rs.values, rangeValue{group: slices.Index(langs, lang.Language), p: lang.TTFT})
		}
		series = append(series, rs)
	}
	svg, err := rangeChart(title, "language", "TTFT, ms", langs, series)
	c.SVG = svg
	return c, true, err
}

// rangeChart draws, in each group, one slot per series: the series' marker
// at p50 and a light bar from p50 up to p99, with whiskers for the spread
// of each. A p99 that was not measured draws no bar.
func rangeChart(title, xLabel, yLabel string, groups []string, series []rangeSeries) (string, error) {
	p, leg := newPlot(title, xLabel)
	slot := 0.8 / float64(max(len(series), 1))
	var values []float64
	var under, over []plot.Plotter
	for j, s := range series {
		colour := seriesColor(s.colour)
		rng := bars{colour: tint(colour)}
		w50, w99 := whiskers{colour: shade(colour)}, whiskers{colour: colour}
		var marks plotter.XYs
		for _, v := range s.values {
			x := float64(v.group) - 0.4 + slot*(float64(j)+0.5)
			ok50, ok99 := finite(v.p.P50), finite(v.p.P99)
			if ok50 && ok99 && v.p.P99 >= v.p.P50 {
				rng.boxes = append(rng.boxes, box{x0: x - 0.3*slot, x1: x + 0.3*slot, lo: v.p.P50, hi: v.p.P99})
			}
			if ok50 {
				marks = append(marks, plotter.XY{X: x, Y: v.p.P50})
				values = append(values, v.p.P50)
			}
			if ok99 {
				values = append(values, v.p.P99)
			}
			if v.s50 != nil {
				w50.segs = append(w50.segs, seg{at: x, lo: v.s50.Min, hi: v.s50.Max})
				values = append(values, v.s50.Min, v.s50.Max)
			}
			if v.s99 != nil {
				w99.segs = append(w99.segs, seg{at: x, lo: v.s99.Min, hi: v.s99.Max})
				values = append(values, v.s99.Min, v.s99.Max)
			}
		}
		marker := markerStyle(s.colour)
		under = append(under, rng, w99)
		if len(marks) > 0 {
			sc, err := plotter.NewScatter(marks)
			if err != nil {
				return "", fmt.Errorf("series %s: %w", s.name, err)
			}
			sc.GlyphStyle = marker
			over = append(over, sc)
		}
		over = append(over, w50)
		leg.Add(s.name, rangeSwatch{bar: tint(colour), marker: marker})
	}
	p.Add(under...)
	p.Add(over...)
	ax := rangeOf(values)
	p.Y.Label.Text = yLabel + ax.suffix()
	levelTicks(p, groups)
	ax.apply(&p.Y)
	return drawSVG(p, leg)
}

// latencyThroughputChart draws each series' median end-to-end latency
// against its output throughput, one point per load level joined in level
// order: further right is more throughput, further down less latency.
func latencyThroughputChart(r *Report) (chart, error) {
	const title = "E2EL p50 against output throughput"
	c := chart{ID: "latency-throughput", Title: title, Caption: "One line per series through its load levels, in level " +
		"order: down and to the right is better" + whiskerNote(r, "; ")}
	tput, _ := figureByPath(figOutputThroughput)
	lat, _ := figureByPath("e2elMs.p50")
	p, leg := newPlot(title, "")
	var xs, ys []float64
	for i, s := range r.Series {
		var xys plotter.XYs
		wx := whiskers{colour: seriesColor(i), horizontal: true}
		wy := whiskers{colour: seriesColor(i)}
		for _, pt := range s.Points {
			x, okX := tput.get(&pt)
			y, okY := lat.get(&pt)
			if !okX || !okY || !finite(x) || !finite(y) {
				continue
			}
			xys = append(xys, plotter.XY{X: x, Y: y})
			xs, ys = append(xs, x), append(ys, y)
			if mm, ok := pt.Spread[tput.Path]; ok {
				wx.segs = append(wx.segs, seg{at: y, lo: mm.Min, hi: mm.Max})
				xs = append(xs, mm.Min, mm.Max)
			}
			if mm, ok := pt.Spread[lat.Path]; ok {
				wy.segs = append(wy.segs, seg{at: x, lo: mm.Min, hi: mm.Max})
				ys = append(ys, mm.Min, mm.Max)
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return c, fmt.Errorf("series %s: %w", s.Name, err)
		}
		line.Color, line.Width, line.Dashes = seriesColor(i), vg.Points(1.5), seriesDashes(i)
		points.GlyphStyle = markerStyle(i)
		p.Add(line, wx, wy, points)
		leg.Add(s.Name, line, points)
	}
	xr, yr := rangeOf(xs), rangeOf(ys)
	p.X.Label.Text = "output throughput, tokens/s" + xr.suffix()
	p.Y.Label.Text = "E2EL p50, ms" + yr.suffix()
	xr.apply(&p.X)
	yr.apply(&p.Y)
	svg, err := drawSVG(p, leg)
	c.SVG = svg
	return c, err
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// whiskerNote ends a caption: how to read the whiskers, when a level ran
// several times.
func whiskerNote(r *Report, sep string) string {
	if !r.HasSpread() {
		return "."
	}
	return sep + "whiskers span the min–max over repeats."
}

// dodge shifts series i of n a little along a category axis, so that
// their markers and whiskers at one level do not hide each other.
func dodge(i, n int) float64 {
	if n < 2 {
		return 0
	}
	return 0.12 * (float64(i)/float64(n-1) - 0.5)
}

// newPlot makes a plot with a horizontal grid, sans-serif text and an
// empty legend (drawn beside the plot by drawSVG, not over the data).
func newPlot(title, xLabel string) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Title.TextStyle.Font = sans(11)
	p.X.Label.TextStyle.Font = sans(9)
	p.Y.Label.TextStyle.Font = sans(9)
	p.X.Tick.Label.Font = sans(8)
	p.Y.Tick.Label.Font = sans(8)
	p.Title.Padding = vg.Points(6)
	p.Y.Tick.Marker = trimmedTicks{}
	p.X.Tick.Marker = trimmedTicks{}
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil
	grid.Horizontal.Color = color.Gray{Y: 220}
	p.Add(grid)
	leg := plot.NewLegend()
	leg.TextStyle.Font = sans(8)
	leg.Top, leg.Left = true, true
	leg.Padding = vg.Points(2)
	return p, leg
}

// sans is Liberation Sans, which gonum embeds for text metrics; the HTML
// asks browsers for it or its metric twin Arial.
func sans(size vg.Length) font.Font {
	return font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, size)
}

// levelTicks names the x ticks (levels or languages), equally spaced, with
// half a slot of padding each side.
func levelTicks(p *plot.Plot, ticks []string) {
	p.NominalX(ticks...)
	p.X.Min, p.X.Max = -0.5, float64(len(ticks))-0.5
}

// drawSVG draws the legend in a column on the right, then p beside it,
// and returns the <svg> element. Fonts are not embedded: gonum measures
// text with its own Liberation fonts and the SVG names them.
func drawSVG(p *plot.Plot, leg plot.Legend) (svg string, err error) {
	defer func() {
		// gonum reports some drawing faults by panicking; keep them errors.
		if v := recover(); v != nil {
			err = fmt.Errorf("draw: %v", v)
		}
	}()
	canvas := vgsvg.New(chartWidth, chartHeight)
	dc := draw.New(canvas)
	dc.SetColor(color.White) // the legend column too, for the SVG on its own
	dc.Fill(dc.Rectangle.Path())
	lw := legendWidth(leg, dc)
	leg.Draw(draw.Crop(dc, chartWidth-lw+vg.Points(8), 0, 0, -vg.Points(24)))
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	var buf bytes.Buffer
	if _, err := canvas.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("write svg: %w", err)
	}
	out := buf.String()
	i := strings.Index(out, "<svg")
	if i < 0 {
		return "", fmt.Errorf("write svg: no <svg> element in gonum's output")
	}
	return strings.TrimSpace(out[i:]), nil
}

// legendWidth is the legend's measured width plus slack for browsers that
// substitute a wider font than the Liberation Sans it was measured with.
func legendWidth(leg plot.Legend, c draw.Canvas) vg.Length {
	rect := leg.Rectangle(c)
	w := (rect.Max.X-rect.Min.X)*1.15 + vg.Points(16)
	return min(w, legendMax)
}
