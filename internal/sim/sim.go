// Package sim is servelab's simulated inference engine: an HTTP server that
// speaks one real engine's API (its flavour: vLLM, SGLang, Ollama or
// llama.cpp) with configurable latency, capacity, start-up delay and
// failures, and no model. It exists for tests, demos and the `sim` stack,
// and says so: a banner log line, "owned_by":"servelab-sim" in model lists
// and an X-Servelab-Sim response header on every answer.
//
// Generation is deterministic: the text depends only on the seed, the prompt
// and the token index; every streamed chunk carries exactly one token;
// usage.completion_tokens is the number of tokens generated (max_tokens, or
// Config.MaxOutputTokens when the request gives none) and
// usage.prompt_tokens is tokens.Approx of the prompt text (chat: the sum
// over messages' text, no template overhead).
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// Header is set on every response of a simulated engine; its value is the
// flavour.
const Header = "X-Servelab-Sim"

// OwnedBy is the owned_by of the served model in OpenAI model lists.
const OwnedBy = "servelab-sim"

// DefaultKVCacheTokens is the KV-cache capacity a sim reports unless
// Config.KVCacheTokens says otherwise.
const DefaultKVCacheTokens = 65536

// Config configures a simulated engine.
type Config struct {
	// Flavour is the engine whose API is simulated.
	Flavour engine.Kind
	// Model is the served model name.
	Model string
	// TTFT is the time from admission (a free decode slot) to the first
	// token.
	TTFT time.Duration
	// ITL is the time between successive tokens.
	ITL time.Duration
	// Jitter scales every TTFT and ITL delay by a uniform factor in
	// [1−Jitter, 1+Jitter]; 0 is exact timing. Must be in [0, 1).
	Jitter float64
	// Capacity is the number of requests decoded at once; more wait in a
	// queue (FIFO by arrival), so throughput saturates as with a real
	// batcher. 0 means unlimited.
	Capacity int
	// StartupDelay is how long the engine takes to become ready; until then
	// its health endpoints behave as the real engine's do while loading.
	StartupDelay time.Duration
	// FailureRate is the probability that a generation request fails with
	// HTTP 500 before any token. Must be in [0, 1].
	FailureRate float64
	// Seed makes jitter, failures and text reproducible.
	Seed int64
	// MaxOutputTokens is the completion length when a request sets no
	// max_tokens (Ollama: no num_predict). Must be ≥ 1.
	MaxOutputTokens int
	// APIKey, when set, must come as "Authorization: Bearer KEY" on the
	// paths the flavour's engine protects with its key (engine.Auth);
	// others get 401. Ollama takes no key.
	APIKey string
	// LoadDelay (Ollama) is how long the model takes to load into memory.
	// As Ollama, the sim loads it on first use — a generation, or a
	// generate with an empty prompt — and lists it in /api/ps from then
	// on; a request with keep_alive 0 unloads it after answering.
	LoadDelay time.Duration
	// KVCacheTokens is the KV-cache capacity the engine reports in its
	// metrics (vLLM: vllm:cache_config_info in blocks of 16, rounded up;
	// SGLang: sglang:max_total_num_tokens); 0 means DefaultKVCacheTokens.
	// It does not limit anything: Capacity does.
	KVCacheTokens int
	// Logger receives the banner and errors; nil means slog.Default().
	Logger *slog.Logger
}

// Validate reports the first bad field, named by its sim flag.
func (c Config) Validate() error {
	if _, err := engine.ParseFlavour(string(c.Flavour)); err != nil {
		return fmt.Errorf("--flavour: %w", err)
	}
	switch {
	case c.Model == "":
		return errors.New("--model must not be empty")
	case c.TTFT < 0:
		return fmt.Errorf("--ttft must be ≥ 0, got %s", c.TTFT)
	case c.ITL < 0:
		return fmt.Errorf("--itl must be ≥ 0, got %s", c.ITL)
	case c.Jitter < 0 || c.Jitter >= 1 || math.IsNaN(c.Jitter):
		return fmt.Errorf("--jitter must be in [0, 1), got %v", c.Jitter)
	case c.Capacity < 0:
		return fmt.Errorf("--capacity must be ≥ 0, got %d", c.Capacity)
	case c.StartupDelay < 0:
		return fmt.Errorf("--startup-delay must be ≥ 0, got %s", c.StartupDelay)
	case c.FailureRate < 0 || c.FailureRate > 1 || math.IsNaN(c.FailureRate):
		return fmt.Errorf("--failure-rate must be in [0, 1], got %v", c.FailureRate)
	case c.MaxOutputTokens < 1:
		return fmt.Errorf("--max-output-tokens must be ≥ 1, got %d", c.MaxOutputTokens)
	case c.APIKey != "" && !engine.MustSpec(c.Flavour).Auth.Supported:
		return fmt.Errorf("--api-key-file: %s takes no API key", c.Flavour)
	case c.LoadDelay < 0:
		return fmt.Errorf("--load-delay must be ≥ 0, got %s", c.LoadDelay)
	case c.LoadDelay > 0 && c.Flavour != engine.Ollama:
		return fmt.Errorf("--load-delay is Ollama's lazy model load; %s loads at start (--startup-delay)", c.Flavour)
	case c.KVCacheTokens < 0:
		return fmt.Errorf("--kv-cache-tokens must be ≥ 0, got %d", c.KVCacheTokens)
	}
	return nil
}

// Server is a simulated engine. Create it with New, serve Handler, and
// Close it when done.
type Server struct {
	cfg     Config
	spec    engine.Spec
	log     *slog.Logger
	readyAt time.Time
	slots   chan struct{} // nil when capacity is unlimited
	pacer   *pacer
	m       *meters
	seq     atomic.Uint64 // request counter: ids and per-request random streams
	running atomic.Int64
	handler http.Handler
	model   modelLoad // Ollama: the model's lazy load
}

// New validates cfg and returns a Server whose start-up delay runs from now.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	spec, err := engine.SpecOf(cfg.Flavour)
	if err != nil {
		return nil, err
	}
	if cfg.KVCacheTokens == 0 {
		cfg.KVCacheTokens = DefaultKVCacheTokens
	}
	m, err := newMeters(cfg.Flavour, cfg.Model, cfg.KVCacheTokens)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		spec:    spec,
		log:     cfg.Logger,
		readyAt: time.Now().Add(cfg.StartupDelay),
		pacer:   newPacer(),
		m:       m,
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "sim", "flavour", string(cfg.Flavour))
	if cfg.Capacity > 0 {
		s.slots = make(chan struct{}, cfg.Capacity)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the engine's HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops the server's pacer (idempotent); streams still waiting for a
// token then wait until their request context ends.
func (s *Server) Close() { s.pacer.stop() }

// Ready reports whether the start-up delay has passed.
func (s *Server) Ready() bool { return !time.Now().Before(s.readyAt) }

// Banner logs the line that marks the process as a simulation.
func (s *Server) Banner(addr string) {
	s.log.Warn("SIMULATED ENGINE: servelab sim, no model is loaded; latencies and text are synthetic",
		"model", s.cfg.Model, "listen", addr, "ttft", s.cfg.TTFT.String(), "itl", s.cfg.ITL.String(),
		"jitter", s.cfg.Jitter, "capacity", s.cfg.Capacity, "startup_delay", s.cfg.StartupDelay.String(),
		"failure_rate", s.cfg.FailureRate, "seed", s.cfg.Seed, "api_key", s.cfg.APIKey != "", "load_delay", s.cfg.LoadDelay.String())
}

// Run serves a simulated engine on addr until ctx ends, then shuts down
// gracefully (in-flight requests get up to 5 s). A vLLM-flavoured engine
// binds its port only when the start-up delay has passed, since vLLM's API
// server refuses connections while the engine loads.
func Run(ctx context.Context, cfg Config, addr string) error {
	s, err := New(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	s.Banner(addr)
	if cfg.Flavour == engine.VLLM && cfg.StartupDelay > 0 {
		s.log.Info("loading (port closed until ready, as vLLM)", "ready_in", cfg.StartupDelay.String())
		t := time.NewTimer(time.Until(s.readyAt))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sim listen %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String())
	// Serve returns only after the announcement is made or dropped: no
	// log line after it.
	stop, announced := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-announced }()
	go func() { defer close(announced); s.announceReady(ctx, stop) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sim serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("sim shutdown: %w", err)
	}
	return nil
}

// announceReady logs "ready" once the start-up delay has passed (at once
// when it has), unless ctx ends or stop closes first.
func (s *Server) announceReady(ctx context.Context, stop <-chan struct{}) {
	t := time.NewTimer(time.Until(s.readyAt))
	defer t.Stop()
	select {
	case <-t.C:
		s.log.Info("ready", "model", s.cfg.Model, "startup_delay", s.cfg.StartupDelay.String())
	case <-ctx.Done():
	case <-stop:
	}
}

// DefaultAddr is the listen address of a flavour: all interfaces, the
// engine's default port.
func DefaultAddr(flavour engine.Kind) (string, error) {
	spec, err := engine.SpecOf(flavour)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("0.0.0.0:%d", spec.DefaultPort), nil
}
