package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// requestRecord is what one proxied request leaves behind: its metrics and
// its log line. Both cores (h1 and nethttp) fill one and call finish, so
// that they count and log alike.
type requestRecord struct {
	rid    string
	ep     endpoint
	start  time.Time
	waited time.Duration // blocked on the upstream before the client got headers
	info   reqInfo
	rt     *route
	series *seriesSet // labels of the final record

	status      int
	sentStatus  int // the status the client got, when status records a later failure
	wroteHeader bool
	overhead    time.Duration
	cache       string // "", hit, miss, bypass
	key         cacheKey
	attempts    int
	ttft        time.Duration
	tokens      int64
	hasTokens   bool
	upErr       error  // the last upstream failure, for the log only
	upReason    string // its reason
}

// finish records the request in the metrics and the log.
func (g *Gateway) finish(ctx context.Context, rec *requestRecord, err error) {
	dur := time.Since(rec.start)
	s := rec.series
	s.request(rec.status)
	s.duration.Observe(dur.Seconds())
	if rec.rt != nil && rec.wroteHeader {
		rec.rt.series.overhead.Observe(rec.overhead.Seconds())
	}
	if rec.ttft > 0 && s.ttft != nil {
		s.ttft.Observe(rec.ttft.Seconds())
	}
	if rec.hasTokens && s.outputTokens != nil {
		s.outputTokens.Add(float64(rec.tokens))
	}
	level := slog.LevelInfo
	if rec.status >= 500 || rec.upErr != nil {
		level = slog.LevelWarn
	}
	if !g.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 16)
	attrs = append(attrs,
		slog.String("request_id", rec.rid),
		slog.String("path", rec.ep.path()),
		slog.String("model", s.labels[0]),
		slog.String("backend", s.labels[1]),
		slog.Int("status", rec.status),
		slog.Int("attempts", rec.attempts),
		slog.Float64("duration_ms", float64(dur.Microseconds())/1000),
		slog.Int64("overhead_us", rec.overhead.Microseconds()),
	)
	if rec.sentStatus != 0 {
		attrs = append(attrs, slog.Int("sent_status", rec.sentStatus))
	}
	if rec.info.stream {
		attrs = append(attrs, slog.Bool("stream", true))
	}
	if rec.ttft > 0 {
		attrs = append(attrs, slog.Float64("ttft_ms", float64(rec.ttft.Microseconds())/1000))
	}
	if rec.hasTokens {
		attrs = append(attrs, slog.Int64("output_tokens", rec.tokens))
	}
	if rec.cache != "" {
		attrs = append(attrs, slog.String("cache", rec.cache))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	if rec.upErr != nil {
		attrs = append(attrs, slog.String("upstream_reason", rec.upReason), slog.String("upstream_error", rec.upErr.Error()))
	}
	g.log.LogAttrs(ctx, level, "request", attrs...)
}

// noteFailure counts a failure towards u's ejection and in the metrics.
func (rec *requestRecord) noteFailure(log *slog.Logger, u *upstream, reason string, err error) {
	if u.failed(time.Now()) {
		log.Warn("backend ejected", "model", u.model, "backend", u.name,
			"engine", string(u.engine), "reason", reason, "err", err)
	}
	rec.noteError(u, reason, err)
}

func (rec *requestRecord) noteError(u *upstream, reason string, err error) {
	u.series.upstreamError(reason)
	rec.upErr, rec.upReason = err, reason
}

// lookupCache looks a cacheable request up in the response cache and
// records the result: on a hit it returns the entry to answer with.
// noCache: the client asked to bypass the cache.
func (rec *requestRecord) lookupCache(c *responseCache, noCache bool, body []byte) (*cacheEntry, error) {
	rs := rec.rt.series
	if noCache {
		rec.cache = "bypass"
		rs.cacheBypass.Inc()
		return nil, nil
	}
	sum, err := canonicalHash(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	rec.key = cacheKey{model: rec.rt.name, ep: rec.ep, sum: sum}
	e, ok := c.get(rec.key, time.Now())
	if !ok {
		rec.cache = "miss"
		rs.cacheMiss.Inc()
		return nil, nil
	}
	rec.cache = "hit"
	rs.cacheHit.Inc()
	rec.series = rs.cached
	return e, nil
}

// upstreamFailed records a round trip to u that failed before any
// response header (gone: the client went away meanwhile; err is then the
// aborted wait's) and reports whether another backend may be tried, with
// the error the client sees: the sentinel and the backend, without the
// backend's address.
func (rec *requestRecord) upstreamFailed(log *slog.Logger, u *upstream, err error, gone bool) (retry bool, clientErr error) {
	switch {
	case gone:
		rec.noteError(u, reasonCanceled, err)
	case isDialError(err):
		rec.noteFailure(log, u, reasonConnect, err)
		retry = true
	case isTimeout(err):
		rec.noteFailure(log, u, reasonTimeout, err)
	default:
		// The connection broke before any response header: the request
		// did not reach the client, so another backend may take it.
		rec.noteFailure(log, u, reasonConnect, err)
		retry = true
	}
	switch {
	case gone || errors.Is(err, context.Canceled):
		return retry, fmt.Errorf("backend %s: %w", u.name, context.Canceled)
	case isTimeout(err) && !isDialError(err):
		return retry, fmt.Errorf("%w: backend %s did not answer in time", ErrUpstreamTimeout, u.name)
	default:
		return retry, fmt.Errorf("%w: backend %s failed before answering", ErrUpstream, u.name)
	}
}

// sseErrorEvent is the SSE event that tells a streaming client the backend
// failed: OpenAI's error shape, which OpenAI's clients raise as an error.
func sseErrorEvent(err error) []byte {
	status := statusOf(err)
	typ, code := errorCode(err, status)
	b, _ := json.Marshal(errorBody{Error: errorDetail{Message: err.Error(), Type: typ, Code: code}})
	ev := make([]byte, 0, len(b)+8)
	return append(append(append(ev, "data: "...), b...), "\n\n"...)
}

// eventTail remembers the last bytes of an event stream relayed, to tell
// whether they end an event (where the gateway may add one of its own).
type eventTail struct {
	b [4]byte
	n int
}

func (t *eventTail) note(p []byte) {
	if len(p) >= len(t.b) {
		t.n = copy(t.b[:], p[len(p)-len(t.b):])
		return
	}
	keep := min(t.n, len(t.b)-len(p))
	copy(t.b[:], t.b[t.n-keep:t.n])
	t.n = keep + copy(t.b[keep:], p)
}

// atBoundary reports whether the bytes relayed end an SSE event (or are
// none).
func (t *eventTail) atBoundary() bool {
	b := t.b[:t.n]
	return len(b) == 0 || bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\r\r")) || bytes.HasSuffix(b, []byte("\r\n\r\n"))
}
