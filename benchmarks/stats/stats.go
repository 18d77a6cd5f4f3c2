// Package stats computes the summary statistics servelab reports, defined as
// numpy computes them: arithmetic mean, population standard deviation
// (ddof=0) and percentiles by linear interpolation between closest ranks
// (numpy.percentile's default "linear" method).
package stats

import (
	"fmt"
	"math"
	"slices"
)

// Mean returns the arithmetic mean of xs, 0 for an empty sample.
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// Std returns the population standard deviation of xs (divide by n), 0 for
// an empty sample.
func Std(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	m := Mean(xs)
	var s float64
	for _, x := range xs {
		d := x - m
		s += d * d
	}
	return math.Sqrt(s / float64(len(xs)))
}

// PercentileSorted returns the p-th percentile (0..100) of an ascending
// sample: rank r = p/100·(n−1), value = x[⌊r⌋] + (x[⌈r⌉]−x[⌊r⌋])·(r−⌊r⌋).
// It returns 0 for an empty sample.
func PercentileSorted(sorted []float64, p float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	r := p / 100 * float64(n-1)
	lo := int(math.Floor(r))
	hi := int(math.Ceil(r))
	if lo < 0 {
		lo = 0
	}
	if hi > n-1 {
		hi = n - 1
	}
	return sorted[lo] + (sorted[hi]-sorted[lo])*(r-float64(lo))
}

// Summary is the statistics of one sample.
type Summary struct {
	Mean, Median, Std float64
	// Percentiles[i] is the value at the i-th requested percentile.
	Percentiles []float64
}

// Summarize computes mean, median, population std and the given
// percentiles of xs. xs is not modified.
func Summarize(xs []float64, percentiles []float64) Summary {
	sorted := slices.Clone(xs)
	slices.Sort(sorted)
	s := Summary{
		Mean:        Mean(xs),
		Median:      PercentileSorted(sorted, 50),
		Std:         Std(xs),
		Percentiles: make([]float64, len(percentiles)),
	}
	for i, p := range percentiles {
		s.Percentiles[i] = PercentileSorted(sorted, p)
	}
	return s
}

// ValidatePercentiles checks that every p is within [0, 100].
func ValidatePercentiles(ps []float64) error {
	for _, p := range ps {
		if math.IsNaN(p) || p < 0 || p > 100 {
			return fmt.Errorf("percentile %v out of range [0, 100]", p)
		}
	}
	return nil
}
