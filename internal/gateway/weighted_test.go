package gateway

import (
	"strings"
	"testing"
)

func TestWeightedSmooth(t *testing.T) {
	t.Parallel()
	bs := testUpstreams(5, 1, 1)
	s := newWeightedRR(bs)
	// nginx's smooth weighted round robin for weights 5,1,1.
	if got := picks(s, bs, 14, 0); got != "aabacaaaabacaa" {
		t.Errorf("got %s, want aabacaa twice", got)
	}
	bs0 := testUpstreams(0, 2) // weight 0 counts as 1
	if got := picks(newWeightedRR(bs0), bs0, 3, 0); strings.Count(got, "a") != 1 {
		t.Errorf("weight 0: %s", got)
	}
}
