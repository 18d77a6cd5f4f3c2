package gateway

import "sync/atomic"

// leastOutstanding picks the eligible backend with the fewest requests in
// flight through this gateway; ties go to the first one after a rotating
// start, so that an idle pool is still spread evenly.
type leastOutstanding struct {
	next atomic.Uint64
}

var _ Selector = (*leastOutstanding)(nil)

func (s *leastOutstanding) Pick(bs []*upstream, tried uint64) *upstream {
	n := len(bs)
	if n == 0 {
		return nil
	}
	start := int(s.next.Add(1) % uint64(n))
	var best *upstream
	bestLoad := int64(0)
	for k := range n {
		i := (start + k) % n
		b := bs[i]
		if !eligible(b, i, tried) {
			continue
		}
		if load := b.outstanding.Load(); best == nil || load < bestLoad {
			best, bestLoad = b, load
		}
	}
	return best
}
