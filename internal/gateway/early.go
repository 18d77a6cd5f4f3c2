package gateway

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Answers given before the request was read whole (no key, a wrong method
// or path, a declared length over maxBodyBytes, a body that came too late,
// an endpoint that reads no body) go out at once with Connection: close;
// the connection then closes with a lingering close, the same on both
// cores.

// earlyAnswer prepares an answer given before the request's body was read:
// Connection: close, so that the server does not read the body first to
// keep the connection. After the answer, the handler ends the connection
// with endEarly.
func earlyAnswer(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
}

// answerEarly serves r, whose body nobody reads, with h, and closes the
// connection after the answer (endEarly). The answer is buffered, to go out
// whole with its length before the connection is taken from the server.
func answerEarly(w http.ResponseWriter, r *http.Request, h http.HandlerFunc, linger time.Duration) {
	bw := &bufferedWriter{header: w.Header()}
	h(bw, r)
	earlyAnswer(w)
	w.Header().Set("Content-Length", strconv.Itoa(bw.body.Len()))
	w.WriteHeader(bw.code())
	_, _ = w.Write(bw.body.Bytes())
	endEarly(w, linger)
}

// endEarly ends the connection of an early answer (nethttp core), as the h1
// core does: it takes the connection from the server once the answer is
// out and closes it with lingerClose. The answer must carry its length.
func endEarly(w http.ResponseWriter, linger time.Duration) {
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	c, _, err := rc.Hijack()
	if err != nil {
		return // the server closes it its own way
	}
	lingerClose(c, time.Now().Add(linger))
}

// lingerClose closes a connection on which the client may still be sending
// a request the gateway has answered (RFC 9112 §9.6): it half-closes it, so
// that the client sees the answer end, then reads and drops whatever the
// client still sends until the client closes its side or until passes, and
// closes. Closing at once with unread bytes would make the kernel reset the
// connection, and a reset can destroy the answer in the client's receive
// buffer before the client reads it (a client that sends its whole body
// before reading is the usual case). The bound keeps a client that goes on
// sending from holding the connection.
func lingerClose(c net.Conn, until time.Time) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.SetReadDeadline(until)
	_, _ = io.Copy(io.Discard, c)
	_ = c.Close()
}

// bufferedWriter is an http.ResponseWriter that keeps the answer in memory.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

// code is the status written, 200 when none was.
func (w *bufferedWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func (w *bufferedWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(p)
}

// Flush does nothing: the answer is sent whole.
func (w *bufferedWriter) Flush() {}

var _ http.Flusher = (*bufferedWriter)(nil)
