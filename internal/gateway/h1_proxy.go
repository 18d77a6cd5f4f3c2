package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// h1Exchange is one proxied request through the h1 core: the same steps,
// metrics and log line as the nethttp core's exchange (proxy.go), on the
// client connection's goroutine and buffers.
type h1Exchange struct {
	requestRecord
	g        *Gateway
	c        *h1Conn
	body     []byte
	bodyDone bool // the request body was consumed: the connection may go on
	keep     bool // the answer keeps the client connection open

	// The backend response being read.
	pc       *h1UpConn
	pool     *h1Pool
	ubp      *[]byte // ub's pool entry
	ub       []byte  // backend read buffer; ub[ur:uw] is unread
	ur, uw   int
	headRaw  []byte // the response head, in ub
	resp     h1Response
	frame    int   // how the backend's body ends (frame*)
	left     int64 // frameLength: bytes left
	ck       chunkedReader
	ended    bool      // the backend's body was read to its end
	segs     [][]byte  // data segments of the last bodyPart
	segArr   [8][]byte // segs' storage
	clientOK bool      // the client connection can carry another answer
	now      time.Time // the last clock reading, reused where a few µs do not matter
	rdSet    time.Time // when the backend read deadline was last set to now+streamIdle
	relayed  eventTail // the end of the event stream relayed so far
}

// Backend body framings.
const (
	frameNone    = iota // no body
	frameLength         // Content-Length
	frameChunked        // chunked
	frameClose          // until the backend closes
)

// proxy serves one proxied request and reports whether the connection may
// serve another.
func (c *h1Conn) proxy(ep endpoint) bool {
	g := c.s.g
	ex := &c.ex
	*ex = h1Exchange{g: g, c: c, requestRecord: requestRecord{ep: ep, start: time.Now(), series: g.unknown},
		clientOK: true, resp: h1Response{headers: ex.resp.headers[:0], nominated: ex.resp.nominated[:0]}}
	ex.now = ex.start
	ex.rid = g.ids.requestID(string(c.req.requestID))
	err := ex.serve()
	if err != nil && !ex.wroteHeader {
		ex.answerError(err)
	}
	g.finish(c.s.base, &ex.requestRecord, err)
	ex.release()
	c.linger = !ex.bodyDone // answered early: the body may be on its way
	return ex.keep && ex.clientOK
}

func (ex *h1Exchange) serve() error {
	g, c := ex.g, ex.c
	req := &c.req
	if !g.keys.allowsBearer(req.authorization) {
		ex.bodyDone = c.skipBody()
		return ErrUnauthorized
	}
	if req.contentLength > g.cfg.MaxBodyBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, req.contentLength, g.cfg.MaxBodyBytes)
	}
	body, err := c.readBody(g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	ex.body, ex.bodyDone = body, true
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

// release returns the exchange's buffers and backend connection.
func (ex *h1Exchange) release() {
	if ex.pc != nil {
		ex.endAttempt()
	}
	if ex.ubp != nil {
		h1ReadBufs.Put(ex.ubp)
		ex.ubp = nil
	}
	ex.ub = nil
}

// answerError sends err as an OpenAI error answer.
func (ex *h1Exchange) answerError(err error) {
	c := ex.c
	ex.status = statusOf(err)
	ex.keep = c.keepAlive(ex.bodyDone)
	extra := appendHeaderString(nil, "X-Request-Id", ex.rid)
	c.wbuf = appendError(c.wbuf[:0], err, extra, !ex.keep)
	if c.writeAll(c.wbuf, ex.g.cfg.Timeouts.StreamIdle.D()) != nil {
		ex.clientOK = false
	}
}

// readBody reads the request body, at most max bytes: in place when the read
// buffer holds it whole (the usual case: it came with the head), else into a
// buffer grown as bytes arrive (never sized from the declared length
// alone). The body must be in within timeouts.requestRead of the request's
// start.
func (c *h1Conn) readBody(limit int64) ([]byte, error) {
	req := &c.req
	if req.chunked {
		return c.readChunkedBody(limit)
	}
	n := req.contentLength
	if n <= 0 {
		return nil, nil
	}
	if int64(c.w-c.r) >= n {
		b := c.buf[c.r : c.r+int(n)]
		c.r += int(n)
		return b, nil
	}
	if err := c.continue100(); err != nil {
		return nil, err
	}
	_ = c.nc.SetReadDeadline(c.bodyDeadline())
	have := c.w - c.r
	b := make([]byte, have, min(n, int64(max(2*have, 16<<10))))
	copy(b, c.buf[c.r:c.w])
	c.r = c.w
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(n, int64(2*cap(b))))
			copy(nb, b)
			b = nb
		}
		k, err := c.nc.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil && int64(len(b)) < n {
			return nil, bodyReadError(err)
		}
	}
	return b, nil
}

// readChunkedBody decodes a chunked request body through the read buffer.
func (c *h1Conn) readChunkedBody(limit int64) ([]byte, error) {
	var ck chunkedReader
	var b []byte
	deadline := false
	for {
		for c.r < c.w && !ck.done() {
			n, data, err := ck.step(c.buf[c.r:c.w])
			if err != nil {
				return nil, fmt.Errorf("%w: request body: %v", ErrBadRequest, err)
			}
			if int64(len(b)+len(data)) > limit {
				return nil, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, limit)
			}
			b = append(b, data...)
			c.r += n
		}
		if ck.done() {
			return b, nil
		}
		if !deadline {
			if err := c.continue100(); err != nil {
				return nil, err
			}
			_ = c.nc.SetReadDeadline(c.bodyDeadline())
			deadline = true
		}
		c.r, c.w = 0, 0
		k, err := c.nc.Read(c.buf)
		c.w = k
		if err != nil && k == 0 {
			return nil, bodyReadError(err)
		}
	}
}

// continue100 answers "Expect: 100-continue" before the body is read.
func (c *h1Conn) continue100() error {
	if !c.req.expectContinue {
		return nil
	}
	c.req.expectContinue = false
	if err := c.writeAll([]byte("HTTP/1.1 100 Continue\r\n\r\n"), time.Until(c.bodyDeadline())); err != nil {
		return bodyReadError(err)
	}
	return nil
}

// bodyDeadline is when the request must be in whole.
func (c *h1Conn) bodyDeadline() time.Time {
	return c.start.Add(c.s.g.cfg.Timeouts.RequestRead.D())
}

func bodyReadError(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: the body did not arrive within timeouts.requestRead", ErrRequestTimeout)
	case errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
		return fmt.Errorf("read request body: %w", context.Canceled)
	}
	return fmt.Errorf("%w: read request body: %v", ErrBadRequest, err)
}

// lookupCache answers from the cache when it can. done reports that the
// response was written.
func (ex *h1Exchange) lookupCache() (done bool, err error) {
	e, err := ex.requestRecord.lookupCache(ex.g.cache, ex.c.req.noCache(), ex.body)
	if e == nil {
		return false, err
	}
	ex.resp = h1Response{}
	if e.contentType != "" {
		ex.resp.headers = append(ex.resp.headers, h1Header{name: []byte("Content-Type"), value: []byte(e.contentType)})
	}
	ex.writeWhole(http.StatusOK, e.body)
	return true, nil
}

// noCache reports whether the client asked to bypass the cache.
func (r *h1Request) noCache() bool {
	found := false
	for _, h := range r.headers {
		if is(h.name, "cache-control") {
			eachToken(h.value, func(t []byte) { found = found || is(t, "no-cache") || is(t, "no-store") })
		}
	}
	return found
}

// forward tries backends until one answers, retrying connect failures and
// 502/503 answers on other backends (at most cfg.Retries times), as the
// nethttp core does.
func (ex *h1Exchange) forward() error {
	rt := ex.rt
	var (
		tried   uint64
		pending *h1Pending
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
				return ex.relayPending(pending)
			case lastErr != nil:
				return lastErr
			default:
				return fmt.Errorf("%w for model %q", ErrNoBackend, rt.name)
			}
		}
		pending = nil
		tried |= 1 << uint(u.idx)
		ex.attempts++
		ex.series = u.series
		u.outstanding.Add(1)
		u.series.inFlight.Inc()
		err := ex.roundTrip(u)
		if err != nil {
			gone := ex.c.clientGone()
			if gone {
				err = errClientGone // err is the aborted wait's
			}
			var retry bool
			retry, lastErr = ex.upstreamFailed(ex.g.log, u, err, gone)
			ex.endAttempt()
			u.outstanding.Add(-1)
			u.series.inFlight.Dec()
			if !retry {
				return lastErr
			}
			continue
		}
		switch code := ex.resp.status; {
		case code == http.StatusBadGateway || code == http.StatusServiceUnavailable:
			ex.noteFailure(ex.g.log, u, reasonStatus5xx, fmt.Errorf("backend %s answered %d", u.name, code))
			pending = ex.keepPending()
			ex.endAttempt()
			u.outstanding.Add(-1)
			u.series.inFlight.Dec()
			if pending == nil {
				return fmt.Errorf("%w: backend %s broke off its response", ErrUpstream, u.name)
			}
			continue
		case code >= 500:
			ex.noteFailure(ex.g.log, u, reasonStatus5xx, fmt.Errorf("backend %s answered %d", u.name, code))
		default:
			u.succeeded()
		}
		err = ex.respond(u)
		ex.endAttempt()
		u.outstanding.Add(-1)
		u.series.inFlight.Dec()
		return err
	}
}

// roundTrip sends the request to u on a pooled (or new) connection and
// reads the response head. A pooled connection that fails before any byte
// of a response came back is replaced by a new one once (the backend closed
// it while idle).
func (ex *h1Exchange) roundTrip(u *upstream) error {
	c := ex.c
	b := ex.g.h1.backends[u]
	ex.pool = b.pool
	if ex.ub == nil {
		ex.ubp = h1ReadBufs.Get().(*[]byte)
		ex.ub = *ex.ubp
	}
	req, tail := ex.buildRequest(b, u)
	for try := 0; ; try++ {
		t0 := time.Now()
		pc := b.pool.take(t0)
		reused := pc != nil
		if pc == nil {
			var err error
			if pc, err = ex.dial(b.pool); err != nil {
				return err
			}
		}
		if !c.attach(pc.nc) {
			pc.nc.Close()
			return fmt.Errorf("backend %s: %w", u.name, context.Canceled)
		}
		ex.pc = pc
		err := ex.send(req, tail)
		if err == nil {
			err = ex.readHead(t0)
		}
		ex.now = time.Now()
		ex.waited += ex.now.Sub(t0)
		if err == nil {
			return nil
		}
		got := ex.uw > 0
		ex.endAttempt()
		if c.clientGone() {
			return fmt.Errorf("backend %s: %w", u.name, context.Canceled)
		}
		if reused && !got && try == 0 && !isTimeout(err) {
			continue
		}
		return err
	}
}

// dial opens a backend connection; a hang-up of the client cancels it.
func (ex *h1Exchange) dial(p *h1Pool) (*h1UpConn, error) {
	c := ex.c
	ctx, cancel := context.WithCancel(c.s.base)
	defer cancel()
	c.mu.Lock()
	if c.gone.Load() {
		c.mu.Unlock()
		return nil, context.Canceled
	}
	c.dialCancel = cancel
	c.mu.Unlock()
	pc, err := p.dial(ctx)
	c.mu.Lock()
	c.dialCancel = nil
	c.mu.Unlock()
	return pc, err
}

// buildRequest writes the request head for u (and the body when it is not
// large) into the connection's write buffer; tail is a large body to send
// after it.
func (ex *h1Exchange) buildRequest(b *h1Backend, u *upstream) (head, tail []byte) {
	req := &ex.c.req
	w := append(ex.c.wbuf[:0], b.head[ex.ep]...)
	for _, h := range req.headers {
		if forwardRequestHeader(h.name, req.nominated) {
			w = append(w, h.name...)
			w = append(w, ": "...)
			w = append(w, h.value...)
			w = append(w, "\r\n"...)
		}
	}
	w = appendHeaderString(w, "X-Request-Id", ex.rid)
	n := len(ex.body)
	if u.quoted != nil {
		n += len(u.quoted) - (ex.info.modelEnd - ex.info.modelStart)
	}
	w = appendContentLength(w, n)
	w = append(w, "\r\n"...)
	switch {
	case u.quoted != nil:
		w = spliceModel(w, ex.body, ex.info, u.quoted)
	case n <= 64<<10:
		w = append(w, ex.body...)
	default:
		tail = ex.body
	}
	ex.c.wbuf = w
	return w, tail
}

// send writes the request, head and body in one system call.
func (ex *h1Exchange) send(head, tail []byte) error {
	nc := ex.pc.nc
	if tail == nil {
		_, err := nc.Write(head)
		return err
	}
	bufs := net.Buffers{head, tail}
	_, err := bufs.WriteTo(nc)
	return err
}

// readHead reads the backend's response head (skipping up to max1xx
// interim answers) within timeouts.responseHeader.
func (ex *h1Exchange) readHead(sent time.Time) error {
	nc := ex.pc.nc
	ex.c.upReadDeadline(nc, sent.Add(ex.g.cfg.Timeouts.ResponseHeader.D()))
	ex.rdSet = time.Time{} // the body's first read sets its own
	ex.ur, ex.uw = 0, 0
	for n1xx := 0; ; {
		if n := headEnd(ex.ub[ex.ur:ex.uw], 0); n >= 0 {
			head := ex.ub[ex.ur : ex.ur+n]
			if err := parseResponse(head, &ex.resp); err != nil {
				return err
			}
			ex.ur += n
			if ex.resp.status == http.StatusSwitchingProtocols {
				return errors.New("backend switched protocols")
			}
			if ex.resp.status < 200 {
				if n1xx++; n1xx > max1xx {
					return fmt.Errorf("more than %d interim responses", max1xx)
				}
				continue // 100 Continue, 103 Early Hints: the answer follows
			}
			ex.headRaw = head
			ex.setFraming()
			return nil
		}
		if ex.uw == len(ex.ub) {
			switch {
			case ex.ur > 0:
				ex.uw = copy(ex.ub, ex.ub[ex.ur:ex.uw])
				ex.ur = 0
			case len(ex.ub) < h1MaxHead:
				nb := make([]byte, min(2*len(ex.ub), h1MaxHead))
				ex.uw = copy(nb, ex.ub[:ex.uw])
				ex.ub = nb // the pooled buffer goes back at the end
			default:
				return errors.New("response head too large")
			}
		}
		k, err := nc.Read(ex.ub[ex.uw:])
		ex.uw += k
		if err != nil && k == 0 {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

func (ex *h1Exchange) setFraming() {
	r := &ex.resp
	ex.ck = chunkedReader{}
	ex.ended = false
	switch {
	case bodyless(r.status):
		ex.frame, ex.ended = frameNone, true
	case r.chunked:
		ex.frame = frameChunked
	case r.contentLength >= 0:
		ex.frame, ex.left = frameLength, r.contentLength
		ex.ended = r.contentLength == 0
	default:
		ex.frame = frameClose
	}
}

// bodyPart returns the next raw bytes of the backend's body (framing
// included) up to its end, reading when nothing is buffered; the data they
// carry is in ex.segs. Each read waits at most timeouts.streamIdle.
func (ex *h1Exchange) bodyPart() (raw []byte, err error) {
	ex.segs = ex.segArr[:0]
	if ex.ended {
		return nil, io.EOF
	}
	if ex.ur == ex.uw {
		ex.ur, ex.uw = 0, 0
		nc := ex.pc.nc
		ex.c.upReadDeadline(nc, time.Now().Add(ex.g.cfg.Timeouts.StreamIdle.D()))
		k, err := nc.Read(ex.ub)
		ex.uw = k
		if k == 0 {
			if err == io.EOF && ex.frame == frameClose {
				ex.ended = true
				return nil, io.EOF
			}
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	p := ex.ub[ex.ur:ex.uw]
	switch ex.frame {
	case frameLength:
		k := int(min(int64(len(p)), ex.left))
		ex.left -= int64(k)
		ex.ur += k
		ex.ended = ex.left == 0
		ex.segs = append(ex.segs, p[:k])
		return p[:k], nil
	case frameChunked:
		off := 0
		for off < len(p) && !ex.ck.done() {
			n, data, err := ex.ck.step(p[off:])
			if err != nil {
				ex.ur += off
				return p[:off], fmt.Errorf("backend body: %w", err)
			}
			if data != nil {
				ex.segs = append(ex.segs, data)
			}
			off += n
		}
		ex.ur += off
		ex.ended = ex.ck.done()
		return p[:off], nil
	default: // frameClose
		ex.ur = ex.uw
		ex.segs = append(ex.segs, p)
		return p, nil
	}
}

// endAttempt hands the backend connection back to the pool when its
// response was read exactly to the end, and closes it otherwise.
func (ex *h1Exchange) endAttempt() {
	pc := ex.pc
	if pc == nil {
		return
	}
	ex.pc = nil
	ex.c.detach()
	if ex.ended && ex.resp.keepAlive && ex.frame != frameClose && ex.ur == ex.uw && !ex.c.clientGone() {
		ex.pool.put(pc, ex.now)
		return
	}
	pc.nc.Close()
}

// readError classifies an error reading a backend's body.
func (ex *h1Exchange) readError(u *upstream, err error) error {
	switch {
	case ex.c.clientGone():
		ex.noteError(u, reasonCanceled, errClientGone) // err is the aborted read's
		return fmt.Errorf("backend %s: %w", u.name, context.Canceled)
	case isTimeout(err):
		ex.noteFailure(ex.g.log, u, reasonStreamIdle, err)
		return fmt.Errorf("%w: backend %s idle for %s", ErrUpstreamTimeout, u.name, ex.g.cfg.Timeouts.StreamIdle.D())
	default:
		ex.noteFailure(ex.g.log, u, reasonStreamBroken, err)
		return fmt.Errorf("%w: backend %s broke off its response", ErrUpstream, u.name)
	}
}

// h1Pending is a 502/503 answer kept in case no other backend is left.
type h1Pending struct {
	head, body []byte
}

// keepPending reads a 502/503 answer whole and copies it; nil when it
// could not be read.
func (ex *h1Exchange) keepPending() *h1Pending {
	p := &h1Pending{head: bytes.Clone(ex.headRaw)}
	for !ex.ended {
		if _, err := ex.bodyPart(); err != nil && !ex.ended {
			return nil
		}
		for _, s := range ex.segs {
			p.body = append(p.body, s...)
		}
		if len(p.body) > maxBuffered {
			return nil
		}
	}
	return p
}

// relayPending sends a kept 502/503 answer.
func (ex *h1Exchange) relayPending(p *h1Pending) error {
	if err := parseResponse(p.head, &ex.resp); err != nil {
		return fmt.Errorf("%w: %v", ErrUpstream, err)
	}
	ex.writeWhole(ex.resp.status, p.body)
	return nil
}

// respond relays the backend's answer: SSE streams as they arrive, other
// bodies whole.
func (ex *h1Exchange) respond(u *upstream) error {
	if ex.resp.eventStream {
		return ex.relayStream(u, nil)
	}
	return ex.relayWhole(u)
}

// relayWhole reads a non-streamed answer (up to maxBuffered), then sends it
// with its Content-Length in one write; a larger one is relayed as it
// comes.
func (ex *h1Exchange) relayWhole(u *upstream) error {
	var body []byte
	t0 := ex.now
	var pooled *[]byte
	if ex.frame == frameLength && int64(ex.uw-ex.ur) >= ex.left {
		// The whole body came with the head: no copy.
		n := int(ex.left)
		body = ex.ub[ex.ur : ex.ur+n]
		ex.ur += n
		ex.left, ex.ended = 0, true
	} else {
		pooled = ex.g.resps.get()
		defer func() { ex.g.resps.put(pooled) }()
		body = *pooled
		for !ex.ended {
			_, err := ex.bodyPart()
			if err != nil && !ex.ended {
				*pooled = body
				ex.waited += time.Since(t0)
				return ex.readError(u, err)
			}
			for _, s := range ex.segs {
				body = append(body, s...)
			}
			if len(body) >= maxBuffered && !ex.ended {
				*pooled = body
				ex.waited += time.Since(t0)
				return ex.relayStream(u, body)
			}
		}
		*pooled = body
		ex.now = time.Now()
		ex.waited += ex.now.Sub(t0)
	}
	// The backend connection is free before the client's write: the next
	// request (this client's too) finds it in the pool. body is in the
	// exchange's buffers, not the connection's.
	ex.endAttempt()
	if n, ok := completionTokens(body); ok {
		ex.tokens, ex.hasTokens = n, true
	}
	if !ex.writeWhole(ex.resp.status, body) {
		ex.noteError(u, reasonCanceled, errClientGone)
		return fmt.Errorf("write response: %w", context.Canceled)
	}
	if ex.cache == "miss" && ex.resp.status == http.StatusOK {
		ex.g.cache.put(ex.key, body, string(ex.resp.contentType), ex.now)
	}
	return nil
}

// appendHead appends the client's response head: status, the backend's
// end-to-end headers, the gateway's own, and the framing (a Content-Length
// when n >= 0, else chunked for HTTP/1.1 clients).
func (ex *h1Exchange) appendHead(b []byte, status, n int) []byte {
	b = appendStatusLine(b, status)
	for _, h := range ex.resp.headers {
		if forwardResponseHeader(h.name, ex.resp.nominated) {
			b = append(b, h.name...)
			b = append(b, ": "...)
			b = append(b, h.value...)
			b = append(b, "\r\n"...)
		}
	}
	b = appendHeaderString(b, "X-Request-Id", ex.rid)
	switch ex.cache {
	case "miss":
		b = appendHeaderString(b, "X-Servelab-Cache", "miss")
	case "hit":
		b = appendHeaderString(b, "X-Servelab-Cache", "hit")
	}
	ex.now = time.Now()
	ex.overhead = ex.now.Sub(ex.start) - ex.waited
	b = append(b, "X-Servelab-Overhead-Us: "...)
	b = strconv.AppendInt(b, ex.overhead.Microseconds(), 10)
	b = append(b, "\r\n"...)
	switch {
	case n >= 0:
		b = appendContentLength(b, n)
	case ex.c.req.minor == 1:
		b = appendHeaderString(b, "Transfer-Encoding", "chunked")
	}
	if !ex.keep {
		b = appendHeaderString(b, "Connection", "close")
	}
	ex.status, ex.wroteHeader = status, true
	return append(b, "\r\n"...)
}

// writeWhole sends an answer with its body in one write and reports
// whether it was written.
func (ex *h1Exchange) writeWhole(status int, body []byte) bool {
	c := ex.c
	ex.keep = c.keepAlive(ex.bodyDone)
	b := ex.appendHead(c.wbuf[:0], status, len(body))
	var err error
	_ = c.nc.SetWriteDeadline(ex.now.Add(ex.g.cfg.Timeouts.StreamIdle.D()))
	if len(body) <= 64<<10 {
		b = append(b, body...)
		_, err = c.nc.Write(b)
	} else {
		bufs := net.Buffers{b, body}
		_, err = bufs.WriteTo(c.nc)
	}
	c.wbuf = b
	if err != nil {
		ex.clientOK = false
		return false
	}
	return true
}

// Client framings of a relayed stream.
const (
	relayRaw     = iota // the backend's chunked bytes as they are
	relayRechunk        // each read as one chunk
	relayPlain          // data as is, the connection closes at the end (HTTP/1.0)
)

// relayStream passes a response through as it arrives: each read from the
// backend is written to the client at once, never held back. SSE bytes are
// watched for the first content (TTFT) and the final usage without being
// decoded. The backend's chunked framing goes through unchanged when the
// client speaks HTTP/1.1. prefix is body data already read (a non-streamed
// answer too large to buffer).
func (ex *h1Exchange) relayStream(u *upstream, prefix []byte) error {
	c := ex.c
	idle := ex.g.cfg.Timeouts.StreamIdle.D()
	mode := relayRechunk
	switch {
	case c.req.minor == 0:
		mode = relayPlain
	case ex.frame == frameChunked && prefix == nil:
		mode = relayRaw
	}
	ex.keep = c.keepAlive(ex.bodyDone) && mode != relayPlain
	sse := ex.resp.eventStream
	scan := sseScan{chat: ex.ep == epChat}
	w := ex.appendHead(c.wbuf[:0], ex.resp.status, -1)
	if prefix != nil {
		w = appendChunk(w, prefix, mode)
	}
	// Bytes that came with the head go out with it.
	pending := ex.ur < ex.uw || ex.ended
	for {
		if pending || len(w) == 0 {
			raw, err := ex.bodyPart()
			pending = false
			if err != nil && err != io.EOF {
				ex.c.wbuf = w[:0]
				return ex.endBrokenStream(u, w, mode, err, &scan)
			}
			if sse {
				for _, s := range ex.segs {
					if scan.feed(s) && ex.ttft == 0 {
						ex.ttft = time.Since(ex.start)
					}
					ex.relayed.note(s)
				}
			}
			if ex.ended {
				ex.endAttempt() // free before the last write, as in relayWhole
			}
			switch mode {
			case relayRaw:
				w = append(w, raw...)
			default:
				for _, s := range ex.segs {
					w = appendChunk(w, s, mode)
				}
				if ex.ended && mode == relayRechunk {
					w = append(w, "0\r\n\r\n"...)
				}
			}
		}
		if len(w) > 0 {
			if err := c.writeCoarse(w, idle, ex.now); err != nil {
				ex.clientOK = false
				ex.c.wbuf = w[:0]
				ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
				ex.noteError(u, reasonCanceled, err)
				return fmt.Errorf("write stream: %w", context.Canceled)
			}
		}
		c.wbuf = w
		w = w[:0]
		if ex.ended {
			ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
			return nil
		}
	}
}

// appendChunk appends data in the client's framing.
func appendChunk(w, data []byte, mode int) []byte {
	if len(data) == 0 {
		return w
	}
	if mode == relayPlain {
		return append(w, data...)
	}
	w = strconv.AppendInt(w, int64(len(data)), 16)
	w = append(w, "\r\n"...)
	w = append(w, data...)
	return append(w, "\r\n"...)
}

// endBrokenStream ends the client's stream after the backend failed
// (readErr): the client must not see a clean end. Where the framing and the
// event stream allow it (between chunks and between events), an SSE error
// event in OpenAI's shape ends the stream, without [DONE]; otherwise what
// was read goes out and the connection is closed without the final chunk.
// The request is recorded with the status the failure maps to (the status
// sent is logged as sent_status).
func (ex *h1Exchange) endBrokenStream(u *upstream, w []byte, mode int, readErr error, scan *sseScan) error {
	c := ex.c
	err := ex.readError(u, readErr)
	ex.tokens, ex.hasTokens = scan.tokens, scan.hasTokens
	if errors.Is(err, context.Canceled) {
		ex.clientOK = false // the client is gone: nothing to tell it
		c.wbuf = w[:0]
		return err
	}
	ex.sentStatus, ex.status = ex.status, statusOf(err)
	framed := !errors.Is(readErr, errChunked) && (mode != relayRaw || ex.ck.atBoundary())
	if ex.resp.eventStream && framed && ex.relayed.atBoundary() {
		w = appendChunk(w, sseErrorEvent(err), mode)
		if mode == relayPlain {
			ex.clientOK = false // an HTTP/1.0 stream ends when the connection does
		} else {
			w = append(w, "0\r\n\r\n"...)
		}
	} else {
		ex.clientOK = false
	}
	if len(w) > 0 && c.writeAll(w, ex.g.cfg.Timeouts.StreamIdle.D()) != nil {
		ex.clientOK = false
	}
	c.wbuf = w[:0]
	return err
}
