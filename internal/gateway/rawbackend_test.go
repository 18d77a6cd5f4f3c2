package gateway

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// rawBackend is a vLLM-like backend written on raw TCP so that it can break
// HTTP/1.1 in ways no Go server would: it answers each chat request with a
// response whose content is the request's "user" field, and misbehaves as
// its mode says.
type rawBackend struct {
	ln     net.Listener
	served string
	mode   rawMode
	// head is written as extra header lines of every API response.
	head string

	// afterExtra, when set, is called (rawIdleExtra) once an unsolicited
	// response was written on c, before the backend reads on.
	afterExtra func(c net.Conn)

	mu        sync.Mutex
	conns     []net.Conn
	dirty     map[net.Conn]bool // connections that carried an unsolicited response
	reusedBad int               // requests received on such a connection
	apiConns  map[net.Conn]bool // connections that carried API (POST) requests
	wg        sync.WaitGroup
}

type rawMode int

const (
	rawClean         rawMode = iota
	rawExtraResponse         // a second, unsolicited response right after each one, in the same write
	rawInformational         // 100 Continue and 103 Early Hints before each response
	rawIdleExtra             // an unsolicited response in a write of its own after each one
)

func newRawBackend(t *testing.T, served string, mode rawMode) *rawBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln, served: served, mode: mode, dirty: map[net.Conn]bool{}, apiConns: map[net.Conn]bool{}}
	b.wg.Go(b.accept)
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
		b.wg.Wait()
	})
	return b
}

func (b *rawBackend) URL() string { return "http://" + b.ln.Addr().String() }

func (b *rawBackend) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.mu.Lock()
		b.conns = append(b.conns, c)
		b.mu.Unlock()
		b.wg.Go(func() { b.serve(c) })
	}
}

func rawResponse(status, head, body string) string {
	return fmt.Sprintf("HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s", status, head, len(body), body)
}

func chatAnswer(content string) string {
	return fmt.Sprintf(`{"id":"chatcmpl-x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}]}`, content)
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		b.mu.Lock()
		if b.dirty[c] {
			b.reusedBad++
		}
		if req.Method == http.MethodPost {
			b.apiConns[c] = true
		}
		b.mu.Unlock()
		if req.Method == http.MethodGet { // the readiness probe, always clean
			if _, err := io.WriteString(c, rawResponse("200 OK", "", fmt.Sprintf(`{"object":"list","data":[{"id":%q,"object":"model"}]}`, b.served))); err != nil {
				return
			}
			continue
		}
		var in struct {
			User string `json:"user"`
		}
		_ = json.Unmarshal(body, &in)
		out := rawResponse("200 OK", b.head, chatAnswer(in.User))
		extra := rawResponse("200 OK", "", chatAnswer("leaked-from-"+in.User))
		switch b.mode {
		case rawExtraResponse:
			out += extra
		case rawInformational:
			out = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n" + out
		}
		if _, err := io.WriteString(c, out); err != nil {
			return
		}
		if b.mode == rawExtraResponse || b.mode == rawIdleExtra {
			b.mu.Lock()
			b.dirty[c] = true
			b.mu.Unlock()
		}
		if b.mode == rawIdleExtra {
			if _, err := io.WriteString(c, extra); err != nil {
				return
			}
			b.afterExtra(c)
		}
	}
}

// TestMisbehavingBackendNoCrossClientLeak sends concurrent requests, each
// with its own token, through the gateway to a backend that sends
// unsolicited responses or 1xx responses, over every upstream client: each
// client must get its own answer and never another request's, and a
// connection that carried an extra response never carries another request.
// (An extra response that arrives after the next request was sent cannot be
// told from that request's answer by any HTTP/1.1 client: see
// TestIdleExtraResponseDiscarded for one that arrives in between.)
func TestMisbehavingBackendNoCrossClientLeak(t *testing.T) {
	t.Parallel()
	modes := map[string]rawMode{"extra response": rawExtraResponse, "1xx responses": rawInformational}
	for _, uc := range upstreamClients() {
		for name, mode := range modes {
			t.Run(uc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				be := newRawBackend(t, "m", mode)
				cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "raw", Engine: engine.VLLM, URL: be.URL()}}})
				uc.set(&cfg)
				cfg.Retries = 0
				gw := startGateway(t, cfg, Options{Logger: discardLogger()}, true)
				const clients, each = 8, 25
				var wg sync.WaitGroup
				errs := make(chan string, clients*each)
				for c := range clients {
					wg.Go(func() {
						for r := range each {
							token := fmt.Sprintf("client%d-req%d", c, r)
							code, body, err := postNoFatal(gw.URL+"/v1/chat/completions", fmt.Sprintf(`{"model":"m","user":%q,"messages":[]}`, token))
							if err != nil {
								errs <- fmt.Sprintf("%s: %v", token, err)
								continue
							}
							var got struct {
								Choices []struct {
									Message struct {
										Content string `json:"content"`
									} `json:"message"`
								} `json:"choices"`
							}
							if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil || len(got.Choices) != 1 || got.Choices[0].Message.Content != token {
								errs <- fmt.Sprintf("%s got %d %s", token, code, body)
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				n := 0
				for e := range errs {
					if n++; n <= 5 {
						t.Error(e)
					}
				}
				if n > 0 {
					t.Errorf("%d of %d requests did not get their own answer", n, clients*each)
				}
				be.mu.Lock()
				defer be.mu.Unlock()
				if be.reusedBad > 0 {
					t.Errorf("%d requests were sent on a connection after its unsolicited response", be.reusedBad)
				}
			})
		}
	}
}

// TestCleanConnectionsReused: requests one after another share one backend
// connection when the backend answers cleanly, 1xx interim answers
// included, over the clients that hand a connection back before the
// client gets its answer: h1's pool and DirectTransport. (http.Transport
// puts a connection back on its own goroutine, possibly after the answer
// reached the client, so the next request may find none idle and dial;
// TestConnectionReuse covers its pooling in aggregate.) Probes run only at
// the start: on the nethttp core they share the pool.
func TestCleanConnectionsReused(t *testing.T) {
	t.Parallel()
	for _, uc := range upstreamClients() {
		if uc.name == "nethttp-http" {
			continue
		}
		for name, mode := range map[string]rawMode{"clean": rawClean, "1xx responses": rawInformational} {
			t.Run(uc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				be := newRawBackend(t, "m", mode)
				cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "raw", Engine: engine.VLLM, URL: be.URL()}}})
				uc.set(&cfg)
				cfg.ProbeInterval = Duration(time.Hour)
				gw := startGateway(t, cfg, Options{Logger: discardLogger()}, true)
				for i := range 5 {
					token := fmt.Sprintf("req%d", i)
					if code, _, body := post(t, gw.URL+"/v1/chat/completions", fmt.Sprintf(`{"model":"m","user":%q}`, token)); code != 200 || !strings.Contains(body, `"content":"`+token+`"`) {
						t.Fatalf("%s got %d %s", token, code, body)
					}
				}
				be.mu.Lock()
				defer be.mu.Unlock()
				if n := len(be.apiConns); n != 1 {
					t.Errorf("5 requests one after another used %d backend connections, want 1", n)
				}
			})
		}
	}
}

// postNoFatal posts body and returns status and body; safe off the test's
// goroutine.
func postNoFatal(url, body string) (int, string, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestBackendResponseHeadersFiltered: hop-by-hop headers, headers the
// backend's Connection header names, and cookies or credentials a backend
// has no business giving the gateway's clients never reach them, over
// every upstream client; ordinary headers do.
func TestBackendResponseHeadersFiltered(t *testing.T) {
	t.Parallel()
	for _, uc := range upstreamClients() {
		t.Run(uc.name, func(t *testing.T) {
			t.Parallel()
			be := newRawBackend(t, "m", rawClean)
			be.head = "Connection: keep-alive, X-Hop-Named\r\nX-Hop-Named: 1\r\nKeep-Alive: timeout=5\r\n" +
				"Proxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nTE: trailers\r\n" +
				"Set-Cookie: session=backend-secret\r\nSet-Cookie2: a=b\r\nAuthorization: Bearer backend-secret\r\n" +
				"Proxy-Authorization: Basic eA==\r\nWWW-Authenticate: Bearer\r\nAlt-Svc: h2=\":443\"\r\n" +
				"X-Kept: yes\r\nX-Request-Id: upstream-id\r\n"
			cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "raw", Engine: engine.VLLM, URL: be.URL()}}})
			uc.set(&cfg)
			gw := startGateway(t, cfg, Options{}, true)
			c := dialRaw(t, gw.URL)
			body := `{"model":"m","user":"u"}`
			c.send(t, fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Request-Id: client-id\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
			resp, got := c.response(t)
			if resp.StatusCode != 200 || !strings.Contains(got, `"content":"u"`) {
				t.Fatalf("status %d %s", resp.StatusCode, got)
			}
			for _, h := range []string{"X-Hop-Named", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Upgrade", "Te",
				"Set-Cookie", "Set-Cookie2", "Authorization", "Proxy-Authorization", "Www-Authenticate", "Alt-Svc"} {
				if v, ok := resp.Header[h]; ok {
					t.Errorf("client got %s: %q", h, v)
				}
			}
			if v := resp.Header.Values("Connection"); len(v) != 0 {
				t.Errorf("client got Connection: %q", v)
			}
			if resp.Header.Get("X-Kept") != "yes" {
				t.Errorf("ordinary header lost: %v", resp.Header)
			}
			if resp.Header.Get("X-Request-Id") != "client-id" {
				t.Errorf("X-Request-Id = %q, want the gateway's id for the request", resp.Header.Get("X-Request-Id"))
			}
		})
	}
}
