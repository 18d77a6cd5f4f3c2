package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// endpoint is a proxied API path.
type endpoint int

const (
	epChat endpoint = iota
	epCompletions
	epEmbeddings
	numEndpoints
)

func (e endpoint) path() string {
	switch e {
	case epChat:
		return "/v1/chat/completions"
	case epCompletions:
		return "/v1/completions"
	default:
		return "/v1/embeddings"
	}
}

// Options are the gateway's dependencies; the zero value is usable.
type Options struct {
	// Logger receives structured logs; nil means slog.Default().
	Logger *slog.Logger
	// Transport carries requests to backends. Setting it selects the
	// nethttp core (the h1 core has its own client); nil means the config's
	// core, and for the nethttp core the client upstreamClient names
	// (NewTransport or NewDirectTransport). Readiness probes use it too
	// (NewTransport when nil).
	Transport http.RoundTripper
	// Getenv reads auth.keysEnv; nil means os.Getenv.
	Getenv func(string) string
}

// Gateway routes OpenAI-style requests to backends. Create it with New,
// serve it with Serve or Run (which also start the readiness probes), or
// mount Handler yourself and call StartProbes.
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	rt      http.RoundTripper
	probes  *prober
	routes  map[string]*route
	ordered []*route
	keys    *keySet
	cache   *responseCache
	m       *metrics
	unknown *seriesSet // requests for models not configured
	ids     *idSource
	created int64
	resps   bufPool    // non-streamed response bodies
	bufs    *sync.Pool // *[]byte: stream copy buffers
	h1      *h1Client  // the h1 core's backend client; nil: the nethttp core serves
	// available names the configured models, for model_not_found answers.
	available string

	probeOnce sync.Once
}

// route is one public model: its backends and their selector.
type route struct {
	name     string
	backends []*upstream
	sel      Selector
	series   *modelSeries
}

// New builds a gateway for cfg (which must pass Check) and loads its API
// keys. It starts nothing.
func New(cfg Config, opts Options) (*Gateway, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	useH1 := cfg.Core == CoreH1 && opts.Transport == nil && h1Available
	if opts.Transport == nil && cfg.UpstreamClient == UpstreamDirect && !useH1 {
		opts.Transport = NewDirectTransport(cfg)
	}
	if opts.Transport == nil {
		opts.Transport = NewTransport(cfg)
	}
	keys, err := loadKeys(cfg.Auth, opts.Getenv)
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:     cfg,
		log:     opts.Logger,
		rt:      opts.Transport,
		routes:  map[string]*route{},
		keys:    keys,
		m:       newMetrics(),
		ids:     newIDSource(),
		created: time.Now().Unix(),
		bufs: &sync.Pool{New: func() any {
			b := make([]byte, streamBufSize)
			return &b
		}},
	}
	g.probes = &prober{
		client:   &http.Client{Transport: opts.Transport, CheckRedirect: noRedirect},
		interval: cfg.ProbeInterval.D(),
		timeout:  cfg.Timeouts.Probe.D(),
		log:      opts.Logger,
	}
	if cfg.Cache.Enabled {
		if g.cache, err = newResponseCache(cfg.Cache); err != nil {
			return nil, err
		}
	}
	g.unknown = g.m.pseudo(modelUnknown, backendNone)
	for _, m := range cfg.Models {
		r := &route{name: m.Name, series: g.m.model(m.Name)}
		for i, b := range m.Backends {
			s := g.m.series(m.Name, b.Name, string(b.Engine)).withReady()
			u, err := newUpstream(i, m.Name, b, s, cfg.Ejection)
			if err != nil {
				return nil, fmt.Errorf("model %s: %w", m.Name, err)
			}
			r.backends = append(r.backends, u)
		}
		if r.sel, err = newSelector(cfg.routingOf(m), r.backends); err != nil {
			return nil, fmt.Errorf("model %s: %w", m.Name, err)
		}
		g.routes[m.Name] = r
		g.ordered = append(g.ordered, r)
	}
	if useH1 {
		g.h1 = newH1Client(cfg, g.ordered)
	}
	g.available = availableModels(cfg.Models)
	return g, nil
}

// maxListedModels bounds the model names a model_not_found answer lists.
const maxListedModels = 20

func availableModels(models []Model) string {
	names := make([]string, 0, min(len(models), maxListedModels))
	for _, m := range models[:min(len(models), maxListedModels)] {
		names = append(names, m.Name)
	}
	s := strings.Join(names, ", ")
	if more := len(models) - len(names); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Registry is the gateway's own Prometheus registry.
func (g *Gateway) Registry() *prometheus.Registry { return g.m.reg }

// StartProbes starts one readiness prober per backend; they stop when ctx
// ends. Calls after the first do nothing.
func (g *Gateway) StartProbes(ctx context.Context) {
	g.probeOnce.Do(func() {
		for _, r := range g.ordered {
			for _, u := range r.backends {
				go g.probes.run(ctx, u)
			}
		}
	})
}

// Handler serves the API: the proxied endpoints, /v1/models, /healthz,
// /readyz, and /metrics unless metricsListen moves it to its own listener.
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.serveHTTP) }

// MetricsHandler serves /metrics without auth (for the metrics listener).
func (g *Gateway) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", g.m.handler())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 {
			answerEarly(w, r, mux.ServeHTTP, g.cfg.Timeouts.LingerClose.D()) // nothing here reads a body
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 && !isAPIPath(r.URL.Path) {
		answerEarly(w, r, g.route, g.cfg.Timeouts.LingerClose.D()) // these endpoints never read a body
		return
	}
	g.route(w, r)
}

// route serves r by its path.
func (g *Gateway) route(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions":
		g.proxy(w, r, epChat)
	case "/v1/completions":
		g.proxy(w, r, epCompletions)
	case "/v1/embeddings":
		g.proxy(w, r, epEmbeddings)
	case "/v1/models":
		g.listModels(w, r)
	case "/healthz":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	case "/readyz":
		g.readyz(w, r)
	case "/metrics":
		if g.cfg.MetricsListen != "" {
			writeError(w, fmt.Errorf("%w: /metrics is served on %s", ErrNotFound, g.cfg.MetricsListen))
			return
		}
		if !g.keys.allows(r) {
			writeError(w, ErrUnauthorized)
			return
		}
		g.m.handler().ServeHTTP(w, r)
	default:
		writeError(w, fmt.Errorf("%w: %s", ErrNotFound, truncate(r.URL.Path, 64)))
	}
}

// listModels answers GET /v1/models with the models that have a ready
// backend, in OpenAI's list shape.
func (g *Gateway) listModels(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", g.ids.requestID(r.Header.Get("X-Request-Id")))
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, ErrMethod)
		return
	}
	if !g.keys.allows(r) {
		writeError(w, ErrUnauthorized)
		return
	}
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	list := struct {
		Object string  `json:"object"`
		Data   []model `json:"data"`
	}{Object: "list", Data: []model{}}
	for _, rt := range g.ordered {
		if rt.ready() {
			list.Data = append(list.Data, model{ID: rt.name, Object: "model", Created: g.created, OwnedBy: "servelab"})
		}
	}
	writeJSON(w, http.StatusOK, list)
}

func (rt *route) ready() bool {
	for _, u := range rt.backends {
		if u.routable() {
			return true
		}
	}
	return false
}

// NotReady lists the configured models without a ready backend.
func (g *Gateway) NotReady() []string {
	var out []string
	for _, rt := range g.ordered {
		if !rt.ready() {
			out = append(out, rt.name)
		}
	}
	return out
}

func isAPIPath(p string) bool {
	return p == "/v1/chat/completions" || p == "/v1/completions" || p == "/v1/embeddings"
}

// readyz answers 200 when every model has a ready backend, else 503; the
// models not ready are named only to a client with an API key (or to
// everyone when auth is off).
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	notReady := g.NotReady()
	body := struct {
		Ready    bool     `json:"ready"`
		NotReady []string `json:"notReady,omitempty"`
	}{Ready: len(notReady) == 0}
	if g.keys.allows(r) {
		body.NotReady = notReady
	}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, fmt.Errorf("encode response: %w", err))
		return
	}
	b = append(b, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// streamBufSize is the read size for relayed streams.
const streamBufSize = 32 << 10

// idleTimeout closes a client connection idle between requests.
const idleTimeout = 120 * time.Second

// Run listens on cfg.Listen (and cfg.MetricsListen when set) and serves
// until ctx ends, then shuts down gracefully.
func (g *Gateway) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", g.cfg.Listen)
	if err != nil {
		return fmt.Errorf("gateway listen %s: %w", g.cfg.Listen, err)
	}
	var mln net.Listener
	if g.cfg.MetricsListen != "" {
		if mln, err = lc.Listen(ctx, "tcp", g.cfg.MetricsListen); err != nil {
			ln.Close()
			return fmt.Errorf("gateway metrics listen %s: %w", g.cfg.MetricsListen, err)
		}
	}
	return g.Serve(ctx, ln, mln)
}

// Serve serves the API on ln and, when mln is not nil, /metrics on mln,
// with the readiness probes running, until ctx ends. Then it stops
// accepting, lets in-flight requests and streams finish for up to
// timeouts.shutdown, cancels what remains and returns. It closes the
// listeners.
func (g *Gateway) Serve(ctx context.Context, ln, mln net.Listener) error {
	probeCtx, stopProbes := context.WithCancel(ctx)
	defer stopProbes()
	g.StartProbes(probeCtx)

	// Requests get a base context that outlives ctx, so that a shutdown
	// drains them instead of cancelling them at once.
	base, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	errLog := slog.NewLogLogger(g.log.Handler(), slog.LevelWarn)
	httpServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler: h,
			// Both count from the request's first byte (on a new
			// connection, from its accept), however steadily bytes come.
			ReadHeaderTimeout: g.cfg.Timeouts.RequestHeader.D(),
			ReadTimeout:       g.cfg.Timeouts.RequestRead.D(),
			IdleTimeout:       idleTimeout,
			BaseContext:       func(net.Listener) context.Context { return base },
			ErrorLog:          errLog,
		}
	}
	var api server
	if g.h1 != nil {
		hs, err := newH1Server(g, base)
		if err != nil {
			ln.Close()
			if mln != nil {
				mln.Close()
			}
			return fmt.Errorf("gateway: %w", err)
		}
		api = hs
	} else {
		api = httpServer(g.Handler())
	}
	// One connection cap for both cores: the limit listener refuses and
	// counts what is over it before either server sees the connection.
	servers := []server{api}
	listeners := []net.Listener{newLimitListener(ln, g.cfg.MaxConnections, listenerAPI, g.m, g.log)}
	if mln != nil {
		servers = append(servers, httpServer(g.MetricsHandler()))
		listeners = append(listeners, newLimitListener(mln, g.cfg.MaxConnections, listenerMetrics, g.m, g.log))
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		go func() { errc <- s.Serve(listeners[i]) }()
	}
	g.log.Info("gateway serving", "listen", ln.Addr().String(), "metrics", metricsAddr(mln), "models", len(g.ordered), "core", g.core())
	if g.keys == nil && !isLoopback(ln.Addr()) {
		g.log.Warn("auth is off on a non-loopback address: anyone who can reach it can use every model (set auth.keysFile or auth.keysEnv)",
			"listen", ln.Addr().String())
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		serveErr = fmt.Errorf("gateway serve: %w", serveErr)
	}
	g.log.Info("gateway shutting down", "drain", g.cfg.Timeouts.Shutdown.D().String())
	stopProbes()
	drainCtx, cancelDrain := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.Timeouts.Shutdown.D())
	defer cancelDrain()
	var wg sync.WaitGroup
	shutdownErrs := make([]error, len(servers))
	for i, s := range servers {
		wg.Go(func() { shutdownErrs[i] = s.Shutdown(drainCtx) })
	}
	wg.Wait()
	cancelRequests() // what did not drain in time is cancelled upstream too
	for _, s := range servers {
		_ = s.Close()
	}
	if err := errors.Join(shutdownErrs...); err != nil && errors.Is(err, context.DeadlineExceeded) {
		g.log.Warn("gateway shutdown: drain timed out, remaining requests cancelled")
	}
	if t, ok := g.rt.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	if g.h1 != nil {
		g.h1.closeIdle()
	}
	g.log.Info("gateway stopped")
	return serveErr
}

// server is what Serve needs of http.Server and h1Server.
type server interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// core names the core that serves the API listener.
func (g *Gateway) core() string {
	if g.h1 != nil {
		return CoreH1
	}
	return CoreNetHTTP
}

// isLoopback reports whether addr is a loopback IP address.
func isLoopback(addr net.Addr) bool {
	ta, ok := addr.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func metricsAddr(mln net.Listener) string {
	if mln == nil {
		return "(api listener)"
	}
	return mln.Addr().String()
}
