package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// startSim serves a simulated engine on loopback for the test.
func startSim(t *testing.T, cfg sim.Config) *httptest.Server {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "sim-model"
	}
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = 8
	}
	if cfg.TTFT == 0 {
		cfg.TTFT = 3 * time.Millisecond
	}
	if cfg.ITL == 0 {
		cfg.ITL = time.Millisecond
	}
	cfg.Logger = quiet
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return ts
}

func baseConfig(url string, n int) Config {
	return Config{
		Targets:  []Target{{Label: "sim", BaseURL: url, Model: "sim-model", Engine: "sim"}},
		Endpoint: EndpointChat,
		Dataset:  dataset.Spec{Kind: dataset.Random, NumPrompts: n, Seed: 1, RandomInputLen: 12, RandomOutputLen: 6, RandomRangeRatio: 0.5},
		Logger:   quiet,
	}
}

func TestRunAgainstEveryFlavour(t *testing.T) {
	t.Parallel()
	for _, flavour := range engine.Flavours {
		for _, endpoint := range []string{EndpointChat, EndpointCompletions} {
			t.Run(string(flavour)+"/"+endpoint, func(t *testing.T) {
				t.Parallel()
				ts := startSim(t, sim.Config{Flavour: flavour})
				cfg := baseConfig(ts.URL+"/v1/", 12) // trailing /v1/ is accepted
				cfg.Endpoint = endpoint
				cfg.MaxConcurrency = []int{4}
				res, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				r := res[0]
				reqs, _ := dataset.Load(cfg.Dataset)
				wantOut, wantIn := 0, 0
				for _, q := range reqs {
					wantOut += q.MaxTokens
					wantIn += q.InputTokens
				}
				// The sim emits exactly max_tokens and reports tokens.Approx
				// of the prompt, so the totals are exact.
				if r.Completed != 12 || r.Failed != 0 || r.TotalOutputTokens != wantOut || r.TotalInputTokens != wantIn {
					t.Errorf("completed %d failed %d out %d (want %d) in %d (want %d)", r.Completed, r.Failed, r.TotalOutputTokens, wantOut, r.TotalInputTokens, wantIn)
				}
				if r.OutputTokensSource != SourceUsage || r.InputTokensSource != SourceUsage {
					t.Errorf("sources %s/%s, want usage (every flavour sends usage with include_usage)", r.OutputTokensSource, r.InputTokensSource)
				}
				// The sim never emits a token before admission + TTFT (3 ms).
				if r.TTFT.Percentiles[0].Value < 3 || r.Duration <= 0 || r.OutputThroughput <= 0 {
					t.Errorf("ttft p50 %v ms, duration %v, throughput %v", r.TTFT.Percentiles[0].Value, r.Duration, r.OutputThroughput)
				}
				if r.Model != "sim-model" || r.BaseURL != ts.URL || r.Endpoint != endpoint || r.DatasetSHA256 != dataset.SHA256(reqs) || *r.MaxConcurrency != 4 || r.Partial {
					t.Errorf("provenance %+v", r)
				}
			})
		}
	}
}

// noUsageServer streams content chunks with no usage block at all.
func noUsageServer(t *testing.T, tokens int) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range tokens {
			fmt.Fprintf(w, "data: {\"choices\":[{\"delta\":{\"content\":\"t%d \"}}]}\r\n\r\n", i)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, ": done\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(ts.Close)
	return ts
}

func TestRunCountsChunksWithoutUsage(t *testing.T) {
	t.Parallel()
	ts := noUsageServer(t, 4)
	cfg := baseConfig(ts.URL, 5)
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	reqs, _ := dataset.Load(cfg.Dataset)
	wantIn := 0
	for _, q := range reqs {
		wantIn += q.InputTokens
	}
	if r.TotalOutputTokens != 20 || r.OutputTokensSource != SourceChunks || r.InputTokensSource != SourceApprox || r.TotalInputTokens != wantIn {
		t.Errorf("out %d (%s), in %d (%s), want 20 chunks and %d approx", r.TotalOutputTokens, r.OutputTokensSource, r.TotalInputTokens, r.InputTokensSource, wantIn)
	}
	if r.ITL.Mean <= 0 || len(r.TPOT.Percentiles) != 3 {
		t.Errorf("itl %v tpot %+v", r.ITL.Mean, r.TPOT)
	}
}

func TestRunFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"http status", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":{"message":"overloaded","type":"x"}}`))
		}, "HTTP 503: overloaded"},
		{"error event", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("event: error\ndata: {\"message\":\"kv cache full\"}\n\n"))
		}, "error event: kv cache full"},
		{"error chunk", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"engine died\"}}\n\n"))
		}, "error chunk: engine died"},
		{"malformed chunk", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("data: {\"choices\":[\n\n"))
		}, "malformed chunk"},
		{"no content", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("data: {\"choices\":[{\"delta\":{\"role\":\"assistant\"}}]}\n\ndata: [DONE]\n\n"))
		}, "stream ended without content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(tt.handler)
			defer ts.Close()
			cfg := baseConfig(ts.URL, 3)
			res, err := Run(context.Background(), cfg)
			if !errors.Is(err, ErrAllFailed) || !strings.Contains(err.Error(), "first error: "+tt.want) {
				t.Errorf("err = %v, want ErrAllFailed naming the first error %q", err, tt.want)
			}
			// Without --save-detailed the run still counts its errors by text.
			if len(res) != 1 || res[0].Failed != 3 || !strings.HasPrefix(res[0].FirstError, tt.want) || res[0].Detailed != nil {
				t.Fatalf("results %+v", res)
			}
			if len(res[0].ErrorSummary) != 1 || res[0].ErrorSummary[res[0].FirstError] != 3 {
				t.Errorf("error summary %v, want {%q: 3}", res[0].ErrorSummary, res[0].FirstError)
			}
		})
	}
}

func TestRunSweepOrderAndSameWorkload(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.VLLM})
	cfg := baseConfig(ts.URL, 6)
	cfg.MaxConcurrency = []int{1, 3}
	cfg.RequestRates = []float64{500, inf()}
	cfg.Warmup = 2
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 4 {
		t.Fatalf("%d results, want 4", len(res))
	}
	want := []struct {
		conc int
		rate string
	}{{1, "500"}, {1, "inf"}, {3, "500"}, {3, "inf"}}
	for i, r := range res {
		if *r.MaxConcurrency != want[i].conc || r.RequestRate.String() != want[i].rate || r.Completed != 6 {
			t.Errorf("run %d: conc %d rate %s completed %d, want %+v", i, *r.MaxConcurrency, r.RequestRate, r.Completed, want[i])
		}
		if r.DatasetSHA256 != res[0].DatasetSHA256 || r.TotalOutputTokens != res[0].TotalOutputTokens {
			t.Error("sweep points ran different workloads")
		}
		if r.Config.Warmup != 2 {
			t.Error("warmup not recorded")
		}
	}
	// A sweep is written as {"runs":[...]} and decodes back.
	var buf bytes.Buffer
	if err := Write(&buf, FormatJSON, res, false); err != nil {
		t.Fatal(err)
	}
	back, err := Decode(&buf)
	if err != nil || len(back) != 4 || back[3].RequestRate.String() != "inf" {
		t.Errorf("decode sweep: %d runs, %v", len(back), err)
	}
}

func inf() float64 { return math.Inf(1) }

func TestRunSeveralTargetsAndAPIKey(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	auth := map[string]int{}
	simA := startSim(t, sim.Config{Flavour: engine.SGLang})
	guard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth[r.Header.Get("Authorization")]++
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer s3cret-key" {
			w.WriteHeader(401)
			return
		}
		proxy(t, w, r, simA.URL)
	}))
	defer guard.Close()
	cfg := baseConfig(simA.URL, 4)
	cfg.Targets = []Target{
		{Label: "direct", BaseURL: simA.URL, Model: "sim-model", Engine: "sglang"},
		{Label: "guarded", BaseURL: guard.URL, Model: "sim-model", Engine: "gateway", APIKeyEnv: "GW_KEY"},
	}
	cfg.Getenv = func(k string) string {
		if k == "GW_KEY" {
			return "s3cret-key"
		}
		return ""
	}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Label != "direct" || res[1].Label != "guarded" || res[1].Completed != 4 {
		t.Fatalf("results %+v", res)
	}
	if res[0].DatasetSHA256 != res[1].DatasetSHA256 || res[0].TotalOutputTokens != res[1].TotalOutputTokens {
		t.Error("targets ran different workloads")
	}
	if auth["Bearer s3cret-key"] != 4 {
		t.Errorf("authorization headers seen: %v", auth)
	}
	var buf bytes.Buffer
	if err := Write(&buf, FormatJSON, res, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "s3cret") {
		t.Error("the API key leaked into the result")
	}
	// A missing key is a setup error naming the variable.
	cfg.Getenv = func(string) string { return "" }
	if _, err := Run(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "GW_KEY") {
		t.Errorf("missing key error = %v", err)
	}
}

// cancelAfter cancels a context after n requests have finished.
type cancelAfter struct {
	n      int32
	done   atomic.Int32
	cancel context.CancelFunc
}

func (c *cancelAfter) Start(RunInfo) {}
func (c *cancelAfter) Finish()       {}
func (c *cancelAfter) Done(bool) {
	if c.done.Add(1) == c.n {
		c.cancel()
	}
}

func TestRunInterruptedWritesPartial(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.VLLM, Capacity: 1, ITL: 2 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := baseConfig(ts.URL, 40)
	cfg.MaxConcurrency = []int{2, 4}
	cfg.Progress = &cancelAfter{n: 3, cancel: cancel}
	cfg.SaveDetailed = true
	res, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v, want ErrInterrupted", err)
	}
	if len(res) != 1 {
		t.Fatalf("%d results: no run may start after the interrupt", len(res))
	}
	r := res[0]
	if !r.Partial || r.Completed < 3 || r.Completed+r.Failed >= 40 {
		t.Errorf("partial %v completed %d failed %d", r.Partial, r.Completed, r.Failed)
	}
	// In-flight requests finished within the grace period.
	if r.Failed != 0 {
		t.Errorf("failed = %d, errors %v", r.Failed, r.Errors)
	}
	var buf bytes.Buffer
	if err := Write(&buf, FormatJSON, res, false); err != nil || !strings.Contains(buf.String(), `"partial": true`) {
		t.Errorf("partial flag not written: %v", err)
	}
}

func TestRunInterruptAbortsAfterGrace(t *testing.T) {
	t.Parallel()
	// Slow streams (20 tokens × 50 ms) outlive a 20 ms grace period.
	ts := startSim(t, sim.Config{Flavour: engine.VLLM, ITL: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	cfg := baseConfig(ts.URL, 4)
	cfg.Dataset.RandomOutputLen, cfg.Dataset.RandomRangeRatio = 20, 0
	cfg.Grace = 20 * time.Millisecond
	cfg.SaveDetailed = true
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	res, err := Run(ctx, cfg)
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v", err)
	}
	r := res[0]
	if !r.Partial || r.Failed != 4 || !strings.HasPrefix(r.Errors[0], "interrupted") {
		t.Errorf("partial %v failed %d errors %v", r.Partial, r.Failed, r.Errors)
	}
}

func TestRunMultilingualPerLanguage(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.Ollama})
	cfg := baseConfig(ts.URL, 67)
	cfg.Dataset = dataset.Spec{Kind: dataset.Multilingual, NumPrompts: 67, Seed: 5, OutputLen: 4}
	cfg.Goodput = map[string]float64{"e2el": 60_000}
	cfg.SaveDetailed = true
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if len(r.PerLanguage) != 11 {
		t.Errorf("per_language has %d languages, want 11", len(r.PerLanguage))
	}
	sumC, sumOut := 0, 0
	for _, m := range r.PerLanguage {
		sumC += m.Completed
		sumOut += m.TotalOutputTokens
		if m.RequestGoodput == nil {
			t.Error("per-language goodput missing")
		}
	}
	if sumC != r.Completed || sumOut != r.TotalOutputTokens || r.TotalOutputTokens != 67*4 {
		t.Errorf("languages add up to %d/%d, run %d/%d", sumC, sumOut, r.Completed, r.TotalOutputTokens)
	}
	// Every request met the generous SLO, so goodput equals throughput.
	if *r.RequestGoodput != r.RequestThroughput {
		t.Errorf("goodput %v != throughput %v", *r.RequestGoodput, r.RequestThroughput)
	}
	if len(r.StartTimes) != 67 || len(r.ITLs) != 67 || len(r.ITLs[0]) != 3 || r.Languages[0] == "" || slices.Min(r.StartTimes) != 0 {
		t.Errorf("detailed arrays: %d starts, %d itls (first %d), lang %q", len(r.StartTimes), len(r.ITLs), len(r.ITLs[0]), r.Languages[0])
	}
	var md, csvOut bytes.Buffer
	if err := Write(&md, FormatMarkdown, res, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| language |") || !strings.Contains(md.String(), "| zh |") {
		t.Errorf("markdown lacks the per-language table:\n%s", md.String())
	}
	if err := Write(&csvOut, FormatCSV, res, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
	if len(lines) != 1+1+11 || !strings.Contains(lines[0], "p99_ttft_ms") {
		t.Errorf("csv has %d lines (want header + run + 11 languages); header %s", len(lines), lines[0])
	}
}

func TestConnectionsArePooled(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{Flavour: engine.VLLM, Model: "sim-model", MaxOutputTokens: 4, TTFT: time.Millisecond, ITL: time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns atomic.Int32
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	defer ts.Close()
	// Three runs of 30 requests at concurrency 6 share one client. At the
	// end of each run all 6 connections go idle: a pool sized to the
	// concurrency keeps them for the next run (≈ 6 dials in all, plus a
	// rare extra one when a dispatch races a connection's return), while
	// Go's default idle pool of 2 per host closes 4 after every run and
	// redials them (≥ 14).
	cfg := baseConfig(ts.URL, 30)
	cfg.MaxConcurrency = []int{6, 6, 6}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n > 10 {
		t.Errorf("%d connections opened by 3 runs at concurrency 6", n)
	}
	if got := newClient(64).Transport.(*http.Transport).MaxIdleConnsPerHost; got != 64 {
		t.Errorf("MaxIdleConnsPerHost = %d", got)
	}
}

func TestModelDiscovery(t *testing.T) {
	t.Parallel()
	ts := startSim(t, sim.Config{Flavour: engine.LlamaCpp})
	cfg := baseConfig(ts.URL, 2)
	cfg.Targets[0].Model = ""
	res, err := Run(context.Background(), cfg)
	if err != nil || res[0].Model != "sim-model" {
		t.Errorf("discovered model %q, %v", res[0].Model, err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := baseConfig("http://127.0.0.1:1", 1)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.Targets = nil }, "no target"},
		{func(c *Config) { c.Targets[0].BaseURL = "ftp://x" }, "base_url"},
		{func(c *Config) { c.Targets[0].BaseURL = "http://u:p@x" }, "credentials"},
		{func(c *Config) { c.Endpoint = "embeddings" }, "--endpoint"},
		{func(c *Config) { c.MaxConcurrency = []int{-1} }, "--max-concurrency"},
		{func(c *Config) { c.RequestRates = []float64{0} }, "--request-rate"},
		{func(c *Config) { c.Burstiness = -1 }, "--burstiness"},
		{func(c *Config) { c.Warmup = -2 }, "--warmup"},
		{func(c *Config) { c.Repeats = 101 }, "--repeats"},
		{func(c *Config) { c.Repeats = -1 }, "--repeats"},
		{func(c *Config) { c.Deadline = -time.Second }, "--deadline"},
		{func(c *Config) { c.MaxFailureRatio = -0.1 }, "--max-failure-ratio"},
		{func(c *Config) { c.MaxFailureRatio = math.NaN() }, "--max-failure-ratio"},
		{func(c *Config) { c.MaxEventBytes = -1 }, "--max-event-bytes"},
		{func(c *Config) { c.Targets[0].BaseURL = "localhost:8000" }, `"localhost:8000" has no scheme: write http://localhost:8000`},
		{func(c *Config) { c.Targets[0].MetricsURL = "ftp://x/metrics" }, "metrics_url"},
		{func(c *Config) { c.Endpoint = "/v1/embeddings" }, "--endpoint"},
		{func(c *Config) { c.Goodput = map[string]float64{"itl": 5} }, "--goodput"},
		{func(c *Config) { c.Percentiles = []float64{101} }, "--percentiles"},
		{func(c *Config) { c.Temperature = -1 }, "--temperature"},
		{func(c *Config) { c.IgnoreEOS = true; c.Targets[0].Engine = "ollama" }, "--ignore-eos"},
		{func(c *Config) { c.Dataset.NumPrompts = 0 }, "--num-prompts"},
	}
	for _, tt := range tests {
		c := baseConfig("http://127.0.0.1:1", 1)
		tt.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want error naming %s", err, tt.want)
		}
	}
}

func TestParsers(t *testing.T) {
	t.Parallel()
	rates, err := ParseRates("1, 2.5,inf")
	if err != nil || len(rates) != 3 || rates[1] != 2.5 || !Rate(rates[2]).Inf() {
		t.Errorf("ParseRates = %v, %v", rates, err)
	}
	for _, bad := range []string{"0", "-1", "fast", ""} {
		if _, err := ParseRates(bad); err == nil {
			t.Errorf("ParseRates(%q) accepted", bad)
		}
	}
	g, err := ParseGoodput("ttft:500, tpot:50,e2el:2000")
	if err != nil || g["ttft"] != 500 || g["tpot"] != 50 || g["e2el"] != 2000 {
		t.Errorf("ParseGoodput = %v, %v", g, err)
	}
	for _, bad := range []string{"ttft", "itl:5", "ttft:-1", "ttft:1,ttft:2", "ttft:x"} {
		if _, err := ParseGoodput(bad); err == nil {
			t.Errorf("ParseGoodput(%q) accepted", bad)
		}
	}
	if c, err := ParseInts("--max-concurrency", "1,8,64"); err != nil || len(c) != 3 || c[2] != 64 {
		t.Errorf("ParseInts = %v, %v", c, err)
	}
	if _, err := ParseInts("--max-concurrency", "1,x"); err == nil || !strings.Contains(err.Error(), "--max-concurrency") {
		t.Errorf("ParseInts error = %v", err)
	}
}

func TestParseTargets(t *testing.T) {
	t.Parallel()
	ok := `{"targets":[{"label":"gw","base_url":"http://127.0.0.1:8080","model":"m","engine":"gateway","api_key_env":"K"},
	                   {"label":"vllm","base_url":"http://127.0.0.1:8000/v1","endpoint":"completions"}]}`
	ts, err := ParseTargets(strings.NewReader(ok))
	if err != nil || len(ts) != 2 || ts[1].baseURL() != "http://127.0.0.1:8000" || ts[0].APIKeyEnv != "K" {
		t.Fatalf("ParseTargets = %+v, %v", ts, err)
	}
	tests := []struct{ in, want string }{
		{`{"targets":[{"base_url":"http://x","api_key":"leak"}]}`, `unknown field "api_key"`},
		{`{"targets":[]}`, "missing or empty"},
		{`{"targets":[{"label":"a"}]}`, "targets[0].base_url is missing"},
		{`{"targets":[{"base_url":"http://x","endpoint":"x"}]}`, "targets[0]: endpoint"},
		{`{"targets":[{"label":"a","base_url":"http://x"},{"label":"a","base_url":"http://y"}]}`, `targets[1].label "a" repeats`},
		{`[]`, "targets file"},
	}
	for _, tt := range tests {
		if _, err := ParseTargets(strings.NewReader(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseTargets(%s) = %v, want %q", tt.in, err, tt.want)
		}
	}
}

func TestWriteFormats(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	var buf bytes.Buffer
	if err := Write(&buf, FormatJSON, []Result{r}, false); err != nil {
		t.Fatal(err)
	}
	var one map[string]any
	if err := json.Unmarshal(buf.Bytes(), &one); err != nil || one["label"] != "sim" {
		t.Errorf("single result JSON: %v %v", err, one["label"])
	}
	buf.Reset()
	if err := Write(&buf, FormatJSON, []Result{r}, true); err != nil || !strings.HasPrefix(buf.String(), "{\n  \"runs\"") {
		t.Errorf("forced runs JSON: %v %s", err, buf.String()[:20])
	}
	buf.Reset()
	if err := Write(&buf, FormatMarkdown, []Result{r}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "| sim |  | 8 | inf | 9 | 1 |") || !strings.Contains(buf.String(), "| 55.00 |") {
		t.Errorf("markdown:\n%s", buf.String())
	}
	buf.Reset()
	if err := Write(&buf, FormatCSV, []Result{r}, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "p99.9_ttft_ms") || !strings.HasPrefix(lines[2], "sim,,m,") {
		t.Errorf("csv:\n%s", buf.String())
	}
	if err := Write(&buf, "xml", nil, false); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("bad format error = %v", err)
	}
}

// FuzzParseTargets: the targets parser never panics and accepts only
// targets that validate.
func FuzzParseTargets(f *testing.F) {
	f.Add([]byte(`{"targets":[{"label":"a","base_url":"http://127.0.0.1:8000","model":"m"}]}`))
	f.Add([]byte(`{"targets":[{"base_url":"http://x","api_key_env":"K","api_key_file":"f"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := ParseTargets(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, tg := range ts {
			if err := tg.validate(false); err != nil {
				t.Fatalf("accepted invalid target %+v: %v", tg, err)
			}
		}
	})
}
