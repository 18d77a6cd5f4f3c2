package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// maxRequestIDLen bounds an incoming X-Request-Id.
const maxRequestIDLen = 64

// idSource makes request ids: a random per-process prefix and a counter,
// unique without a syscall per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return &idSource{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (s *idSource) next() string {
	var buf [32]byte
	b := append(buf[:0], s.prefix...)
	b = strconv.AppendUint(b, s.n.Add(1), 36)
	return string(b)
}

// requestID returns the sanitised incoming id (letters, digits and
// ".-_:", at most maxRequestIDLen) or, when nothing usable is left, a new
// one.
func (s *idSource) requestID(incoming string) string {
	if incoming == "" {
		return s.next()
	}
	clean := true
	for i := 0; i < len(incoming); i++ {
		if !idByte(incoming[i]) {
			clean = false
			break
		}
	}
	if clean && len(incoming) <= maxRequestIDLen {
		return incoming
	}
	b := make([]byte, 0, min(len(incoming), maxRequestIDLen))
	for i := 0; i < len(incoming) && len(b) < maxRequestIDLen; i++ {
		if idByte(incoming[i]) {
			b = append(b, incoming[i])
		}
	}
	if len(b) == 0 {
		return s.next()
	}
	return string(b)
}

func idByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':'
}
