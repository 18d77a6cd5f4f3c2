package report

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
)

// logRatio is the spread of values (largest / smallest) beyond which an
// axis turns logarithmic: with one engine 50× slower than another, a
// linear axis would flatten every other series against zero.
const logRatio = 10

// axisRange is the data range of an axis and whether it is logarithmic.
type axisRange struct {
	Min, Max float64
	Log      bool
}

// rangeOf decides an axis for values (NaN and ±Inf ignored): linear from 0
// with 8 % headroom, or, when every value is positive and they span more
// than logRatio, logarithmic between the nearest 1-2-5 steps below the
// smallest and above the largest.
func rangeOf(values []float64) axisRange {
	vs := slices.DeleteFunc(slices.Clone(values), func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) })
	if len(vs) == 0 {
		return axisRange{Min: 0, Max: 1}
	}
	lo, hi := slices.Min(vs), slices.Max(vs)
	if lo > 0 && hi/lo > logRatio {
		return axisRange{Min: step125(lo, false), Max: step125(hi*1.02, true), Log: true}
	}
	r := axisRange{Min: math.Min(0, lo), Max: hi * 1.08}
	if hi <= 0 {
		r.Max = 1
	}
	if r.Min < 0 {
		r.Min *= 1.08
	}
	return r
}

// step125 is the nearest of 1, 2 or 5 times a power of ten at or below v,
// or at or above it when up is set.
func step125(v float64, up bool) float64 {
	decade := math.Pow(10, math.Floor(math.Log10(v)))
	steps := []float64{1, 2, 5, 10}
	if up {
		for _, m := range steps {
			if s := m * decade; s >= v*(1-1e-12) {
				return s
			}
		}
	}
	for _, m := range slices.Backward(steps[:3]) {
		if s := m * decade; s <= v*(1+1e-12) {
			return s
		}
	}
	return decade
}

// apply sets the axis to r.
func (r axisRange) apply(a *plot.Axis) {
	a.Min, a.Max = r.Min, r.Max
	if r.Log {
		a.Scale = plot.LogScale{}
		a.Tick.Marker = logTicks{}
		return
	}
	a.Scale = plot.LinearScale{}
	a.Tick.Marker = trimmedTicks{}
}

// suffix is what an axis label adds for a log axis.
func (r axisRange) suffix() string {
	if r.Log {
		return " (log scale)"
	}
	return ""
}

// trimmedTicks are gonum's default ticks labelled without trailing zeros
// ("25", not "25.00").
type trimmedTicks struct{}

var _ plot.Ticker = trimmedTicks{}

// Ticks implements plot.Ticker.
func (trimmedTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i, t := range ticks {
		ticks[i].Label = trimLabel(t.Label)
	}
	return ticks
}

func trimLabel(s string) string {
	if strings.Contains(s, ".") {
		return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// logTicks labels 1, 2 and 5 times each power of ten when the axis spans
// at most three decades, else the powers of ten only; the other integer
// multiples get unlabelled minor ticks.
type logTicks struct{}

var _ plot.Ticker = logTicks{}

// Ticks implements plot.Ticker.
func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return nil
	}
	first, last := int(math.Floor(math.Log10(lo))), int(math.Ceil(math.Log10(hi)))
	dense := last-first <= 3
	var ticks []plot.Tick
	for e := first; e <= last; e++ {
		for m := 1; m < 10; m++ {
			v := float64(m) * math.Pow10(e)
			if v < lo*(1-1e-9) || v > hi*(1+1e-9) {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 || (dense && (m == 2 || m == 5)) {
				t.Label = trimLabel(strconv.FormatFloat(v, 'f', max(0, -e), 64))
			}
			ticks = append(ticks, t)
		}
	}
	return ticks
}
