package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Helpers for tests that speak HTTP/1.1 over a raw TCP connection, so that
// they hold whatever the server under test is built on.

// liveness bounds how long a raw-connection test waits for the gateway to
// act (answer, close). It is not a measured latency: what the test checks
// happens at once, or without the fix not before this bound (or never), so
// the bound only turns a hang into a failure.
const liveness = 10 * time.Second

// rawConn is a client connection to the gateway that the test writes bytes
// to as it likes.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

// dialRaw opens a TCP connection to the server at baseURL (http://host:port).
func dialRaw(t testing.TB, baseURL string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatalf("dial %s: %v", baseURL, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// send writes s, failing the test on an error.
func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// response reads one response, body included, within liveness.
func (c *rawConn) response(t testing.TB) (*http.Response, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(liveness))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no response within %s: %v", liveness, err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read response body: %v", err)
	}
	return resp, string(b)
}

// closedByPeer reports whether the server closes the connection (EOF or a
// reset) within liveness, reading and dropping whatever still arrives. It
// returns what arrived.
func (c *rawConn) closedByPeer(t testing.TB) (bool, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(liveness))
	b, err := io.ReadAll(c.br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false, string(b)
	}
	return true, string(b)
}
