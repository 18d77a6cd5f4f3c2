package gateway

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

func TestProbeFlavours(t *testing.T) {
	t.Parallel()
	for _, flavour := range engine.Flavours {
		t.Run(string(flavour), func(t *testing.T) {
			t.Parallel()
			up := newFakeUpstream(t, "a", flavour, "org/model")
			u := testUpstreams(1)[0]
			u.engine, u.probe, u.served = flavour, engine.MustSpec(flavour).Ready, "org/model"
			u.probeTo = up.URL + u.probe.Path
			p := &prober{client: http.DefaultClient, interval: time.Hour, timeout: time.Second, log: slog.New(slog.DiscardHandler)}
			ctx := context.Background()
			if err := p.check(ctx, u); err != nil {
				t.Errorf("ready engine failed its probe: %v", err)
			}
			up.ready.Store(false)
			if err := p.check(ctx, u); err == nil {
				t.Error("loading engine passed its probe")
			}
			up.ready.Store(true)
			if u.probe.Kind != engine.ProbeStatus {
				u.served = "org/other"
				if err := p.check(ctx, u); err == nil || !strings.Contains(err.Error(), "not listed") {
					t.Errorf("probe passed for a model the engine does not serve: %v", err)
				}
			}
		})
	}
}

func TestProbeReadiness(t *testing.T) {
	t.Parallel()
	u := testUpstreams(1)[0]
	u.ready.Store(false)
	now := time.Now()
	if !u.probed(true, now) || !u.routable() {
		t.Fatal("a passing probe does not make the backend ready")
	}
	for i := 1; i < probeFailureThreshold; i++ {
		if u.probed(false, now) || !u.routable() {
			t.Fatalf("%d failed probe(s) took the backend out", i)
		}
	}
	if !u.probed(false, now) || u.routable() {
		t.Fatalf("%d failed probes in a row left the backend ready", probeFailureThreshold)
	}
	if !u.probed(true, now) || !u.routable() {
		t.Fatal("backend not ready again after a passing probe")
	}
}

func TestEjectionBackoff(t *testing.T) {
	t.Parallel()
	u := testUpstreams(1)[0]
	u.policy = Ejection{ConsecutiveFailures: 3, BaseBackoff: Duration(time.Second), MaxBackoff: Duration(4 * time.Second)}
	now := time.Unix(1000, 0)
	eject := func() time.Duration {
		t.Helper()
		for i := 1; i <= 3; i++ {
			if got := u.failed(now); got != (i == 3) {
				t.Fatalf("failure %d ejected=%v", i, got)
			}
		}
		if u.routable() {
			t.Fatal("ejected backend still routable")
		}
		return u.ejectionLeft(now)
	}
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		if got := eject(); got != want {
			t.Errorf("ejection %d lasts %s, want %s", i+1, got, want)
		}
		// A probe before the backoff ends changes nothing; after it the
		// backend is back.
		if u.probed(true, now.Add(want/2)) || u.routable() {
			t.Fatal("probe during the backoff readmitted the backend")
		}
		now = now.Add(want)
		if !u.probed(true, now) || !u.routable() {
			t.Fatal("passing probe after the backoff did not readmit the backend")
		}
	}
	// Quiet for longer than 2×maxBackoff: the backoff starts over.
	now = now.Add(9 * time.Second)
	if got := eject(); got != time.Second {
		t.Errorf("after a quiet period ejection lasts %s, want 1s", got)
	}
	// A passing probe does not reset the count; a successful request does.
	now = now.Add(time.Second)
	u.probed(true, now)
	u.failed(now)
	u.failed(now)
	u.probed(true, now)
	if !u.failed(now) {
		t.Error("a passing probe cleared the passive failure count")
	}
	// A success between failures resets the count.
	now = now.Add(5 * time.Second) // past the ejection the probe test caused
	u.probed(true, now)
	u.failed(now)
	u.failed(now)
	u.succeeded()
	if u.failed(now) || !u.routable() {
		t.Error("failures separated by a success ejected the backend")
	}
}

func TestProbesStopOnShutdown(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	gw := startGateway(t, testConfig(Model{Name: "m", Backends: []Backend{up.backend()}}), Options{}, true)
	waitFor(t, 5*time.Second, "a few probes", func() bool { return up.probes.Load() >= 3 })
	gw.stop()
	n := up.probes.Load()
	time.Sleep(100 * time.Millisecond) // five probe intervals
	if up.probes.Load() != n {
		t.Errorf("probes went on after shutdown: %d → %d", n, up.probes.Load())
	}
}

func TestProbeBodyBounded(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxProbeBody+10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":[{"id":"`+big+`"}]}`)
	}))
	defer srv.Close()
	u := testUpstreams(1)[0]
	u.probeTo = srv.URL + "/v1/models"
	p := &prober{client: http.DefaultClient, interval: time.Hour, timeout: 5 * time.Second, log: slog.New(slog.DiscardHandler)}
	if err := p.check(context.Background(), u); err == nil {
		t.Error("oversized model list accepted")
	}
}
