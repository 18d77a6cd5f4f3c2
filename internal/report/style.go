package report

import (
	"image/color"

	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// paletteSize is how many series get distinct colours; after that the
// colours repeat with dashed lines and other markers.
const paletteSize = 12

// seriesColor is the i-th series' colour: Okabe and Ito's colour-blind-safe
// set (yellow dropped: too light on white), then five from Paul Tol's
// muted and bright sets that stay apart from them, then grey; cycling.
func seriesColor(i int) color.RGBA {
	palette := [paletteSize]color.RGBA{
		{R: 0, G: 114, B: 178, A: 255},   // blue
		{R: 213, G: 94, B: 0, A: 255},    // vermillion
		{R: 0, G: 158, B: 115, A: 255},   // bluish green
		{R: 204, G: 121, B: 167, A: 255}, // reddish purple
		{R: 230, G: 159, B: 0, A: 255},   // orange
		{R: 86, G: 180, B: 233, A: 255},  // sky blue
		{R: 0, G: 0, B: 0, A: 255},       // black
		{R: 51, G: 34, B: 136, A: 255},   // indigo
		{R: 136, G: 34, B: 85, A: 255},   // wine
		{R: 153, G: 153, B: 51, A: 255},  // olive
		{R: 17, G: 119, B: 51, A: 255},   // dark green
		{R: 127, G: 127, B: 127, A: 255}, // grey
	}
	return palette[i%paletteSize]
}

// seriesGlyph is the i-th series' marker. Within the palette every series
// has its own colour; the marker tells series apart for readers who do not
// see the difference, and beyond the palette, where colours repeat.
func seriesGlyph(i int) draw.GlyphDrawer {
	glyphs := [...]draw.GlyphDrawer{
		draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{},
		draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PlusGlyph{},
	}
	return glyphs[(i+i/paletteSize)%len(glyphs)]
}

// seriesDashes tells apart lines that share a colour (beyond the palette).
func seriesDashes(i int) []vg.Length {
	switch (i / paletteSize) % 3 {
	case 1:
		return []vg.Length{vg.Points(5), vg.Points(3)}
	case 2:
		return []vg.Length{vg.Points(1.5), vg.Points(2)}
	}
	return nil
}

// tint mixes c 60 % towards white: the p50–p99 range behind a p50 marker.
func tint(c color.RGBA) color.RGBA {
	mix := func(v uint8) uint8 { return v + uint8(float64(255-v)*0.6) }
	return color.RGBA{R: mix(c.R), G: mix(c.G), B: mix(c.B), A: 255}
}

// shade darkens c by 45 %: whiskers drawn over the series' own colour.
func shade(c color.RGBA) color.RGBA {
	dim := func(v uint8) uint8 { return uint8(float64(v) * 0.55) }
	return color.RGBA{R: dim(c.R), G: dim(c.G), B: dim(c.B), A: 255}
}

// markerStyle is series i's p50 marker.
func markerStyle(i int) draw.GlyphStyle {
	return draw.GlyphStyle{Color: seriesColor(i), Radius: vg.Points(3), Shape: seriesGlyph(i)}
}
