package gateway

import (
	"bytes"
	"errors"
	"net"
	"sync"
	"time"
)

// errDirtyConn ends the use of an upstream connection on which the backend
// sent bytes that answer no request: an extra response after one, or
// anything while the connection was idle. Whoever reads next from it would
// take those bytes for the answer to their own request.
var errDirtyConn = errors.New("upstream connection: the backend sent bytes outside any response")

// guardedConn wraps an upstream connection of http.Transport, whose pooling
// cannot tell that a connection holds stray bytes: it returns a connection
// to the idle pool when a body ends, before its reader has looked at what
// follows, so a backend that writes an unsolicited response right after a
// real one hands it to whichever request takes the connection next (another
// client's).
//
// The guard follows the response framing (respFramer): a read returns no
// byte past the end of the current response, and bytes found there, or
// arriving while no request is outstanding, make the connection dirty. A
// dirty connection fails its next write before sending anything, which
// http.Transport retries on a fresh connection, and its next read, which
// makes http.Transport close it. A response whose end cannot be told is
// read through, and the connection is not reused.
//
// The first write of a request settles what came before it: it interrupts
// the transport's pending read (http.Transport always has one), lets that
// read classify whatever it got, and looks at the socket for bytes not read
// yet. Only bytes that arrive after that can be taken for the request's
// answer, as they would be by any HTTP/1.1 client.
type guardedConn struct {
	net.Conn
	peek *socketPeeker

	mu          sync.Mutex
	cond        sync.Cond
	framer      respFramer
	pending     bool // a request was written and its response has not ended
	dirty       bool // stray bytes came: fail every read and write
	noReuse     bool // the response's end cannot be told: fail the next request
	reading     bool // a Read is in the socket
	checking    bool // a Write is settling the connection before a request
	interrupted bool // that Write interrupted the Read with a past deadline
}

func newGuardedConn(c net.Conn) *guardedConn {
	g := &guardedConn{Conn: c, peek: newSocketPeeker(c)}
	g.cond.L = &g.mu
	return g
}

// Write sends request bytes. The first write after a response ended starts
// the next exchange, once the connection is known clean.
func (c *guardedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if !c.dirty && !c.pending {
		c.settle(bytes.HasPrefix(p, []byte("HEAD ")))
	}
	dirty := c.dirty
	c.mu.Unlock()
	if dirty {
		return 0, errDirtyConn
	}
	return c.Conn.Write(p)
}

// settle decides, with c.mu held, whether a new request may be sent.
func (c *guardedConn) settle(head bool) {
	c.checking = true
	if c.reading {
		c.interrupted = true
		_ = c.Conn.SetReadDeadline(aLongTimeAgo)
	}
	for c.reading {
		c.cond.Wait()
	}
	if c.interrupted {
		_ = c.Conn.SetReadDeadline(time.Time{})
		c.interrupted = false
	}
	if !c.dirty && (c.noReuse || c.peek.pending()) {
		c.dirty = true
	}
	if !c.dirty {
		c.pending = true
		c.framer.reset(head)
	}
	c.checking = false
	c.cond.Broadcast()
}

// Read returns response bytes up to the end of the current response.
func (c *guardedConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for c.checking {
			c.cond.Wait()
		}
		if c.dirty {
			return 0, errDirtyConn
		}
		c.reading = true
		c.mu.Unlock()
		n, err := c.Conn.Read(p)
		c.mu.Lock()
		c.reading = false
		c.cond.Broadcast()
		if n == 0 && c.interrupted {
			continue // a Write settling the connection: read again after it
		}
		if n == 0 {
			return 0, err
		}
		if !c.pending {
			c.dirty = true
			return 0, errDirtyConn
		}
		k, done := c.framer.feed(p[:n])
		if done {
			c.pending = false
		}
		if k < n {
			c.dirty = true // the rest came after the response's end
		}
		if c.framer.unknown {
			c.noReuse = true
		}
		return k, err
	}
}

// CloseWrite half-closes the connection when the underlying one can.
func (c *guardedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
