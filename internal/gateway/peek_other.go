//go:build !unix

package gateway

import "net"

// socketPeeker cannot look at the socket here: only the read-side checks
// (bytes after a response's end) apply.
type socketPeeker struct{}

func newSocketPeeker(net.Conn) *socketPeeker { return &socketPeeker{} }

func (*socketPeeker) pending() bool { return false }
