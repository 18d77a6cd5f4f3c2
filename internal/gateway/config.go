// Package gateway is servelab's OpenAI-compatible gateway: it routes
// /v1/chat/completions, /v1/completions and /v1/embeddings by the body's
// top-level "model" to the framework backends serving that model, with
// readiness probes, passive ejection, retries, SSE pass-through, an optional
// response cache, API-key auth and Prometheus metrics.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/jsonscan"
	"github.com/servelab/servelab/internal/shellquote"
	"github.com/servelab/servelab/internal/strictjson"
)

// Routing names a load-balancing policy.
type Routing string

const (
	// LeastOutstanding picks the ready backend with the fewest requests in
	// flight through this gateway (the default).
	LeastOutstanding Routing = "least-outstanding"
	// RoundRobin cycles through the ready backends.
	RoundRobin Routing = "round-robin"
	// Weighted is smooth weighted round robin over the backends' weights.
	Weighted Routing = "weighted"
)

// Server cores (Config.Core).
const (
	// CoreH1 is the gateway's own HTTP/1.1 server and backend client (the
	// default; Linux only, elsewhere CoreNetHTTP serves).
	CoreH1 = "h1"
	// CoreNetHTTP is Go's net/http server with the client upstreamClient
	// names.
	CoreNetHTTP = "nethttp"
)

// Upstream clients (Config.UpstreamClient).
const (
	UpstreamHTTP   = "http"
	UpstreamDirect = "direct"
)

// Routings lists the valid policies.
var Routings = []Routing{LeastOutstanding, RoundRobin, Weighted}

// MaxBackendsPerModel bounds a model's backend list (retries track the
// backends already tried in a 64-bit mask).
const MaxBackendsPerModel = 64

// MaxBodyBytesLimit is the largest maxBodyBytes the config accepts: a
// request body is held in memory while it is forwarded (and kept for
// retries), so the bound keeps a few large requests from exhausting memory.
// The longest context of today's engines (1M tokens, ~4 MiB of text) fits
// many times over.
const MaxBodyBytesLimit = 64 << 20

// MaxJSONDepthLimit is the largest maxJSONDepth the config accepts
// (encoding/json's own nesting limit).
const MaxJSONDepthLimit = jsonscan.MaxDepth

// Config is the gateway's configuration file. The Pulumi gateway component
// renders it with json.Marshal; ParseConfig reads it back. Start Go values
// from DefaultConfig: a key absent from the file keeps its default, a key
// present is validated as given.
type Config struct {
	// Listen is the API listener, host:port.
	Listen string `json:"listen"`
	// MetricsListen, when not empty, serves /metrics (without auth) on its
	// own listener instead of the API listener.
	MetricsListen string `json:"metricsListen"`
	// Routing is the default policy for models that do not set their own.
	Routing Routing `json:"routing"`
	// MaxBodyBytes bounds request bodies (413 above it), at most
	// MaxBodyBytesLimit.
	MaxBodyBytes int64 `json:"maxBodyBytes"`
	// MaxJSONDepth bounds how deep objects and arrays may nest in a request
	// body (the top-level object is level 1); deeper bodies get 400 instead
	// of reaching an engine whose parser would fail on them.
	MaxJSONDepth int `json:"maxJSONDepth"`
	// MaxConnections caps the client connections open at once on each
	// listener; a connection beyond it is answered 503 and closed at once.
	MaxConnections int `json:"maxConnections"`
	// MaxIdleConnsPerHost sizes the upstream keep-alive pool per backend.
	MaxIdleConnsPerHost int `json:"maxIdleConnsPerHost"`
	// Core picks the server: "h1" (the gateway's own HTTP/1.1 server and
	// backend client, the default) or "nethttp" (Go's net/http server with
	// the client UpstreamClient names). See docs/gateway.md, Performance.
	Core string `json:"core"`
	// UpstreamClient picks the HTTP client to backends of the nethttp core:
	// "http" (Go's http.Transport, the default) or "direct"
	// (DirectTransport: the same pooling and timeouts, reading and writing
	// on the request's goroutine). The h1 core has its own client.
	UpstreamClient string `json:"upstreamClient"`
	// Retries is how many other backends a request may be retried on after a
	// connect failure or an upstream 502/503 (0 disables retries).
	Retries int `json:"retries"`
	// ProbeInterval is the period of the readiness probes.
	ProbeInterval Duration `json:"probeInterval"`
	Timeouts      Timeouts `json:"timeouts"`
	Ejection      Ejection `json:"ejection"`
	Cache         Cache    `json:"cache"`
	Auth          Auth     `json:"auth"`
	Models        []Model  `json:"models"`
}

// Timeouts bounds every wait of the gateway.
type Timeouts struct {
	// RequestHeader bounds the arrival of a request's headers, counted from
	// the request's first byte (on a new connection, from its accept).
	RequestHeader Duration `json:"requestHeader"`
	// RequestRead bounds the arrival of a whole request, headers and body,
	// counted from the same point; a body still arriving then gets 408.
	RequestRead Duration `json:"requestRead"`
	// LingerClose is how long, after an answer given before the request
	// was read whole (401, 404, 405, 408, 413, a malformed request), the
	// gateway goes on reading and dropping what the client still sends
	// before it closes the connection: closing with unread bytes resets
	// the connection, which can destroy the answer before the client
	// reads it.
	LingerClose Duration `json:"lingerClose"`
	// Dial bounds a TCP connect to a backend.
	Dial Duration `json:"dial"`
	// ResponseHeader bounds the wait for a backend's response headers after
	// the request was written (prefill of a long prompt happens here).
	ResponseHeader Duration `json:"responseHeader"`
	// StreamIdle bounds each wait for response bytes from a backend, and
	// each write to a client; a stream idle for longer is ended.
	StreamIdle Duration `json:"streamIdle"`
	// Probe bounds one readiness probe.
	Probe Duration `json:"probe"`
	// Shutdown is how long in-flight requests may drain on shutdown.
	Shutdown Duration `json:"shutdown"`
}

// Ejection configures passive health checking.
type Ejection struct {
	// ConsecutiveFailures (connect errors, timeouts, 5xx) eject a backend.
	ConsecutiveFailures int `json:"consecutiveFailures"`
	// BaseBackoff is the first ejection's length; it doubles with each
	// ejection that follows within 2×MaxBackoff, up to MaxBackoff.
	BaseBackoff Duration `json:"baseBackoff"`
	MaxBackoff  Duration `json:"maxBackoff"`
}

// Cache configures the response cache for deterministic requests.
type Cache struct {
	Enabled    bool     `json:"enabled"`
	TTL        Duration `json:"ttl"`
	MaxEntries int      `json:"maxEntries"`
	MaxBytes   int64    `json:"maxBytes"`
}

// Auth configures API keys. Auth is off when both fields are empty.
type Auth struct {
	// KeysFile holds one key per line; blank lines and # comments are
	// ignored.
	KeysFile string `json:"keysFile"`
	// KeysEnv names an environment variable holding keys separated by
	// commas or newlines.
	KeysEnv string `json:"keysEnv"`
}

// Enabled reports whether API keys are required.
func (a Auth) Enabled() bool { return a.KeysFile != "" || a.KeysEnv != "" }

// Model is a public model name and the backends serving it.
type Model struct {
	// Name is the model name clients send.
	Name string `json:"name"`
	// Routing overrides Config.Routing for this model when not empty.
	Routing  Routing   `json:"routing"`
	Backends []Backend `json:"backends"`
}

// Backend is one framework container serving a model.
type Backend struct {
	// Name is the framework's name in the stack (metric label "backend").
	Name string `json:"name"`
	// Engine is the API flavour (vllm|sglang|ollama|llamacpp; a simulated
	// engine is given as its flavour). It selects the readiness probe.
	Engine engine.Kind `json:"engine"`
	// URL is the backend's base URL, http(s)://host:port[/prefix].
	URL string `json:"url"`
	// Model is the upstream's served model name; empty means Model.Name.
	// When it differs, the gateway rewrites the request's "model".
	Model string `json:"model"`
	// Weight is the share for weighted routing; 0 counts as 1.
	Weight int `json:"weight"`
	// APIKeyFile, when set, is the path of a file holding this backend's
	// own API key (one line). The gateway reads it at start and sends
	// "Authorization: Bearer <key>" to this backend on proxied requests and
	// readiness probes; the key is never logged. A client's Authorization
	// header is never forwarded, with or without it.
	APIKeyFile string `json:"apiKeyFile,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes d as a duration string ("1m30s").
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration string like \"30s\", got %s", truncate(string(b), 40))
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q (want a Go duration like \"30s\")", s)
	}
	*d = Duration(v)
	return nil
}

// DefaultConfig returns the configuration with every default set and no
// models.
func DefaultConfig() Config {
	return Config{
		Listen:              "127.0.0.1:8080",
		MetricsListen:       "",
		Routing:             LeastOutstanding,
		MaxBodyBytes:        10 << 20,
		MaxJSONDepth:        512,
		MaxConnections:      4096,
		MaxIdleConnsPerHost: 1024,
		Core:                CoreH1,
		UpstreamClient:      UpstreamHTTP,
		Retries:             2,
		ProbeInterval:       Duration(2 * time.Second),
		Timeouts: Timeouts{
			RequestHeader:  Duration(10 * time.Second),
			RequestRead:    Duration(60 * time.Second),
			LingerClose:    Duration(500 * time.Millisecond),
			Dial:           Duration(5 * time.Second),
			ResponseHeader: Duration(10 * time.Minute),
			StreamIdle:     Duration(60 * time.Second),
			Probe:          Duration(5 * time.Second),
			Shutdown:       Duration(30 * time.Second),
		},
		Ejection: Ejection{
			ConsecutiveFailures: 3,
			BaseBackoff:         Duration(time.Second),
			MaxBackoff:          Duration(30 * time.Second),
		},
		Cache: Cache{
			Enabled:    false,
			TTL:        Duration(10 * time.Minute),
			MaxEntries: 1000,
			MaxBytes:   64 << 20,
		},
	}
}

// LoadConfig reads and validates the configuration file at path.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read gateway config: %w", err)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return Config{}, fmt.Errorf("gateway config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes b over DefaultConfig and validates the result. The
// error lists every problem, each with its JSON path.
func ParseConfig(b []byte) (Config, error) {
	cfg := DefaultConfig()
	var errs problems
	if err := strictjson.Syntax(b); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for _, p := range strictjson.Decode(b, &cfg, "") {
		errs = append(errs, p.String())
	}
	// Validate what did decode too, so that one pass reports everything;
	// a value that failed to decode is not reported twice.
	var checks problems
	cfg.validate(&checks)
	for _, c := range checks {
		path, _, _ := strings.Cut(c, ": ")
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.HasPrefix(e, path+": ") }) {
			errs = append(errs, c)
		}
	}
	if err := errs.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Check validates a Config built in Go (as the Pulumi component does)
// exactly as ParseConfig would.
func (c Config) Check() error {
	var errs problems
	c.validate(&errs)
	return errs.err()
}

// problems collects configuration errors with their JSON paths.
type problems []string

func (p *problems) add(path, format string, args ...any) {
	if path == "" {
		path = "(root)"
	}
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	if len(p) == 1 {
		return fmt.Errorf("%w: %s", ErrConfig, p[0])
	}
	return fmt.Errorf("%w: %d problems:\n  %s", ErrConfig, len(p), strings.Join(p, "\n  "))
}

// truncate shortens s to n bytes for an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// validate appends every problem of c to errs.
func (c Config) validate(errs *problems) {
	checkAddr(errs, "listen", c.Listen, false)
	checkAddr(errs, "metricsListen", c.MetricsListen, true)
	if c.MetricsListen != "" && c.MetricsListen == c.Listen {
		errs.add("metricsListen", "must differ from listen (leave it empty to serve /metrics on the API listener)")
	}
	checkRouting(errs, "routing", c.Routing, false)
	switch {
	case c.MaxBodyBytes <= 0:
		errs.add("maxBodyBytes", "must be > 0, got %d", c.MaxBodyBytes)
	case c.MaxBodyBytes > MaxBodyBytesLimit:
		errs.add("maxBodyBytes", "must be at most %d (64 MiB), got %d", MaxBodyBytesLimit, c.MaxBodyBytes)
	}
	if c.MaxJSONDepth < 1 || c.MaxJSONDepth > MaxJSONDepthLimit {
		errs.add("maxJSONDepth", "must be in [1, %d], got %d", MaxJSONDepthLimit, c.MaxJSONDepth)
	}
	if c.MaxConnections < 1 {
		errs.add("maxConnections", "must be >= 1, got %d", c.MaxConnections)
	}
	if c.Core != CoreH1 && c.Core != CoreNetHTTP {
		errs.add("core", "unknown core %q (want %s or %s)", c.Core, CoreH1, CoreNetHTTP)
	}
	if c.UpstreamClient != UpstreamHTTP && c.UpstreamClient != UpstreamDirect {
		errs.add("upstreamClient", "unknown client %q (want %s or %s)", c.UpstreamClient, UpstreamHTTP, UpstreamDirect)
	}
	if c.MaxIdleConnsPerHost <= 0 {
		errs.add("maxIdleConnsPerHost", "must be > 0, got %d", c.MaxIdleConnsPerHost)
	}
	if c.Retries < 0 || c.Retries >= MaxBackendsPerModel {
		errs.add("retries", "must be in [0, %d), got %d", MaxBackendsPerModel, c.Retries)
	}
	positive(errs, "probeInterval", c.ProbeInterval)
	positive(errs, "timeouts.requestHeader", c.Timeouts.RequestHeader)
	positive(errs, "timeouts.requestRead", c.Timeouts.RequestRead)
	positive(errs, "timeouts.lingerClose", c.Timeouts.LingerClose)
	if c.Timeouts.RequestRead < c.Timeouts.RequestHeader {
		errs.add("timeouts.requestRead", "must be >= timeouts.requestHeader (%s), got %s", c.Timeouts.RequestHeader.D(), c.Timeouts.RequestRead.D())
	}
	positive(errs, "timeouts.dial", c.Timeouts.Dial)
	positive(errs, "timeouts.responseHeader", c.Timeouts.ResponseHeader)
	positive(errs, "timeouts.streamIdle", c.Timeouts.StreamIdle)
	positive(errs, "timeouts.probe", c.Timeouts.Probe)
	positive(errs, "timeouts.shutdown", c.Timeouts.Shutdown)
	if c.Ejection.ConsecutiveFailures < 1 {
		errs.add("ejection.consecutiveFailures", "must be >= 1, got %d", c.Ejection.ConsecutiveFailures)
	}
	positive(errs, "ejection.baseBackoff", c.Ejection.BaseBackoff)
	positive(errs, "ejection.maxBackoff", c.Ejection.MaxBackoff)
	if c.Ejection.MaxBackoff < c.Ejection.BaseBackoff {
		errs.add("ejection.maxBackoff", "must be >= ejection.baseBackoff (%s), got %s", c.Ejection.BaseBackoff.D(), c.Ejection.MaxBackoff.D())
	}
	positive(errs, "cache.ttl", c.Cache.TTL)
	if c.Cache.MaxEntries <= 0 {
		errs.add("cache.maxEntries", "must be > 0, got %d", c.Cache.MaxEntries)
	}
	if c.Cache.MaxBytes <= 0 {
		errs.add("cache.maxBytes", "must be > 0, got %d", c.Cache.MaxBytes)
	}
	if c.Auth.KeysEnv != "" && !shellquote.ValidName(c.Auth.KeysEnv) {
		errs.add("auth.keysEnv", "%q is not an environment variable name", c.Auth.KeysEnv)
	}
	if len(c.Models) == 0 {
		errs.add("models", "at least one model is required")
	}
	seen := map[string]int{}
	for i, m := range c.Models {
		p := fmt.Sprintf("models[%d]", i)
		switch {
		case m.Name == "":
			errs.add(p+".name", "must not be empty")
		case strings.TrimSpace(m.Name) != m.Name:
			errs.add(p+".name", "%q has leading or trailing space", m.Name)
		default:
			if j, dup := seen[m.Name]; dup {
				errs.add(p+".name", "%q duplicates models[%d]", m.Name, j)
			}
			seen[m.Name] = i
		}
		checkRouting(errs, p+".routing", m.Routing, true)
		if len(m.Backends) == 0 {
			errs.add(p+".backends", "at least one backend is required")
		}
		if len(m.Backends) > MaxBackendsPerModel {
			errs.add(p+".backends", "at most %d backends, got %d", MaxBackendsPerModel, len(m.Backends))
		}
		bseen := map[string]int{}
		for j, b := range m.Backends {
			bp := fmt.Sprintf("%s.backends[%d]", p, j)
			if b.Name == "" {
				errs.add(bp+".name", "must not be empty")
			} else {
				if k, dup := bseen[b.Name]; dup {
					errs.add(bp+".name", "%q duplicates %s.backends[%d]", b.Name, p, k)
				}
				bseen[b.Name] = j
			}
			if _, err := engine.ParseFlavour(string(b.Engine)); err != nil {
				errs.add(bp+".engine", "%v (a simulated engine is given as its flavour)", err)
			}
			if err := checkURL(b.URL); err != nil {
				errs.add(bp+".url", "%v", err)
			}
			if b.Weight < 0 {
				errs.add(bp+".weight", "must be >= 0, got %d", b.Weight)
			}
			if b.APIKeyFile != "" && strings.TrimSpace(b.APIKeyFile) != b.APIKeyFile {
				errs.add(bp+".apiKeyFile", "%q has leading or trailing space", b.APIKeyFile)
			}
		}
	}
}

func positive(errs *problems, path string, d Duration) {
	if d <= 0 {
		errs.add(path, "must be a positive duration, got %q", d.D().String())
	}
}

func checkAddr(errs *problems, path, addr string, optional bool) {
	if addr == "" {
		if !optional {
			errs.add(path, "must not be empty (host:port)")
		}
		return
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		errs.add(path, "%q is not host:port: %v", addr, err)
	}
}

func checkRouting(errs *problems, path string, r Routing, optional bool) {
	if r == "" && optional {
		return
	}
	if !slices.Contains(Routings, r) {
		errs.add(path, "unknown routing %q (want least-outstanding, round-robin or weighted)", r)
	}
}

func checkURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: credentials in a URL are not allowed", redactURL(u))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: no query or fragment allowed", s)
	}
	return nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// routingOf returns the effective policy of m under c.
func (c Config) routingOf(m Model) Routing {
	if m.Routing != "" {
		return m.Routing
	}
	return c.Routing
}

// upstreamModel returns the model name the backend serves.
func (b Backend) upstreamModel(public string) string {
	if b.Model != "" {
		return b.Model
	}
	return public
}
