package gateway

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"testing"
)

// goConsumes reads one response from b as net/http's client does (skipping
// 1xx, reading the body to its end) and returns how many bytes that took,
// and whether net/http would reuse the connection afterwards.
func goConsumes(b []byte, head bool) (n int, reusable bool) {
	rd := bytes.NewReader(b)
	br := bufio.NewReader(rd)
	method := http.MethodGet
	if head {
		method = http.MethodHead
	}
	req, _ := http.NewRequest(method, "http://backend/", nil)
	for range 6 {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return 0, false
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			continue
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, false
		}
		resp.Body.Close()
		consumed := len(b) - rd.Len() - br.Buffered()
		return consumed, !resp.Close && resp.ProtoAtLeast(1, 1) && resp.StatusCode != 101
	}
	return 0, false
}

// frame feeds b to a framer in pieces split at the given points and returns
// the bytes it attributed to the response and whether it ended.
func frame(b []byte, head bool, splits []int) (n int, done, unknown bool) {
	var f respFramer
	f.reset(head)
	prev := 0
	for _, s := range append(splits, len(b)) {
		if s < prev || s > len(b) {
			continue
		}
		k, d := f.feed(b[prev:s])
		n += k
		if d {
			return n, true, f.unknown
		}
		if k < s-prev {
			return n, false, f.unknown // cannot happen: fewer bytes only at the end
		}
		prev = s
	}
	return n, false, f.unknown
}

var framingCases = []struct {
	name string
	resp string
	head bool
}{
	{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false},
	{"zero length", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false},
	{"same lengths twice", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi", false},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\n\r\n", false},
	{"chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n", false},
	{"chunked wins over length", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", false},
	{"1xx first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", false},
	{"no content", "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n", false},
	{"not modified", "HTTP/1.1 304 Not Modified\r\n\r\n", false},
	{"head", "HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n", true},
	{"bare LF headers", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", false},
	{"sse stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n10\r\ndata: {\"x\":1}\n\n\n\r\n0\r\n\r\n", false},
}

// TestRespFramerMatchesNetHTTP: the framer ends each response exactly where
// net/http's client does, whatever the read boundaries, and the bytes after
// the end are not counted.
func TestRespFramerMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	const extra = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nleaked"
	for _, tc := range framingCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := []byte(tc.resp + extra)
			want, reusable := goConsumes(b, tc.head)
			if !reusable || want != len(tc.resp) {
				t.Fatalf("net/http consumed %d (reusable %v), want %d: bad case", want, reusable, len(tc.resp))
			}
			for split := range len(b) + 1 {
				n, done, unknown := frame(b, tc.head, []int{split, split + 1, split + 7})
				if unknown || !done || n != want {
					t.Fatalf("split at %d: framer took %d bytes (done %v unknown %v), net/http %d", split, n, done, unknown, want)
				}
			}
		})
	}
	for _, bad := range []string{
		"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxyz",
	} {
		if _, done, unknown := frame([]byte(bad+extra), false, nil); done || !unknown {
			t.Errorf("%q: done %v unknown %v, want unknown (never reused)", bad, done, unknown)
		}
	}
}

// FuzzRespFramer: whenever net/http reads a response and would reuse the
// connection, the framer either gives up (the connection is then not
// reused) or ends the response at the same byte.
func FuzzRespFramer(f *testing.F) {
	for _, tc := range framingCases {
		f.Add([]byte(tc.resp+"HTTP/1.1 200 OK\r\n\r\n"), tc.head, uint16(7))
	}
	f.Fuzz(func(t *testing.T, b []byte, head bool, split uint16) {
		want, reusable := goConsumes(b, head)
		s := int(split) % (len(b) + 1)
		n, done, unknown := frame(b, head, []int{s})
		if !reusable || unknown {
			return
		}
		if !done || n != want {
			t.Fatalf("framer took %d bytes (done %v), net/http %d, of %q", n, done, want, b)
		}
	})
}
