package stats

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestPercentileMatchesNumpyLinear(t *testing.T) {
	t.Parallel()
	xs := []float64{15, 20, 35, 40, 50} // already sorted, n = 5
	tests := []struct {
		p, want float64
		why     string
	}{
		{0, 15, "rank 0"},
		{100, 50, "rank 4"},
		{50, 35, "rank 2 exactly"},
		{40, 29, "rank 1.6: 20 + (35-20)*0.6 = 29"},
		{90, 46, "rank 3.6: 40 + (50-40)*0.6 = 46"},
		{99, 49.6, "rank 3.96: 40 + 10*0.96 = 49.6"},
		{25, 20, "rank 1 exactly"},
		{12.5, 17.5, "rank 0.5: 15 + 5*0.5"},
	}
	for _, tt := range tests {
		if got := PercentileSorted(xs, tt.p); !near(got, tt.want) {
			t.Errorf("p%v = %v, want %v (%s)", tt.p, got, tt.want, tt.why)
		}
	}
	if got := PercentileSorted(nil, 50); got != 0 {
		t.Errorf("empty percentile = %v, want 0", got)
	}
	if got := PercentileSorted([]float64{7}, 99); got != 7 {
		t.Errorf("single-value percentile = %v, want 7", got)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		xs   []float64
		want Summary
	}{
		{
			// mean = (2+4+4+4+5+5+7+9)/8 = 40/8 = 5
			// squared deviations 9,1,1,1,0,0,4,16 sum 32; population var 32/8 = 4, std 2
			// sorted; median rank 3.5 -> (4+5)/2 = 4.5; p90 rank 6.3 -> 7 + 2*0.3 = 7.6
			name: "textbook", xs: []float64{9, 2, 5, 4, 7, 4, 5, 4},
			want: Summary{Mean: 5, Median: 4.5, Std: 2, Percentiles: []float64{7.6}},
		},
		{name: "empty", xs: nil, want: Summary{Percentiles: []float64{0}}},
		{
			// one value: no spread
			name: "single", xs: []float64{3}, want: Summary{Mean: 3, Median: 3, Std: 0, Percentiles: []float64{3}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tt.xs...)
			got := Summarize(in, []float64{90})
			if !near(got.Mean, tt.want.Mean) || !near(got.Median, tt.want.Median) || !near(got.Std, tt.want.Std) || !near(got.Percentiles[0], tt.want.Percentiles[0]) {
				t.Errorf("Summarize(%v) = %+v, want %+v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatal("Summarize modified its input")
				}
			}
		})
	}
}

func TestValidatePercentiles(t *testing.T) {
	t.Parallel()
	if err := ValidatePercentiles([]float64{0, 50, 99.9, 100}); err != nil {
		t.Errorf("valid percentiles rejected: %v", err)
	}
	for _, bad := range [][]float64{{-1}, {100.1}, {math.NaN()}} {
		if err := ValidatePercentiles(bad); err == nil {
			t.Errorf("ValidatePercentiles(%v) accepted", bad)
		}
	}
}
