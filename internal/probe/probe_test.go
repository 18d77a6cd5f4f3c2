package probe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/probe"
	"github.com/servelab/servelab/internal/sim"
)

func TestCheckAgainstSim(t *testing.T) {
	t.Parallel()
	for _, flavour := range engine.Flavours {
		t.Run(string(flavour), func(t *testing.T) {
			t.Parallel()
			s, err := sim.New(sim.Config{Flavour: flavour, Model: "m", MaxOutputTokens: 1, StartupDelay: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ts := httptest.NewServer(s.Handler())
			defer ts.Close()
			spec := engine.MustSpec(flavour)
			ready := probe.Options{URL: ts.URL + spec.Ready.Path, Timeout: time.Second}
			if spec.Ready.Kind != engine.ProbeStatus {
				ready.Model, ready.Kind = "m", spec.Ready.Kind
			}
			if err := probe.Check(context.Background(), ready); !errors.Is(err, probe.ErrUnhealthy) && !s.Ready() {
				t.Errorf("ready probe while loading = %v, want ErrUnhealthy", err)
			}
			for !s.Ready() {
				time.Sleep(10 * time.Millisecond)
			}
			if err := probe.Check(context.Background(), ready); err != nil {
				t.Errorf("ready probe after load = %v", err)
			}
			if err := probe.Check(context.Background(), probe.Options{URL: ts.URL + spec.Live.Path}); err != nil {
				t.Errorf("live probe = %v", err)
			}
		})
	}
}

func TestCheckFailures(t *testing.T) {
	t.Parallel()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/teapot":
			w.WriteHeader(http.StatusTeapot)
		case "/models":
			_, _ = w.Write([]byte(`{"data":[{"id":"other"}]}`))
		case "/garbage":
			_, _ = w.Write([]byte(`not json`))
		}
	}))
	defer ts.Close()
	tests := []struct {
		o    probe.Options
		want string
	}{
		{probe.Options{URL: ts.URL + "/teapot"}, "status 418, want 200"},
		{probe.Options{URL: ts.URL + "/models", Model: "m", Kind: engine.ProbeOpenAIModels}, `model "m" not listed`},
		{probe.Options{URL: ts.URL + "/garbage", Model: "m", Kind: engine.ProbeOllamaTags}, "decode ollama tags"},
		{probe.Options{URL: "http://127.0.0.1:1/health", Timeout: time.Second}, "unhealthy"},
	}
	for _, tt := range tests {
		err := probe.Check(context.Background(), tt.o)
		if !errors.Is(err, probe.ErrUnhealthy) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%+v) = %v, want ErrUnhealthy with %q", tt.o, err, tt.want)
		}
	}
	if err := probe.Check(context.Background(), probe.Options{URL: ts.URL + "/teapot", Status: 418}); err != nil {
		t.Errorf("expected status 418 = %v", err)
	}
	for _, bad := range []probe.Options{{URL: "127.0.0.1:8000/health"}, {URL: ts.URL, Status: 42}, {URL: ts.URL, Model: "m", Kind: "status"}} {
		if err := probe.Check(context.Background(), bad); err == nil || errors.Is(err, probe.ErrUnhealthy) {
			t.Errorf("invalid options %+v = %v, want a usage error", bad, err)
		}
	}
}

// TestBodyLoadsAnOllamaModel: the sim's Ollama readiness step — a POST of
// {"model": M} to /api/generate — loads the model, as the framework needs
// before the engine counts as ready.
func TestBodyLoadsAnOllamaModel(t *testing.T) {
	t.Parallel()
	s, err := sim.New(sim.Config{Flavour: engine.Ollama, Model: "m", MaxOutputTokens: 1, LoadDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	loaded := probe.Options{URL: ts.URL + "/api/ps", Model: "m", Kind: engine.ProbeOllamaTags}
	if err := probe.Check(context.Background(), loaded); !errors.Is(err, probe.ErrUnhealthy) {
		t.Fatalf("model loaded before anything asked: %v", err)
	}
	if err := probe.Check(context.Background(), probe.Options{URL: ts.URL + "/api/generate", Body: `{"model":"m"}`}); err != nil {
		t.Fatalf("load = %v", err)
	}
	if err := probe.Check(context.Background(), loaded); err != nil {
		t.Errorf("after the load, /api/ps: %v", err)
	}
	if err := (probe.Options{URL: ts.URL, Body: "{"}).Validate(); err == nil {
		t.Error("a body that is not JSON was accepted")
	}
}
