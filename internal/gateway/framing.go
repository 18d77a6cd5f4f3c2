package gateway

import "bytes"

// respFramer follows the framing of the HTTP/1.1 responses on one upstream
// connection as their bytes go by, to tell where a response ends: after
// that point the backend has nothing more to say until the next request,
// and any byte it sends is not an answer to anything. It reads framing the
// way net/http's client does (status, Content-Length, Transfer-Encoding:
// chunked with trailers, 1xx, 204/304 and HEAD without a body). What it
// cannot follow (a body that ends at close, an unsupported encoding,
// malformed framing, an upgrade) makes it unknown: the connection is then
// never reused, which costs a connection, never correctness.
type respFramer struct {
	state   framerState
	head    bool   // the request was HEAD: no body whatever the headers say
	line    []byte // the header block or chunk line being collected
	remain  int64  // body or chunk bytes still to come
	unknown bool
}

type framerState int

const (
	fsHeader    framerState = iota // status line and headers
	fsLength                       // a Content-Length body
	fsChunkLine                    // a chunk-size line
	fsChunkData                    // chunk data
	fsChunkEnd                     // the CRLF after chunk data
	fsTrailer                      // trailer lines after the last chunk
	fsDone                         // the response ended
)

// Limits beyond which the framer gives up (net/http's client fails such
// responses too).
const (
	maxFramedHeader    = 1 << 20
	maxFramedChunkLine = 4 << 10
)

// reset starts a new exchange: a request was written and its response is
// expected.
func (f *respFramer) reset(head bool) {
	*f = respFramer{head: head, line: f.line[:0]}
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
		case fsLength, fsChunkData:
			k := int(min(f.remain, int64(len(p)-n)))
			n += k
			f.remain -= int64(k)
			if f.remain == 0 {
				if f.state == fsLength {
					f.state = fsDone
				} else {
					f.state = fsChunkEnd
				}
			}
		case fsChunkEnd:
			f.line = append(f.line, p[n])
			n++
			if len(f.line) == 2 {
				if string(f.line) != "\r\n" {
					f.unknown = true
				}
				f.line = f.line[:0]
				f.state = fsChunkLine
			}
		default: // fsHeader, fsChunkLine, fsTrailer: line-oriented
			i := bytes.IndexByte(p[n:], '\n')
			if i < 0 {
				f.line = append(f.line, p[n:]...)
				n = len(p)
			} else {
				f.line = append(f.line, p[n:n+i+1]...)
				n += i + 1
			}
			if len(f.line) > maxFramedHeader || (f.state == fsChunkLine && len(f.line) > maxFramedChunkLine) {
				f.unknown = true
			} else if i >= 0 {
				f.endOfLine()
			}
		}
	}
	if f.unknown {
		return len(p), false
	}
	return n, f.state == fsDone
}

// endOfLine acts on the line just completed in f.line (its '\n' included).
func (f *respFramer) endOfLine() {
	line := f.line
	switch f.state {
	case fsHeader:
		// The header block ends with an empty line.
		if !bytes.HasSuffix(line, []byte("\n\n")) && !bytes.HasSuffix(line, []byte("\n\r\n")) {
			return
		}
		f.headerDone(line)
		f.line = f.line[:0]
	case fsChunkLine:
		f.line = f.line[:0]
		if len(line) < 2 || line[len(line)-2] != '\r' || bytes.IndexByte(line, '\r') != len(line)-2 {
			f.unknown = true // net/http wants CRLF and no other CR
			return
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line[:len(line)-2], " \t"), []byte(";"))
		v, ok := parseHex(size)
		if !ok {
			f.unknown = true
			return
		}
		if v == 0 {
			f.state = fsTrailer
			return
		}
		f.remain, f.state = int64(v), fsChunkData
	case fsTrailer:
		f.line = f.line[:0]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			f.state = fsDone
		}
	}
}

// headerDone reads the framing of a complete header block. It allocates
// nothing: it runs for every response on the proxy path.
func (f *respFramer) headerDone(block []byte) {
	statusLine, rest, _ := bytes.Cut(bytes.TrimRight(block, "\r\n"), []byte("\n"))
	proto, status, _ := bytes.Cut(bytes.TrimSpace(statusLine), []byte(" "))
	status, _, _ = bytes.Cut(bytes.TrimLeft(status, " "), []byte(" "))
	if !bytes.Equal(proto, []byte("HTTP/1.1")) || len(status) != 3 {
		f.unknown = true // HTTP/1.0 and anything else: not reused
		return
	}
	code := 0
	for _, c := range status {
		if c < '0' || c > '9' {
			f.unknown = true
			return
		}
		code = code*10 + int(c-'0')
	}
	switch {
	case code < 100:
		f.unknown = true
		return
	case code == 101:
		f.unknown = true // an upgrade: the connection is no longer HTTP
		return
	case code < 200:
		return // informational: the final response follows
	case f.head || code == 204 || code == 304:
		f.state = fsDone
		return
	}
	var (
		te, cl   []byte // the first value of each
		nte, ncl int
		clDiffer bool
	)
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if nte++; nte == 1 {
				te = value
			}
		case bytes.EqualFold(name, []byte("Content-Length")):
			if ncl++; ncl == 1 {
				cl = value
			} else if !bytes.Equal(value, cl) {
				clDiffer = true
			}
		}
	}
	switch {
	case nte == 1 && bytes.EqualFold(te, []byte("chunked")):
		f.state = fsChunkLine
	case nte > 0 || ncl == 0 || clDiffer:
		f.unknown = true // an unsupported encoding, a body that ends at close, conflicting lengths
	default:
		var n int64
		for _, c := range cl {
			if c < '0' || c > '9' || n > (1<<62)/10 {
				f.unknown = true
				return
			}
			n = n*10 + int64(c-'0')
		}
		if len(cl) == 0 {
			f.unknown = true
			return
		}
		if n == 0 {
			f.state = fsDone
			return
		}
		f.remain, f.state = n, fsLength
	}
}

// parseHex reads a chunk size: 1 to 15 hex digits, nothing else.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | int64(c)
	}
	return v, true
}
