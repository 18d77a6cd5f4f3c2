package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

const (
	smallBody  = `{"model":"m","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":16}`
	streamBody = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":64}`
)

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		DisableCompression:  true,
		IdleConnTimeout:     5 * time.Minute,
	}}
}

func get(ctx context.Context, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// percentile is numpy's default (linear interpolation) over sorted xs.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	r := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(r))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(r-float64(lo))
}

// nonStreamResult aggregates the rounds of one target.
type nonStreamResult struct {
	latencies []float64 // µs
	overheads []float64 // µs, from X-Servelab-Overhead-Us
	requests  int
	errors    int
	elapsed   time.Duration
	cpu       time.Duration // the proxy's CPU time during the rounds
}

// oneRequest posts a small chat request and returns its latency.
func oneRequest(ctx context.Context, client *http.Client, url string) (time.Duration, float64, error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(smallBody))
	if err != nil {
		return 0, 0, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != 200 {
		return 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	ov := -1.0
	if v := resp.Header.Get("X-Servelab-Overhead-Us"); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil {
			ov = n
		}
	}
	return lat, ov, nil
}

// closedLoop runs o.concurrency clients back to back for d.
func closedLoop(ctx context.Context, client *http.Client, url string, conc int, d time.Duration, res *nonStreamResult) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range conc {
		wg.Go(func() {
			lats := make([]float64, 0, 4096)
			var ovs []float64
			errs := 0
			for time.Now().Before(deadline) && ctx.Err() == nil {
				lat, ov, err := oneRequest(ctx, client, url)
				if err != nil {
					errs++
					continue
				}
				lats = append(lats, float64(lat.Nanoseconds())/1e3)
				if ov >= 0 {
					ovs = append(ovs, ov)
				}
			}
			if res == nil {
				return
			}
			mu.Lock()
			res.latencies = append(res.latencies, lats...)
			res.overheads = append(res.overheads, ovs...)
			res.requests += len(lats)
			res.errors += errs
			mu.Unlock()
		})
	}
	wg.Wait()
	if res != nil {
		res.elapsed += time.Since(start)
	}
}

// runSerial measures latency one request at a time, where no queueing
// hides what each hop adds.
func runSerial(ctx context.Context, o options, targets []target, sum *summary) error {
	fmt.Printf("(a1) non-streamed, one request at a time: %d interleaved rounds × %s per target\n", o.rounds, o.serial)
	clients := map[string]*http.Client{}
	results := map[string]*nonStreamResult{}
	for _, t := range targets {
		clients[t.name] = newClient(1)
		results[t.name] = &nonStreamResult{}
		closedLoop(ctx, clients[t.name], t.url, 1, 200*time.Millisecond, nil)
	}
	for range o.rounds {
		for _, t := range targets {
			closedLoop(ctx, clients[t.name], t.url, 1, o.serial, results[t.name])
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "target\trequests\tp50 µs\tp99 µs\terrors\t")
	p50 := map[string]float64{}
	for _, t := range targets {
		r := results[t.name]
		slices.Sort(r.latencies)
		p50[t.name] = percentile(r.latencies, 50)
		sum.get(t.name).serialP50 = p50[t.name]
		sum.get(t.name).errors += r.errors
		fmt.Fprintf(w, "%s\t%d\t%.0f\t%.0f\t%d\t\n", t.name, r.requests, p50[t.name], percentile(r.latencies, 99), r.errors)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	printAdded(targets, p50, ", one at a time")
	printOverhead(results, "", gatewayNames(targets)...)
	return nil
}

// printAdded prints each target's p50 latency added over direct.
func printAdded(targets []target, p50 map[string]float64, note string) {
	d, ok := p50["direct"]
	if !ok {
		return
	}
	for _, t := range targets {
		if t.name != "direct" {
			fmt.Printf("%s added p50 latency vs direct%s: %.0f µs\n", t.name, note, p50[t.name]-d)
		}
	}
}

// printOverhead prints the gateway's own time (X-Servelab-Overhead-Us) as
// seen by the named targets.
func printOverhead(results map[string]*nonStreamResult, note string, names ...string) {
	for _, name := range names {
		r := results[name]
		if r == nil || len(r.overheads) == 0 {
			continue
		}
		slices.Sort(r.overheads)
		fmt.Printf("%s's own overhead (X-Servelab-Overhead-Us%s): p50 %.0f µs, p99 %.0f µs\n",
			name, note, percentile(r.overheads, 50), percentile(r.overheads, 99))
	}
}

func runNonStreaming(ctx context.Context, o options, targets []target, sum *summary) error {
	fmt.Printf("(a2) non-streamed small responses: %d concurrent clients, %d interleaved rounds × %s per target\n",
		o.concurrency, o.rounds, o.duration)
	clients := map[string]*http.Client{}
	results := map[string]*nonStreamResult{}
	for _, t := range targets {
		clients[t.name] = newClient(o.concurrency)
		results[t.name] = &nonStreamResult{}
		closedLoop(ctx, clients[t.name], t.url, o.concurrency, 500*time.Millisecond, nil) // warm-up
	}
	for range o.rounds {
		for _, t := range targets {
			var cpu0 time.Duration
			if t.pid != 0 {
				cpu0 = procCPU(t.pid)
			}
			closedLoop(ctx, clients[t.name], t.url, o.concurrency, o.duration, results[t.name])
			if t.pid != 0 {
				results[t.name].cpu += procCPU(t.pid) - cpu0
			}
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "target\tRPS\tp50 µs\tp99 µs\terrors\tCPU µs/req†\t")
	p50 := map[string]float64{}
	for _, t := range targets {
		r := results[t.name]
		slices.Sort(r.latencies)
		p50[t.name] = percentile(r.latencies, 50)
		f := sum.get(t.name)
		cpu := "-"
		if t.pid != 0 && r.requests > 0 {
			f.cpuPerReq = float64(r.cpu.Microseconds()) / float64(r.requests)
			cpu = fmt.Sprintf("%.1f", f.cpuPerReq)
		}
		f.rps = float64(r.requests) / r.elapsed.Seconds()
		f.errors += r.errors
		fmt.Fprintf(w, "%s\t%.0f\t%.0f\t%.0f\t%d\t%s\t\n", t.name, float64(r.requests)/r.elapsed.Seconds(),
			p50[t.name], percentile(r.latencies, 99), r.errors, cpu)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println("† CPU time of the process the client talks to (the upstream for direct), per request")
	printAdded(targets, p50, "")
	printOverhead(results, ", upstream wait excluded", gatewayNames(targets)...)
	return nil
}

type streamResult struct {
	ttft    []float64 // ms
	itl     []float64 // ms
	errors  int
	short   int     // streams with fewer content chunks than expected
	rss     float64 // peak MiB of the target's process
	cpu     time.Duration
	streams int
}

var contentKey = []byte(`"content":"`)

// oneStream reads one SSE stream and records when content chunks arrive.
func oneStream(ctx context.Context, client *http.Client, url string, start <-chan struct{}) (ttft time.Duration, gaps []time.Duration, chunks int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(streamBody))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header["Content-Type"] = []string{"application/json"}
	<-start
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	r := bufio.NewReaderSize(resp.Body, 4096)
	var last time.Time
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 && bytes.HasPrefix(line, []byte("data: ")) {
			if i := bytes.Index(line, contentKey); i >= 0 && i+len(contentKey) < len(line) && line[i+len(contentKey)] != '"' {
				now := time.Now()
				if chunks == 0 {
					ttft = now.Sub(t0)
				} else {
					gaps = append(gaps, now.Sub(last))
				}
				last = now
				chunks++
			}
		}
		if err == io.EOF {
			return ttft, gaps, chunks, nil
		}
		if err != nil {
			return ttft, gaps, chunks, err
		}
	}
}

func runStreaming(ctx context.Context, o options, targets []target, sum *summary) error {
	fmt.Printf("(b) %d concurrent streams: %d tokens each, first token after %s, then one every %s; %d interleaved rounds per target\n",
		o.streams, o.tokens, o.firstToken, o.itl, o.streamRound)
	clients := map[string]*http.Client{}
	results := map[string]*streamResult{}
	for _, t := range targets {
		clients[t.name] = newClient(o.streams + 16)
		results[t.name] = &streamResult{}
		// Warm-up: one unmeasured round of as many concurrent streams, so
		// that the client's pool and the proxy's pool to the upstream hold
		// a connection per stream (short non-streamed requests would not all
		// overlap, and the measured burst would dial the rest).
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range o.streams {
			wg.Go(func() {
				sctx, cancel := context.WithTimeout(ctx, time.Minute)
				defer cancel()
				_, _, _, _ = oneStream(sctx, clients[t.name], t.url, start)
			})
		}
		close(start)
		wg.Wait()
	}
	for range o.streamRound {
		for _, t := range targets {
			res := results[t.name]
			var mu sync.Mutex
			var wg sync.WaitGroup
			start := make(chan struct{})
			for range o.streams {
				wg.Go(func() {
					sctx, cancel := context.WithTimeout(ctx, time.Minute)
					defer cancel()
					ttft, gaps, chunks, err := oneStream(sctx, clients[t.name], t.url, start)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						res.errors++
						return
					}
					if chunks < o.tokens {
						res.short++
					}
					if chunks > 0 {
						res.ttft = append(res.ttft, float64(ttft.Microseconds())/1e3)
					}
					for _, g := range gaps {
						res.itl = append(res.itl, float64(g.Microseconds())/1e3)
					}
				})
			}
			time.Sleep(100 * time.Millisecond) // let every goroutine reach the start line
			rss := watchRSS(t.pid, 20*time.Millisecond)
			var cpu0 time.Duration
			if t.pid != 0 {
				cpu0 = procCPU(t.pid)
			}
			close(start)
			wg.Wait()
			if t.pid != 0 {
				res.cpu += procCPU(t.pid) - cpu0
			}
			res.streams += o.streams
			res.rss = max(res.rss, rss.end())
			time.Sleep(200 * time.Millisecond)
		}
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "target\tTTFT p50 ms\tTTFT p99 ms\tITL p50 ms\tITL p99 ms\tstreams\terrors\tshort\tpeak RSS MiB\tCPU µs/stream\t")
	p99 := map[string]float64{}
	for _, t := range targets {
		r := results[t.name]
		slices.Sort(r.ttft)
		slices.Sort(r.itl)
		p99[t.name] = percentile(r.ttft, 99)
		f := sum.get(t.name)
		f.ttftP99, f.itlP50, f.itlP99 = p99[t.name], percentile(r.itl, 50), percentile(r.itl, 99)
		f.errors += r.errors
		f.short += r.short
		cpu := "-"
		if t.pid != 0 && r.streams > 0 {
			f.rssPeak = r.rss
			f.cpuPerStream = float64(r.cpu.Microseconds()) / float64(r.streams)
			cpu = fmt.Sprintf("%.0f", f.cpuPerStream)
		}
		fmt.Fprintf(w, "%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d\t%d\t%d\t%.1f\t%s\t\n", t.name, percentile(r.ttft, 50), p99[t.name],
			percentile(r.itl, 50), percentile(r.itl, 99), len(r.ttft), r.errors, r.short, r.rss, cpu)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if d, ok := p99["direct"]; ok {
		for _, t := range targets {
			if t.name != "direct" {
				fmt.Printf("%s TTFT p99 / direct TTFT p99 = %.3f\n", t.name, p99[t.name]/d)
			}
		}
	}
	return nil
}

// gatewayNames lists the gateway targets.
func gatewayNames(targets []target) []string {
	var names []string
	for _, t := range targets {
		if strings.HasPrefix(t.name, "gateway") {
			names = append(names, t.name)
		}
	}
	return names
}
