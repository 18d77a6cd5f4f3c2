package benchspec_test

import (
	"testing"
	"time"

	"github.com/servelab/servelab/components/benchmark/benchspec"
)

func TestDeadline(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ timeout, want time.Duration }{
		{30 * time.Minute, 29*time.Minute + 30*time.Second},
		{2 * time.Hour, 2*time.Hour - 30*time.Second},
		{3 * time.Minute, 3*time.Minute - 18*time.Second},
		{time.Minute, 50 * time.Second},
	} {
		if got := benchspec.Deadline(tt.timeout); got != tt.want {
			t.Errorf("Deadline(%v) = %v, want %v", tt.timeout, got, tt.want)
		}
	}
}
