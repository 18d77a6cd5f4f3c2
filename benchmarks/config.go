package benchmarks

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/benchmarks/sse"
	"github.com/servelab/servelab/benchmarks/stats"
)

// Endpoints: the request shape (and default path) of a target.
const (
	EndpointChat        = "chat"        // POST /v1/chat/completions, one user message
	EndpointCompletions = "completions" // POST /v1/completions
)

// Backends, as `vllm bench serve --backend` names the two request shapes.
const (
	BackendOpenAIChat = "openai-chat" // chat completions
	BackendOpenAI     = "openai"      // completions
)

// WarmupAuto, as Config.Warmup, sends before each load level as many
// unmeasured requests as the level's concurrency (its number of prompts
// when the concurrency is unlimited), at that concurrency.
const WarmupAuto = -1

// DefaultMaxFailureRatio is the CLI's --max-failure-ratio.
const DefaultMaxFailureRatio = 0.05

// Errors that classify why Run did not fully succeed (wrapped; test with
// errors.Is). ErrInterrupted is in client.go.
var (
	// ErrConfig marks a usage or setup problem found before anything was
	// measured: a bad value, an unreadable dataset or key.
	ErrConfig = errors.New("bad bench configuration")
	// ErrDeadline marks a benchmark cut short by Config.Deadline.
	ErrDeadline = errors.New("deadline reached")
	// ErrFailureRatio marks a run in which more requests failed than
	// Config.MaxFailureRatio allows.
	ErrFailureRatio = errors.New("too many requests failed")
	// ErrTarget marks a target that could not be prepared (its model list
	// could not be read): its runs were skipped.
	ErrTarget = errors.New("target unavailable")
)

// Target is one endpoint to benchmark.
type Target struct {
	// Label names the target in results ("" → the base URL's host).
	Label string `json:"label"`
	// BaseURL is the server's base URL; a trailing "/v1" is accepted.
	BaseURL string `json:"base_url"`
	// Model is the model name to request ("" → the first model the
	// server's /v1/models lists).
	Model string `json:"model"`
	// Engine and Image are recorded in provenance only.
	Engine string `json:"engine,omitempty"`
	Image  string `json:"image,omitempty"`
	// Endpoint overrides Config.Endpoint for this target: chat,
	// completions, or a full path such as /v1/chat/completions.
	Endpoint string `json:"endpoint,omitempty"`
	// MetricsURL is the engine's Prometheus endpoint, reachable from the
	// bench. Before the target's runs the bench reads the engine's KV-cache
	// capacity there (vLLM's vllm:cache_config_info, SGLang's
	// sglang:max_total_num_tokens). No API key is sent to it.
	MetricsURL string `json:"metrics_url,omitempty"`
	// APIKeyEnv names an environment variable holding the API key, sent as
	// "Authorization: Bearer". The key itself is never a field.
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// APIKeyFile is a file holding the API key (surrounding white space is
	// trimmed).
	APIKeyFile string `json:"api_key_file,omitempty"`
}

// Config is a benchmark invocation: the same seeded workload against each
// target at each load point (every max_concurrency × request_rate pair).
type Config struct {
	Targets []Target
	// Endpoint is chat, completions, or a full path ending in
	// /chat/completions or /completions (vLLM's --endpoint).
	Endpoint string
	// Dataset selects and sizes the workload; its Seed is the run's seed.
	Dataset dataset.Spec
	// MaxConcurrency lists the in-flight caps to sweep; 0 means unlimited.
	// Empty means [0].
	MaxConcurrency []int
	// RequestRates lists the arrival rates (requests/s) to sweep; +Inf
	// sends everything at t0. Empty means [+Inf].
	RequestRates []float64
	// Burstiness is the gamma shape of inter-arrival gaps (1 = Poisson).
	Burstiness float64
	// Warmup is the number of unmeasured requests sent before each load
	// level's first run, at its concurrency; WarmupAuto sends the level's
	// concurrency (all its prompts when unlimited).
	Warmup int
	// Repeats runs every load level this many times (1..100; 0 means 1).
	Repeats int
	// Deadline bounds the whole benchmark (0 = none). When it passes,
	// in-flight requests are aborted at once, the current run is returned
	// with Partial set, no later run starts, and the error wraps
	// ErrDeadline.
	Deadline time.Duration
	// MaxFailureRatio: a run in which failed/(completed+failed) exceeds it
	// makes the error wrap ErrFailureRatio (0 tolerates no failure; ≥ 1
	// tolerates every failure but a run that completes nothing, which
	// always wraps ErrAllFailed). Interrupted runs are not judged.
	MaxFailureRatio float64
	// MaxEventBytes bounds one SSE event of a response; a bigger one fails
	// the request (0 means sse.DefaultMaxEvent, 1 MiB).
	MaxEventBytes int
	// Goodput holds SLOs in ms keyed ttft, tpot, e2el.
	Goodput map[string]float64
	// Percentiles to report (default 50, 90, 99).
	Percentiles []float64
	// Timeout bounds each request.
	Timeout time.Duration
	// IgnoreEOS sends "ignore_eos": true (refused for Ollama targets, which
	// do not accept it).
	IgnoreEOS bool
	// Temperature is sent with every request.
	Temperature float64
	// SaveDetailed adds per-request arrays to each Result.
	SaveDetailed bool
	// Grace is how long in-flight requests may run after ctx is cancelled
	// before they are aborted (default 5 s).
	Grace time.Duration
	// Progress, when set, is told about each run's progress.
	Progress Progress
	// Abort, when closed, aborts in-flight requests at once, even within
	// the grace period (a second Ctrl-C).
	Abort <-chan struct{}
	// BinarySHA256 is the hex SHA-256 of the servelab executable, recorded
	// in the provenance ("" when unknown).
	BinarySHA256 string
	// Logger receives run-level logs; nil means slog.Default().
	Logger *slog.Logger
	// Getenv and ReadFile resolve API keys; nil means os.Getenv and
	// os.ReadFile.
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// Progress reports a benchmark's progress (a terminal bar, or periodic
// lines in a log).
type Progress interface {
	// Start begins a phase of one run (its warm-up, or its measurement).
	Start(RunInfo)
	// Done records one finished request of the phase.
	Done(failed bool)
	// Finish ends the phase.
	Finish()
}

// RunInfo describes one phase of one run, for progress displays.
type RunInfo struct {
	// Index is the run's position (1-based) among Total planned runs.
	Index, Total int
	Label        string
	// MaxConcurrency is the run's cap, 0 = unlimited.
	MaxConcurrency int
	RequestRate    Rate
	// Repeat is the run's repetition (1-based) of Repeats at its level.
	Repeat, Repeats int
	// Warmup is true for the unmeasured requests before a level.
	Warmup bool
	// Requests is the number of requests in the phase.
	Requests int
}

// Level describes the run's load level and repetition:
// "c=8 r=inf" or "c=8 r=inf #2/3".
func (i RunInfo) Level() string {
	s := fmt.Sprintf("c=%s r=%s", concLabel(i.MaxConcurrency), i.RequestRate)
	if i.Repeats > 1 {
		s += fmt.Sprintf(" #%d/%d", i.Repeat, i.Repeats)
	}
	return s
}

// DefaultPercentiles are reported when none are configured.
var DefaultPercentiles = []float64{50, 90, 99}

func (c *Config) withDefaults() {
	if len(c.MaxConcurrency) == 0 {
		c.MaxConcurrency = []int{0}
	}
	if len(c.RequestRates) == 0 {
		c.RequestRates = []float64{math.Inf(1)}
	}
	if c.Burstiness == 0 {
		c.Burstiness = 1
	}
	if len(c.Percentiles) == 0 {
		c.Percentiles = DefaultPercentiles
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Minute
	}
	if c.Grace == 0 {
		c.Grace = 5 * time.Second
	}
	if c.Repeats == 0 {
		c.Repeats = 1
	}
	if c.MaxEventBytes == 0 {
		c.MaxEventBytes = sse.DefaultMaxEvent
	}
	if c.Endpoint == "" {
		c.Endpoint = EndpointChat
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if c.ReadFile == nil {
		c.ReadFile = os.ReadFile
	}
}

// Validate reports every problem with c, each naming its flag or field.
func (c Config) Validate() error {
	c.withDefaults()
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no target: give --base-url or --targets"))
	}
	for i, t := range c.Targets {
		if err := t.validate(c.IgnoreEOS); err != nil {
			errs = append(errs, fmt.Errorf("target %d (%s): %w", i, t.BaseURL, err))
		}
	}
	if _, _, err := ParseEndpoint(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("--endpoint: %w", err))
	}
	if err := c.Dataset.Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, m := range c.MaxConcurrency {
		if m < 0 {
			errs = append(errs, fmt.Errorf("--max-concurrency must be ≥ 0 (0 = unlimited), got %d", m))
		}
	}
	for _, r := range c.RequestRates {
		if !(r > 0) {
			errs = append(errs, fmt.Errorf("--request-rate must be > 0 or inf, got %v", r))
		}
	}
	if !(c.Burstiness > 0) || math.IsInf(c.Burstiness, 0) {
		errs = append(errs, fmt.Errorf("--burstiness must be a finite number > 0, got %v", c.Burstiness))
	}
	if c.Warmup < 0 && c.Warmup != WarmupAuto {
		errs = append(errs, fmt.Errorf("--warmup must be ≥ 0 or auto, got %d", c.Warmup))
	}
	if c.Repeats < 1 || c.Repeats > 100 {
		errs = append(errs, fmt.Errorf("--repeats must be in 1..100, got %d", c.Repeats))
	}
	if c.Deadline < 0 {
		errs = append(errs, fmt.Errorf("--deadline must be > 0, got %s", c.Deadline))
	}
	if !(c.MaxFailureRatio >= 0) || math.IsInf(c.MaxFailureRatio, 0) {
		errs = append(errs, fmt.Errorf("--max-failure-ratio must be a number ≥ 0, got %v", c.MaxFailureRatio))
	}
	if c.MaxEventBytes < 1 {
		errs = append(errs, fmt.Errorf("--max-event-bytes must be > 0, got %d", c.MaxEventBytes))
	}
	for k, v := range c.Goodput {
		if !slices.Contains([]string{"ttft", "tpot", "e2el"}, k) {
			errs = append(errs, fmt.Errorf("--goodput: unknown metric %q (want ttft, tpot, e2el)", k))
		}
		if !(v >= 0) {
			errs = append(errs, fmt.Errorf("--goodput: %s must be ≥ 0 ms, got %v", k, v))
		}
	}
	if err := stats.ValidatePercentiles(c.Percentiles); err != nil {
		errs = append(errs, fmt.Errorf("--percentiles: %w", err))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("--timeout must be > 0, got %s", c.Timeout))
	}
	if math.IsNaN(c.Temperature) || c.Temperature < 0 {
		errs = append(errs, fmt.Errorf("--temperature must be ≥ 0, got %v", c.Temperature))
	}
	return errors.Join(errs...)
}

// ParseEndpoint reads an endpoint as --endpoint takes it: chat,
// completions, or a full path (vLLM's form) ending in /chat/completions or
// /completions. It returns the request shape and the path to POST to.
func ParseEndpoint(e string) (kind, path string, err error) {
	switch {
	case e == EndpointChat:
		return EndpointChat, "/v1/chat/completions", nil
	case e == EndpointCompletions:
		return EndpointCompletions, "/v1/completions", nil
	case strings.HasPrefix(e, "/") && !strings.ContainsAny(e, "?# ") && strings.HasSuffix(e, "/chat/completions"):
		return EndpointChat, e, nil
	case strings.HasPrefix(e, "/") && !strings.ContainsAny(e, "?# ") && strings.HasSuffix(e, "/completions"):
		return EndpointCompletions, e, nil
	}
	return "", "", fmt.Errorf("%q: want chat, completions, or a path ending in /chat/completions or /completions (e.g. /v1/chat/completions)", e)
}

// BackendOf is vLLM's --backend name of an endpoint kind.
func BackendOf(kind string) string {
	if kind == EndpointCompletions {
		return BackendOpenAI
	}
	return BackendOpenAIChat
}

// ParseBackend reads vLLM's --backend: openai-chat (chat), openai or vllm
// (completions). It returns the endpoint kind.
func ParseBackend(b string) (string, error) {
	switch b {
	case BackendOpenAIChat:
		return EndpointChat, nil
	case BackendOpenAI, "vllm":
		return EndpointCompletions, nil
	}
	return "", fmt.Errorf("--backend %q: want openai-chat (chat completions) or openai (completions); other vLLM backends are not supported", b)
}

// CheckURL checks an http(s) URL without credentials, with a clear word
// for a URL that lacks its scheme ("localhost:8000"). Its message starts
// with the quoted URL, for the caller to prefix with the flag or field.
func CheckURL(raw string) error {
	if !strings.Contains(raw, "://") {
		return fmt.Errorf("%q has no scheme: write http://%s (or https://)", raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q: want http(s)://host[:port][/prefix]", raw)
	}
	if u.User != nil {
		return errors.New("must not carry credentials: use api_key_env or api_key_file")
	}
	return nil
}

func (t Target) validate(ignoreEOS bool) error {
	if t.BaseURL == "" {
		return errors.New("base_url is empty")
	}
	if err := CheckURL(t.BaseURL); err != nil {
		return fmt.Errorf("base_url %w", err)
	}
	if t.MetricsURL != "" {
		if err := CheckURL(t.MetricsURL); err != nil {
			return fmt.Errorf("metrics_url %w", err)
		}
	}
	if t.Endpoint != "" {
		if _, _, err := ParseEndpoint(t.Endpoint); err != nil {
			return fmt.Errorf("endpoint: %w", err)
		}
	}
	if t.APIKeyEnv != "" && t.APIKeyFile != "" {
		return errors.New("give api_key_env or api_key_file, not both")
	}
	if ignoreEOS && t.Engine == "ollama" {
		return errors.New("--ignore-eos: ollama does not accept ignore_eos")
	}
	return nil
}

// apiKey resolves the target's API key ("" when none is configured).
func (t Target) apiKey(getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case t.APIKeyEnv != "":
		k := getenv(t.APIKeyEnv)
		if k == "" {
			return "", fmt.Errorf("api key: environment variable %s is empty or unset", t.APIKeyEnv)
		}
		return k, nil
	case t.APIKeyFile != "":
		b, err := readFile(t.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("api key file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", fmt.Errorf("api key file %s is empty", t.APIKeyFile)
		}
		return k, nil
	}
	return "", nil
}

// baseURL returns the target's URL without a trailing "/" or "/v1".
func (t Target) baseURL() string {
	b := strings.TrimRight(t.BaseURL, "/")
	return strings.TrimSuffix(b, "/v1")
}

// label returns the target's label, defaulting to the URL's host.
func (t Target) label() string {
	if t.Label != "" {
		return t.Label
	}
	if u, err := url.Parse(t.BaseURL); err == nil {
		return u.Host
	}
	return t.BaseURL
}

// ParseRates parses a comma-separated list of request rates ("1,2.5,inf").
func ParseRates(s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if strings.EqualFold(f, "inf") {
			out = append(out, math.Inf(1))
			continue
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("--request-rate: %q is not a positive number or inf", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseInts parses a comma-separated list of non-negative integers.
func ParseInts(flag, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%s: %q is not a non-negative integer", flag, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseFloats parses a comma-separated list of numbers.
func ParseFloats(flag, s string) ([]float64, error) {
	var out []float64
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%s: %q is not a number", flag, f)
		}
		out = append(out, v)
	}
	return out, nil
}

// ParseGoodput parses "ttft:500,tpot:50,e2el:2000" (milliseconds).
func ParseGoodput(s string) (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), ":")
		if !ok {
			return nil, fmt.Errorf("--goodput: %q is not METRIC:MS", pair)
		}
		k = strings.TrimSpace(k)
		if !slices.Contains([]string{"ttft", "tpot", "e2el"}, k) {
			return nil, fmt.Errorf("--goodput: unknown metric %q (want ttft, tpot, e2el)", k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--goodput: %s given twice", k)
		}
		ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || !(ms >= 0) || math.IsInf(ms, 0) {
			return nil, fmt.Errorf("--goodput: %s:%q is not a number of ms ≥ 0", k, v)
		}
		out[k] = ms
	}
	return out, nil
}
