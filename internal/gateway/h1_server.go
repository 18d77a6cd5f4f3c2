package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Server is the gateway's own HTTP/1.1 server (config "core": "h1"). Each
// client connection is served by one goroutine that reads the request,
// talks to the backend over a pooled connection and writes the answer
// itself: no per-request goroutines, no hand-offs between goroutines, and
// buffers that live with the connection or come from pools. A client that
// hangs up while the goroutine waits on a backend is noticed by the
// hangupWatch, which cancels the backend exchange at once.
//
// The proxied endpoints (POST /v1/chat/completions, /v1/completions,
// /v1/embeddings) are served here; every other request goes to the
// gateway's http.Handler through a small adapter (h1_fallback.go).
type h1Server struct {
	g     *Gateway
	base  context.Context // ends when the drain ends: dials stop
	watch *hangupWatch

	closing atomic.Bool

	mu      sync.Mutex
	ln      net.Listener
	conns   map[*h1Conn]struct{}
	drained chan struct{} // closed when the last connection goes during a shutdown
}

func newH1Server(g *Gateway, base context.Context) (*h1Server, error) {
	w, err := newHangupWatch()
	if err != nil {
		return nil, err
	}
	return &h1Server{g: g, base: base, watch: w, conns: map[*h1Conn]struct{}{}}, nil
}

// Serve accepts connections on ln until Shutdown or Close; like
// http.Server.Serve it then returns http.ErrServerClosed.
func (s *h1Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	if s.closing.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED) {
				// Out of descriptors and the like: wait and go on, as
				// net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(nc)
		if c == nil {
			continue
		}
		go c.serve()
	}
}

func (s *h1Server) newConn(nc net.Conn) *h1Conn {
	c := &h1Conn{s: s, nc: nc, first: true}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.watchID = s.watch.add(c, nc)
	return c
}

func (s *h1Server) forget(c *h1Conn) {
	s.watch.remove(c.watchID)
	s.mu.Lock()
	delete(s.conns, c)
	if s.drained != nil && len(s.conns) == 0 {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and waits for the
// others to finish their request (their answers say Connection: close)
// until ctx ends.
func (s *h1Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.wakeIfIdle()
	}
	var drained chan struct{}
	if len(s.conns) > 0 {
		drained = make(chan struct{})
		s.drained = drained
	}
	s.mu.Unlock()
	if drained == nil {
		return nil
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close cancels what is left: backend exchanges are aborted and client
// connections closed.
func (s *h1Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.abort()
		c.nc.Close()
	}
	s.mu.Unlock()
	return s.watch.close()
}

// Connection states (h1Conn.state).
const (
	connActive int32 = iota
	connIdle         // waiting for a request: a shutdown may close it
	connShut         // closed by a shutdown while idle
)

// h1Conn is one client connection.
type h1Conn struct {
	s       *h1Server
	nc      net.Conn
	watchID uint64
	state   atomic.Int32
	first   bool      // no request read yet
	linger  bool      // an answer went out before its request was read whole: close with lingerClose
	start   time.Time // when the current request started: its first byte (for a new connection, its accept)

	buf   []byte // read buffer; buf[r:w] is unread
	r, w  int
	req   h1Request
	ex    h1Exchange // the request being proxied (reused: its slices stay allocated)
	wdSet time.Time  // when writeCoarse last set the write deadline
	wbuf  []byte     // response heads, requests to backends

	mu         sync.Mutex  // guards what a hang-up cancels
	gone       atomic.Bool // the client hung up (or the drain ended); set under mu
	up         net.Conn    // the backend connection the exchange uses now
	dialCancel context.CancelFunc
}

// Buffer sizes: a connection reads requests into h1ReadBuf (grown up to
// h1MaxHead for a large head); backend responses are read h1ReadBuf at a
// time.
const h1ReadBuf = 4 << 10

var (
	h1ReadBufs  = sync.Pool{New: func() any { b := make([]byte, h1ReadBuf); return &b }}
	h1WriteBufs = sync.Pool{New: func() any { b := make([]byte, 0, h1ReadBuf); return &b }}
)

func (c *h1Conn) serve() {
	defer c.close()
	bp := h1ReadBufs.Get().(*[]byte)
	c.buf = *bp
	wp := h1WriteBufs.Get().(*[]byte)
	c.wbuf = *wp
	defer func() {
		if len(c.buf) == h1ReadBuf {
			*bp = c.buf
			h1ReadBufs.Put(bp)
		}
		if cap(c.wbuf) <= 64<<10 {
			*wp = c.wbuf[:0]
			h1WriteBufs.Put(wp)
		}
	}()
	for {
		head, ok := c.readHead()
		if !ok {
			return
		}
		if !c.handle(head) || c.s.closing.Load() {
			return
		}
	}
}

func (c *h1Conn) close() {
	c.s.forget(c)
	if c.linger {
		lingerClose(c.nc, time.Now().Add(c.s.g.cfg.Timeouts.LingerClose.D()))
		return
	}
	c.nc.Close()
}

// hungUp is called by the hangupWatch when the client closed its side.
func (c *h1Conn) hungUp() { c.abort() }

// abort cancels the connection's backend exchange: a pending dial is
// cancelled and a pending read or write on the backend connection fails at
// once.
func (c *h1Conn) abort() {
	c.mu.Lock()
	c.gone.Store(true)
	if c.up != nil {
		_ = c.up.SetDeadline(aLongTimeAgo)
	}
	if c.dialCancel != nil {
		c.dialCancel()
	}
	c.mu.Unlock()
}

// attach makes up the backend connection a hang-up aborts; it reports false
// (and attaches nothing) when the client is already gone.
func (c *h1Conn) attach(up net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone.Load() {
		return false
	}
	c.up = up
	return true
}

func (c *h1Conn) detach() {
	c.mu.Lock()
	c.up = nil
	c.mu.Unlock()
}

func (c *h1Conn) clientGone() bool { return c.gone.Load() }

// upReadDeadline sets the read deadline of the attached backend connection
// nc. A hang-up that came first keeps the past deadline abort gave it:
// abort marks the client gone before it sets that deadline, so either this
// sees the mark or abort's deadline comes after this one.
func (c *h1Conn) upReadDeadline(nc net.Conn, t time.Time) {
	_ = nc.SetReadDeadline(t)
	if c.gone.Load() {
		_ = nc.SetDeadline(aLongTimeAgo)
	}
}

// wakeIfIdle closes the connection's wait for a next request (shutdown).
func (c *h1Conn) wakeIfIdle() {
	if c.state.CompareAndSwap(connIdle, connShut) {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
	}
}

// readHead reads until a whole request head is buffered and parses it; it
// returns the head's length. Deadlines, as the nethttp core's: the wait for
// a request on an open connection is bounded by idleTimeout; the request
// starts at its first byte (on a new connection, at its accept), and its
// head must be complete within timeouts.requestHeader of that start (its
// body within timeouts.requestRead, readBody). On a malformed head it
// answers and reports false.
func (c *h1Conn) readHead() (int, bool) {
	if c.r == c.w {
		c.r, c.w = 0, 0
	}
	headWait := c.s.g.cfg.Timeouts.RequestHeader.D()
	started := c.r < c.w // pipelined bytes are already here
	switch {
	case c.first:
		c.state.Store(connIdle)
		if c.s.closing.Load() {
			return 0, false
		}
		c.start = time.Now()
		_ = c.nc.SetReadDeadline(c.start.Add(headWait))
	case started:
		c.start = time.Now()
		_ = c.nc.SetReadDeadline(c.start.Add(headWait))
	default:
		c.state.Store(connIdle)
		if c.s.closing.Load() {
			return 0, false
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
	}
	first := c.first
	c.first = false
	scanned := 0
	for {
		if c.r < c.w {
			if n := headEnd(c.buf[c.r:c.w], scanned-3); n >= 0 {
				if err := parseRequest(c.buf[c.r:c.r+n], &c.req); err != nil {
					c.answerBadRequest(err)
					return 0, false
				}
				return n, true
			}
			scanned = c.w - c.r
		}
		if c.w == len(c.buf) {
			switch {
			case c.r > 0:
				c.w = copy(c.buf, c.buf[c.r:c.w])
				c.r = 0
			case len(c.buf) < h1MaxHead:
				nb := make([]byte, min(2*len(c.buf), h1MaxHead))
				c.w = copy(nb, c.buf[:c.w])
				c.buf = nb
			default:
				c.answerBadRequest(&h1Error{status: 431, msg: "request head too large"})
				return 0, false
			}
		}
		n, err := c.nc.Read(c.buf[c.w:])
		if n > 0 && !started {
			started = true
			if !c.state.CompareAndSwap(connIdle, connActive) {
				return 0, false // a shutdown closed the idle connection
			}
			if !first {
				c.start = time.Now()
				_ = c.nc.SetReadDeadline(c.start.Add(headWait))
			}
		}
		c.w += n
		if err != nil {
			return 0, false
		}
	}
}

// answerBadRequest answers a request that cannot be parsed and leaves the
// connection to be closed.
func (c *h1Conn) answerBadRequest(err error) {
	status := http.StatusBadRequest
	var he *h1Error
	if errors.As(err, &he) {
		status = he.status
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.wbuf = appendStatusError(c.wbuf[:0], status, "invalid_request_error", "invalid_request", err.Error(), true)
	_, _ = c.nc.Write(c.wbuf)
	c.linger = true // the rest of the request may be on its way
}

// handle serves the request whose head is buffered; it reports whether the
// connection may serve another one.
func (c *h1Conn) handle(headLen int) bool {
	req := &c.req
	c.r += headLen
	if string(req.method) == http.MethodPost {
		switch string(req.path) {
		case "/v1/chat/completions":
			return c.proxy(epChat)
		case "/v1/completions":
			return c.proxy(epCompletions)
		case "/v1/embeddings":
			return c.proxy(epEmbeddings)
		}
	}
	return c.fallback()
}

// keepAlive reports whether the connection may serve another request after
// this one: the client wants it, its body was consumed and no shutdown is
// under way.
func (c *h1Conn) keepAlive(bodyConsumed bool) bool {
	return c.req.keepAlive && bodyConsumed && !c.s.closing.Load()
}

// skipBody consumes a request body that is already buffered whole and
// reports whether the body is consumed (or there was none).
func (c *h1Conn) skipBody() bool {
	req := &c.req
	switch {
	case req.chunked:
		var ck chunkedReader
		p := c.buf[c.r:c.w]
		off := 0
		for off < len(p) && !ck.done() {
			n, _, err := ck.step(p[off:])
			if err != nil {
				return false
			}
			off += n
		}
		if !ck.done() {
			return false
		}
		c.r += off
		return true
	case req.contentLength > 0:
		if int64(c.w-c.r) < req.contentLength {
			return false
		}
		c.r += int(req.contentLength)
	}
	return true
}

// Status lines for the statuses the gateway sends most.
var statusLines = func() map[int]string {
	m := map[int]string{}
	for code := 100; code < 600; code++ {
		if t := http.StatusText(code); t != "" {
			m[code] = "HTTP/1.1 " + strconv.Itoa(code) + " " + t + "\r\n"
		}
	}
	m[StatusClientClosedRequest] = "HTTP/1.1 499 Client Closed Request\r\n"
	return m
}()

func appendStatusLine(b []byte, status int) []byte {
	if l, ok := statusLines[status]; ok {
		return append(b, l...)
	}
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	return append(b, " Status\r\n"...)
}

func appendHeader(b []byte, name string, value []byte) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func appendHeaderString(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, ": "...)
	b = append(b, value...)
	return append(b, "\r\n"...)
}

func appendContentLength(b []byte, n int) []byte {
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, "\r\n"...)
}

// appendError appends a whole OpenAI-shaped error answer for err, as
// writeError does for the nethttp core.
func appendError(b []byte, err error, extra []byte, closeConn bool) []byte {
	status := statusOf(err)
	typ, code := errorCode(err, status)
	return appendStatusErrorExtra(b, status, typ, code, err.Error(), extra, closeConn)
}

// appendStatusError appends an answer with status and an OpenAI error body.
func appendStatusError(b []byte, status int, typ, code, msg string, closeConn bool) []byte {
	return appendStatusErrorExtra(b, status, typ, code, msg, nil, closeConn)
}

// appendStatusErrorExtra is appendStatusError with extra header lines.
func appendStatusErrorExtra(b []byte, status int, typ, code, msg string, extra []byte, closeConn bool) []byte {
	body, _ := json.Marshal(errorBody{Error: errorDetail{Message: msg, Type: typ, Code: code}})
	body = append(body, '\n')
	b = appendStatusLine(b, status)
	b = appendHeaderString(b, "Content-Type", "application/json")
	b = appendContentLength(b, len(body))
	if status == http.StatusServiceUnavailable {
		b = appendHeaderString(b, "Retry-After", "1")
	}
	if closeConn {
		b = appendHeaderString(b, "Connection", "close")
	}
	b = append(b, extra...)
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// writeAll writes b to the client with a deadline of d.
func (c *h1Conn) writeAll(b []byte, d time.Duration) error {
	c.wdSet = time.Time{}
	_ = c.nc.SetWriteDeadline(time.Now().Add(d))
	_, err := c.nc.Write(b)
	return err
}

// writeCoarse writes b with a deadline of about d (between 15/16 of d and
// d): the deadline is moved only when a sixteenth of d has passed since it
// was last set, which saves a timer change per relayed event.
func (c *h1Conn) writeCoarse(b []byte, d time.Duration, now time.Time) error {
	if now.Sub(c.wdSet) > d/16 {
		_ = c.nc.SetWriteDeadline(now.Add(d))
		c.wdSet = now
	}
	_, err := c.nc.Write(b)
	return err
}
