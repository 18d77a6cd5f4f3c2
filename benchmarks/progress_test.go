package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for concurrent use that signals every
// write.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes chan struct{}
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{writes: make(chan struct{}, 64)} }

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.writes <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var sampleInfo = RunInfo{Index: 2, Total: 6, Label: "vllm", MaxConcurrency: 8, RequestRate: Rate(inf()), Repeat: 1, Repeats: 3, Requests: 10}

const eraseLine = "\r\x1b[2K"

func TestConsoleBarShowsRunAndFailuresAndLogsNeverBreakIt(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := NewConsole(&out, ConsoleOptions{Mode: ProgressBar, Tick: make(chan time.Time)})
	log := slog.New(slog.NewTextHandler(c, nil))
	c.Start(sampleInfo)
	c.Done(false)
	c.Done(true)
	c.Done(true)
	log.Info("a log line")
	c.Report()
	c.Finish()
	c.Close()
	s := out.String()
	lines := strings.Split(s, "\n")
	var logged bool
	for _, l := range lines {
		if !strings.Contains(l, "a log line") {
			continue
		}
		logged = true
		// The status line was erased before the record: nothing of it
		// shares the record's line.
		seg := l[strings.LastIndex(l, eraseLine)+len(eraseLine):]
		if !strings.HasPrefix(seg, "time=") {
			t.Errorf("log record shares its line with the status line: %q", l)
		}
	}
	if !logged {
		t.Fatalf("log record missing: %q", s)
	}
	// After the record, the status line is drawn again with the count of
	// failures and the run's place in the sweep.
	last := lines[len(lines)-1]
	draws := strings.Split(last, eraseLine)
	var status string
	for _, d := range draws {
		if d != "" {
			status = d
		}
	}
	for _, want := range []string{"run 2/6", "vllm", "c=8 r=inf #1/3", "3/10", "2 failed"} {
		if !strings.Contains(status, want) {
			t.Errorf("status line %q lacks %q", status, want)
		}
	}
	if !strings.HasSuffix(s, eraseLine) {
		t.Errorf("the status line is not erased at the end: %q", s[max(0, len(s)-40):])
	}
}

func TestConsoleLinesReportOnEveryTick(t *testing.T) {
	t.Parallel()
	out := newSyncBuffer()
	tick := make(chan time.Time)
	c := NewConsole(out, ConsoleOptions{Mode: ProgressLines, Tick: tick})
	defer c.Close()
	c.Start(sampleInfo) // one record at once
	<-out.writes
	c.Done(false)
	c.Done(true)
	tick <- time.Now()
	<-out.writes
	recs := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(recs) != 2 {
		t.Fatalf("%d records: %q", len(recs), out.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(recs[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["msg"] != "bench progress" || rec["run"] != "2/6" || rec["done"] != 2.0 || rec["failed"] != 1.0 || rec["of"] != 10.0 ||
		rec["phase"] != "measure" || rec["load"] != "c=8 r=inf #1/3" {
		t.Errorf("record %v", rec)
	}
	if _, ok := rec["elapsed_s"].(float64); !ok {
		t.Errorf("no elapsed_s in %v", rec)
	}
}

func TestConsoleLinesUseTheLogFormatAndDefaultInterval(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := NewConsole(&out, ConsoleOptions{Mode: ProgressLines, Handler: func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }})
	c.Start(RunInfo{Index: 1, Total: 1, Label: "x", RequestRate: Rate(1), Warmup: true, Requests: 4})
	c.Close()
	if !strings.Contains(out.String(), `msg="bench progress"`) || !strings.Contains(out.String(), "phase=warm-up") {
		t.Errorf("text record %q", out.String())
	}
	if DefaultProgressInterval > 10*time.Second {
		t.Errorf("progress lines every %s: must be at most 10 s", DefaultProgressInterval)
	}
}

func TestConsoleNoneIsSilent(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	c := NewConsole(&out, ConsoleOptions{Mode: ProgressNone})
	c.Start(sampleInfo)
	c.Done(true)
	c.Report()
	c.Finish()
	c.Close()
	if out.Len() != 0 {
		t.Errorf("wrote %q", out.String())
	}
}

func TestInterruptsFirstStopsSecondAborts(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal)
	ctx, abort, stop := Interrupts(context.Background(), sigs, quiet)
	defer stop()
	sigs <- syscall.SIGINT
	<-ctx.Done()
	select {
	case <-abort:
		t.Fatal("one interrupt aborted")
	default:
	}
	sigs <- syscall.SIGINT
	<-abort
}
