package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// soakCounts are the requests a soak sent, by kind.
type soakCounts struct {
	plain, streams, cut, bad, errors atomic.Int64
}

// runSoak sends mixed traffic through each gateway target for o.soak —
// o.soakStreams streaming clients back to back (a tenth of the streams cut
// by the client at a random moment), o.concurrency/2 non-streamed clients,
// and a trickle of requests the gateway refuses (unknown model, malformed
// JSON) — and prints the gateway's RSS over time in Markdown.
func runSoak(ctx context.Context, o options, targets []target) error {
	var gws []target
	for _, t := range targets {
		if strings.HasPrefix(t.name, "gateway") {
			gws = append(gws, t)
		}
	}
	if len(gws) == 0 {
		return fmt.Errorf("-soak: no gateway target")
	}
	fmt.Printf("Soak: %s of mixed traffic per gateway: %d streaming clients (one stream in ten cut by the client), %d non-streamed clients, refused requests; load average %s\n\n",
		o.soak, o.soakStreams, max(o.concurrency/2, 1), loadAvg())
	for _, t := range gws {
		if err := soakOne(ctx, o, t); err != nil {
			return err
		}
	}
	fmt.Printf("\nCommand: `%s`; load average at the end: %s\n", commandLine(), loadAvg())
	return nil
}

func soakOne(ctx context.Context, o options, t target) error {
	sctx, cancel := context.WithTimeout(ctx, o.soak)
	defer cancel()
	client := newClient(o.soakStreams + o.concurrency + 4)
	var n soakCounts
	var wg sync.WaitGroup
	for range o.soakStreams {
		wg.Go(func() {
			for sctx.Err() == nil {
				rctx, rcancel := context.WithTimeout(sctx, time.Minute)
				if rand.IntN(10) == 0 {
					time.AfterFunc(time.Duration(rand.Int64N(int64(o.firstToken+o.itl*time.Duration(o.tokens)))), rcancel)
				}
				start := make(chan struct{})
				close(start)
				_, _, chunks, err := oneStream(rctx, client, t.url, start)
				switch {
				case err == nil && chunks >= o.tokens:
					n.streams.Add(1)
				case rctx.Err() != nil && sctx.Err() == nil:
					n.cut.Add(1)
				case sctx.Err() == nil:
					n.errors.Add(1)
				}
				rcancel()
			}
		})
	}
	for range max(o.concurrency/2, 1) {
		wg.Go(func() {
			for sctx.Err() == nil {
				if _, _, err := oneRequest(sctx, client, t.url); err == nil {
					n.plain.Add(1)
				} else if sctx.Err() == nil {
					n.errors.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		bad := []string{`{"model":"nope","messages":[]}`, `{"model":`, `[1,2]`}
		for i := 0; sctx.Err() == nil; i++ {
			if refused(sctx, client, t.url, bad[i%len(bad)]) {
				n.bad.Add(1)
			} else if sctx.Err() == nil {
				n.errors.Add(1)
			}
			select {
			case <-sctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	})

	every := max(o.soak/20, time.Second)
	fmt.Printf("#### %s\n\n| elapsed | RSS MiB | streams | cut | non-streamed | refused | errors |\n|---|---|---|---|---|---|---|\n", t.name)
	start := time.Now()
	var first, last, peak float64
	tick := time.NewTicker(every)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-sctx.Done():
			done = true
		case <-tick.C:
		}
		rss := float64(procRSS(t.pid)) / (1 << 20)
		if first == 0 && time.Since(start) >= o.soak/10 {
			first = rss // after the warm-up tenth
		}
		last, peak = rss, max(peak, rss)
		fmt.Printf("| %s | %.1f | %d | %d | %d | %d | %d |\n", time.Since(start).Round(time.Second), rss,
			n.streams.Load(), n.cut.Load(), n.plain.Load(), n.bad.Load(), n.errors.Load())
	}
	wg.Wait()
	fmt.Printf("\n%s: RSS %.1f MiB after the first tenth, %.1f MiB at the end (%+.1f MiB), peak %.1f MiB\n\n", t.name, first, last, last-first, peak)
	return nil
}

// refused sends a request the gateway must refuse and reports whether it
// was refused (4xx).
func refused(ctx context.Context, client *http.Client, url, body string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode >= 400 && resp.StatusCode < 500
}
