package gateway

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// payload is a pooled request body. The transport may read and close a
// request body after RoundTrip returned, so the buffer goes back to the
// pool only when every holder released it: the handler (one reference from
// newPayload) and each reader handed to the transport.
type payload struct {
	buf  []byte
	refs atomic.Int32
	pool *sync.Pool
}

// maxPooledBody: larger buffers are left to the GC rather than pooled.
const maxPooledBody = 1 << 20

func newPayloadPool() *sync.Pool {
	p := &sync.Pool{}
	p.New = func() any { return &payload{buf: make([]byte, 0, 4<<10), pool: p} }
	return p
}

func getPayload(pool *sync.Pool) *payload {
	p := pool.Get().(*payload)
	p.buf = p.buf[:0]
	p.refs.Store(1)
	return p
}

func (p *payload) release() {
	if p.refs.Add(-1) == 0 && cap(p.buf) <= maxPooledBody {
		p.pool.Put(p)
	}
}

// reader returns a new reader over the payload holding its own reference,
// dropped on Close.
func (p *payload) reader() *payloadReader {
	p.refs.Add(1)
	return &payloadReader{p: p}
}

type payloadReader struct {
	p      *payload
	off    int
	closed atomic.Bool
}

func (r *payloadReader) Read(b []byte) (int, error) {
	if r.off >= len(r.p.buf) {
		return 0, io.EOF
	}
	n := copy(b, r.p.buf[r.off:])
	r.off += n
	return n, nil
}

// WriteTo lets the transport write the body in one call.
func (r *payloadReader) WriteTo(w io.Writer) (int64, error) {
	if r.off >= len(r.p.buf) {
		return 0, nil
	}
	n, err := w.Write(r.p.buf[r.off:])
	r.off += n
	return int64(n), err
}

func (r *payloadReader) Close() error {
	if r.closed.CompareAndSwap(false, true) {
		r.p.release()
	}
	return nil
}

// readBody reads the request body into a pooled payload, at most max
// bytes. A declared Content-Length above max fails before reading.
func readBody(r *http.Request, pool *sync.Pool, max int64) (*payload, error) {
	if r.ContentLength > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrBodyTooLarge, r.ContentLength, max)
	}
	p := getPayload(pool)
	if r.ContentLength > 0 && int64(cap(p.buf)) < r.ContentLength+1 {
		p.buf = make([]byte, 0, r.ContentLength+1)
	}
	limit := max + 1 // one byte more than allowed tells "too large"
	for int64(len(p.buf)) < limit {
		if len(p.buf) == cap(p.buf) {
			p.buf = append(p.buf, 0)[:len(p.buf)]
		}
		end := cap(p.buf)
		if int64(end) > limit {
			end = int(limit)
		}
		n, err := r.Body.Read(p.buf[len(p.buf):end])
		p.buf = p.buf[:len(p.buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			p.release()
			if cerr := r.Context().Err(); cerr != nil {
				return nil, fmt.Errorf("read request body: %w", cerr)
			}
			return nil, fmt.Errorf("%w: read request body: %v", ErrBadRequest, err)
		}
	}
	if int64(len(p.buf)) > max {
		p.release()
		return nil, fmt.Errorf("%w: limit %d bytes", ErrBodyTooLarge, max)
	}
	return p, nil
}
