package report

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// box is a floating bar from lo to hi, between x0 and x1, in data units.
type box struct{ x0, x1, lo, hi float64 }

// bars is a gonum plotter of filled floating bars placed in data units
// (gonum's BarChart sizes bars in canvas units and starts them at zero,
// which neither a shared slot nor a log axis allows).
type bars struct {
	colour color.Color
	boxes  []box
}

// seg is one whisker: at a position on one axis, from lo to hi on the
// other.
type seg struct{ at, lo, hi float64 }

// whiskers draw min–max ranges with end caps: vertical (a y range at an x)
// or horizontal (an x range at a y).
type whiskers struct {
	colour     color.Color
	horizontal bool
	segs       []seg
}

// rangeSwatch is the legend thumbnail of a latency series: the light
// p50–p99 bar with the series' p50 marker on it.
type rangeSwatch struct {
	bar    color.Color
	marker draw.GlyphStyle
}

var (
	_ plot.Plotter     = bars{}
	_ plot.DataRanger  = bars{}
	_ plot.Plotter     = whiskers{}
	_ plot.DataRanger  = whiskers{}
	_ plot.Thumbnailer = rangeSwatch{}
)

// Plot implements plot.Plotter.
func (b bars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	for _, bx := range b.boxes {
		pts := []vg.Point{
			{X: trX(bx.x0), Y: trY(bx.lo)}, {X: trX(bx.x1), Y: trY(bx.lo)},
			{X: trX(bx.x1), Y: trY(bx.hi)}, {X: trX(bx.x0), Y: trY(bx.hi)},
		}
		c.FillPolygon(b.colour, c.ClipPolygonXY(pts))
	}
}

// DataRange implements plot.DataRanger.
func (b bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, xmax, ymin, ymax = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, bx := range b.boxes {
		xmin, xmax = math.Min(xmin, bx.x0), math.Max(xmax, bx.x1)
		ymin, ymax = math.Min(ymin, bx.lo), math.Max(ymax, bx.hi)
	}
	if len(b.boxes) == 0 {
		return 0, 0, 0, 0
	}
	return xmin, xmax, ymin, ymax
}

// whiskerCap is the width of a whisker's end caps.
const whiskerCap = 3 * vg.Millimeter / 2

// Plot implements plot.Plotter.
func (w whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	style := draw.LineStyle{Color: w.colour, Width: vg.Points(1)}
	for _, s := range w.segs {
		var a, b vg.Point
		var capDir vg.Point
		if w.horizontal {
			a, b = vg.Point{X: trX(s.lo), Y: trY(s.at)}, vg.Point{X: trX(s.hi), Y: trY(s.at)}
			capDir = vg.Point{Y: whiskerCap / 2}
		} else {
			a, b = vg.Point{X: trX(s.at), Y: trY(s.lo)}, vg.Point{X: trX(s.at), Y: trY(s.hi)}
			capDir = vg.Point{X: whiskerCap / 2}
		}
		c.StrokeLines(style, c.ClipLinesXY([]vg.Point{a, b})...)
		for _, end := range []vg.Point{a, b} {
			c.StrokeLines(style, c.ClipLinesXY([]vg.Point{end.Sub(capDir), end.Add(capDir)})...)
		}
	}
}

// DataRange implements plot.DataRanger.
func (w whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	if len(w.segs) == 0 {
		return 0, 0, 0, 0
	}
	amin, amax, vmin, vmax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range w.segs {
		amin, amax = math.Min(amin, s.at), math.Max(amax, s.at)
		vmin, vmax = math.Min(vmin, s.lo), math.Max(vmax, s.hi)
	}
	if w.horizontal {
		return vmin, vmax, amin, amax
	}
	return amin, amax, vmin, vmax
}

// Thumbnail implements plot.Thumbnailer.
func (s rangeSwatch) Thumbnail(c *draw.Canvas) {
	w := c.Max.X - c.Min.X
	bar := vg.Rectangle{Min: vg.Point{X: c.Min.X + w/5, Y: c.Min.Y}, Max: vg.Point{X: c.Max.X - w/5, Y: c.Max.Y}}
	c.FillPolygon(s.bar, []vg.Point{bar.Min, {X: bar.Max.X, Y: bar.Min.Y}, bar.Max, {X: bar.Min.X, Y: bar.Max.Y}})
	c.DrawGlyph(s.marker, vg.Point{X: (c.Min.X + c.Max.X) / 2, Y: (c.Min.Y + c.Max.Y) / 2})
}
