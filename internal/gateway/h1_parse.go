package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
)

// The h1 core's message parsing: request heads from clients, response heads
// from backends and chunked framing, all in place over the connection's
// buffer, without allocating. The rules are RFC 9112's, as strict as Go's
// net/http where it matters for a proxy (no whitespace before a colon, no
// obs-fold, one Content-Length, no Content-Length with Transfer-Encoding,
// only "chunked" as a request transfer coding, Host required in HTTP/1.1).

// h1MaxHead bounds a request or response head.
const h1MaxHead = 64 << 10

// h1Header is one header line, name and value slices of the head.
type h1Header struct{ name, value []byte }

// h1Request is a parsed request head; its slices point into the
// connection's read buffer and are valid until the next request.
type h1Request struct {
	method, target, path []byte
	minor                int // HTTP/1.minor
	headers              []h1Header
	contentLength        int64 // -1: none
	chunked              bool
	keepAlive            bool
	expectContinue       bool
	nominated            [][]byte // header names listed in Connection
	authorization        []byte
	requestID            []byte
	hasHost              bool
}

// h1Response is a parsed response head from a backend.
type h1Response struct {
	status        int
	headers       []h1Header
	contentLength int64 // -1: none
	chunked       bool
	keepAlive     bool
	eventStream   bool
	contentType   []byte
	nominated     [][]byte
}

// h1Error is a malformed request: the status to answer with and why.
type h1Error struct {
	status int
	msg    string
}

func (e *h1Error) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &h1Error{status: 400, msg: fmt.Sprintf(format, args...)}
}

// headEnd returns the length of the head at the start of b (through the
// empty line), or -1 when it is not complete yet.
func headEnd(b []byte, from int) int {
	for i := max(from, 0); i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		i += j + 1
		// An empty line is "\n" or "\r\n" right after the previous "\n".
		if i < len(b) && b[i] == '\n' {
			return i + 1
		}
		if i+1 < len(b) && b[i] == '\r' && b[i+1] == '\n' {
			return i + 2
		}
	}
	return -1
}

// nextLine splits b at the first "\n", dropping a "\r" before it.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

// validValue: field-content without control bytes other than HTAB.
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// is reports whether the header name b equals lower, ASCII
// case-insensitively; lower must be lower case.
func is(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// parseHeaders reads header lines (up to the empty line) into hs and calls
// each for every one.
func parseHeaders(b []byte, hs []h1Header, each func(h h1Header) error) ([]h1Header, error) {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			return hs, badRequest("obsolete line folding in header")
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || !isToken(line[:i]) {
			return hs, badRequest("malformed header line")
		}
		h := h1Header{name: line[:i], value: trimOWS(line[i+1:])}
		if !validValue(h.value) {
			return hs, badRequest("invalid byte in header %s", h.name)
		}
		if len(hs) >= 256 {
			return hs, &h1Error{status: 431, msg: "too many header fields"}
		}
		hs = append(hs, h)
		if err := each(h); err != nil {
			return hs, err
		}
	}
	return hs, nil
}

// parseContentLength reads a Content-Length value; a repeated header must
// repeat the same value.
func parseContentLength(v []byte, prev int64) (int64, error) {
	if len(v) == 0 || len(v) > 18 {
		return 0, errors.New("invalid Content-Length")
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errors.New("invalid Content-Length")
		}
		n = n*10 + int64(c-'0')
	}
	if prev >= 0 && prev != n {
		return 0, errors.New("conflicting Content-Length headers")
	}
	return n, nil
}

// eachToken calls f with each comma-separated, trimmed, non-empty element
// of v.
func eachToken(v []byte, f func(t []byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if t = trimOWS(t); len(t) > 0 {
			f(t)
		}
	}
}

func hasToken(v []byte, lower string) bool {
	found := false
	eachToken(v, func(t []byte) { found = found || is(t, lower) })
	return found
}

// parseRequest parses a request head (as delimited by headEnd) into r,
// reusing r's slices.
func parseRequest(head []byte, r *h1Request) error {
	*r = h1Request{headers: r.headers[:0], nominated: r.nominated[:0], contentLength: -1}
	line, rest := nextLine(head)
	// Tolerate empty lines before the request line (RFC 9112 §2.2).
	for len(line) == 0 && len(rest) > 0 {
		line, rest = nextLine(rest)
	}
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 <= 0 {
		return badRequest("malformed request line")
	}
	sp2 := bytes.IndexByte(line[sp1+1:], ' ')
	if sp2 <= 0 {
		return badRequest("malformed request line")
	}
	sp2 += sp1 + 1
	r.method, r.target = line[:sp1], line[sp1+1:sp2]
	proto := line[sp2+1:]
	if !isToken(r.method) {
		return badRequest("malformed method")
	}
	if !validTarget(r.target) {
		return badRequest("malformed request target")
	}
	switch string(proto) {
	case "HTTP/1.1":
		r.minor = 1
	case "HTTP/1.0":
		r.minor = 0
	default:
		return &h1Error{status: 505, msg: "unsupported protocol version"}
	}
	r.path = requestPath(r.target)
	r.keepAlive = r.minor == 1
	var clErr error
	var err error
	r.headers, err = parseHeaders(rest, r.headers, func(h h1Header) error {
		switch {
		case is(h.name, "content-length"):
			r.contentLength, clErr = parseContentLength(h.value, r.contentLength)
			if clErr != nil {
				return badRequest("%v", clErr)
			}
		case is(h.name, "transfer-encoding"):
			if r.chunked || !is(h.value, "chunked") {
				return &h1Error{status: 501, msg: "unsupported transfer encoding"}
			}
			r.chunked = true
		case is(h.name, "connection"):
			eachToken(h.value, func(t []byte) {
				switch {
				case is(t, "close"):
					r.keepAlive = false
				case is(t, "keep-alive"):
					if r.minor == 0 {
						r.keepAlive = true
					}
				default:
					r.nominated = append(r.nominated, t)
				}
			})
		case is(h.name, "expect"):
			if !is(h.value, "100-continue") {
				return &h1Error{status: 417, msg: "unsupported expectation"}
			}
			r.expectContinue = r.minor == 1
		case is(h.name, "host"):
			if r.hasHost {
				return badRequest("too many Host headers")
			}
			r.hasHost = true
		case is(h.name, "authorization"):
			r.authorization = h.value
		case is(h.name, "x-request-id"):
			r.requestID = h.value
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.chunked && r.contentLength >= 0 {
		return badRequest("both Content-Length and Transfer-Encoding")
	}
	if r.minor == 1 && !r.hasHost {
		return badRequest("missing required Host header")
	}
	return nil
}

// validTarget accepts an origin-form target ("/path?query" with valid
// percent escapes) cheaply, and other forms as url.ParseRequestURI does.
func validTarget(t []byte) bool {
	for _, c := range t {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	if len(t) == 0 || t[0] != '/' {
		_, err := url.ParseRequestURI(string(t))
		return err == nil
	}
	for i := 0; i < len(t); i++ {
		if t[i] == '%' {
			if i+2 >= len(t) || !isHex(t[i+1]) || !isHex(t[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// requestPath is the path of an origin-form or absolute-form target,
// without its query.
func requestPath(target []byte) []byte {
	if len(target) > 0 && target[0] != '/' {
		if i := bytes.Index(target, []byte("://")); i > 0 {
			target = target[i+3:]
			if j := bytes.IndexByte(target, '/'); j >= 0 {
				target = target[j:]
			} else {
				target = nil
			}
		}
	}
	if i := bytes.IndexByte(target, '?'); i >= 0 {
		target = target[:i]
	}
	return target
}

// header returns the first value of the named header (lower case).
func (r *h1Request) header(lower string) ([]byte, bool) {
	for _, h := range r.headers {
		if is(h.name, lower) {
			return h.value, true
		}
	}
	return nil, false
}

// parseResponse parses a backend's response head into r.
func parseResponse(head []byte, r *h1Response) error {
	*r = h1Response{headers: r.headers[:0], nominated: r.nominated[:0], contentLength: -1}
	line, rest := nextLine(head)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return errors.New("malformed status line")
	}
	minor := line[7]
	if minor != '0' && minor != '1' {
		return errors.New("unsupported protocol version")
	}
	code := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return errors.New("malformed status code")
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || len(line) > 12 && line[12] != ' ' {
		return errors.New("malformed status code")
	}
	r.status = code
	r.keepAlive = minor == '1'
	var err error
	r.headers, err = parseHeaders(rest, r.headers, func(h h1Header) error {
		switch {
		case is(h.name, "content-length"):
			n, err := parseContentLength(h.value, r.contentLength)
			if err != nil {
				return err
			}
			r.contentLength = n
		case is(h.name, "transfer-encoding"):
			// Chunked must be the final coding; anything else is read until
			// the backend closes.
			r.chunked = false
			var last []byte
			eachToken(h.value, func(t []byte) { last = t })
			r.chunked = is(last, "chunked")
			if !r.chunked {
				r.keepAlive = false
			}
		case is(h.name, "connection"):
			eachToken(h.value, func(t []byte) {
				switch {
				case is(t, "close"):
					r.keepAlive = false
				case is(t, "keep-alive"):
					if minor == '0' {
						r.keepAlive = true
					}
				default:
					r.nominated = append(r.nominated, t)
				}
			})
		case is(h.name, "content-type"):
			r.contentType = h.value
			r.eventStream = len(h.value) >= 17 && is(h.value[:17], "text/event-stream")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("malformed response head: %w", err)
	}
	if r.chunked {
		r.contentLength = -1
	}
	return nil
}

// bodyless reports whether a response with this status has no body.
func bodyless(status int) bool {
	return status < 200 || status == 204 || status == 304
}

// chunkedReader follows chunked framing over arbitrary reads without
// copying: step consumes framing bytes and hands out data slices. It is as
// strict as Go's own chunked reader where framing is decided: chunk lines
// end with CRLF (a bare LF or a stray CR is an error, RFC 9112 erratum
// 7633), data ends with CRLF, a size has at most 15 hex digits. It serves
// the h1 core (request bodies, backend responses) and the guard of the
// nethttp core's upstream connections (respFramer).
type chunkedReader struct {
	state   int
	left    int64 // data bytes left in the current chunk
	lineLen int   // bytes of the current size or trailer line
	digits  int
}

const (
	ckSize      = iota // reading hex digits of a chunk size
	ckSizeWS           // whitespace after the size
	ckExt              // skipping a chunk extension up to the line's end
	ckSizeLF           // after "\r" of a size line
	ckData             // in chunk data
	ckDataCR           // expecting "\r\n" after data
	ckDataLF           // expecting "\n" after data
	ckTrailer          // at the start of a trailer line (or the final empty line)
	ckTrailerLF        // after "\r" at the start of a trailer line
	ckTrLine           // inside a trailer line
	ckDone             // the message ended
)

// maxChunkLine bounds a chunk size line with its extensions, and a trailer
// line.
const maxChunkLine = 4 << 10

var errChunked = errors.New("malformed chunked encoding")

// done reports whether the final chunk and trailers were read.
func (c *chunkedReader) done() bool { return c.state == ckDone }

// atBoundary reports whether the stream is between chunks, where the
// gateway may end it with a chunk of its own.
func (c *chunkedReader) atBoundary() bool { return c.state == ckSize && c.digits == 0 }

// step consumes the start of p. It returns how many bytes it consumed and,
// when those bytes are chunk data, the data (p[:n]). It consumes nothing
// once the message is done.
func (c *chunkedReader) step(p []byte) (n int, data []byte, err error) {
	for n < len(p) {
		b := p[n]
		switch c.state {
		case ckData:
			if n > 0 {
				return n, nil, nil // hand out framing and data separately
			}
			k := int(min(c.left, int64(len(p))))
			c.left -= int64(k)
			if c.left == 0 {
				c.state = ckDataCR
			}
			return k, p[:k], nil
		case ckSize:
			var v byte
			switch {
			case '0' <= b && b <= '9':
				v = b - '0'
			case 'a' <= b && b <= 'f':
				v = b - 'a' + 10
			case 'A' <= b && b <= 'F':
				v = b - 'A' + 10
			default:
				if c.digits == 0 || !c.endDigits(b) {
					return n, nil, errChunked
				}
				n++
				c.lineLen++
				continue
			}
			if c.digits >= 15 {
				return n, nil, errChunked
			}
			c.left = c.left<<4 | int64(v)
			c.digits++
		case ckSizeWS:
			if b != ' ' && b != '\t' && !c.endDigits(b) {
				return n, nil, errChunked
			}
		case ckExt:
			switch b {
			case '\r':
				c.state = ckSizeLF
			case '\n':
				return n, nil, errChunked
			}
		case ckSizeLF:
			if b != '\n' {
				return n, nil, errChunked
			}
			c.endSize()
		case ckDataCR:
			if b != '\r' {
				return n, nil, errChunked
			}
			c.state = ckDataLF
		case ckDataLF:
			if b != '\n' {
				return n, nil, errChunked
			}
			c.state, c.digits, c.lineLen = ckSize, 0, -1
		case ckTrailer:
			switch b {
			case '\r':
				c.state = ckTrailerLF
			case '\n':
				c.state = ckDone
				return n + 1, nil, nil
			default:
				c.state = ckTrLine
			}
		case ckTrailerLF:
			if b != '\n' {
				return n, nil, errChunked
			}
			c.state = ckDone
			return n + 1, nil, nil
		case ckTrLine:
			if b == '\n' {
				c.state, c.lineLen = ckTrailer, -1
			}
		case ckDone:
			return n, nil, nil
		}
		n++
		c.lineLen++
		if c.lineLen > maxChunkLine {
			return n, nil, errChunked
		}
	}
	return n, nil, nil
}

// endDigits moves past the size's digits on b, the byte after them (or
// after whitespace following them): an extension, the line's end or more
// whitespace. It reports false for anything else.
func (c *chunkedReader) endDigits(b byte) bool {
	switch b {
	case '\r':
		c.state = ckSizeLF
	case ';':
		c.state = ckExt
	case ' ', '\t':
		c.state = ckSizeWS
	default:
		return false
	}
	return true
}

// endSize ends a size line: data follows, or the trailers after the last
// chunk.
func (c *chunkedReader) endSize() {
	c.lineLen = -1
	if c.left == 0 {
		c.state = ckTrailer
		return
	}
	c.state = ckData
}
