package gateway

import "math"

// Histogram buckets of the gateway's latency metrics. The recording rules
// estimate p50 and p99 from them with histogram_quantile, which places
// every observation of a bucket (a, b] on a line from a to b: for a
// constant value the p50 estimate can be off by (b-a)/2 and the p99 one by
// almost b-a. Over each histogram's dense range the bounds grow by at most
// a fixed factor, so that the error is bounded relative to the value:
// factor 1.1 keeps p50 within 5 % and p99 within 10 % of a constant value.
// A bucket is one more series per label set: TTFT and request duration
// have about 80 and 100 buckets per backend, overhead about 60 per model.
var (
	// ttftBuckets: dense (×1.1) from 10 ms to 10 s.
	ttftBuckets = latencyBuckets([]float64{0.001, 0.0025, 0.005}, 0.01, 10, 1.1, []float64{15, 20, 30, 45, 60})
	// durationBuckets: dense (×1.1) from 20 ms to 2 min.
	durationBuckets = latencyBuckets([]float64{0.001, 0.0025, 0.005, 0.01}, 0.02, 120, 1.1, []float64{180, 300, 450, 600})
	// overheadBuckets: ×1.2 (p50 within 10 %, p99 within 20 %) from 2 µs
	// to 50 ms: the gateway's own time is a diagnostic, not a benchmark
	// figure.
	overheadBuckets = latencyBuckets([]float64{1e-6}, 2e-6, 0.05, 1.2, []float64{0.1})
)

// latencyBuckets returns below, then bounds from lo growing by at most
// factor (each rounded down to three significant digits) until hi is
// reached, then above.
func latencyBuckets(below []float64, lo, hi, factor float64, above []float64) []float64 {
	out := append([]float64(nil), below...)
	for b := lo; ; {
		out = append(out, b)
		if b >= hi {
			break
		}
		next := roundDown3(b * factor)
		if next >= hi {
			next = hi
		}
		b = next
	}
	return append(out, above...)
}

// roundDown3 rounds x > 0 down to three significant digits, as the float
// nearest to the decimal (so that it prints short: 0.0121, not
// 0.012100000000000001).
func roundDown3(x float64) float64 {
	e := int(math.Floor(math.Log10(x))) - 2
	mant := math.Floor(x/math.Pow10(e) + 1e-9)
	if e < 0 {
		return mant / math.Pow10(-e)
	}
	return mant * math.Pow10(e)
}
