//go:build unix

package gateway

import (
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
	fn   func(fd uintptr)
	seen bool
	buf  [1]byte
}

func newSocketPeeker(c net.Conn) *socketPeeker {
	p := &socketPeeker{}
	if rc, ok := socketOf(c); ok {
		p.rc = rc
	}
	p.fn = func(fd uintptr) {
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// nil: a byte waits, or (0 bytes) the peer closed; EAGAIN: nothing;
		// any other error: a broken socket is no better than a dirty one.
		p.seen = !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR)
	}
	return p
}

// pending reports whether unread input (or the peer's close) waits. It
// must not run while a Read on the connection is in progress. It peeks
// through Control, not Read: a read deadline left over from the last
// response (the h1 core's stream-idle bound) must not fail the peek of a
// connection that idled past it.
func (p *socketPeeker) pending() bool {
	if p.rc == nil {
		return false
	}
	if err := p.rc.Control(p.fn); err != nil {
		return true
	}
	return p.seen
}

// socketOf returns the socket under nc, looking through wrappers that
// expose the connection they wrap with NetConn (as tls.Conn and a
// listener's accounting wrapper may).
func socketOf(nc net.Conn) (syscall.RawConn, bool) {
	for range 8 {
		if sc, ok := nc.(syscall.Conn); ok {
			rc, err := sc.SyscallConn()
			return rc, err == nil
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil, false
		}
		nc = u.NetConn()
	}
	return nil, false
}
