//go:build !unix

package gateway

import "net"

// pendingInput cannot look at the socket here: the read-side checks
// (bytes after a response's end) still apply.
func pendingInput(net.Conn) bool { return false }
