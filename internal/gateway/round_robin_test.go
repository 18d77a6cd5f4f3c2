package gateway

import "testing"

func TestRoundRobinOrder(t *testing.T) {
	t.Parallel()
	bs := testUpstreams(1, 1, 1)
	s := &roundRobin{}
	if got := picks(s, bs, 6, 0); got != "abcabc" {
		t.Errorf("got %s, want abcabc", got)
	}
	bs[1].ready.Store(false)
	// The turn that would go to b goes to the next ready backend.
	if got := picks(s, bs, 4, 0); got != "acca" {
		t.Errorf("with b not ready got %s, want acca", got)
	}
}
