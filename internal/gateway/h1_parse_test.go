package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, head string
		status     int // 0: accepted
		check      func(t *testing.T, r *h1Request)
	}{
		{"post", "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 12\r\nAuthorization: Bearer k\r\nX-Request-Id: r1\r\n\r\n", 0,
			func(t *testing.T, r *h1Request) {
				if string(r.path) != "/v1/chat/completions" || r.contentLength != 12 || !r.keepAlive ||
					string(r.authorization) != "Bearer k" || string(r.requestID) != "r1" {
					t.Errorf("parsed %+v", r)
				}
			}},
		{"lf only and leading empty line", "\r\nGET /healthz HTTP/1.1\nHost: gw\n\n", 0, nil},
		{"absolute form", "GET http://gw:8080/readyz?x HTTP/1.1\r\nHost: gw\r\n\r\n", 0,
			func(t *testing.T, r *h1Request) {
				if string(r.path) != "/readyz" {
					t.Errorf("path %q", r.path)
				}
			}},
		{"http/1.0 keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0,
			func(t *testing.T, r *h1Request) {
				if !r.keepAlive || r.minor != 0 {
					t.Errorf("keepAlive %v minor %d", r.keepAlive, r.minor)
				}
			}},
		{"close and nominated", "GET / HTTP/1.1\r\nHost: gw\r\nConnection: close, X-Secret\r\n\r\n", 0,
			func(t *testing.T, r *h1Request) {
				if r.keepAlive || len(r.nominated) != 1 || !nominated([]byte("x-secret"), r.nominated) {
					t.Errorf("keepAlive %v nominated %q", r.keepAlive, r.nominated)
				}
			}},
		{"chunked", "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n", 0,
			func(t *testing.T, r *h1Request) {
				if !r.chunked || !r.expectContinue || r.contentLength != -1 {
					t.Errorf("parsed %+v", r)
				}
			}},
		{"missing host", "GET / HTTP/1.1\r\n\r\n", 400, nil},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n b\r\n\r\n", 400, nil},
		{"space before colon", "GET / HTTP/1.1\r\nHost : gw\r\n\r\n", 400, nil},
		{"length and chunked", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, nil},
		{"conflicting lengths", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, nil},
		{"signed length", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: +3\r\n\r\n", 400, nil},
		{"gzip coding", "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, nil},
		{"expectation", "POST / HTTP/1.1\r\nHost: gw\r\nExpect: magic\r\n\r\n", 417, nil},
		{"http/2", "GET / HTTP/2.0\r\nHost: gw\r\n\r\n", 505, nil},
		{"control byte in value", "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\x01b\r\n\r\n", 400, nil},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, nil},
		{"no target", "GET  HTTP/1.1\r\nHost: gw\r\n\r\n", 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			head := []byte(tc.head)
			if n := headEnd(head, 0); n != len(head) {
				t.Fatalf("headEnd %d, want %d", n, len(head))
			}
			var r h1Request
			err := parseRequest(head, &r)
			if tc.status == 0 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if tc.check != nil {
					tc.check(t, &r)
				}
				return
			}
			he, ok := err.(*h1Error)
			if !ok || he.status != tc.status {
				t.Fatalf("got %v, want status %d", err, tc.status)
			}
		})
	}
}

func TestParseResponse(t *testing.T) {
	t.Parallel()
	var r h1Response
	head := "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n\r\n"
	if err := parseResponse([]byte(head), &r); err != nil {
		t.Fatal(err)
	}
	if r.status != 200 || !r.chunked || !r.eventStream || !r.keepAlive || r.contentLength != -1 || !nominated([]byte("X-Hop"), r.nominated) {
		t.Errorf("parsed %+v", r)
	}
	for _, bad := range []string{"HTTP/1.1 20 OK\r\n\r\n", "HTTP/2 200 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 2000\r\n\r\n"} {
		if err := parseResponse([]byte(bad), &r); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if err := parseResponse([]byte("HTTP/1.0 503 Service Unavailable\r\nContent-Length: 5\r\n\r\n"), &r); err != nil || r.keepAlive || r.contentLength != 5 {
		t.Errorf("HTTP/1.0: %v %+v", err, r)
	}
}

func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"Content-Type": true, "X-Custom": true, "User-Agent": true,
		"authorization": false, "Cookie": false, "Accept-Encoding": false, "Host": false, "Content-Length": false,
		"X-Request-Id": false, "Expect": false, "Connection": false, "Keep-Alive": false, "TE": false,
		"Transfer-Encoding": false, "Upgrade": false, "Proxy-Authorization": false, "Trailer": false, "X-Named": false,
	} {
		if got := forwardRequestHeader([]byte(name), [][]byte{[]byte("x-named")}); got != want {
			t.Errorf("forwardRequestHeader(%s) = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]bool{
		"Content-Type": true, "X-Custom": true, "Cache-Control": true,
		"content-length": false, "X-Request-Id": false, "Set-Cookie": false, "set-cookie2": false,
		"Authorization": false, "Proxy-Authorization": false, "WWW-Authenticate": false, "Alt-Svc": false,
		"Connection": false, "Keep-Alive": false, "Transfer-Encoding": false, "Upgrade": false, "X-Named": false,
	} {
		if got := forwardResponseHeader([]byte(name), [][]byte{[]byte("x-named")}); got != want {
			t.Errorf("forwardResponseHeader(%s) = %v, want %v", name, got, want)
		}
	}
}

// decodeChunked runs chunkedReader over in, fed in pieces of at most step
// bytes, and returns the data, the bytes consumed and whether it ended.
func decodeChunked(in []byte, step int) (data []byte, used int, done bool, err error) {
	var ck chunkedReader
	for used < len(in) && !ck.done() {
		piece := in[used:min(len(in), used+step)]
		off := 0
		for off < len(piece) && !ck.done() {
			n, d, err := ck.step(piece[off:])
			if err != nil {
				return data, used + off, false, err
			}
			if n == 0 {
				return data, used + off, ck.done(), nil
			}
			data = append(data, d...)
			off += n
		}
		used += off
	}
	return data, used, ck.done(), nil
}

func TestChunkedReader(t *testing.T) {
	t.Parallel()
	var enc bytes.Buffer
	cw := httputil.NewChunkedWriter(&enc)
	for _, p := range []string{"data: a\n\n", strings.Repeat("x", 5000), "z"} {
		_, _ = io.WriteString(cw, p)
	}
	cw.Close()
	enc.WriteString("Trailer-A: 1\r\n\r\nNEXT")
	for _, step := range []int{1, 2, 7, 4096, 1 << 20} {
		data, used, done, err := decodeChunked(enc.Bytes(), step)
		if err != nil || !done {
			t.Fatalf("step %d: done %v err %v", step, done, err)
		}
		if string(data) != "data: a\n\n"+strings.Repeat("x", 5000)+"z" {
			t.Errorf("step %d: data %d bytes", step, len(data))
		}
		if string(enc.Bytes()[used:]) != "NEXT" {
			t.Errorf("step %d: consumed up to %q", step, enc.Bytes()[used:])
		}
	}
	for _, bad := range []string{"x\r\n", "5\r\nabcdeXX", "fffffffffffffffff\r\n", "\r\n", "3;ext\r\nabc\r\n0\r\n\r\r",
		"1\nx\r\n", "1\r\nx\n0\r\n", "1;a\nx", "1 2\r\n", "1\r5\r\n", "1;a\rb\r\n"} { // bare LF, stray CR, digits after space
		if _, _, _, err := decodeChunked([]byte(bad), 3); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	var ck chunkedReader
	if !ck.atBoundary() {
		t.Error("a new reader is not at a chunk boundary")
	}
	_, _, _ = ck.step([]byte("5\r\nab"))
	if ck.atBoundary() {
		t.Error("inside a chunk counts as a boundary")
	}
}

// FuzzChunkedReader: whatever the pieces, chunkedReader decodes what
// net/http's chunked writer encoded, and never consumes past the end or
// panics on garbage.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("data: x\n\n"), []byte("3\r\nabc\r\n0\r\n\r\n"), uint8(3))
	f.Add([]byte(""), []byte("0;a=b\r\nT: v\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, payload, garbage []byte, step uint8) {
		var enc bytes.Buffer
		cw := httputil.NewChunkedWriter(&enc)
		for p := payload; len(p) > 0; {
			k := min(len(p), int(step)+1)
			_, _ = cw.Write(p[:k])
			p = p[k:]
		}
		cw.Close()
		enc.WriteString("\r\n")
		data, used, done, err := decodeChunked(enc.Bytes(), int(step)+1)
		if err != nil || !done || used != enc.Len() || !bytes.Equal(data, payload) {
			t.Fatalf("decode: err %v done %v used %d/%d data %q want %q", err, done, used, enc.Len(), data, payload)
		}
		_, used, _, _ = decodeChunked(garbage, int(step)+1)
		if used > len(garbage) {
			t.Fatalf("consumed %d of %d", used, len(garbage))
		}
	})
}

// FuzzParseRequest: the request parser never panics, and accepts nothing
// that Go's own server parser refuses (the gateway is at least as strict).
func FuzzParseRequest(f *testing.F) {
	f.Add([]byte("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\n"))
	f.Add([]byte("GET /healthz HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		n := headEnd(in, 0)
		if n < 0 {
			return
		}
		var r h1Request
		if parseRequest(in[:n], &r) != nil {
			return
		}
		if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in[:n]))); err != nil {
			t.Fatalf("h1 accepted what net/http refuses (%v): %q", err, in[:n])
		}
	})
}
