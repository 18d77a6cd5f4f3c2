package gateway

import (
	"bytes"
	"net/http"
	"strings"
)

// Which headers cross the gateway, for both cores: the nethttp core looks
// names up in http.Header's canonical form, the h1 core in the raw bytes of
// a head, in any letter case; both read the same lists.

// hopByHopHeaders are never forwarded, either way (RFC 9110 §7.6.1), nor
// are the headers a message's Connection header names.
var hopByHopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// requestDropHeaders are the client's headers never forwarded besides the
// hop-by-hop ones: its credentials (the gateway key never reaches a
// backend), its encoding wishes (the gateway reads bodies), and what the
// gateway sets itself (Host, the length, the request id) or answers itself
// (Expect).
var requestDropHeaders = []string{
	"Authorization", "Cookie", "Accept-Encoding", "Host", "Content-Length",
	"X-Request-Id", "Expect",
}

// responseDropHeaders are the backend's headers never passed to clients
// besides the hop-by-hop ones: the length (the gateway frames the answer
// itself), the request id (the gateway's is kept), and what a backend has
// no business giving the gateway's clients: cookies and credentials, and
// Alt-Svc (which would send clients around the gateway).
var responseDropHeaders = []string{
	"Content-Length", "X-Request-Id", "Set-Cookie", "Set-Cookie2",
	"Authorization", "Proxy-Authorization", "Www-Authenticate", "Alt-Svc",
}

var (
	requestDrop  = newHeaderSet(hopByHopHeaders, requestDropHeaders)
	responseDrop = newHeaderSet(hopByHopHeaders, responseDropHeaders)
)

// headerSet is a set of header names.
type headerSet struct {
	canon map[string]bool // by canonical name
	byLen [32][]string    // lower-case names, by length
}

func newHeaderSet(lists ...[]string) *headerSet {
	s := &headerSet{canon: map[string]bool{}}
	for _, l := range lists {
		for _, name := range l {
			s.canon[http.CanonicalHeaderKey(name)] = true
			s.byLen[len(name)] = append(s.byLen[len(name)], strings.ToLower(name))
		}
	}
	return s
}

// has reports whether the canonical name k is in the set.
func (s *headerSet) has(k string) bool { return s.canon[k] }

// hasBytes reports whether name, in any letter case, is in the set.
func (s *headerSet) hasBytes(name []byte) bool {
	if len(name) >= len(s.byLen) {
		return false
	}
	for _, n := range s.byLen[len(name)] {
		if is(name, n) {
			return true
		}
	}
	return false
}

// nominated reports whether name is among the names a Connection header
// listed.
func nominated(name []byte, names [][]byte) bool {
	for _, n := range names {
		if bytes.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// forwardRequestHeader reports whether a client's header (h1 core) goes to
// the backend; names are those the request's Connection header lists.
func forwardRequestHeader(name []byte, names [][]byte) bool {
	return !requestDrop.hasBytes(name) && !nominated(name, names)
}

// forwardResponseHeader reports whether a backend's header (h1 core) goes
// to the client.
func forwardResponseHeader(name []byte, names [][]byte) bool {
	return !responseDrop.hasBytes(name) && !nominated(name, names)
}

// connectionNamed returns the canonical names a Connection header lists
// (nethttp core), nil when there are none.
func connectionNamed(h http.Header) map[string]bool {
	var named map[string]bool
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				if named == nil {
					named = map[string]bool{}
				}
				named[http.CanonicalHeaderKey(f)] = true
			}
		}
	}
	return named
}

// copyRequestHeader copies the client's headers that go to the backend
// (nethttp core) into dst.
func copyRequestHeader(dst, src http.Header) {
	named := connectionNamed(src)
	for k, v := range src {
		if !requestDrop.has(k) && !named[k] {
			dst[k] = v
		}
	}
}

// copyResponseHeader copies the backend's headers that go to the client
// (nethttp core) into dst.
func copyResponseHeader(dst, src http.Header) {
	named := connectionNamed(src)
	for k, v := range src {
		if !responseDrop.has(k) && !named[k] {
			dst[k] = v
		}
	}
}
