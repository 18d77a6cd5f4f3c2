package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

// TestOpenAIClient drives the gateway with the official openai-go client:
// chat and completions, streamed and not, against each engine flavour,
// with the served model name differing from the public one.
func TestOpenAIClient(t *testing.T) {
	t.Parallel()
	for _, flavour := range engine.Flavours {
		t.Run(string(flavour), func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "be-"+string(flavour), flavour, "org/served-"+string(flavour))
			gw := startGateway(t, testConfig(Model{Name: "public", Backends: []Backend{up.backend()}}), Options{}, true)
			client := openai.NewClient(option.WithBaseURL(gw.URL+"/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			chat, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
				Model:    "public",
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
			})
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			if got := chat.Choices[0].Message.Content; got != "hello from "+up.name {
				t.Errorf("chat content = %q", got)
			}
			if chat.Usage.CompletionTokens != 4 {
				t.Errorf("chat usage = %+v", chat.Usage)
			}
			body, _ := up.body()
			if m, _ := ExtractModel(body); m != up.served {
				t.Errorf("upstream saw model %q, want %q", m, up.served)
			}

			stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
				Model:         "public",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
			})
			var text strings.Builder
			var usage int64
			for stream.Next() {
				c := stream.Current()
				if len(c.Choices) > 0 {
					text.WriteString(c.Choices[0].Delta.Content)
				}
				if c.Usage.CompletionTokens > 0 {
					usage = c.Usage.CompletionTokens
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("chat stream: %v", err)
			}
			if text.String() != "tok0 tok1 tok2 tok3 tok4 " || usage != 5 {
				t.Errorf("chat stream = %q, usage %d", text.String(), usage)
			}

			comp, err := client.Completions.New(ctx, openai.CompletionNewParams{
				Model:  "public",
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon")},
			})
			if err != nil {
				t.Fatalf("completions: %v", err)
			}
			if comp.Choices[0].Text != "hello from "+up.name {
				t.Errorf("completion text = %q", comp.Choices[0].Text)
			}

			cs := client.Completions.NewStreaming(ctx, openai.CompletionNewParams{
				Model:  "public",
				Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon")},
			})
			text.Reset()
			for cs.Next() {
				if c := cs.Current(); len(c.Choices) > 0 {
					text.WriteString(c.Choices[0].Text)
				}
			}
			if err := cs.Err(); err != nil {
				t.Fatalf("completion stream: %v", err)
			}
			if text.String() != "tok0 tok1 tok2 tok3 tok4 " {
				t.Errorf("completion stream = %q", text.String())
			}

			emb, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
				Model: "public",
				Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("x")},
			})
			if err != nil {
				t.Fatalf("embeddings: %v", err)
			}
			if len(emb.Data) != 1 || len(emb.Data[0].Embedding) != 2 {
				t.Errorf("embeddings = %+v", emb.Data)
			}

			// Both streams are counted with their TTFT (the handler records
			// after the client has read the last byte, so wait for it).
			waitFor(t, 5*time.Second, "2 TTFT observations (chat and completion streams)", func() bool {
				return histogramCount(t, gw, metricnames.GatewayTTFT, up.name) == 2
			})
		})
	}
}

// histogramCount returns the sample count of a histogram for a backend.
func histogramCount(t *testing.T, gw *testGateway, name, backend string) uint64 {
	t.Helper()
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "backend" && l.GetValue() == backend {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// metricValue returns a counter or gauge value by name and label subset.
func metricValue(t *testing.T, gw *testGateway, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue metric
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	ready := newFakeUpstream(t, "a", engine.VLLM, "m1")
	down := newFakeUpstream(t, "b", engine.SGLang, "m2")
	down.ready.Store(false)
	cfg := testConfig(
		Model{Name: "m1", Backends: []Backend{ready.backend()}},
		Model{Name: "m2", Backends: []Backend{down.backend()}},
	)
	gw := startGateway(t, cfg, Options{}, false)
	waitFor(t, 5*time.Second, "m1 ready", func() bool { return slices.Equal(gw.NotReady(), []string{"m2"}) })

	get := func(path string) (int, string) {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d %s", code, body)
	}
	code, body := get("/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"m2"`) || strings.Contains(body, `"m1"`) {
		t.Errorf("/readyz = %d %s, want 503 naming m2 only", code, body)
	}
	code, body = get("/v1/models")
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID     string `json:"id"`
			Object string `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("/v1/models = %d %s (%v)", code, body, err)
	}
	if list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != "m1" || list.Data[0].Object != "model" {
		t.Errorf("/v1/models = %s, want only m1", body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, metricnames.GatewayBackendReady) {
		t.Errorf("/metrics = %d", code)
	}
	if code, body := get("/nope"); code != 404 {
		t.Errorf("/nope = %d %s", code, body)
	} else {
		openAIError(t, body)
	}
	if code, body := get("/v1/chat/completions"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET chat = %d %s", code, body)
	}

	down.ready.Store(true)
	waitFor(t, 5*time.Second, "all ready", func() bool { return len(gw.NotReady()) == 0 })
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d %s after m2 became ready", code, body)
	}
}

func TestErrorResponses(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.LlamaCpp, "m")
	down := newFakeUpstream(t, "d", engine.VLLM, "m-down")
	down.ready.Store(false)
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}, Model{Name: "m-down", Backends: []Backend{down.backend()}})
	cfg.MaxBodyBytes = 1024
	cfg.MaxJSONDepth = 16
	gw := startGateway(t, cfg, Options{}, false)
	waitFor(t, 5*time.Second, "m ready", func() bool { return up.probes.Load() > 0 && gw.routes["m"].ready() })
	chat := gw.URL + "/v1/chat/completions"
	tests := []struct {
		name, body string
		status     int
		code       string
		message    []string // substrings of the error message
	}{
		{"unknown model", `{"model":"nope","messages":[]}`, 404, "model_not_found", []string{`"nope"`, "available models: m, m-down"}},
		{"case-variant duplicate model", `{"model":"m","MODEL":"m-down"}`, 400, "invalid_request", []string{`"MODEL"`, `"model"`}},
		{"duplicate model", `{"model":"m-down","model":"m"}`, 400, "invalid_request", []string{`duplicate key "model"`}},
		{"nested too deep", `{"model":"m","x":` + strings.Repeat("[", 16) + strings.Repeat("]", 16) + `}`, 400, "invalid_request", []string{"more than 16 levels"}},
		{"nested at the limit", `{"model":"m-down","x":` + strings.Repeat("[", 15) + strings.Repeat("]", 15) + `}`, 503, "no_ready_backend", nil},
		{"model only nested", `{"messages":[{"role":"user","content":"x","model":"m"}]}`, 400, "invalid_request", nil},
		{"model in a string", `{"prompt":"\"model\":\"m\"","x":1}`, 400, "invalid_request", nil},
		{"model not a string", `{"model":7}`, 400, "invalid_request", nil},
		{"empty model", `{"model":""}`, 400, "invalid_request", nil},
		{"malformed", `{"model":"m",`, 400, "invalid_request", nil},
		{"malformed nested", `{"model":"m","messages":[1,,2]}`, 400, "invalid_request", nil},
		{"trailing garbage", `{"model":"m"} x`, 400, "invalid_request", nil},
		{"not an object", `["model","m"]`, 400, "invalid_request", nil},
		{"empty body", ``, 400, "invalid_request", nil},
		{"too large", `{"model":"m","prompt":"` + strings.Repeat("x", 2000) + `"}`, 413, "request_too_large", nil},
		{"no ready backend", `{"model":"m-down"}`, 503, "no_ready_backend", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, h, body := post(t, chat, tc.body)
			if code != tc.status {
				t.Fatalf("status %d, want %d: %s", code, tc.status, body)
			}
			e := openAIError(t, body)
			if e.Code != tc.code {
				t.Errorf("code %q, want %q", e.Code, tc.code)
			}
			for _, m := range tc.message {
				if !strings.Contains(e.Message, m) {
					t.Errorf("message %q lacks %q", e.Message, m)
				}
			}
			if h.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
		})
	}
	t.Run("too large without length", func(t *testing.T) {
		t.Parallel()
		req, _ := http.NewRequest(http.MethodPost, chat, strings.NewReader(`{"model":"m","p":"`+strings.Repeat("y", 5000)+`"}`))
		req.ContentLength = -1 // chunked: the limit applies while reading
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Errorf("status %d, want 413", resp.StatusCode)
		}
	})
	if n := up.hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests from rejected ones", n)
	}
}

// TestModelRewrite checks that only the top-level model value changes.
func TestModelRewrite(t *testing.T) {
	t.Parallel()
	same := newFakeUpstream(t, "same", engine.VLLM, "pub")
	other := newFakeUpstream(t, "other", engine.VLLM, "org/Served-Name")
	gw := startGateway(t, testConfig(
		Model{Name: "pub", Backends: []Backend{{Name: same.name, Engine: engine.VLLM, URL: same.URL}}},
		Model{Name: "pub2", Backends: []Backend{other.backend()}},
	), Options{}, true)
	in := `{ "messages" : [{"role":"user","content":"say \"model\": pub2","model":"inner"}], "model" : "pub2" , "max_tokens":3}`
	if code, _, body := post(t, gw.URL+"/v1/chat/completions", in); code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	got, _ := other.body()
	want := strings.Replace(in, `"model" : "pub2"`, `"model" : "org/Served-Name"`, 1)
	if string(got) != want {
		t.Errorf("upstream body\n got %s\nwant %s", got, want)
	}
	in = `{"model":"pub","messages":[]}`
	if code, _, body := post(t, gw.URL+"/v1/chat/completions", in); code != 200 {
		t.Fatalf("status %d: %s", code, body)
	}
	if got, _ := same.body(); string(got) != in {
		t.Errorf("body changed without a rewrite: %s", got)
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}), Options{}, true)
	url := gw.URL + "/v1/chat/completions"

	code, h, _ := post(t, url, `{"model":"m"}`, "X-Request-Id", "abc-123", "X-Custom", "kept")
	if code != 200 || h.Get("X-Request-Id") != "abc-123" {
		t.Errorf("status %d, request id %q", code, h.Get("X-Request-Id"))
	}
	if us, err := strconv.Atoi(h.Get("X-Servelab-Overhead-Us")); err != nil || us < 0 {
		t.Errorf("X-Servelab-Overhead-Us = %q", h.Get("X-Servelab-Overhead-Us"))
	}
	_, uh := up.body()
	if uh.Get("X-Request-Id") != "abc-123" || uh.Get("X-Custom") != "kept" {
		t.Errorf("upstream headers %v", uh)
	}
	if uh.Get("X-Idempotency-Key") != "" || uh.Get("Authorization") != "" {
		t.Errorf("upstream got headers it must not: %v", uh)
	}

	_, h, _ = post(t, url, `{"model":"m"}`, "X-Request-Id", "bad id <script>"+strings.Repeat("z", 100))
	if id := h.Get("X-Request-Id"); len(id) > maxRequestIDLen || strings.ContainsAny(id, " <>") || !strings.HasPrefix(id, "badidscript") {
		t.Errorf("sanitised id = %q", id)
	}
	_, h, _ = post(t, url, `{"model":"m"}`)
	if h.Get("X-Request-Id") == "" {
		t.Error("no generated request id")
	}
}

// TestLogsOmitPrompts captures the logs of requests that succeed and fail
// and checks that no prompt or completion text is in them.
func TestLogsOmitPrompts(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}), Options{}, true)
	const secret = "PROMPT-SECRET-7f3a"
	url := gw.URL + "/v1/chat/completions"
	post(t, url, `{"model":"m","messages":[{"role":"user","content":"`+secret+`"}]}`)
	post(t, url, `{"model":"m","stream":true,"messages":[{"role":"user","content":"`+secret+`"}]}`)
	post(t, url, `{"model":"m","messages":[{"role":"user","content":"`+secret+`"},,]}`)
	post(t, url, `{"model":"nope","messages":[{"role":"user","content":"`+secret+`"}]}`)
	up.setMode(behave500)
	post(t, url, `{"model":"m","messages":[{"role":"user","content":"`+secret+`"}]}`)
	logs := gw.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatalf("no request logs captured:\n%s", logs)
	}
	for _, s := range []string{secret, "hello from", "tok0"} {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
}
