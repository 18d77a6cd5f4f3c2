package gateway

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/servelab/servelab/internal/engine"
)

// waitAcked returns once the peer's kernel has acknowledged every byte
// written on c: they are in its receive queue, whether or not anyone has
// read them.
func waitAcked(t *testing.T, c net.Conn) {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Error(err)
		return
	}
	deadline := time.Now().Add(liveness)
	for {
		var unacked uint32
		var serr error
		if err := rc.Control(func(fd uintptr) {
			var info *unix.TCPInfo
			info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
			if serr == nil {
				unacked = info.Unacked
			}
		}); err != nil || serr != nil {
			t.Errorf("TCP_INFO: %v %v", err, serr)
			return
		}
		if unacked == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d segments still unacknowledged after %s", unacked, liveness)
			return
		}
		time.Sleep(time.Millisecond) // polling a kernel counter: there is no signal to wait on
	}
}

// TestIdleExtraResponseDiscarded: a backend writes an unsolicited response
// after each answer, on its own; the next request starts only once those
// bytes are in the gateway's socket (acknowledged). Over every upstream
// client, no request is sent on that connection again and every answer is
// the request's own. Probes run only at the start: on the nethttp core
// they share the pool, and one sent between an answer and the extra bytes
// would be sent on the connection before any client could know better.
func TestIdleExtraResponseDiscarded(t *testing.T) {
	t.Parallel()
	for _, uc := range upstreamClients() {
		t.Run(uc.name, func(t *testing.T) {
			t.Parallel()
			be := newRawBackend(t, "m", rawIdleExtra)
			written := make(chan struct{}, 1)
			be.afterExtra = func(c net.Conn) {
				waitAcked(t, c)
				written <- struct{}{}
			}
			cfg := testConfig(Model{Name: "m", Backends: []Backend{{Name: "raw", Engine: engine.VLLM, URL: be.URL()}}})
			uc.set(&cfg)
			cfg.Retries = 0
			cfg.ProbeInterval = Duration(time.Hour)
			gw := startGateway(t, cfg, Options{Logger: discardLogger()}, true)
			for i := range 20 {
				token := fmt.Sprintf("req%d", i)
				code, _, body := post(t, gw.URL+"/v1/chat/completions", fmt.Sprintf(`{"model":"m","user":%q}`, token))
				if code != 200 || !strings.Contains(body, `"content":"`+token+`"`) {
					t.Fatalf("%s got %d %s", token, code, body)
				}
				<-written
			}
			be.mu.Lock()
			defer be.mu.Unlock()
			if be.reusedBad > 0 {
				t.Errorf("%d requests were sent on a connection after its unsolicited response", be.reusedBad)
			}
		})
	}
}
