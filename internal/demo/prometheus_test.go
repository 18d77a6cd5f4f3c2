package demo

import (
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/procs"
)

// TestWithoutPrometheus: when no prometheus is in PATH the demo says how
// to get it and goes on without it.
func TestWithoutPrometheus(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	out := &procs.TailBuffer{Max: 1 << 16}
	l := &lab{o: Options{Stderr: out}}
	if err := l.startPrometheus(t.Context()); err != nil {
		t.Fatalf("startPrometheus without prometheus: %v", err)
	}
	if l.prom != nil || len(l.procs) != 0 {
		t.Errorf("a Prometheus was started: %+v, %d processes", l.prom, len(l.procs))
	}
	if s := out.String(); !strings.Contains(s, "goes on without it") || !strings.Contains(s, "apt-get install prometheus") {
		t.Errorf("no word on how to get Prometheus:\n%s", s)
	}
	if what := l.promWhat(); !strings.Contains(what, "not installed") {
		t.Errorf("promWhat = %q", what)
	}
}
