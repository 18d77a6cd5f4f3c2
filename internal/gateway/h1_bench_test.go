package gateway

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/engine"
)

// benchBackend answers every request on a keep-alive connection with body
// (the probe path too), reading and writing raw bytes so that a benchmark
// counts the gateway's allocations, not a Go server's.
func benchBackend(b *testing.B, body string) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReaderSize(c, 64<<10)
				for {
					n := 0
					for { // the head
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
						if v, ok := strings.CutPrefix(string(line), "Content-Length: "); ok {
							n, _ = strconv.Atoi(strings.TrimSpace(v))
						}
					}
					if _, err := br.Discard(n); err != nil {
						return
					}
					if _, err := io.WriteString(c, answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkProxyCore sends one small chat request at a time through each
// core over loopback, from a raw client to a raw backend: ns/op is the
// round trip (three processes' work on one machine, mostly system calls),
// allocs/op and B/op are the gateway's own.
func BenchmarkProxyCore(b *testing.B) {
	url := benchBackend(b, benchResponse)
	body := benchChatBody()
	req := fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nAuthorization: Bearer x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	for _, core := range []string{CoreH1, CoreNetHTTP} {
		b.Run(core, func(b *testing.B) {
			if core == CoreH1 && !h1Available {
				b.Skip("the h1 core needs Linux")
			}
			cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "a", Engine: engine.LlamaCpp, URL: url}}})
			cfg.Core = core
			gw := startGateway(b, cfg, Options{Logger: discardLogger()}, true)
			c, err := net.Dial("tcp", hostOf(gw.URL))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.WriteString(c, req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
