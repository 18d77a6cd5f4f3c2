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
const (
	chartWidth  = 7.5 * vg.Inch
	chartHeight = 3.4 * vg.Inch
	// legendMax caps the legend column's share of the width.
	legendMax = 0.4 * chartWidth
)

// chart is one SVG figure of the HTML page.
type chart struct {
	ID    string
	Title string
	// SVG is an <svg> element (no XML prolog), ready to inline in HTML.
	SVG string
}

// charts draws the report's figures: output and request throughput per
// level (one line per series), TTFT and TPOT p50/p99 bars per series at
// each level, and per-language TTFT bars at each level that has languages.
func charts(r *Report) ([]chart, error) {
	if len(r.Series) == 0 || len(r.Levels) == 0 {
		return nil, nil
	}
	var out []chart
	add := func(c chart, err error) error {
		if err != nil {
			return fmt.Errorf("chart %s: %w", c.ID, err)
		}
		out = append(out, c)
		return nil
	}
	xLabel, ticks := levelAxis(r.Levels)
	steps := []func() error{
		func() error {
			return add(lineChart("output-throughput", "Output throughput", "tokens/s", xLabel, ticks, r,
				func(p Point) float64 { return p.OutputThroughput }))
		},
		func() error {
			return add(lineChart("request-throughput", "Request throughput", "requests/s", xLabel, ticks, r,
				func(p Point) float64 { return p.RequestThroughput }))
		},
		func() error {
			return add(latencyChart("ttft", "TTFT", xLabel, ticks, r, func(p Point) Percentiles { return p.TTFT }))
		},
		func() error {
			return add(latencyChart("tpot", "TPOT", xLabel, ticks, r, func(p Point) Percentiles { return p.TPOT }))
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	for i, l := range r.Levels {
		c, ok, err := languageChart(fmt.Sprintf("ttft-languages-%d", i+1), l, r)
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

// lineChart draws value per level, one line per series.
func lineChart(id, title, yLabel, xLabel string, ticks []string, r *Report, value func(Point) float64) (chart, error) {
	c := chart{ID: id, Title: title}
	p, leg := newPlot(title, xLabel, yLabel)
	for i, s := range r.Series {
		xys := make(plotter.XYs, 0, len(s.Points))
		for _, pt := range s.Points {
			xys = append(xys, plotter.XY{X: float64(levelIndex(r.Levels, pt.Level)), Y: value(pt)})
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return c, fmt.Errorf("series %s: %w", s.Name, err)
		}
		line.Color = seriesColor(i)
		line.Width = vg.Points(1.5)
		line.Dashes = seriesDashes(i)
		points.Color = seriesColor(i)
		points.Shape = seriesGlyph(i)
		points.Radius = vg.Points(2.5)
		p.Add(line, points)
		leg.Add(s.Name, line, points)
	}
	finishAxes(p, ticks)
	svg, err := drawSVG(p, leg)
	c.SVG = svg
	return c, err
}

// latencyChart draws a latency's p50 and p99 per series at each level.
func latencyChart(id, metric, xLabel string, ticks []string, r *Report, get func(Point) Percentiles) (chart, error) {
	title := metric + " p50 (inner bar) and p99 (outer bar)"
	var bars []barSeries
	for i, s := range r.Series {
		b := barSeries{name: s.Name, colour: i}
		for _, pt := range s.Points {
			b.values = append(b.values, barValue{group: levelIndex(r.Levels, pt.Level), p: get(pt)})
		}
		bars = append(bars, b)
	}
	svg, err := barChart(title, xLabel, metric+", ms", ticks, bars)
	return chart{ID: id, Title: title, SVG: svg}, err
}

// languageChart draws per-language TTFT p50/p99 at one level; ok is false
// when no series has languages there.
func languageChart(id string, l Level, r *Report) (chart, bool, error) {
	title := "TTFT by language at " + l.String() + ": p50 (inner) and p99 (outer)"
	c := chart{ID: id, Title: title}
	var langs []string
	for _, s := range r.Series {
		for _, pt := range s.Points {
			if pt.Level != l {
				continue
			}
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
	var bars []barSeries
	for i, s := range r.Series {
		b := barSeries{name: s.Name, colour: i}
		for _, pt := range s.Points {
			if pt.Level != l {
				continue
			}
			for _, lang := range pt.Languages {
				b.values = append(b.values, barValue{group: slices.Index(langs, lang.Language), p: lang.TTFT})
			}
		}
		if len(b.values) > 0 {
			bars = append(bars, b)
		}
	}
	svg, err := barChart(title, "language", "TTFT, ms", langs, bars)
	c.SVG = svg
	return c, true, err
}

// barSeries is one series' bars: a p50 and a p99 per group it has.
type barSeries struct {
	name   string
	colour int // index into the palette: the series' index in the report
	values []barValue
}

type barValue struct {
	group int
	p     Percentiles
}

// barChart draws, in each group, one slot per series: a light bar up to
// p99 and a narrower solid bar up to p50 in front of it. A p99 that was
// not measured (NaN) draws no outer bar.
func barChart(title, xLabel, yLabel string, groups []string, series []barSeries) (string, error) {
	p, leg := newPlot(title, xLabel, yLabel)
	slot := 0.8 / float64(max(len(series), 1))
	var inner, outer []plot.Plotter
	for j, s := range series {
		in := rects{colour: seriesColor(s.colour)}
		out := rects{colour: tint(seriesColor(s.colour))}
		for _, v := range s.values {
			centre := float64(v.group) - 0.4 + slot*(float64(j)+0.5)
			if !math.IsNaN(v.p.P99) {
				out.boxes = append(out.boxes, box{x0: centre - 0.45*slot, x1: centre + 0.45*slot, y: v.p.P99})
			}
			if !math.IsNaN(v.p.P50) {
				in.boxes = append(in.boxes, box{x0: centre - 0.25*slot, x1: centre + 0.25*slot, y: v.p.P50})
			}
		}
		outer, inner = append(outer, out), append(inner, in)
		leg.Add(s.name, swatch{inner: in.colour, outer: out.colour})
	}
	p.Add(outer...)
	p.Add(inner...)
	finishAxes(p, groups)
	return drawSVG(p, leg)
}

// newPlot makes a plot with a horizontal grid, sans-serif text and an
// empty legend (drawn beside the plot by drawSVG, not over the data).
func newPlot(title, xLabel, yLabel string) (*plot.Plot, plot.Legend) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Title.TextStyle.Font = sans(11)
	p.X.Label.TextStyle.Font = sans(9)
	p.Y.Label.TextStyle.Font = sans(9)
	p.X.Tick.Label.Font = sans(8)
	p.Y.Tick.Label.Font = sans(8)
	p.Title.Padding = vg.Points(6)
	p.Y.Tick.Marker = trimmedTicks{}
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

// finishAxes names the x ticks, pads half a slot each side and starts the
// y axis at zero with 8 % headroom.
func finishAxes(p *plot.Plot, ticks []string) {
	p.NominalX(ticks...)
	p.X.Min, p.X.Max = -0.5, float64(len(ticks))-0.5
	p.Y.Min = 0
	if p.Y.Max > 0 && !math.IsInf(p.Y.Max, 0) {
		p.Y.Max *= 1.08
	}
}

// drawSVG draws p with the legend in a column on its right and returns the
// <svg> element. Fonts are not embedded: gonum measures text with its own
// Liberation fonts and the SVG names them.
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
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	leg.Draw(draw.Crop(dc, chartWidth-lw+vg.Points(8), 0, 0, -vg.Points(24)))
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

// seriesColor is the i-th colour of Okabe and Ito's colour-blind-safe set
// (yellow dropped: too light on white), cycling.
func seriesColor(i int) color.RGBA {
	palette := [...]color.RGBA{
		{R: 0, G: 114, B: 178, A: 255},   // blue
		{R: 213, G: 94, B: 0, A: 255},    // vermillion
		{R: 0, G: 158, B: 115, A: 255},   // bluish green
		{R: 204, G: 121, B: 167, A: 255}, // reddish purple
		{R: 230, G: 159, B: 0, A: 255},   // orange
		{R: 86, G: 180, B: 233, A: 255},  // sky blue
		{R: 0, G: 0, B: 0, A: 255},       // black
	}
	return palette[i%len(palette)]
}

// paletteSize is how many series get distinct colours before dashes.
const paletteSize = 7

// seriesDashes tells apart lines that share a colour.
func seriesDashes(i int) []vg.Length {
	switch (i / paletteSize) % 3 {
	case 1:
		return []vg.Length{vg.Points(5), vg.Points(3)}
	case 2:
		return []vg.Length{vg.Points(1.5), vg.Points(2)}
	}
	return nil
}

func seriesGlyph(i int) draw.GlyphDrawer {
	switch i % 4 {
	case 1:
		return draw.BoxGlyph{}
	case 2:
		return draw.TriangleGlyph{}
	case 3:
		return draw.PyramidGlyph{}
	}
	return draw.CircleGlyph{}
}

// tint mixes c 60 % towards white: the p99 bar behind the p50 bar.
func tint(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return v + uint8(float64(255-v)*0.6) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// trimmedTicks are gonum's default ticks labelled without trailing zeros
// ("25", not "25.00").
type trimmedTicks struct{}

var _ plot.Ticker = trimmedTicks{}

// Ticks implements plot.Ticker.
func (trimmedTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		if strings.Contains(t.Label, ".") {
			ticks[i].Label = strings.TrimSuffix(strings.TrimRight(t.Label, "0"), ".")
		}
	}
	return ticks
}

// box is a bar from y=0 to y, between x0 and x1 in data units.
type box struct{ x0, x1, y float64 }

// rects is a gonum plotter of filled bars placed in data units (gonum's
// BarChart sizes bars in canvas units, which cannot share a slot between
// a variable number of series).
type rects struct {
	colour color.Color
	boxes  []box
}

var (
	_ plot.Plotter     = rects{}
	_ plot.DataRanger  = rects{}
	_ plot.Thumbnailer = swatch{}
)

// Plot implements plot.Plotter.
func (r rects) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, b := range r.boxes {
		pts := []vg.Point{
			{X: trX(b.x0), Y: trY(0)}, {X: trX(b.x1), Y: trY(0)},
			{X: trX(b.x1), Y: trY(b.y)}, {X: trX(b.x0), Y: trY(b.y)},
		}
		c.FillPolygon(r.colour, c.ClipPolygonXY(pts))
	}
}

// DataRange implements plot.DataRanger.
func (r rects) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), 0, 0
	for _, b := range r.boxes {
		xmin, xmax = math.Min(xmin, b.x0), math.Max(xmax, b.x1)
		ymin, ymax = math.Min(ymin, b.y), math.Max(ymax, b.y)
	}
	if len(r.boxes) == 0 {
		xmin, xmax = 0, 0
	}
	return xmin, xmax, ymin, ymax
}

// swatch is a legend thumbnail of the bar pair: light outer, solid inner.
type swatch struct{ inner, outer color.Color }

// Thumbnail implements plot.Thumbnailer.
func (s swatch) Thumbnail(c *draw.Canvas) {
	c.FillPolygon(s.outer, rectPoints(c.Rectangle))
	w := c.Max.X - c.Min.X
	in := vg.Rectangle{Min: vg.Point{X: c.Min.X + w/4, Y: c.Min.Y}, Max: vg.Point{X: c.Max.X - w/4, Y: c.Max.Y}}
	c.FillPolygon(s.inner, rectPoints(in))
}

func rectPoints(r vg.Rectangle) []vg.Point {
	return []vg.Point{r.Min, {X: r.Max.X, Y: r.Min.Y}, r.Max, {X: r.Min.X, Y: r.Max.Y}}
}
