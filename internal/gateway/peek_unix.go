//go:build unix

package gateway

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// pendingInput reports whether the peer has sent anything, or closed the
// connection, that nobody has read yet. It never blocks: it peeks at the
// socket's receive queue. On a TLS connection it looks at the TCP socket
// below (any record, data or alert, counts).
func pendingInput(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	pending := false
	var buf [1]byte
	cerr := rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil: // a byte waits, or (0 bytes) the peer closed
			pending = true
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EINTR):
		default:
			pending = true // a broken socket is no better than a dirty one
		}
		return true // never wait for readiness
	})
	return pending || cerr != nil
}
