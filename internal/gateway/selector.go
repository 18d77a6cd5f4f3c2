package gateway

import "fmt"

// Selector picks the backend for a request among a model's backends. It
// skips backends that are not routable (not ready or ejected) and those
// whose bit is set in tried (the backends a retried request already used).
// It returns nil when no backend is left. Implementations are safe for
// concurrent use.
type Selector interface {
	Pick(backends []*upstream, tried uint64) *upstream
}

// newSelector returns the policy r for the given backends.
func newSelector(r Routing, backends []*upstream) (Selector, error) {
	switch r {
	case LeastOutstanding, "":
		return &leastOutstanding{}, nil
	case RoundRobin:
		return &roundRobin{}, nil
	case Weighted:
		return newWeightedRR(backends), nil
	default:
		return nil, fmt.Errorf("%w: unknown routing %q", ErrConfig, r)
	}
}

// eligible reports whether backend i may take the request.
func eligible(b *upstream, i int, tried uint64) bool {
	return tried&(1<<uint(i)) == 0 && b.routable()
}
