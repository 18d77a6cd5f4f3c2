package benchmarks

import (
	"math"
	"math/rand/v2"
	"time"
)

// Arrivals returns the dispatch offset of each of n requests from t0. With
// an infinite rate every offset is 0. Otherwise the first request goes at 0
// and each following gap is drawn from a gamma distribution with shape =
// burstiness and scale = 1/(rate·burstiness), so gaps average 1/rate;
// burstiness 1 is a Poisson process, < 1 burstier, > 1 more regular. The
// draw is seeded; unlike vLLM, the offsets are not rescaled to end exactly
// at n/rate.
func Arrivals(n int, rate, burstiness float64, seed int64) []time.Duration {
	out := make([]time.Duration, n)
	if math.IsInf(rate, 1) || n == 0 {
		return out
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xa77e5a1))
	scale := 1 / (rate * burstiness)
	var t float64
	for i := 1; i < n; i++ {
		t += gamma(rng, burstiness) * scale
		out[i] = time.Duration(t * float64(time.Second))
	}
	return out
}

// gamma draws from Gamma(shape, 1) by Marsaglia and Tsang's method (2000),
// boosting shapes below 1 with U^(1/shape).
func gamma(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := rng.Float64()
		for u == 0 {
			u = rng.Float64()
		}
		return gamma(rng, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		if u < 1-0.0331*x*x*x*x {
			return d * v
		}
		if u > 0 && math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}
