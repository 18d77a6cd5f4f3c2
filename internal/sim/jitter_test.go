package sim

import (
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// TestJitterFollowsTheRequest: the same request (prompt and length) gets
// the same delays whenever it arrives, so a benchmark replayed against a
// sim measures the same latencies; failures stay a draw per arrival.
func TestJitterFollowsTheRequest(t *testing.T) {
	t.Parallel()
	s, err := New(Config{Flavour: engine.VLLM, Model: "m", TTFT: 50 * time.Millisecond, ITL: 10 * time.Millisecond,
		Jitter: 0.5, FailureRate: 0.5, Seed: 3, MaxOutputTokens: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	delays := func(p *plan) []time.Duration {
		out := []time.Duration{s.jitter(p, s.cfg.TTFT)}
		for range 16 {
			out = append(out, s.jitter(p, s.cfg.ITL))
		}
		return out
	}
	first := delays(s.newPlan("", "the same prompt", 3, 16))
	s.newPlan("", "another request in between", 4, 16)
	again := delays(s.newPlan("", "the same prompt", 3, 16))
	other := delays(s.newPlan("", "a different prompt", 3, 16))
	same, differ := true, false
	for i := range first {
		same = same && first[i] == again[i]
		differ = differ || first[i] != other[i]
	}
	if !same {
		t.Errorf("the same request got other delays:\n%v\n%v", first, again)
	}
	if !differ {
		t.Error("two different requests got the same delays")
	}
	fails := map[bool]int{}
	for range 64 {
		p := s.newPlan("", "the same prompt", 3, 16)
		fails[p.fail.Float64() < s.cfg.FailureRate]++
	}
	if fails[true] == 0 || fails[false] == 0 {
		t.Errorf("failure draws of one request repeated 64 times: %v, want both outcomes", fails)
	}
}
