package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// DirectTransport is an HTTP/1.1 client for the proxy path that writes the
// request and reads the response on the calling goroutine. http.Transport
// hands each request to a per-connection writer goroutine and gets the
// response back from a per-connection reader goroutine; on a small, busy
// machine those wake-ups cost more CPU than the gateway's own work (see
// docs/gateway.md, Performance). It keeps an idle pool per backend like
// http.Transport (MaxIdleConnsPerHost, idle timeout), honours dial and
// response-header timeouts and the request context, and replays a request
// once on a fresh connection when a pooled one turns out closed before any
// response byte. It is not the default: the gateway uses NewTransport unless
// the config's upstreamClient says "direct".
//
// A connection goes back to the pool only when nothing but the response
// came on it: 1xx responses are skipped, a connection with bytes left after
// the response's end is closed, and a pooled connection on which anything
// arrived while idle is closed when taken out. So a backend that sends an
// extra response can never hand it to another request.
type DirectTransport struct {
	dialer         net.Dialer
	maxIdle        int
	idleTimeout    time.Duration
	responseHeader time.Duration
	tlsConfig      *tls.Config

	mu   sync.Mutex
	idle map[string][]*directConn
}

var _ http.RoundTripper = (*DirectTransport)(nil)

// NewDirectTransport returns a DirectTransport sized and timed like
// NewTransport(cfg).
func NewDirectTransport(cfg Config) *DirectTransport {
	return &DirectTransport{
		dialer:         net.Dialer{Timeout: cfg.Timeouts.Dial.D(), KeepAlive: 30 * time.Second},
		maxIdle:        cfg.MaxIdleConnsPerHost,
		idleTimeout:    90 * time.Second,
		responseHeader: cfg.Timeouts.ResponseHeader.D(),
		tlsConfig:      &tls.Config{MinVersion: tls.VersionTLS12},
		idle:           map[string][]*directConn{},
	}
}

type directConn struct {
	t      *DirectTransport
	key    string
	c      net.Conn
	peek   *socketPeeker
	in     headerBudget
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time
}

// maxResponseHeader bounds a response's header block (net/http's client
// allows 10 MiB; engines send a few hundred bytes).
const maxResponseHeader = 1 << 20

// max1xx bounds the informational responses skipped before the final one.
const max1xx = 8

// errHeaderTooLarge: a backend sent more than maxResponseHeader of headers.
var errHeaderTooLarge = errors.New("response headers larger than 1 MiB")

// headerBudget reads from the connection, at most left bytes while left is
// not negative: the header phase of a response is bounded, its body not.
type headerBudget struct {
	c    net.Conn
	left int64
}

func (h *headerBudget) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.c.Read(p)
	}
	if h.left == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.c.Read(p)
	h.left -= int64(n)
	return n, err
}

func connKey(req *http.Request) string { return req.URL.Scheme + "://" + req.URL.Host }

// get returns a pooled connection (reused) or dials one.
func (t *DirectTransport) get(ctx context.Context, req *http.Request) (*directConn, bool, error) {
	key := connKey(req)
	now := time.Now()
	t.mu.Lock()
	for list := t.idle[key]; len(list) > 0; list = t.idle[key] {
		pc := list[len(list)-1]
		t.idle[key] = list[:len(list)-1]
		// A connection on which the backend sent anything (or hung up)
		// while idle is not reused: those bytes answer no request.
		if now.Sub(pc.idleAt) < t.idleTimeout && !pc.peek.pending() {
			t.mu.Unlock()
			return pc, true, nil
		}
		pc.c.Close()
	}
	t.mu.Unlock()
	host := req.URL.Host
	if req.URL.Port() == "" {
		if req.URL.Scheme == "https" {
			host = net.JoinHostPort(req.URL.Hostname(), "443")
		} else {
			host = net.JoinHostPort(req.URL.Hostname(), "80")
		}
	}
	c, err := t.dialer.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	if req.URL.Scheme == "https" {
		cfg := t.tlsConfig.Clone()
		cfg.ServerName = req.URL.Hostname()
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, t.dialer.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, false, &net.OpError{Op: "dial", Net: "tcp", Err: err}
		}
		c = tc
	}
	pc := &directConn{t: t, key: key, c: c, peek: newSocketPeeker(c), in: headerBudget{c: c, left: -1}, bw: bufio.NewWriterSize(c, 16<<10)}
	pc.br = bufio.NewReaderSize(&pc.in, 16<<10)
	return pc, false, nil
}

func (pc *directConn) release() {
	t := pc.t
	pc.idleAt = time.Now()
	t.mu.Lock()
	if len(t.idle[pc.key]) < t.maxIdle {
		t.idle[pc.key] = append(t.idle[pc.key], pc)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	pc.c.Close()
}

// aLongTimeAgo is a deadline in the past: it unblocks a pending read or
// write at once.
var aLongTimeAgo = time.Unix(1, 0)

// RoundTrip sends req on a pooled or new connection and returns the
// response, whose body hands the connection back to the pool when read to
// the end.
func (t *DirectTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			closeBody(req)
			return nil, err
		}
		pc, reused, err := t.get(ctx, req)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(aLongTimeAgo) })
		resp, replay, err := pc.exchange(req, reused)
		if err != nil {
			stop()
			pc.c.Close()
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			if replay && try == 0 && req.GetBody != nil {
				body, gerr := req.GetBody()
				if gerr == nil {
					req = req.Clone(ctx)
					req.Body = body
					continue
				}
			}
			return nil, err
		}
		resp.Body = &directBody{pc: pc, body: resp.Body, stop: stop, keep: !resp.Close && !req.Close}
		return resp, nil
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// exchange writes req and reads the response headers. replay reports that
// nothing of a response arrived on a reused connection: the server had
// closed it while idle, so the request may be sent again.
func (pc *directConn) exchange(req *http.Request, reused bool) (resp *http.Response, replay bool, err error) {
	if err := req.Write(pc.bw); err != nil {
		return nil, reused, fmt.Errorf("write request: %w", err)
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, reused, fmt.Errorf("write request: %w", err)
	}
	if pc.t.responseHeader > 0 {
		_ = pc.c.SetReadDeadline(time.Now().Add(pc.t.responseHeader))
	}
	pc.in.left = maxResponseHeader
	defer func() { pc.in.left = -1 }()
	if _, err := pc.br.Peek(1); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, false, fmt.Errorf("timeout awaiting response headers: %w", err)
		}
		return nil, reused, fmt.Errorf("read response: %w", err)
	}
	for n1xx := 0; ; n1xx++ {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			return nil, false, fmt.Errorf("read response: %w", err)
		}
		code := resp.StatusCode
		if code < 100 || code >= 200 {
			break
		}
		// Informational responses carry no body; the final one follows.
		if code == http.StatusSwitchingProtocols || n1xx == max1xx {
			return nil, false, fmt.Errorf("read response: unexpected %d response", code)
		}
		pc.in.left = maxResponseHeader
	}
	_ = pc.c.SetReadDeadline(time.Time{})
	// A cancellation between the headers and the line above set a past
	// deadline that the line above cleared: honour it here.
	if err := req.Context().Err(); err != nil {
		resp.Body.Close()
		return nil, false, err
	}
	return resp, false, nil
}

// directBody returns its connection to the pool once the body was read to
// the end, and closes it when the body is abandoned early.
type directBody struct {
	pc   *directConn
	body io.ReadCloser
	stop func() bool
	keep bool
	done bool
	mu   sync.Mutex
}

func (b *directBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err == io.EOF {
		b.finish(true)
	}
	return n, err
}

func (b *directBody) Close() error {
	b.finish(false)
	return nil
}

func (b *directBody) finish(eof bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	// stop reports false when the context fired: the connection has a past
	// deadline and cannot be reused. Bytes already read past the response's
	// end answer no request: the connection is closed with them.
	if b.stop() && eof && b.keep && b.pc.br.Buffered() == 0 {
		b.pc.release()
		return
	}
	b.pc.c.Close()
}

// CloseIdleConnections closes every pooled connection.
func (t *DirectTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, list := range t.idle {
		for _, pc := range list {
			pc.c.Close()
		}
		delete(t.idle, k)
	}
}
