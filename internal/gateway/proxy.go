package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Errors that end an upstream exchange early, given as cancel causes.
var (
	errStreamIdle = errors.New("upstream idle longer than timeouts.streamIdle")
	errClientGone = errors.New("client went away")
)

// exchange is one proxied request through the nethttp core, from the
// client's bytes to the log line.
type exchange struct {
	requestRecord
	g *Gateway
	w http.ResponseWriter
	r *http.Request

	body    []byte
	sse     bool      // the response is an event stream
	relayed eventTail // the end of the event stream relayed so far
}

// proxy serves one API request.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, ep endpoint) {
	ex := exchange{g: g, w: w, r: r, requestRecord: requestRecord{ep: ep, start: time.Now(), series: g.unknown}}
	ex.rid = g.ids.requestID(r.Header.Get("X-Request-Id"))
	w.Header()["X-Request-Id"] = []string{ex.rid}
	err := ex.serve()
	abort, early := false, false
	switch {
	case err == nil:
	case !ex.wroteHeader:
		if early = ex.body == nil && r.ContentLength != 0; early {
			earlyAnswer(w) // the body was not (all) read
		}
		ex.status = writeError(w, err)
	case !errors.Is(err, context.Canceled):
		// The backend failed after the client got its status: the client
		// must not see a clean end. The request is recorded with the
		// status the failure maps to.
		ex.sentStatus, ex.status = ex.status, statusOf(err)
		abort = !ex.endStreamWithError(err)
	}
	ex.finish(err)
	switch {
	case abort:
		panic(http.ErrAbortHandler) // closes the connection mid-response, unlogged
	case early:
		endEarly(w, g.cfg.Timeouts.LingerClose.D())
	}
}

func (ex *exchange) serve() error {
	g, r := ex.g, ex.r
	if r.Method != http.MethodPost {
		ex.w.Header().Set("Allow", http.MethodPost)
		return ErrMethod
	}
	if !g.keys.allows(r) {
		return ErrUnauthorized
	}
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	ex.body = body
	if ex.info, err = scanRequest(body, g.cfg.MaxJSONDepth); err != nil {
		return err
	}
	rt := g.routes[ex.info.model]
	if rt == nil {
		return fmt.Errorf("%w: %q (available models: %s)", ErrUnknownModel, truncate(ex.info.model, 128), g.available)
	}
	ex.rt, ex.series = rt, rt.series.none
	if g.cache != nil && !ex.info.stream && ex.info.deterministic() {
		if done, err := ex.lookupCache(); done || err != nil {
			return err
		}
	}
	return ex.forward()
}

// lookupCache answers from the cache when it can. done reports that the
// response was written.
func (ex *exchange) lookupCache() (done bool, err error) {
	e, err := ex.requestRecord.lookupCache(ex.g.cache, noCache(ex.r.Header), ex.body)
	if e == nil {
		return false, err
	}
	h := ex.w.Header()
	if e.contentType != "" {
		h["Content-Type"] = []string{e.contentType}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(e.body))}
	h["X-Servelab-Cache"] = []string{"hit"}
	ex.writeHeader(http.StatusOK)
	_, _ = ex.w.Write(e.body)
	return true, nil
}

// writeHeader stamps the overhead header and sends the status line.
func (ex *exchange) writeHeader(status int) {
	ex.overhead = time.Since(ex.start) - ex.waited
	var buf [20]byte
	ex.w.Header()["X-Servelab-Overhead-Us"] = []string{string(strconv.AppendInt(buf[:0], ex.overhead.Microseconds(), 10))}
	ex.w.WriteHeader(status)
	ex.status = status
	ex.wroteHeader = true
}

// forward tries backends until one answers, retrying connect failures and
// 502/503 answers on other backends (at most cfg.Retries times).
func (ex *exchange) forward() error {
	rt := ex.rt
	var (
		tried   uint64
		pending *attempt // a 502/503 kept in case no other backend is left
		lastErr error
	)
	for {
		var u *upstream
		if ex.attempts <= ex.g.cfg.Retries {
			u = rt.sel.Pick(rt.backends, tried)
		}
		if u == nil {
			switch {
			case pending != nil:
				return ex.respond(pending)
			case lastErr != nil:
				return lastErr
			default:
				return fmt.Errorf("%w for model %q", ErrNoBackend, rt.name)
			}
		}
		if pending != nil {
			pending.discard()
			pending = nil
		}
		tried |= 1 << uint(u.idx)
		ex.attempts++
		ex.series = u.series
		a, err := ex.roundTrip(u)
		if err != nil {
			var retry bool
			retry, lastErr = ex.requestRecord.upstreamFailed(ex.g.log, u, err, ex.r.Context().Err() != nil)
			a.done()
			if !retry {
				return lastErr
			}
			continue
		}
		switch code := a.resp.StatusCode; {
		case code == http.StatusBadGateway || code == http.StatusServiceUnavailable:
			ex.noteFailure(u, reasonStatus5xx, fmt.Errorf("backend %s answered %d", u.name, code))
			pending = a
			continue
		case code >= 500:
			ex.noteFailure(u, reasonStatus5xx, fmt.Errorf("backend %s answered %d", u.name, code))
		default:
			u.succeeded()
		}
		return ex.respond(a)
	}
}

// attempt is one request to one backend.
type attempt struct {
	u      *upstream
	resp   *http.Response
	cancel context.CancelCauseFunc
	ended  bool
}

// done releases the attempt's backend slot and its context.
func (a *attempt) done() {
	if a.ended {
		return
	}
	a.ended = true
	if a.resp != nil {
		a.resp.Body.Close()
	}
	a.cancel(nil)
	a.u.outstanding.Add(-1)
	a.u.series.inFlight.Dec()
}

// discard drops an answer that will not be relayed.
func (a *attempt) discard() {
	_, _ = io.CopyN(io.Discard, a.resp.Body, 4<<10) // lets a small body keep its connection
	a.done()
}

func (ex *exchange) outHeader(u *upstream) http.Header {
	in := ex.r.Header
	out := make(http.Header, len(in)+3)
	copyRequestHeader(out, in)
	out["X-Request-Id"] = []string{ex.rid}
	if u.auth != nil {
		out["Authorization"] = u.auth // the backend's own key, never the client's
	}
	// An empty Idempotency-Key is not sent but lets the transport replay
	// the request on a fresh connection when a pooled one turns out closed.
	out["X-Idempotency-Key"] = nil
	return out
}

// roundTrip sends the request to u and waits for its response headers.
func (ex *exchange) roundTrip(u *upstream) (*attempt, error) {
	u.outstanding.Add(1)
	u.series.inFlight.Inc()
	ctx, cancel := context.WithCancelCause(ex.r.Context())
	a := &attempt{u: u, cancel: cancel}

	body := ex.body
	if u.quoted != nil {
		body = spliceModel(make([]byte, 0, len(body)+len(u.quoted)), body, ex.info, u.quoted)
	}
	target := u.urls[ex.ep]
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           target,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        ex.outHeader(u),
		Body:          bodyReader(body),
		GetBody:       func() (io.ReadCloser, error) { return bodyReader(body), nil },
		ContentLength: int64(len(body)),
		Host:          target.Host,
	}).WithContext(ctx)
	t0 := time.Now()
	resp, err := ex.g.rt.RoundTrip(req)
	ex.waited += time.Since(t0)
	if err != nil {
		return a, err
	}
	a.resp = resp
	return a, nil
}

// noteFailure counts a failure towards u's ejection and in the metrics.
func (ex *exchange) noteFailure(u *upstream, reason string, err error) {
	ex.requestRecord.noteFailure(ex.g.log, u, reason, err)
}

func isDialError(err error) bool {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return true
	}
	var de *net.DNSError
	return errors.As(err, &de)
}

// respond relays a's response to the client and ends the attempt.
func (ex *exchange) respond(a *attempt) error {
	defer a.done()
	resp := a.resp
	h := ex.w.Header()
	copyResponseHeader(h, resp.Header)
	if ex.cache == "miss" {
		h["X-Servelab-Cache"] = []string{"miss"}
	}
	if isEventStream(resp.Header) {
		ex.sse = true
		return ex.relayStream(a)
	}
	return ex.relayWhole(a)
}

// endStreamWithError tells the client of an event stream that the backend
// failed, with an SSE event in OpenAI's error shape (what OpenAI's clients
// raise as an error) and no [DONE]. It reports false when that cannot be
// done cleanly: the response is not an event stream, or the backend
// stopped inside an event, whose half would swallow the error event; the
// connection must then be aborted.
func (ex *exchange) endStreamWithError(err error) bool {
	if !ex.sse || !ex.relayed.atBoundary() {
		return false
	}
	rc := http.NewResponseController(ex.w)
	_ = rc.SetWriteDeadline(time.Now().Add(ex.g.cfg.Timeouts.StreamIdle.D()))
	if _, werr := ex.w.Write(sseErrorEvent(err)); werr != nil {
		return false
	}
	return rc.Flush() == nil
}

func isEventStream(h http.Header) bool {
	v := h["Content-Type"]
	return len(v) > 0 && strings.HasPrefix(v[0], "text/event-stream")
}

// idleGuard cancels an attempt when one wait for upstream bytes lasts
// longer than timeouts.streamIdle. Guards are pooled: the timer is made
// once, and a guard whose timer may have fired is never reused.
type idleGuard struct {
	t       *time.Timer
	d       time.Duration
	a       atomic.Pointer[attempt]
	fired   atomic.Bool
	stale   bool // the timer fired or may be firing: do not reuse
	started bool // armed at least once since the last Stop
}

var guards = sync.Pool{New: func() any {
	g := &idleGuard{}
	g.t = time.AfterFunc(time.Hour, g.fire)
	g.t.Stop()
	return g
}}

func newIdleGuard(d time.Duration, a *attempt) *idleGuard {
	g := guards.Get().(*idleGuard)
	g.d = d
	g.a.Store(a)
	return g
}

func (g *idleGuard) fire() {
	g.fired.Store(true)
	if a := g.a.Load(); a != nil {
		a.cancel(errStreamIdle)
	}
}

func (g *idleGuard) arm() {
	g.t.Reset(g.d)
	g.started = true
}

func (g *idleGuard) disarm() {
	if g.started && !g.t.Stop() {
		g.stale = true
	}
	g.started = false
}

func (g *idleGuard) didFire() bool { return g.fired.Load() }

// release returns the guard to the pool unless its timer may have fired.
func (g *idleGuard) release() {
	g.disarm()
	if g.stale || g.fired.Load() {
		return
	}
	g.a.Store(nil)
	guards.Put(g)
}

// readError classifies an error reading an upstream body.
func (ex *exchange) readError(a *attempt, guard *idleGuard, err error) error {
	u := a.u
	switch {
	case guard.didFire():
		ex.noteFailure(u, reasonStreamIdle, err)
		return fmt.Errorf("%w: backend %s idle for %s", ErrUpstreamTimeout, u.name, guard.d)
	case ex.r.Context().Err() != nil:
		ex.noteError(u, reasonCanceled, err)
		return fmt.Errorf("backend %s: %w", u.name, context.Canceled)
	default:
		ex.noteFailure(u, reasonStreamBroken, err)
		return fmt.Errorf("%w: backend %s broke off its response", ErrUpstream, u.name)
	}
}

// maxBuffered bounds a non-streamed response held to be sent in one write
// (and cached); a larger one is relayed as it comes.
const maxBuffered = 4 << 20

// relayWhole reads a non-streamed response, then sends it in one write
// with its Content-Length.
func (ex *exchange) relayWhole(a *attempt) error {
	guard := newIdleGuard(ex.g.cfg.Timeouts.StreamIdle.D(), a)
	defer guard.release()
	bp := ex.g.resps.get()
	defer ex.g.resps.put(bp)
	buf := *bp
	if n := a.resp.ContentLength; n > 0 && n < maxBuffered && int64(cap(buf)) <= n {
		buf = make([]byte, 0, n+1)
	}
	t0 := time.Now()
	var readErr error
	for len(buf) < maxBuffered {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		guard.arm()
		n, err := a.resp.Body.Read(buf[len(buf):min(cap(buf), maxBuffered)])
		guard.disarm()
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			readErr = err
			break
		}
	}
	*bp = buf
	ex.waited += time.Since(t0)
	if readErr != nil {
		return ex.readError(a, guard, readErr)
	}
	if n, ok := completionTokens(buf); ok {
		ex.tokens, ex.hasTokens = n, true
	}
	complete := len(buf) < maxBuffered
	if complete {
		ex.w.Header()["Content-Length"] = []string{strconv.Itoa(len(buf))}
	}
	ex.writeHeader(a.resp.StatusCode)
	if _, err := ex.w.Write(buf); err != nil {
		ex.noteError(a.u, reasonCanceled, err)
		return fmt.Errorf("write response: %w", context.Canceled)
	}
	if !complete {
		return ex.copyRest(a, guard)
	}
	if ex.cache == "miss" && a.resp.StatusCode == http.StatusOK {
		ex.g.cache.put(ex.key, buf, a.resp.Header.Get("Content-Type"), time.Now())
	}
	return nil
}

// copyRest relays the remainder of a large non-streamed body.
func (ex *exchange) copyRest(a *attempt, guard *idleGuard) error {
	bp := ex.g.bufs.Get().(*[]byte)
	defer ex.g.bufs.Put(bp)
	buf := *bp
	for {
		guard.arm()
		n, err := a.resp.Body.Read(buf)
		guard.disarm()
		if n > 0 {
			if _, werr := ex.w.Write(buf[:n]); werr != nil {
				a.cancel(errClientGone)
				ex.noteError(a.u, reasonCanceled, werr)
				return fmt.Errorf("write response: %w", context.Canceled)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return ex.readError(a, guard, err)
		}
	}
}

// finish records the request in the metrics and the log.
func (ex *exchange) finish(err error) { ex.g.finish(ex.r.Context(), &ex.requestRecord, err) }
