//go:build unix

package gateway

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// socketPeeker tells whether the peer has sent anything, or closed the
// connection, that nobody has read yet. It never blocks and reads nothing:
// it peeks at the socket's receive queue (below TLS on a TLS connection:
// any record, data or alert, counts). Made once per connection, so that a
// peek allocates nothing.
type socketPeeker struct {
	rc   syscall.RawConn // nil: cannot peek
	fn   func(fd uintptr) bool
	seen bool
	buf  [1]byte
}

func newSocketPeeker(c net.Conn) *socketPeeker {
	p := &socketPeeker{}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			p.rc = rc
		}
	}
	p.fn = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// nil: a byte waits, or (0 bytes) the peer closed; EAGAIN: nothing;
		// any other error: a broken socket is no better than a dirty one.
		p.seen = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR)
		return true // never wait for readiness
	}
	return p
}

// pending reports whether unread input (or the peer's close) waits. It
// must not run while a Read on the connection is in progress.
func (p *socketPeeker) pending() bool {
	if p.rc == nil {
		return false
	}
	if err := p.rc.Read(p.fn); err != nil {
		return true
	}
	return p.seen
}
