package gateway

import "sync"

// weightedRR is smooth weighted round robin (as in nginx): every pick adds
// each eligible backend's weight to its current score, takes the highest
// score and subtracts the total weight from it. Over any window of
// Σweights picks each backend gets its share, interleaved rather than in
// runs.
type weightedRR struct {
	mu      sync.Mutex
	current []int
	weights []int
}

var _ Selector = (*weightedRR)(nil)

func newWeightedRR(bs []*upstream) *weightedRR {
	w := &weightedRR{current: make([]int, len(bs)), weights: make([]int, len(bs))}
	for i, b := range bs {
		w.weights[i] = max(b.weight, 1)
	}
	return w
}

func (s *weightedRR) Pick(bs []*upstream, tried uint64) *upstream {
	s.mu.Lock()
	defer s.mu.Unlock()
	best, total := -1, 0
	for i, b := range bs {
		if i >= len(s.weights) || !eligible(b, i, tried) {
			continue
		}
		s.current[i] += s.weights[i]
		total += s.weights[i]
		if best < 0 || s.current[i] > s.current[best] {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	s.current[best] -= total
	return bs[best]
}
