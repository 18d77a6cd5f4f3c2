package benchmarks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

// The behaviour `servelab bench` promises the Benchmark component:
// repeats, a deadline, a failure ratio, error summaries, provenance and
// the engines' KV-cache capacity.

func TestRepeatsRunEveryLevelNTimes(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.VLLM})
	cfg := baseConfig(ts.URL, 5)
	cfg.MaxConcurrency = []int{1, 4}
	cfg.RequestRates = []float64{inf()}
	cfg.Repeats = 3
	var phases []RunInfo
	cfg.Progress = &recorder{start: func(i RunInfo) { phases = append(phases, i) }}
	cfg.Warmup = WarmupAuto
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 6 {
		t.Fatalf("%d results, want 2 levels × 3 repeats", len(res))
	}
	for i, r := range res {
		wantConc, wantRep := []int{1, 4}[i/3], i%3+1
		if *r.MaxConcurrency != wantConc || r.Repeat != wantRep || r.Completed != 5 {
			t.Errorf("run %d: conc %d repeat %d completed %d, want conc %d repeat %d", i, *r.MaxConcurrency, r.Repeat, r.Completed, wantConc, wantRep)
		}
		if r.Config.Warmup != wantConc {
			t.Errorf("run %d: warmup %d, want the level's concurrency %d (auto)", i, r.Config.Warmup, wantConc)
		}
	}
	// One warm-up per level, before its first repeat; runs are numbered k/6.
	var got []string
	for _, p := range phases {
		got = append(got, fmt.Sprintf("%d/%d %s w=%v n=%d", p.Index, p.Total, p.Level(), p.Warmup, p.Requests))
	}
	want := []string{
		"1/6 c=1 r=inf #1/3 w=true n=1", "1/6 c=1 r=inf #1/3 w=false n=5", "2/6 c=1 r=inf #2/3 w=false n=5", "3/6 c=1 r=inf #3/3 w=false n=5",
		"4/6 c=4 r=inf #1/3 w=true n=4", "4/6 c=4 r=inf #1/3 w=false n=5", "5/6 c=4 r=inf #2/3 w=false n=5", "6/6 c=4 r=inf #3/3 w=false n=5",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("phases:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// recorder is a Progress that calls start for every phase.
type recorder struct {
	start func(RunInfo)
	done  atomic.Int32
}

func (r *recorder) Start(i RunInfo) { r.start(i) }
func (r *recorder) Done(bool)       { r.done.Add(1) }
func (r *recorder) Finish()         {}

func TestAutoWarmupCoversEachLevel(t *testing.T) {
	t.Parallel()
	// Count the requests the server sees: auto sends each level's
	// concurrency (all prompts when unlimited) before measuring; an explicit
	// number wins; 0 sends none.
	for _, tt := range []struct {
		warmup int
		conc   []int
		want   int // requests seen in all
	}{
		{WarmupAuto, []int{2, 5}, (2 + 6) + (5 + 6)},
		{WarmupAuto, []int{0}, 6 + 6},
		{3, []int{2, 5}, (3 + 6) + (3 + 6)},
		{0, []int{2, 5}, 6 + 6},
	} {
		t.Run(fmt.Sprint(tt.warmup, tt.conc), func(t *testing.T) {
			t.Parallel()
			var seen atomic.Int32
			s := startSim(t, sim.Config{Flavour: engine.SGLang})
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen.Add(1)
				proxy(t, w, r, s.URL)
			}))
			defer ts.Close()
			cfg := baseConfig(ts.URL, 6)
			cfg.Warmup, cfg.MaxConcurrency = tt.warmup, tt.conc
			if _, err := Run(context.Background(), cfg); err != nil {
				t.Fatal(err)
			}
			if int(seen.Load()) != tt.want {
				t.Errorf("server saw %d requests, want %d", seen.Load(), tt.want)
			}
		})
	}
}

// proxy forwards r to base and streams the answer back.
func proxy(t *testing.T, w http.ResponseWriter, r *http.Request, base string) {
	r2, _ := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.Path, r.Body)
	resp, err := http.DefaultClient.Do(r2)
	if err != nil {
		w.WriteHeader(502)
		return
	}
	defer resp.Body.Close()
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		_, _ = w.Write(buf[:n])
		w.(http.Flusher).Flush()
		if err != nil {
			return
		}
	}
}

func TestDeadlineEndsGracefullyWithPartialResults(t *testing.T) {
	t.Parallel()
	// 60 tokens × 50 ms per request: the 1 s deadline falls in the middle
	// of the first run; the second level never starts.
	ts := startSim(t, sim.Config{Flavour: engine.VLLM, ITL: 50 * time.Millisecond})
	cfg := baseConfig(ts.URL, 4)
	cfg.Dataset.RandomOutputLen, cfg.Dataset.RandomRangeRatio = 60, 0
	cfg.MaxConcurrency = []int{4, 8}
	cfg.Deadline = time.Second
	cfg.Grace = time.Hour // a deadline never waits for the grace period
	res, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrDeadline) || errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrDeadline", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "deadline 1s reached after 1 of 2 runs; run sim (max_concurrency 4, request_rate inf) cut short at 0 completed, 4 failed") {
		t.Errorf("message %q", msg)
	}
	if len(res) != 1 || !res[0].Partial || res[0].Failed != 4 || !strings.HasPrefix(res[0].FirstError, "deadline: ") {
		t.Fatalf("results %+v", res)
	}
	var re *RunError
	if !errors.As(err, &re) || re.Done != 1 || re.Total != 2 || len(re.Results) != 1 {
		t.Errorf("RunError %+v", re)
	}
}

func TestDeadlineBetweenRunsKeepsFinishedRuns(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.VLLM})
	ctx, cancel := context.WithCancelCause(context.Background())
	cfg := baseConfig(ts.URL, 3)
	cfg.MaxConcurrency = []int{1, 2, 3}
	// The deadline's cause, as Run sets it, arrives right after the first run.
	cfg.Progress = &recorder{start: func(i RunInfo) {
		if i.Index == 2 {
			cancel(ErrDeadline)
		}
	}}
	res, err := Run(ctx, cfg)
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 2 || res[0].Partial || res[0].Completed != 3 || !res[1].Partial {
		t.Errorf("results: %d, first partial %v", len(res), res[0].Partial)
	}
}

func TestAbortSkipsTheGracePeriod(t *testing.T) {
	t.Parallel()
	// Requests stream for 2 s; the first Ctrl-C comes while they are in
	// flight, the second right after. Within the hour of grace they would
	// complete: aborted, they fail as interrupted.
	s := startSim(t, sim.Config{Flavour: engine.VLLM, ITL: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	abort := make(chan struct{})
	var once atomic.Bool
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if once.CompareAndSwap(false, true) {
			cancel()
			close(abort)
		}
		proxy(t, w, r, s.URL)
	}))
	defer ts.Close()
	cfg := baseConfig(ts.URL, 3)
	cfg.Dataset.RandomOutputLen, cfg.Dataset.RandomRangeRatio = 40, 0
	cfg.MaxConcurrency = []int{1}
	cfg.Grace = time.Hour
	cfg.Abort = abort
	res, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 1 || !res[0].Partial || res[0].Failed != 1 || !strings.HasPrefix(res[0].FirstError, "interrupted: ") {
		t.Fatalf("results %+v", res)
	}
}

func TestFailureRatio(t *testing.T) {
	t.Parallel()
	// Every third request fails with HTTP 503.
	var n atomic.Int32
	s := startSim(t, sim.Config{Flavour: engine.VLLM})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(503)
			fmt.Fprint(w, `{"error":{"message":"overloaded"}}`)
			return
		}
		proxy(t, w, r, s.URL)
	}))
	defer ts.Close()
	for _, tt := range []struct {
		ratio float64
		fails bool
	}{{0.05, true}, {0.34, false}, {0.33, true}} {
		t.Run(fmt.Sprint(tt.ratio), func(t *testing.T) {
			cfg := baseConfig(ts.URL, 9)
			cfg.MaxConcurrency = []int{1} // in order: requests 3, 6, 9 fail
			cfg.MaxFailureRatio = tt.ratio
			n.Store(0)
			res, err := Run(context.Background(), cfg)
			if got := errors.Is(err, ErrFailureRatio); got != tt.fails {
				t.Fatalf("ratio %v: err = %v", tt.ratio, err)
			}
			r := res[0]
			if r.Completed != 6 || r.Failed != 3 || r.ErrorSummary["HTTP 503: overloaded"] != 3 || r.FirstError != "HTTP 503: overloaded" {
				t.Errorf("completed %d failed %d summary %v first %q", r.Completed, r.Failed, r.ErrorSummary, r.FirstError)
			}
			if tt.fails && !strings.Contains(err.Error(), "3 of 9 failed (33.3% > --max-failure-ratio "+fmt.Sprint(tt.ratio)+"); first error: HTTP 503: overloaded") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestNoRequestCompletedNamesTheFirstError(t *testing.T) {
	t.Parallel()
	// Nothing listens on the port: "connection refused", named in the
	// error, without --save-detailed.
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	cfg := baseConfig(url, 3)
	cfg.MaxFailureRatio = 1
	res, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "first error: dial tcp") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 1 || res[0].Failed != 3 || len(res[0].ErrorSummary) != 1 {
		t.Errorf("results %+v", res)
	}
	// A 404 for an unknown model names the server's message.
	notFound := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(404)
		fmt.Fprint(w, `{"object":"error","message":"The model qwen-8b does not exist.","type":"NotFoundError","code":404}`)
	})
	_, err = Run(context.Background(), baseConfig(notFound.URL, 2))
	if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "first error: HTTP 404: The model qwen-8b does not exist.") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorSummaryIsBounded(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	ts := hostile(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(500)
		fmt.Fprintf(w, `{"error":{"message":"request %d failed"}}`, n.Add(1))
	})
	cfg := baseConfig(ts.URL, 30)
	res, _ := Run(context.Background(), cfg)
	s := res[0].ErrorSummary
	total := 0
	for _, c := range s {
		total += c
	}
	if len(s) != maxErrorKinds+1 || s[OtherErrors] != 30-maxErrorKinds || total != 30 {
		t.Errorf("summary has %d texts, %d other, %d in all", len(s), s[OtherErrors], total)
	}
}

func TestTargetUnavailableIsSkipped(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.VLLM})
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	cfg := baseConfig(ts.URL, 2)
	cfg.Targets = []Target{{Label: "down", BaseURL: downURL}, {Label: "up", BaseURL: ts.URL, Model: "sim-model"}}
	cfg.MaxConcurrency = []int{1, 2}
	res, err := Run(context.Background(), cfg)
	if !errors.Is(err, ErrTarget) || !strings.Contains(err.Error(), "target down: target unavailable: list models: dial tcp") ||
		!strings.Contains(err.Error(), "its 2 runs skipped") {
		t.Fatalf("err = %v", err)
	}
	if len(res) != 2 || res[0].Label != "up" {
		t.Errorf("results %+v", res)
	}
}

func TestKVCacheCapacityFromEverySimFlavour(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		flavour engine.Kind
		want    int64 // 0 = unknown
	}{{engine.VLLM, 4096}, {engine.SGLang, 4096}, {engine.LlamaCpp, 0}} {
		t.Run(string(tt.flavour), func(t *testing.T) {
			t.Parallel()
			ts := startSim(t, sim.Config{Flavour: tt.flavour, KVCacheTokens: 4096})
			cfg := baseConfig(ts.URL, 2)
			cfg.Targets[0].MetricsURL = ts.URL + "/metrics"
			var logs bytes.Buffer
			cfg.Logger = slogTo(&logs)
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := res[0].KVCacheCapacityTokens
			switch {
			case tt.want == 0 && (got != nil || !strings.Contains(logs.String(), "KV-cache capacity unknown")):
				t.Errorf("capacity %v, logs %s", got, logs.String())
			case tt.want != 0 && (got == nil || *got != tt.want):
				t.Errorf("capacity %v, want %d", got, tt.want)
			}
		})
	}
}

func TestKVCacheCapacityParsing(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, page string
		want       int64
	}{
		{"vllm", "# TYPE vllm:cache_config_info gauge\nvllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",num_gpu_blocks=\"573\",num_cpu_blocks=\"1024\"} 1.0\n", 573 * 16},
		{"vllm not yet sized", "vllm:cache_config_info{block_size=\"16\",num_gpu_blocks=\"None\"} 1\n", 0},
		{"vllm two engines", "vllm:cache_config_info{block_size=\"16\",engine=\"0\",num_gpu_blocks=\"100\"} 1\nvllm:cache_config_info{block_size=\"16\",engine=\"1\",num_gpu_blocks=\"200\"} 1\n", 3200},
		{"sglang", "# TYPE sglang:max_total_num_tokens gauge\nsglang:max_total_num_tokens{model_name=\"m\"} 471258.0\n", 471258},
		{"nothing", "vllm:num_requests_running 0\n", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := hostile(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, tt.page) })
			got, err := KVCacheCapacity(context.Background(), http.DefaultClient, ts.URL)
			if tt.want == 0 {
				if !errors.Is(err, ErrNoKVCapacity) {
					t.Errorf("got %d, %v; want ErrNoKVCapacity", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestProvenance(t *testing.T) {
	t.Parallel()
	cfg := baseConfig("http://127.0.0.1:1", 7)
	cfg.MaxConcurrency = []int{1, 8}
	cfg.RequestRates = []float64{2, inf()}
	cfg.Warmup, cfg.Repeats, cfg.BinarySHA256 = WarmupAuto, 3, "abc"
	p, err := NewProvenance(cfg)
	if err != nil {
		t.Fatal(err)
	}
	reqs, _ := dataset.Load(cfg.Dataset)
	if p.DatasetHash != dataset.SHA256(reqs) || p.BinarySHA256 != "abc" || p.Seed != 1 || p.Workload.NumPrompts != 7 ||
		p.Workload.InputLen != 12 || p.Workload.OutputLen != 6 || p.Workload.Repeats != 3 || p.Workload.Endpoint != "chat" {
		t.Errorf("provenance %+v", p)
	}
	var buf bytes.Buffer
	if err := WriteDocument(&buf, FormatJSON, Runs{Provenance: &p}, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"binary_sha256": "abc"`, `"warmup": "auto"`, `"request_rates": [`, `"max_concurrency": [`, `"repeats": 3`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("document lacks %s:\n%s", want, buf.String())
		}
	}
	back, err := DecodeDocument(&buf)
	if err != nil || back.Provenance == nil || back.Provenance.Workload.Warmup != WarmupAuto || !back.Provenance.Workload.RequestRates[1].Inf() {
		t.Errorf("decoded %+v, %v", back.Provenance, err)
	}
	if sum, err := ExecutableSHA256(); err != nil || len(sum) != 64 {
		t.Errorf("ExecutableSHA256 = %q, %v", sum, err)
	}
}

func TestEndpointPathAndBackend(t *testing.T) {
	t.Parallel()
	var paths atomic.Value
	s := startSim(t, sim.Config{Flavour: engine.VLLM})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths.Store(r.URL.Path)
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/proxy")
		proxy(t, w, r, s.URL)
	}))
	defer ts.Close()
	for _, tt := range []struct{ endpoint, path, kind, backend string }{
		{"/proxy/v1/chat/completions", "/proxy/v1/chat/completions", "chat", "openai-chat"},
		{"/proxy/v1/completions", "/proxy/v1/completions", "completions", "openai"},
		{"completions", "/v1/completions", "completions", "openai"},
	} {
		cfg := baseConfig(ts.URL, 2)
		cfg.Endpoint = tt.endpoint
		res, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		r := res[0]
		if paths.Load() != tt.path || r.Endpoint != tt.kind || r.EndpointPath != tt.path || r.Backend != tt.backend || r.ModelID != "sim-model" || len(r.Date) != 15 {
			t.Errorf("%s: path %v, result %s %s %s %s %s", tt.endpoint, paths.Load(), r.Endpoint, r.EndpointPath, r.Backend, r.ModelID, r.Date)
		}
	}
}
