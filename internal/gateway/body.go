package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
)

// Request bodies are read into a fresh slice, not a pooled one: the
// transport may go on reading a request body after RoundTrip returned, so
// only the GC knows when it is free. It is handed to the transport as an
// io.NopCloser(*bytes.Reader), which the transport recognises as in-memory
// and writes together with the headers in one syscall (any other reader
// makes it flush the headers first: one more write upstream, one more read
// there).

// Body buffer sizes: the first read goes into firstBodyBuf bytes (or the
// declared length, when smaller); the buffer then doubles as bytes arrive.
// A declared Content-Length reserves nothing: a client that declares 10 MiB
// and sends one byte costs firstBodyBuf, not 10 MiB.
const firstBodyBuf = 16 << 10

// readBody reads the request body, at most max bytes. A declared
// Content-Length above max fails before reading. Memory grows with the
// bytes that arrive, never ahead of them by more than the bytes already
// there (or firstBodyBuf).
func readBody(r *http.Request, max int64) ([]byte, error) {
	if r.ContentLength > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, r.ContentLength, max)
	}
	limit := max + 1 // one byte more than allowed tells "too large"
	if r.ContentLength >= 0 {
		limit = min(limit, r.ContentLength+1) // room to see the EOF without growing
	}
	buf := make([]byte, 0, min(limit, firstBodyBuf))
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= limit {
				break
			}
			grown := make([]byte, len(buf), min(limit, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			// A read deadline also cancels the request's context: look
			// at the error first.
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil, fmt.Errorf("%w: the body did not arrive within timeouts.requestRead", ErrRequestTimeout)
			}
			if cerr := r.Context().Err(); cerr != nil {
				return nil, fmt.Errorf("read request body: %w", cerr)
			}
			return nil, fmt.Errorf("%w: read request body: %v", ErrBadRequest, err)
		}
	}
	if int64(len(buf)) > max {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, max)
	}
	return buf, nil
}

// bodyReader returns b as a request body the transport writes with the
// headers.
func bodyReader(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// bufPool recycles response buffers, which the gateway alone uses.
type bufPool struct{ p sync.Pool }

// maxPooledBuf: larger buffers are left to the GC rather than pooled.
const maxPooledBuf = 1 << 20

func (bp *bufPool) get() *[]byte {
	if b, ok := bp.p.Get().(*[]byte); ok {
		*b = (*b)[:0]
		return b
	}
	b := make([]byte, 0, 8<<10)
	return &b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) <= maxPooledBuf {
		bp.p.Put(b)
	}
}
