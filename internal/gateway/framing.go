package gateway

import "bytes"

// respFramer follows the framing of the HTTP/1.1 responses on one upstream
// connection as their bytes go by, to tell where a response ends: after
// that point the backend has nothing more to say until the next request,
// and any byte it sends is not an answer to anything. It reads heads with
// the h1 core's parser (parseResponse) and chunked bodies with its
// chunkedReader, and frames as net/http's client does (status,
// Content-Length, Transfer-Encoding: chunked with trailers, 1xx, 204/304 and
// HEAD without a body). What it cannot follow (a body that ends at close, an
// unsupported encoding, malformed framing, an upgrade, a response that asks
// to close) makes it unknown: the connection is then never reused, which
// costs a connection, never correctness.
type respFramer struct {
	state   framerState
	head    bool   // the request was HEAD: no body whatever the headers say
	block   []byte // the response head being collected
	resp    h1Response
	remain  int64 // Content-Length body bytes still to come
	ck      chunkedReader
	unknown bool
}

type framerState int

const (
	fsHeader  framerState = iota // status line and headers
	fsLength                     // a Content-Length body
	fsChunked                    // a chunked body
	fsDone                       // the response ended
)

// maxFramedHeader bounds a response head (net/http's client fails larger
// ones too).
const maxFramedHeader = 1 << 20

// reset starts a new exchange: a request was written and its response is
// expected.
func (f *respFramer) reset(head bool) {
	*f = respFramer{head: head, block: f.block[:0],
		resp: h1Response{headers: f.resp.headers[:0], nominated: f.resp.nominated[:0]}}
}

// feed consumes p, the next bytes from the connection, and returns how many
// belong to the current response: n < len(p) when the response ends inside
// p. done reports that the response has ended. Once unknown, every byte
// belongs to the response and it never ends.
func (f *respFramer) feed(p []byte) (n int, done bool) {
	for n < len(p) && !f.unknown {
		switch f.state {
		case fsDone:
			return n, true
		case fsLength:
			k := int(min(f.remain, int64(len(p)-n)))
			n += k
			if f.remain -= int64(k); f.remain == 0 {
				f.state = fsDone
			}
		case fsChunked:
			k, _, err := f.ck.step(p[n:])
			n += k
			switch {
			case err != nil:
				f.unknown = true
			case f.ck.done():
				f.state = fsDone
			}
		default: // fsHeader: up to the empty line
			k := len(p) - n
			if i := bytes.IndexByte(p[n:], '\n'); i >= 0 {
				k = i + 1
			}
			f.block = append(f.block, p[n:n+k]...)
			n += k
			switch {
			case len(f.block) > maxFramedHeader:
				f.unknown = true
			case bytes.HasSuffix(f.block, []byte("\n\n")) || bytes.HasSuffix(f.block, []byte("\n\r\n")):
				f.headDone()
			}
		}
	}
	if f.unknown {
		return len(p), false
	}
	return n, f.state == fsDone
}

// headDone reads the framing of the complete head in f.block. It allocates
// nothing once the framer's slices have grown: it runs for every response
// on the proxy path.
func (f *respFramer) headDone() {
	r := &f.resp
	err := parseResponse(f.block, r)
	f.block = f.block[:0]
	switch {
	case err != nil || r.status == 101:
		f.unknown = true // malformed, or an upgrade: the connection is no longer HTTP
	case r.status < 200:
		// informational: the final response follows
	case f.head || bodyless(r.status):
		f.state = fsDone
	case !r.keepAlive:
		f.unknown = true // HTTP/1.0, Connection: close, an unsupported encoding: not reused
	case r.chunked:
		f.state, f.ck = fsChunked, chunkedReader{}
	case r.contentLength < 0:
		f.unknown = true // a body that ends at close
	case r.contentLength == 0:
		f.state = fsDone
	default:
		f.state, f.remain = fsLength, r.contentLength
	}
}
