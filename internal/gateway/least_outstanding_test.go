package gateway

import "testing"

func TestLeastOutstanding(t *testing.T) {
	t.Parallel()
	bs := testUpstreams(1, 1, 1)
	s := &leastOutstanding{}
	bs[0].outstanding.Store(5)
	bs[1].outstanding.Store(2)
	bs[2].outstanding.Store(3)
	if got := picks(s, bs, 3, 0); got != "bbb" {
		t.Errorf("got %s, want the least loaded b each time", got)
	}
	if got := picks(s, bs, 1, 1<<1); got != "c" {
		t.Errorf("with b tried got %s, want c", got)
	}
}
