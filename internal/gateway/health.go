package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// upstream is one backend of one model, with its health state.
type upstream struct {
	idx     int // position in the model's backend list
	model   string
	name    string
	engine  engine.Kind
	weight  int
	served  string // the model name the backend serves
	quoted  []byte // JSON literal of served when it differs from model, else nil
	urls    [numEndpoints]*url.URL
	probe   engine.Probe
	probeTo string
	series  *seriesSet
	// auth is the Authorization header value sent to this backend (its own
	// key from apiKeyFile), nil without one.
	auth []string

	outstanding atomic.Int64
	ready       atomic.Bool // the last probe passed
	ejected     atomic.Bool // passively ejected until ejectedUntil
	failures    atomic.Int32
	probeFails  int // failed probes in a row; only the prober goroutine uses it

	mu           sync.Mutex // guards the ejection bookkeeping below
	ejectedUntil time.Time
	lastEjection time.Time
	level        int // ejections in a row, for the exponential backoff
	kick         chan struct{}

	policy Ejection
}

func newUpstream(idx int, model string, b Backend, s *seriesSet, policy Ejection) (*upstream, error) {
	base, err := url.Parse(b.URL)
	if err != nil {
		return nil, fmt.Errorf("backend %s url: %w", b.Name, err)
	}
	base.Path = strings.TrimRight(base.Path, "/")
	spec, err := engine.SpecOf(b.Engine)
	if err != nil {
		return nil, fmt.Errorf("backend %s: %w", b.Name, err)
	}
	u := &upstream{
		idx: idx, model: model, name: b.Name, engine: b.Engine,
		weight: max(b.Weight, 1), served: b.upstreamModel(model),
		probe: spec.Ready, series: s, policy: policy,
		kick: make(chan struct{}, 1),
	}
	if u.served != model {
		u.quoted = quoteJSON(u.served)
	}
	if b.APIKeyFile != "" {
		key, err := readBackendKey(b.APIKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: backend %s: %w", ErrConfig, b.Name, err)
		}
		u.auth = []string{"Bearer " + key}
	}
	for ep := range numEndpoints {
		c := *base
		c.Path = base.Path + endpoint(ep).path()
		u.urls[ep] = &c
	}
	p := *base
	p.Path = base.Path + spec.Ready.Path
	u.probeTo = p.String()
	return u, nil
}

// routable reports whether the backend may take requests: ready and not
// ejected.
func (u *upstream) routable() bool { return u.ready.Load() && !u.ejected.Load() }

func (u *upstream) publishReady() {
	if u.routable() {
		u.series.ready.Set(1)
	} else {
		u.series.ready.Set(0)
	}
}

// succeeded records an answered request (status below 500).
func (u *upstream) succeeded() {
	if u.failures.Load() != 0 {
		u.failures.Store(0)
	}
}

// failed records a connect error, timeout or 5xx and ejects the backend
// after policy.ConsecutiveFailures in a row. It reports whether this failure
// ejected it.
func (u *upstream) failed(now time.Time) bool {
	if int(u.failures.Add(1)) < u.policy.ConsecutiveFailures {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ejected.Load() {
		return false
	}
	if now.Sub(u.lastEjection) > 2*u.policy.MaxBackoff.D() {
		u.level = 0
	}
	u.level++
	backoff := u.policy.BaseBackoff.D()
	for i := 1; i < u.level && backoff < u.policy.MaxBackoff.D(); i++ {
		backoff *= 2
	}
	backoff = min(backoff, u.policy.MaxBackoff.D())
	u.ejectedUntil = now.Add(backoff)
	u.lastEjection = now
	u.failures.Store(0)
	u.ejected.Store(true)
	u.ready.Store(false) // back only when a probe passes after the backoff
	u.publishReady()
	select {
	case u.kick <- struct{}{}:
	default:
	}
	return true
}

// ejectionLeft is how long the backend stays ejected.
func (u *upstream) ejectionLeft(now time.Time) time.Duration {
	if !u.ejected.Load() {
		return 0
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.ejectedUntil.Sub(now)
}

// probeFailureThreshold failed probes in a row make a ready backend not
// ready (as Kubernetes' failureThreshold): one slow answer from a busy
// engine must not take it out of rotation. One passing probe makes it ready.
const probeFailureThreshold = 3

// probed records a readiness probe result taken at now and reports whether
// routability changed. A result that ends before an ejection does is
// ignored: the probe may have started before the backend was ejected.
func (u *upstream) probed(ok bool, now time.Time) (changed bool) {
	if ok {
		u.probeFails = 0
	} else {
		u.probeFails++
		if u.ready.Load() && u.probeFails < probeFailureThreshold {
			return false
		}
	}
	before := u.routable()
	u.mu.Lock()
	if u.ejected.Load() {
		if now.Before(u.ejectedUntil) {
			u.mu.Unlock()
			return false
		}
		if ok {
			u.ejected.Store(false)
		}
	}
	// A passing probe does not clear the passive failure count: an engine
	// can list its models and still fail every generation.
	u.ready.Store(ok)
	u.mu.Unlock()
	u.publishReady()
	return before != u.routable()
}

// prober runs readiness probes against backends.
type prober struct {
	client   *http.Client
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
}

// run probes u now, then every interval, until ctx ends. While u is
// ejected it waits for the ejection to end, then probes at once.
func (p *prober) run(ctx context.Context, u *upstream) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-u.kick:
		}
		if left := u.ejectionLeft(time.Now()); left > 0 {
			timer.Reset(left)
			continue
		}
		err := p.check(ctx, u)
		if ctx.Err() != nil {
			return
		}
		if u.probed(err == nil, time.Now()) {
			if err == nil {
				p.log.Info("backend ready", "model", u.model, "backend", u.name, "engine", string(u.engine))
			} else {
				p.log.Warn("backend not ready", "model", u.model, "backend", u.name, "engine", string(u.engine), "err", err)
			}
		}
		timer.Reset(p.interval)
	}
}

// maxProbeBody bounds the model list a probe reads.
const maxProbeBody = 4 << 20

// check runs one readiness probe as the engine's spec says.
func (p *prober) check(ctx context.Context, u *upstream) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.probeTo, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", u.name, err)
	}
	if u.auth != nil {
		req.Header["Authorization"] = u.auth
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w", u.name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProbeBody))
	if err != nil {
		return fmt.Errorf("probe %s: read body: %w", u.name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("probe %s GET %s: status %d", u.name, u.probe.Path, resp.StatusCode)
	}
	if u.probe.Kind == engine.ProbeStatus {
		return nil
	}
	listed, err := engine.ModelListed(u.probe.Kind, body, u.served)
	if err != nil {
		return fmt.Errorf("probe %s GET %s: %w", u.name, u.probe.Path, err)
	}
	if !listed {
		return fmt.Errorf("probe %s GET %s: model %q not listed", u.name, u.probe.Path, u.served)
	}
	return nil
}
