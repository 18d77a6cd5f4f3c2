package gateway

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// testUpstreams returns routable backends with the given weights.
func testUpstreams(weights ...int) []*upstream {
	m := newMetrics()
	var out []*upstream
	for i, w := range weights {
		u, err := newUpstream(i, "m", Backend{Name: string(rune('a' + i)), Engine: "vllm", URL: "http://h:1", Weight: w},
			m.series("m", string(rune('a'+i)), "vllm").withReady(), DefaultConfig().Ejection)
		if err != nil {
			panic(err)
		}
		u.probed(true, time.Now())
		out = append(out, u)
	}
	return out
}

func picks(s Selector, bs []*upstream, n int, tried uint64) string {
	var b strings.Builder
	for range n {
		u := s.Pick(bs, tried)
		if u == nil {
			b.WriteByte('-')
			continue
		}
		b.WriteString(u.name)
	}
	return b.String()
}

func TestSelectors(t *testing.T) {
	t.Parallel()
	for _, r := range Routings {
		t.Run(string(r), func(t *testing.T) {
			t.Parallel()
			bs := testUpstreams(1, 1, 1)
			s, err := newSelector(r, bs)
			if err != nil {
				t.Fatal(err)
			}
			if got := picks(s, bs, 6, 0); strings.Count(got, "a") != 2 || strings.Count(got, "b") != 2 || strings.Count(got, "c") != 2 {
				t.Errorf("equal backends picked unevenly: %s", got)
			}
			if got := picks(s, bs, 4, 1<<1); strings.Contains(got, "b") || strings.Contains(got, "-") {
				t.Errorf("tried backend picked: %s", got)
			}
			bs[0].ready.Store(false)
			bs[2].ejected.Store(true)
			if got := picks(s, bs, 3, 0); got != "bbb" {
				t.Errorf("with a not ready and c ejected got %s, want bbb", got)
			}
			if got := picks(s, bs, 1, 1<<1); got != "-" {
				t.Errorf("nothing left should give nil, got %s", got)
			}
			if u := s.Pick(nil, 0); u != nil {
				t.Error("picked from no backends")
			}
		})
	}
	if _, err := newSelector("fastest", nil); err == nil {
		t.Error("unknown routing accepted")
	}
}

func TestSelectorsConcurrent(t *testing.T) {
	t.Parallel()
	for _, r := range Routings {
		bs := testUpstreams(3, 2, 1)
		s, _ := newSelector(r, bs)
		var wg sync.WaitGroup
		counts := make([]int, len(bs))
		var mu sync.Mutex
		for range 8 {
			wg.Go(func() {
				local := make([]int, len(bs))
				for range 600 {
					u := s.Pick(bs, 0)
					u.outstanding.Add(1)
					local[u.idx]++
					u.outstanding.Add(-1)
				}
				mu.Lock()
				for i, c := range local {
					counts[i] += c
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		total := counts[0] + counts[1] + counts[2]
		if total != 8*600 {
			t.Errorf("%s: %d picks, want %d", r, total, 8*600)
		}
		if r == Weighted && (counts[0] != 2400 || counts[1] != 1600 || counts[2] != 800) {
			t.Errorf("weighted shares %v, want 2400/1600/800", counts)
		}
	}
}
