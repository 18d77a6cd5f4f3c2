package gateway

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/servelab/servelab/internal/metricnames"
)

// Upstream error reasons (label "reason" of GatewayUpstreamErrors).
const (
	reasonConnect      = "connect"
	reasonTimeout      = "timeout"
	reasonStatus5xx    = "status_5xx"
	reasonStreamIdle   = "stream_idle"
	reasonStreamBroken = "stream_broken"
	reasonCanceled     = "canceled"
)

var reasons = [...]string{reasonConnect, reasonTimeout, reasonStatus5xx, reasonStreamIdle, reasonStreamBroken, reasonCanceled}

func reasonIndex(r string) int {
	for i, x := range reasons {
		if x == r {
			return i
		}
	}
	return len(reasons) - 1
}

// Listener labels of the connection metrics.
const (
	listenerAPI     = "api"
	listenerMetrics = "metrics"
)

// Pseudo backends for responses no backend produced.
const (
	// backendCache labels responses served from the cache.
	backendCache = "cache"
	// backendNone labels requests answered by the gateway itself (bad
	// request, unknown model, no ready backend, auth failure).
	backendNone = "none"
	// modelUnknown is the model label of requests naming no configured
	// model, so that clients cannot create series at will.
	modelUnknown = "unknown"
)

// metrics holds the gateway's Prometheus series, in a registry of its own
// that holds exactly metricnames.Gateway.
type metrics struct {
	reg            *prometheus.Registry
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	ttft           *prometheus.HistogramVec
	outputTokens   *prometheus.CounterVec
	inFlight       *prometheus.GaugeVec
	upstreamErrors *prometheus.CounterVec
	cache          *prometheus.CounterVec
	ready          *prometheus.GaugeVec
	overhead       *prometheus.HistogramVec

	connections        *prometheus.GaugeVec
	connectionsRefused *prometheus.CounterVec
}

var backendLabels = []string{"model", "backend", "engine"}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.GatewayRequests,
			Help: "Finished requests by model, backend, engine and HTTP status sent to the client.",
		}, []string{"model", "backend", "engine", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricnames.GatewayRequestDuration,
			Help:    "Request wall time as the client sees it, in seconds.",
			Buckets: durationBuckets,
		}, backendLabels),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricnames.GatewayTTFT,
			Help:    "Time to the first SSE chunk carrying content of streamed responses, in seconds.",
			Buckets: ttftBuckets,
		}, backendLabels),
		outputTokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.GatewayOutputTokens,
			Help: "Completion tokens reported by the upstream's usage, when present.",
		}, backendLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricnames.GatewayInFlight,
			Help: "Requests being served by each backend now.",
		}, backendLabels),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.GatewayUpstreamErrors,
			Help: "Upstream failures by reason: connect, timeout, status_5xx, stream_idle, stream_broken, canceled.",
		}, []string{"model", "backend", "engine", "reason"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricnames.GatewayCacheRequests,
			Help: "Cacheable requests by result: hit, miss, bypass.",
		}, []string{"model", "result"}),
		ready: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metricnames.GatewayBackendReady,
			Help: "1 while a backend passes its readiness probe and is not ejected.",
		}, backendLabels),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    metricnames.GatewayOverhead,
			Help:    "Time spent inside the gateway, upstream time excluded, in seconds.",
			Buckets: overheadBuckets,
		}, []string{"model"}),
	}
	m.connections = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: metricnames.GatewayConnections,
		Help: "Client connections open now, by listener (api, metrics).",
	}, []string{"listener"})
	m.connectionsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricnames.GatewayConnectionsRefused,
		Help: "Client connections answered 503 and closed at accept because maxConnections were open, by listener.",
	}, []string{"listener"})
	for _, l := range []string{listenerAPI, listenerMetrics} {
		m.connections.WithLabelValues(l)
		m.connectionsRefused.WithLabelValues(l)
	}
	m.reg.MustRegister(m.requests, m.duration, m.ttft, m.outputTokens, m.inFlight,
		m.upstreamErrors, m.cache, m.ready, m.overhead, m.connections, m.connectionsRefused)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// seriesSet is the series of one (model, backend, engine), resolved once so
// that the hot path does no label lookups.
type seriesSet struct {
	labels       [3]string
	m            *metrics
	duration     prometheus.Observer
	ttft         prometheus.Observer
	outputTokens prometheus.Counter
	inFlight     prometheus.Gauge
	ready        prometheus.Gauge
	errs         [len(reasons)]prometheus.Counter
	codes        [600]atomic.Pointer[prometheus.Counter]
}

func (m *metrics) series(model, backend, eng string) *seriesSet {
	s := &seriesSet{labels: [3]string{model, backend, eng}, m: m}
	s.duration = m.duration.WithLabelValues(model, backend, eng)
	s.ttft = m.ttft.WithLabelValues(model, backend, eng)
	s.outputTokens = m.outputTokens.WithLabelValues(model, backend, eng)
	s.inFlight = m.inFlight.WithLabelValues(model, backend, eng)
	for i, r := range reasons {
		s.errs[i] = m.upstreamErrors.WithLabelValues(model, backend, eng, r)
	}
	// The 200 series exists (at 0) before the first answer, like every
	// other backend series: a counter that first appears already
	// incremented hides those first requests from rate() and increase(), so
	// a short run would show no requests for engines whose request rate
	// comes from the gateway (Ollama, llama.cpp).
	s.codeCounter(http.StatusOK)
	return s
}

// pseudo returns the series of answers no backend produced: only requests
// and duration are recorded for them.
func (m *metrics) pseudo(model, backend string) *seriesSet {
	s := &seriesSet{labels: [3]string{model, backend, backend}, m: m}
	s.duration = m.duration.WithLabelValues(model, backend, backend)
	return s
}

// withReady also creates the backend's ready gauge (at 0).
func (s *seriesSet) withReady() *seriesSet {
	s.ready = s.m.ready.WithLabelValues(s.labels[0], s.labels[1], s.labels[2])
	s.ready.Set(0)
	return s
}

// request counts one finished request with the status sent.
func (s *seriesSet) request(code int) {
	if code < 0 || code >= len(s.codes) {
		s.m.requests.WithLabelValues(s.labels[0], s.labels[1], s.labels[2], strconv.Itoa(code)).Inc()
		return
	}
	(*s.codeCounter(code)).Inc()
}

// codeCounter returns the requests counter of a status code in
// [0, len(s.codes)), creating the series on first use.
func (s *seriesSet) codeCounter(code int) *prometheus.Counter {
	p := s.codes[code].Load()
	if p == nil {
		c := s.m.requests.WithLabelValues(s.labels[0], s.labels[1], s.labels[2], strconv.Itoa(code))
		p = &c
		s.codes[code].Store(p)
	}
	return p
}

func (s *seriesSet) upstreamError(reason string) { s.errs[reasonIndex(reason)].Inc() }

// modelSeries is the per-model series: overhead and cache results.
type modelSeries struct {
	overhead            prometheus.Observer
	cacheHit, cacheMiss prometheus.Counter
	cacheBypass         prometheus.Counter
	none, cached        *seriesSet
}

func (m *metrics) model(name string) *modelSeries {
	return &modelSeries{
		overhead:    m.overhead.WithLabelValues(name),
		cacheHit:    m.cache.WithLabelValues(name, "hit"),
		cacheMiss:   m.cache.WithLabelValues(name, "miss"),
		cacheBypass: m.cache.WithLabelValues(name, "bypass"),
		none:        m.pseudo(name, backendNone),
		cached:      m.pseudo(name, backendCache),
	}
}
