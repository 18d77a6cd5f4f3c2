package gateway

import "sync/atomic"

// roundRobin cycles through the eligible backends.
type roundRobin struct {
	next atomic.Uint64
}

var _ Selector = (*roundRobin)(nil)

func (s *roundRobin) Pick(bs []*upstream, tried uint64) *upstream {
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := int((s.next.Add(1) - 1) % uint64(n))
	for k := range n {
		i := (start + k) % n
		if eligible(bs[i], i, tried) {
			return bs[i]
		}
	}
	return nil
}
