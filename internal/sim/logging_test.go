package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/procs"
	"github.com/servelab/servelab/internal/sim"
)

// logBuffer collects JSON log records; safe for the server's goroutines.
type logBuffer struct{ procs.TailBuffer }

// records are the records logged so far.
func (l *logBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.String()), "\n") {
		if line == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func find(records []map[string]any, msg string) map[string]any {
	for _, r := range records {
		if m, _ := r["msg"].(string); strings.HasPrefix(m, msg) {
			return r
		}
	}
	return nil
}

// TestLogsDurationsAsTextAndReadyAfterTheDelay: the banner gives every
// duration as Go writes it ("60ms", not 60000000), and "ready" is logged
// once the start-up delay has passed — when the engine's readiness
// endpoints start answering — not when the port opens.
func TestLogsDurationsAsTextAndReadyAfterTheDelay(t *testing.T) {
	logs := &logBuffer{procs.TailBuffer{Max: 1 << 20}}
	delay := 300 * time.Millisecond
	s, err := sim.New(sim.Config{
		Flavour: engine.SGLang, Model: "m", TTFT: 60 * time.Millisecond, ITL: 12 * time.Millisecond,
		Capacity: 4, StartupDelay: delay, MaxOutputTokens: 8,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.Banner("127.0.0.1:0")
	banner := find(logs.records(t), "SIMULATED ENGINE")
	for key, want := range map[string]string{"ttft": "60ms", "itl": "12ms", "startup_delay": "300ms"} {
		if got := banner[key]; got != want {
			t.Errorf("banner %s = %#v, want %q", key, got, want)
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-served }()

	var ready map[string]any
	if _, err := procs.Poll(ctx, time.Minute, 10*time.Millisecond, nil, func(context.Context) error {
		records := logs.records(t)
		if find(records, "serving") == nil {
			return errors.New("no serving line yet")
		}
		if ready = find(records, "ready"); ready == nil {
			if s.Ready() {
				return errors.New("the delay has passed, no ready line yet")
			}
			return errors.New("still loading")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !s.Ready() {
		t.Error(`"ready" logged while the engine is not ready`)
	}
	if got := ready["startup_delay"]; got != "300ms" {
		t.Errorf("ready startup_delay = %#v, want \"300ms\"", got)
	}
	if n := strings.Count(logs.String(), `"msg":"ready"`); n != 1 {
		t.Errorf("%d ready lines, want 1", n)
	}
}

// TestBannerHasEveryField: the banner names the key and the lazy load
// beside the latencies (whether a key is set, never the key), every
// duration as text.
func TestBannerHasEveryField(t *testing.T) {
	for _, c := range []struct {
		cfg  sim.Config
		want map[string]any
	}{
		{sim.Config{Flavour: engine.VLLM, APIKey: "k-secret"}, map[string]any{"api_key": true, "load_delay": "0s", "ttft": "50ms"}},
		{sim.Config{Flavour: engine.Ollama, LoadDelay: 2 * time.Second}, map[string]any{"api_key": false, "load_delay": "2s", "ttft": "50ms"}},
	} {
		logs := &logBuffer{procs.TailBuffer{Max: 1 << 20}}
		cfg := c.cfg
		cfg.Model, cfg.TTFT, cfg.ITL, cfg.Capacity, cfg.MaxOutputTokens = "m", 50*time.Millisecond, 10*time.Millisecond, 4, 8
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		s, err := sim.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		s.Banner("127.0.0.1:0")
		s.Close()
		banner := find(logs.records(t), "SIMULATED ENGINE")
		for key, want := range c.want {
			if got := banner[key]; got != want {
				t.Errorf("%s banner %s = %#v, want %#v", cfg.Flavour, key, got, want)
			}
		}
		if strings.Contains(logs.String(), "k-secret") {
			t.Errorf("the banner logs the key: %s", logs.String())
		}
	}
}
