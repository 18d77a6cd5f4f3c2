// Package benchmarks is servelab's benchmark runner: it replays a seeded
// workload against OpenAI-compatible endpoints over streaming HTTP and
// reports the metrics `vllm bench serve` reports, under vLLM's field names,
// plus servelab's provenance and a per-language breakdown.
//
// A result file written by `servelab bench --format json` holds either one
// Result object (one target, one load point) or {"runs":[Result, ...]} (a
// sweep or several targets). Decode reads both.
package benchmarks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Token-count sources recorded in Result.OutputTokensSource and
// Result.InputTokensSource.
const (
	// SourceUsage: every completed request's count came from the server's
	// usage block.
	SourceUsage = "usage"
	// SourceChunks: output tokens were counted as content chunks because the
	// server sent no usage.
	SourceChunks = "chunks"
	// SourceApprox: input tokens were estimated from the prompt text
	// (benchmarks/tokens) because the server sent no usage.
	SourceApprox = "approx"
	// SourceMixed: some requests had usage and some did not.
	SourceMixed = "mixed"
	// SourceNone: no request completed.
	SourceNone = "none"
)

// Result is one benchmark run: one target at one load point (concurrency,
// request rate). Latency statistics are flattened into vLLM's keys
// (mean_ttft_ms, median_ttft_ms, std_ttft_ms, p99_ttft_ms, ... for ttft,
// tpot, itl and e2el) by MarshalJSON.
type Result struct {
	// ServelabVersion is the servelab release that produced the result.
	ServelabVersion string `json:"servelab_version"`
	// Label names the target (for example "gateway" or "vllm-direct").
	Label string `json:"label"`
	// BaseURL is the target's base URL (without /v1/...).
	BaseURL string `json:"base_url"`
	// Model is the served model name sent in every request.
	Model string `json:"model"`
	// ModelID is Model under vLLM's name for it.
	ModelID string `json:"model_id"`
	// Endpoint is "chat" (chat completions) or "completions".
	Endpoint string `json:"endpoint"`
	// EndpointPath is the path requests were POSTed to, e.g.
	// /v1/chat/completions.
	EndpointPath string `json:"endpoint_path,omitempty"`
	// Backend is the request shape under vLLM's --backend name:
	// openai-chat (chat) or openai (completions).
	Backend string `json:"backend"`
	// Engine is the engine kind behind the target as the caller declared it
	// (vllm, sglang, ollama, llamacpp, sim, gateway); provenance only.
	Engine string `json:"engine,omitempty"`
	// Image is the container image of the target as declared; provenance only.
	Image string `json:"image,omitempty"`
	// Seed seeds the workload sampling and the arrival process.
	Seed int64 `json:"seed"`
	// Dataset is the workload kind: random, multilingual, sharegpt or jsonl.
	Dataset string `json:"dataset"`
	// DatasetSHA256 is the hex SHA-256 of the sampled workload: the JSONL
	// lines {"prompt","language","max_tokens"} of the requests in send
	// order. Two results with the same value ran the same requests.
	DatasetSHA256 string `json:"dataset_sha256"`
	// Config holds the remaining run parameters.
	Config RunConfig `json:"config"`
	// StartedAt is the wall-clock time of the first dispatch (RFC 3339).
	StartedAt time.Time `json:"started_at"`
	// Date is StartedAt in local time as vLLM writes it: 20060102-150405.
	Date string `json:"date"`
	// Repeat is this run's repetition (1-based) of its load level.
	Repeat int `json:"repeat"`
	// KVCacheCapacityTokens is the engine's KV-cache capacity in tokens,
	// read from the target's metrics_url before its runs; absent when
	// unknown.
	KVCacheCapacityTokens *int64 `json:"kv_cache_capacity_tokens,omitempty"`
	// OutputTokensSource says where output token counts came from: usage,
	// chunks, mixed or none.
	OutputTokensSource string `json:"output_tokens_source"`
	// InputTokensSource says where input token counts came from: usage,
	// approx, mixed or none.
	InputTokensSource string `json:"input_tokens_source"`
	// Partial is true when the run was interrupted: the numbers cover only
	// the requests that finished.
	Partial bool `json:"partial"`

	// NumPrompts is the number of measured requests planned (warmup excluded).
	NumPrompts int `json:"num_prompts"`
	// MaxConcurrency is the cap on in-flight requests; null means unlimited.
	MaxConcurrency *int `json:"max_concurrency"`
	// RequestRate is the mean arrival rate in requests/s; +Inf (JSON "inf")
	// sends every request at t0.
	RequestRate Rate `json:"request_rate"`
	// Burstiness is the gamma shape of inter-arrival gaps (1 = Poisson).
	Burstiness float64 `json:"burstiness"`

	Metrics

	// MaxOutputTokensPerS is the most output tokens received in any one-second
	// bucket of the run (vLLM's max_output_tokens_per_s); token times are
	// reconstructed as start+ttft+cumulative itls, one token per chunk.
	MaxOutputTokensPerS float64 `json:"max_output_tokens_per_s"`
	// MaxConcurrentRequests is the peak number of completed requests in
	// flight at once (vLLM's max_concurrent_requests).
	MaxConcurrentRequests int `json:"max_concurrent_requests"`

	// ErrorSummary counts the failed requests by error text (at most 20
	// texts; the rest under "(other errors)"). Empty when none failed.
	ErrorSummary map[string]int `json:"error_summary"`
	// FirstError is the error of the first request to fail, "" when none
	// did.
	FirstError string `json:"first_error,omitempty"`

	// PerLanguage holds the same metrics per prompt language, for workloads
	// whose prompts carry a language (the multilingual set). Throughputs are
	// over the whole run's duration, so they add up to the run's.
	PerLanguage map[string]LanguageMetrics `json:"per_language,omitempty"`

	// Detailed holds per-request arrays, present with --save-detailed.
	*Detailed
}

// Metrics are the aggregate numbers of a run or of one language within it.
type Metrics struct {
	// Completed counts requests that finished without error.
	Completed int `json:"completed"`
	// Failed counts requests that ended in an error (HTTP status, error
	// event, timeout, broken stream, interruption).
	Failed int `json:"failed"`
	// TotalInputTokens sums input tokens of completed requests.
	TotalInputTokens int `json:"total_input_tokens"`
	// TotalOutputTokens sums output tokens of completed requests.
	TotalOutputTokens int `json:"total_output_tokens"`
	// Duration is seconds from the first dispatch to the last request's end.
	Duration float64 `json:"duration"`
	// RequestThroughput is completed/duration (requests/s).
	RequestThroughput float64 `json:"request_throughput"`
	// RequestGoodput is (completed requests meeting every goodput SLO) /
	// duration; null when no SLO was given.
	RequestGoodput *float64 `json:"request_goodput"`
	// OutputThroughput is total_output_tokens/duration (tokens/s).
	OutputThroughput float64 `json:"output_throughput"`
	// TotalTokenThroughput is (total_input_tokens+total_output_tokens)/duration.
	TotalTokenThroughput float64 `json:"total_token_throughput"`

	// TTFT: time to the first chunk with non-empty content (or reasoning),
	// per completed request, in ms.
	TTFT Latency `json:"-"`
	// TPOT: (e2el-ttft)/(output_tokens-1) per completed request with more
	// than one output token, in ms.
	TPOT Latency `json:"-"`
	// ITL: every gap between successive content chunks of completed
	// requests, in ms.
	ITL Latency `json:"-"`
	// E2EL: last content chunk minus start, per completed request, in ms.
	E2EL Latency `json:"-"`
}

// LanguageMetrics is the per-language entry of Result.PerLanguage.
type LanguageMetrics struct {
	Metrics
}

// Latency summarises one latency metric in milliseconds. It is written as
// mean_<m>_ms, median_<m>_ms, std_<m>_ms and p<P>_<m>_ms keys. An empty
// sample gives zeros, as vLLM does.
type Latency struct {
	// Mean is the arithmetic mean.
	Mean float64
	// Median is the 50th percentile (linear interpolation).
	Median float64
	// Std is the population standard deviation.
	Std float64
	// Percentiles are the requested percentiles, ascending.
	Percentiles []Percentile
}

// Percentile is one percentile of a latency sample.
type Percentile struct {
	// P is the percentile, 0..100 (99.9 allowed).
	P float64
	// Value is the latency at P in ms (numpy's linear interpolation).
	Value float64
}

// At returns the value at percentile p, if it was computed.
func (l Latency) At(p float64) (float64, bool) {
	for _, q := range l.Percentiles {
		if q.P == p {
			return q.Value, true
		}
	}
	return 0, false
}

// Detailed holds vLLM-style per-request arrays, one entry per measured
// request in send order (failed ones included).
type Detailed struct {
	// StartTimes are seconds from the run's first dispatch to each
	// request's dispatch.
	StartTimes []float64 `json:"start_times"`
	// TTFTs are seconds to the first content chunk (0 when failed).
	TTFTs []float64 `json:"ttfts"`
	// ITLs are each request's gaps between content chunks, in seconds.
	ITLs [][]float64 `json:"itls"`
	// Latencies are end-to-end latencies in seconds (0 when failed).
	Latencies []float64 `json:"latencies"`
	// InputLens are input token counts (usage or approx, see
	// input_tokens_source).
	InputLens []int `json:"input_lens"`
	// OutputLens are output token counts (0 when failed).
	OutputLens []int `json:"output_lens"`
	// Errors are error texts, "" for completed requests.
	Errors []string `json:"errors"`
	// Languages are each prompt's language ("" when the dataset has none).
	Languages []string `json:"languages"`
}

// RunConfig records the run parameters that are not top-level fields.
type RunConfig struct {
	// Warmup is the number of unmeasured requests sent before the run's
	// load level (before its first repeat).
	Warmup int `json:"warmup"`
	// DatasetPath is the file read for sharegpt/jsonl ("" otherwise).
	DatasetPath string `json:"dataset_path,omitempty"`
	// RandomInputLen, RandomOutputLen and RandomRangeRatio shape the random
	// dataset: lengths uniform in [len·(1−r), len·(1+r)].
	RandomInputLen   int     `json:"random_input_len,omitempty"`
	RandomOutputLen  int     `json:"random_output_len,omitempty"`
	RandomRangeRatio float64 `json:"random_range_ratio,omitempty"`
	// OutputLen, when > 0, replaced each prompt's max_tokens (non-random
	// datasets).
	OutputLen int `json:"output_len,omitempty"`
	// IgnoreEOS is whether ignore_eos was sent.
	IgnoreEOS bool `json:"ignore_eos"`
	// Temperature is the sampling temperature sent.
	Temperature float64 `json:"temperature"`
	// TimeoutSeconds is the per-request timeout.
	TimeoutSeconds float64 `json:"timeout_s"`
	// Percentiles are the percentiles reported for each latency.
	Percentiles []float64 `json:"percentiles"`
	// Goodput holds the SLOs in ms by metric (ttft, tpot, e2el).
	Goodput map[string]float64 `json:"goodput,omitempty"`
	// TTFTOn says which chunk stops the TTFT clock: "content" (the first
	// chunk with non-empty content, reasoning_content or reasoning).
	TTFTOn string `json:"ttft_on"`
}

// Runs is the document written for a sweep, several targets or --runs:
// {"provenance":{...},"runs":[Result, ...]}, runs in execution order
// (targets outermost, then max_concurrency, then request_rate, then
// repeats).
type Runs struct {
	// Provenance records what produced the runs; nil in documents written
	// before it existed.
	Provenance *Provenance `json:"provenance,omitempty"`
	Runs       []Result    `json:"runs"`
}

// Rate is a request rate in requests/s; +Inf encodes as the JSON string
// "inf", as vLLM writes it.
type Rate float64

// Inf reports whether the rate is unlimited.
func (r Rate) Inf() bool { return math.IsInf(float64(r), 1) }

// MarshalJSON writes a number, or "inf".
func (r Rate) MarshalJSON() ([]byte, error) {
	if r.Inf() {
		return []byte(`"inf"`), nil
	}
	return json.Marshal(float64(r))
}

// UnmarshalJSON reads a number, or "inf".
func (r *Rate) UnmarshalJSON(b []byte) error {
	if string(b) == `"inf"` {
		*r = Rate(math.Inf(1))
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("request_rate: want a number or \"inf\": %w", err)
	}
	*r = Rate(f)
	return nil
}

// String formats the rate as the CLI accepts it.
func (r Rate) String() string {
	if r.Inf() {
		return "inf"
	}
	return strconv.FormatFloat(float64(r), 'f', -1, 64)
}

// latencyNames are the vLLM metric keys, in output order.
var latencyNames = [...]string{"ttft", "tpot", "itl", "e2el"}

func (m *Metrics) latency(name string) *Latency {
	switch name {
	case "ttft":
		return &m.TTFT
	case "tpot":
		return &m.TPOT
	case "itl":
		return &m.ITL
	default:
		return &m.E2EL
	}
}

// PercentileKey formats p as vLLM does in p<P>_<metric>_ms: integers
// without a decimal point ("99"), others as the shortest decimal ("99.9").
func PercentileKey(p float64) string {
	if p == math.Trunc(p) {
		return strconv.FormatInt(int64(p), 10)
	}
	return strconv.FormatFloat(p, 'f', -1, 64)
}

// appendLatencyKeys appends ,"mean_ttft_ms":..,... to an object body.
func appendLatencyKeys(buf *bytes.Buffer, m *Metrics) error {
	for _, name := range latencyNames {
		l := m.latency(name)
		kv := []struct {
			k string
			v float64
		}{{"mean_" + name + "_ms", l.Mean}, {"median_" + name + "_ms", l.Median}, {"std_" + name + "_ms", l.Std}}
		for _, p := range l.Percentiles {
			kv = append(kv, struct {
				k string
				v float64
			}{"p" + PercentileKey(p.P) + "_" + name + "_ms", p.Value})
		}
		for _, e := range kv {
			v, err := json.Marshal(e.v)
			if err != nil {
				return fmt.Errorf("%s: %w", e.k, err)
			}
			buf.WriteString(`,"`)
			buf.WriteString(e.k)
			buf.WriteString(`":`)
			buf.Write(v)
		}
	}
	return nil
}

// spliceLatency inserts the latency keys before the closing brace of obj.
func spliceLatency(obj []byte, m *Metrics) ([]byte, error) {
	obj = bytes.TrimSpace(obj)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return nil, errors.New("marshal result: not an object")
	}
	body := obj[1 : len(obj)-1]
	var buf bytes.Buffer
	buf.WriteByte('{')
	buf.Write(body)
	if err := appendLatencyKeys(&buf, m); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if len(body) == 0 && len(out) > 1 { // drop the comma before the first key
		out = append(out[:1], out[2:]...)
	}
	return append(out, '}'), nil
}

var latencyKey = regexp.MustCompile(`^(mean|median|std|p[0-9]+(?:\.[0-9]+)?)_(ttft|tpot|itl|e2el)_ms$`)

// readLatency fills m's latencies from the flattened keys of obj.
func readLatency(obj []byte, m *Metrics) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(obj, &raw); err != nil {
		return err
	}
	for k, v := range raw {
		g := latencyKey.FindStringSubmatch(k)
		if g == nil {
			continue
		}
		var f float64
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		l := m.latency(g[2])
		switch g[1] {
		case "mean":
			l.Mean = f
		case "median":
			l.Median = f
		case "std":
			l.Std = f
		default:
			p, err := strconv.ParseFloat(g[1][1:], 64)
			if err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			if p > 100 {
				return fmt.Errorf("%s: percentile %v out of range [0, 100]", k, p)
			}
			l.Percentiles = append(l.Percentiles, Percentile{P: p, Value: f})
		}
	}
	for _, name := range latencyNames {
		l := m.latency(name)
		slices.SortFunc(l.Percentiles, func(a, b Percentile) int { return cmpFloat(a.P, b.P) })
	}
	return nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// MarshalJSON writes the result with vLLM's flattened latency keys.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	b, err := json.Marshal(plain(r))
	if err != nil {
		return nil, fmt.Errorf("marshal result: %w", err)
	}
	return spliceLatency(b, &r.Metrics)
}

// UnmarshalJSON reads a result written by MarshalJSON (or by vLLM, for the
// fields they share).
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*r = Result(p)
	return readLatency(b, &r.Metrics)
}

// MarshalJSON writes the language's metrics with flattened latency keys.
func (l LanguageMetrics) MarshalJSON() ([]byte, error) {
	type plain LanguageMetrics
	b, err := json.Marshal(plain(l))
	if err != nil {
		return nil, fmt.Errorf("marshal language metrics: %w", err)
	}
	return spliceLatency(b, &l.Metrics)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (l *LanguageMetrics) UnmarshalJSON(b []byte) error {
	type plain LanguageMetrics
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*l = LanguageMetrics(p)
	return readLatency(b, &l.Metrics)
}

// Decode reads a bench JSON document: either one Result object or
// {"runs":[...]}. It returns the runs in file order.
func Decode(r io.Reader) ([]Result, error) {
	doc, err := DecodeDocument(r)
	return doc.Runs, err
}

// DecodeDocument reads a bench JSON document with its provenance: one
// Result object (no provenance) or {"provenance":{...},"runs":[...]}.
func DecodeDocument(r io.Reader) (Runs, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Runs{}, fmt.Errorf("read bench result: %w", err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return Runs{}, fmt.Errorf("decode bench result: %w", err)
	}
	if _, ok := probe["runs"]; ok {
		var doc Runs
		if err := json.Unmarshal(data, &doc); err != nil {
			return Runs{}, fmt.Errorf("decode bench result runs: %w", err)
		}
		return doc, nil
	}
	var one Result
	if err := json.Unmarshal(data, &one); err != nil {
		return Runs{}, fmt.Errorf("decode bench result: %w", err)
	}
	return Runs{Runs: []Result{one}}, nil
}
