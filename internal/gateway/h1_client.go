package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"
)

// h1Client is the h1 core's client to backends: one keep-alive pool per
// backend address, used by the client connection's own goroutine (no
// reader or writer goroutines per backend connection, unlike
// http.Transport).
type h1Client struct {
	dialer      net.Dialer
	maxIdle     int
	idleTimeout time.Duration
	backends    map[*upstream]*h1Backend
}

// h1Backend is what the h1 core sends to one backend: its pool and the
// start of each endpoint's request head.
type h1Backend struct {
	pool *h1Pool
	head [numEndpoints][]byte // "POST <path> HTTP/1.1\r\nHost: <host>\r\n" and the backend's key
}

// h1Pool holds idle connections to one address, most recently used first.
type h1Pool struct {
	c          *h1Client
	addr       string
	tlsConfig  *tls.Config // nil: plain TCP
	mu         sync.Mutex
	idle       []*h1UpConn
	dialTimout time.Duration
}

// h1UpConn is one connection to a backend.
type h1UpConn struct {
	nc     net.Conn
	idleAt time.Time
	peek   *socketPeeker // finds bytes (or a close) that came while it idled
}

func newH1Client(cfg Config, routes []*route) *h1Client {
	hc := &h1Client{
		dialer:      net.Dialer{Timeout: cfg.Timeouts.Dial.D(), KeepAlive: 30 * time.Second},
		maxIdle:     cfg.MaxIdleConnsPerHost,
		idleTimeout: backendIdleTimeout,
		backends:    map[*upstream]*h1Backend{},
	}
	pools := map[string]*h1Pool{}
	for _, rt := range routes {
		for _, u := range rt.backends {
			base := u.urls[epChat]
			addr := base.Host
			if base.Port() == "" {
				port := "80"
				if base.Scheme == "https" {
					port = "443"
				}
				addr = net.JoinHostPort(base.Hostname(), port)
			}
			key := base.Scheme + "://" + addr
			p := pools[key]
			if p == nil {
				p = &h1Pool{c: hc, addr: addr, dialTimout: cfg.Timeouts.Dial.D()}
				if base.Scheme == "https" {
					p.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: base.Hostname()}
				}
				pools[key] = p
			}
			b := &h1Backend{pool: p}
			for ep := range numEndpoints {
				b.head[ep] = requestHead(u.urls[ep], u.auth)
			}
			hc.backends[u] = b
		}
	}
	return hc
}

// backendIdleTimeout closes backend connections idle for longer.
const backendIdleTimeout = 90 * time.Second

// requestHead is the start of every request to the backend URL u: the
// request line, Host and, when the backend has a key of its own (auth, as
// upstream.auth), its Authorization. The client's Authorization is never
// forwarded (forwardRequestHeader).
func requestHead(u *url.URL, auth []string) []byte {
	b := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	for _, v := range auth {
		b = appendHeaderString(b, "Authorization", v)
	}
	return b
}

// take returns an idle connection that is still open and clean, or nil.
func (p *h1Pool) take(now time.Time) *h1UpConn {
	p.mu.Lock()
	for n := len(p.idle); n > 0; n = len(p.idle) {
		pc := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// A connection on which the backend sent anything (or hung up)
		// while idle is not reused: those bytes answer no request.
		if now.Sub(pc.idleAt) < p.c.idleTimeout && !pc.peek.pending() {
			return pc
		}
		pc.nc.Close()
		p.mu.Lock()
	}
	p.mu.Unlock()
	return nil
}

// dial opens a new connection (TLS for https backends).
func (p *h1Pool) dial(ctx context.Context) (*h1UpConn, error) {
	nc, err := p.c.dialer.DialContext(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	if p.tlsConfig != nil {
		tc := tls.Client(nc, p.tlsConfig)
		hctx, cancel := context.WithTimeout(ctx, p.dialTimout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			nc.Close()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: err}
		}
		nc = tc
	}
	return &h1UpConn{nc: nc, peek: newSocketPeeker(nc)}, nil
}

// put returns a connection whose last response was read exactly to its end
// (nothing more buffered) to the pool; the pool closes what it cannot keep,
// and the oldest idle connection once it idled too long.
func (p *h1Pool) put(pc *h1UpConn, now time.Time) {
	pc.idleAt = now
	p.mu.Lock()
	var stale *h1UpConn
	if len(p.idle) > 0 && now.Sub(p.idle[0].idleAt) >= p.c.idleTimeout {
		stale = p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
	}
	if len(p.idle) < p.c.maxIdle {
		p.idle = append(p.idle, pc)
		pc = nil
	}
	p.mu.Unlock()
	if stale != nil {
		stale.nc.Close()
	}
	if pc != nil {
		pc.nc.Close()
	}
}

// closeIdle closes every idle connection.
func (hc *h1Client) closeIdle() {
	seen := map[*h1Pool]bool{}
	for _, b := range hc.backends {
		if !seen[b.pool] {
			seen[b.pool] = true
			b.pool.closeIdle()
		}
	}
}

// closeIdle closes the pool's idle connections.
func (p *h1Pool) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, pc := range idle {
		pc.nc.Close()
	}
}
