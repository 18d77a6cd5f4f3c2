package sim_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/servelab/servelab/benchmarks/tokens"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

func newSim(t *testing.T, cfg sim.Config) (*sim.Server, *httptest.Server) {
	t.Helper()
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	if cfg.MaxOutputTokens == 0 {
		cfg.MaxOutputTokens = 16
	}
	if cfg.TTFT == 0 {
		cfg.TTFT = 2 * time.Millisecond
	}
	if cfg.ITL == 0 {
		cfg.ITL = time.Millisecond
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func post(t *testing.T, url, body string) *http.Response {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sseData returns the data payloads of an SSE body.
func sseData(t *testing.T, r io.Reader) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

type chunk struct {
	Choices []struct {
		Delta struct {
			Role    *string `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Timings map[string]any `json:"timings"`
}

func TestStreamingFramingPerFlavour(t *testing.T) {
	t.Parallel()
	prompt := "Explain the blue sky in one line"
	wantPrompt := tokens.Approx(prompt)
	tests := []struct {
		flavour      engine.Kind
		includeUsage bool
		// want: content chunks, usage chunk index (-1 none), whether usage
		// shares the finish_reason chunk
		usage       bool
		usageInLast bool
		emptyChoice bool
	}{
		{engine.VLLM, true, true, false, true},
		{engine.VLLM, false, false, false, false},
		{engine.SGLang, true, true, false, true},
		{engine.Ollama, true, true, false, true},
		{engine.Ollama, false, false, false, false},
		{engine.LlamaCpp, false, true, true, false},
		{engine.LlamaCpp, true, true, true, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.flavour), func(t *testing.T) {
			t.Parallel()
			_, ts := newSim(t, sim.Config{Flavour: tt.flavour})
			body := `{"model":"test-model","messages":[{"role":"user","content":"` + prompt + `"}],"max_tokens":5,"stream":true`
			if tt.includeUsage {
				body += `,"stream_options":{"include_usage":true}`
			}
			resp := post(t, ts.URL+"/v1/chat/completions", body+"}")
			if resp.StatusCode != 200 || resp.Header.Get(sim.Header) != string(tt.flavour) {
				t.Fatalf("status %d, header %q", resp.StatusCode, resp.Header.Get(sim.Header))
			}
			events := sseData(t, resp.Body)
			if events[len(events)-1] != "[DONE]" {
				t.Fatalf("last event %q, want [DONE]", events[len(events)-1])
			}
			var text strings.Builder
			contentChunks, usageSeen, finish := 0, false, 0
			for _, e := range events[:len(events)-1] {
				var c chunk
				if err := json.Unmarshal([]byte(e), &c); err != nil {
					t.Fatalf("chunk %q: %v", e, err)
				}
				for _, ch := range c.Choices {
					if ch.Delta.Content != nil && *ch.Delta.Content != "" {
						contentChunks++
						text.WriteString(*ch.Delta.Content)
					}
					if ch.FinishReason != nil {
						finish++
						if *ch.FinishReason != "length" {
							t.Errorf("finish_reason %q", *ch.FinishReason)
						}
					}
				}
				if c.Usage != nil {
					usageSeen = true
					if c.Usage.CompletionTokens != 5 || c.Usage.PromptTokens != wantPrompt {
						t.Errorf("usage = %+v, want 5 completion, %d prompt", *c.Usage, wantPrompt)
					}
					if tt.emptyChoice && len(c.Choices) != 0 {
						t.Errorf("usage chunk has %d choices, want []", len(c.Choices))
					}
					if tt.usageInLast && (len(c.Choices) != 1 || c.Choices[0].FinishReason == nil || c.Timings == nil) {
						t.Errorf("llama.cpp usage must share the finish chunk with timings: %s", e)
					}
				}
			}
			if contentChunks != 5 || len(strings.Fields(text.String())) != 5 {
				t.Errorf("content chunks %d, text %q; want 5 one-word tokens", contentChunks, text.String())
			}
			if usageSeen != tt.usage {
				t.Errorf("usage seen = %v, want %v", usageSeen, tt.usage)
			}
			if finish != 1 {
				t.Errorf("finish_reason chunks = %d, want 1", finish)
			}
		})
	}
}

func TestCompletionsAndNonStreaming(t *testing.T) {
	t.Parallel()
	_, ts := newSim(t, sim.Config{Flavour: engine.VLLM, Seed: 3})
	req := `{"model":"test-model","prompt":"one two three","max_tokens":4}`
	var a, b struct {
		Object  string `json:"object"`
		Choices []struct {
			Text string `json:"text"`
		} `json:"choices"`
		Usage struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	for _, v := range []any{&a, &b} {
		resp := post(t, ts.URL+"/v1/completions", req)
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	if a.Object != "text_completion" || a.Usage.PromptTokens != 3 || a.Usage.CompletionTokens != 4 || len(strings.Fields(a.Choices[0].Text)) != 4 {
		t.Errorf("completion = %+v", a)
	}
	if a.Choices[0].Text != b.Choices[0].Text {
		t.Errorf("same prompt and seed gave %q and %q", a.Choices[0].Text, b.Choices[0].Text)
	}
	// Streaming completions carry text chunks.
	resp := post(t, ts.URL+"/v1/completions", `{"model":"test-model","prompt":"x","max_tokens":3,"stream":true}`)
	n := 0
	for _, e := range sseData(t, resp.Body) {
		if strings.Contains(e, `"text":"`) && !strings.Contains(e, `"text":""`) {
			n++
		}
	}
	if n != 3 {
		t.Errorf("streamed completion text chunks = %d, want 3", n)
	}
}

func TestMaxTokensRules(t *testing.T) {
	t.Parallel()
	body := `{"model":"test-model","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":3}`
	tests := []struct {
		flavour engine.Kind
		want    int
	}{
		{engine.VLLM, 3},
		{engine.SGLang, 3},
		{engine.LlamaCpp, 3},
		{engine.Ollama, 16}, // ignored: the default length applies
	}
	for _, tt := range tests {
		t.Run(string(tt.flavour), func(t *testing.T) {
			t.Parallel()
			_, ts := newSim(t, sim.Config{Flavour: tt.flavour})
			var out struct {
				Usage struct {
					CompletionTokens int `json:"completion_tokens"`
				} `json:"usage"`
			}
			resp := post(t, ts.URL+"/v1/chat/completions", body)
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if out.Usage.CompletionTokens != tt.want {
				t.Errorf("completion_tokens = %d, want %d", out.Usage.CompletionTokens, tt.want)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	_, ts := newSim(t, sim.Config{Flavour: engine.VLLM})
	tests := []struct {
		path, body string
		status     int
		want       string
	}{
		{"/v1/chat/completions", `{`, 400, "invalid JSON"},
		{"/v1/chat/completions", `{"model":"other","messages":[{"role":"user","content":"x"}]}`, 404, "does not exist"},
		{"/v1/chat/completions", `{"model":"test-model","messages":[]}`, 400, "messages"},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, 400, "max_tokens must be at least 1"},
		{"/v1/completions", `{"model":"test-model"}`, 400, "prompt is required"},
	}
	for _, tt := range tests {
		resp := post(t, ts.URL+tt.path, tt.body)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s %s: %d %s; want %d containing %q", tt.path, tt.body, resp.StatusCode, b, tt.status, tt.want)
		}
	}
}

func TestFailureRate(t *testing.T) {
	t.Parallel()
	_, ts := newSim(t, sim.Config{Flavour: engine.VLLM, FailureRate: 1})
	resp := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}],"stream":true}`)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || !strings.Contains(string(b), "simulated failure") {
		t.Errorf("failure-rate 1: %d %s", resp.StatusCode, b)
	}
}

func TestStartupBehaviourPerFlavour(t *testing.T) {
	t.Parallel()
	const delay = 300 * time.Millisecond
	type probe struct {
		path   string
		before int
		body   string // substring of the body before ready ("" = any)
		after  int
	}
	tests := []struct {
		flavour engine.Kind
		probes  []probe
	}{
		{engine.VLLM, []probe{{"/health", 503, "", 200}}},
		{engine.SGLang, []probe{{"/health", 503, "", 200}, {"/health_generate", 503, "", 200}, {"/v1/models", 200, "test-model", 200}}},
		{engine.LlamaCpp, []probe{{"/health", 503, `"message":"Loading model"`, 200}}},
		{engine.Ollama, []probe{{"/api/version", 200, "", 200}, {"/api/tags", 200, `"models":[]`, 200}}},
	}
	for _, tt := range tests {
		t.Run(string(tt.flavour), func(t *testing.T) {
			t.Parallel()
			s, ts := newSim(t, sim.Config{Flavour: tt.flavour, StartupDelay: delay})
			for _, p := range tt.probes {
				if s.Ready() {
					t.Skip("machine too slow: start-up delay passed before the first probe")
				}
				code, body := get(t, ts.URL+p.path)
				if code != p.before || !strings.Contains(body, p.body) {
					t.Errorf("before ready %s = %d %q, want %d containing %q", p.path, code, body, p.before, p.body)
				}
			}
			for !s.Ready() {
				time.Sleep(20 * time.Millisecond)
			}
			for _, p := range tt.probes {
				if code, _ := get(t, ts.URL+p.path); code != p.after {
					t.Errorf("after ready %s = %d, want %d", p.path, code, p.after)
				}
			}
			// The ready probe of package engine now passes.
			spec := engine.MustSpec(tt.flavour)
			code, body := get(t, ts.URL+spec.Ready.Path)
			if code != 200 {
				t.Fatalf("ready probe %s = %d", spec.Ready.Path, code)
			}
			if spec.Ready.Kind != engine.ProbeStatus {
				ok, err := engine.ModelListed(spec.Ready.Kind, []byte(body), "test-model")
				if err != nil || !ok {
					t.Errorf("ready probe body %s does not list the model: %v", body, err)
				}
			}
		})
	}
}

func TestOllamaNativeAPI(t *testing.T) {
	t.Parallel()
	_, ts := newSim(t, sim.Config{Flavour: engine.Ollama, Model: "llama3.2"})
	resp := post(t, ts.URL+"/api/pull", `{"model":"llama3.2:latest","stream":false}`)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), "success") {
		t.Errorf("pull = %d %s", resp.StatusCode, b)
	}
	resp = post(t, ts.URL+"/api/pull", `{"model":"other"}`)
	if resp.StatusCode != 500 {
		t.Errorf("pull of another model = %d, want 500", resp.StatusCode)
	}
	resp = post(t, ts.URL+"/api/generate", `{"model":"llama3.2","prompt":"hello there","options":{"num_predict":4}}`)
	var lines []map[string]any
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 5 {
		t.Fatalf("generate lines = %d, want 4 tokens + final", len(lines))
	}
	final := lines[4]
	if final["done"] != true || final["eval_count"] != 4.0 || final["prompt_eval_count"] != 2.0 || final["done_reason"] != "length" {
		t.Errorf("final line = %v", final)
	}
	for _, k := range []string{"eval_duration", "load_duration", "total_duration", "prompt_eval_duration"} {
		if _, ok := final[k]; !ok {
			t.Errorf("final line lacks %s", k)
		}
	}
	code, body := get(t, ts.URL+"/v1/models")
	if code != 200 || !strings.Contains(body, `"owned_by":"servelab-sim"`) || !strings.Contains(body, "llama3.2:latest") {
		t.Errorf("/v1/models = %d %s", code, body)
	}
	if code, _ := get(t, ts.URL+"/metrics"); code != 404 {
		t.Errorf("ollama /metrics = %d, want 404", code)
	}
}

func metricNames(t *testing.T, url string) []string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range fams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestMetricNamesMatchEngine(t *testing.T) {
	t.Parallel()
	for _, flavour := range []engine.Kind{engine.VLLM, engine.SGLang, engine.LlamaCpp} {
		t.Run(string(flavour), func(t *testing.T) {
			t.Parallel()
			_, ts := newSim(t, sim.Config{Flavour: flavour, Capacity: 4})
			resp := post(t, ts.URL+"/v1/chat/completions", `{"messages":[{"role":"user","content":"a b c"}],"max_tokens":3,"stream":true}`)
			_, _ = io.Copy(io.Discard, resp.Body)
			want := slices.Clone(engine.MustSpec(flavour).Metrics.Names())
			sort.Strings(want)
			got := metricNames(t, ts.URL+"/metrics")
			if !slices.Equal(got, want) {
				t.Errorf("exposed %v\nwant    %v", got, want)
			}
			// Traffic moved the counters: 3 prompt tokens, 3 generated.
			_, body := get(t, ts.URL+"/metrics")
			spec := engine.MustSpec(flavour)
			for _, name := range []string{spec.Metrics.PromptTokens, spec.Metrics.GenerationTokens} {
				if !regexpLine(body, name, "3") {
					t.Errorf("%s not 3 after one request:\n%s", name, body)
				}
			}
		})
	}
}

// regexpLine reports whether body has a sample line of name with value v.
func regexpLine(body, name, v string) bool {
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name) && strings.HasSuffix(line, " "+v) {
			return true
		}
	}
	return false
}

func TestCapacityQueuesRequests(t *testing.T) {
	t.Parallel()
	// One decode slot and a long first request: while it streams, two more
	// requests must wait in the queue. The check reads the sim's own gauges
	// (server-side state), not client-side timestamps, which a loaded
	// machine reorders.
	_, ts := newSim(t, sim.Config{Flavour: engine.VLLM, Capacity: 1, TTFT: time.Millisecond, ITL: 20 * time.Millisecond, MaxOutputTokens: 100000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := func() (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions",
			strings.NewReader(`{"messages":[{"role":"user","content":"x"}],"max_tokens":100000,"stream":true}`))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	first, err := stream()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Body.Close()
	sc := bufio.NewScanner(first.Body)
	for sc.Scan() && !strings.Contains(sc.Text(), `"content":"`) {
	}
	// The first request is decoding (a token arrived); it runs for 2,000 s.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			resp, err := stream()
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	spec := engine.MustSpec(engine.VLLM)
	hang := time.Now().Add(5 * time.Minute) // a guard against hanging, not a timing check
	for {
		if time.Now().After(hang) {
			t.Fatal("never saw one request decoding and two queued")
		}
		_, body := get(t, ts.URL+"/metrics")
		if regexpLine(body, spec.Metrics.Running, "2") || regexpLine(body, spec.Metrics.Running, "3") {
			t.Fatalf("more than one request decoding with capacity 1:\n%s", body)
		}
		if regexpLine(body, spec.Metrics.Waiting, "2") && regexpLine(body, spec.Metrics.Running, "1") {
			break // one decoding, two queued
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	good := sim.Config{Flavour: engine.VLLM, Model: "m", MaxOutputTokens: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mut  func(*sim.Config)
		want string
	}{
		{func(c *sim.Config) { c.Flavour = "sim" }, "--flavour"},
		{func(c *sim.Config) { c.Model = "" }, "--model"},
		{func(c *sim.Config) { c.TTFT = -1 }, "--ttft"},
		{func(c *sim.Config) { c.ITL = -1 }, "--itl"},
		{func(c *sim.Config) { c.Jitter = 1 }, "--jitter"},
		{func(c *sim.Config) { c.Capacity = -1 }, "--capacity"},
		{func(c *sim.Config) { c.StartupDelay = -1 }, "--startup-delay"},
		{func(c *sim.Config) { c.FailureRate = 1.5 }, "--failure-rate"},
		{func(c *sim.Config) { c.MaxOutputTokens = 0 }, "--max-output-tokens"},
	}
	for _, tt := range tests {
		c := good
		tt.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want error naming %s", err, tt.want)
		}
	}
}

func TestRunClosesPortUntilReadyForVLLM(t *testing.T) {
	t.Parallel()
	ln := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sim.Run(ctx, sim.Config{Flavour: engine.VLLM, Model: "m", MaxOutputTokens: 1, StartupDelay: 400 * time.Millisecond}, ln)
	}()
	if _, err := http.Get("http://" + ln + "/health"); err == nil {
		t.Error("vLLM-flavoured sim accepted a connection while loading")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + ln + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("/health = %d after load", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("sim never came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
