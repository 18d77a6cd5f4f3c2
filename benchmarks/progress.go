package benchmarks

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
)

// Progress display modes (--progress).
const (
	// ProgressBar redraws one status line in place (for a terminal).
	ProgressBar = "bar"
	// ProgressLines writes a progress log record every interval (for logs
	// read live, such as under `pulumi up`).
	ProgressLines = "lines"
	// ProgressNone shows no progress.
	ProgressNone = "none"
)

// DefaultProgressInterval is how often ProgressLines reports.
const DefaultProgressInterval = 10 * time.Second

// ConsoleOptions configure a Console.
type ConsoleOptions struct {
	// Mode is ProgressBar, ProgressLines or ProgressNone.
	Mode string
	// Interval is how often ProgressLines reports (DefaultProgressInterval
	// when 0); ProgressBar redraws every second besides on every change.
	Interval time.Duration
	// Handler builds the handler of progress records on the console
	// (ProgressLines), so they share the logs' format; nil means JSON.
	Handler func(io.Writer) slog.Handler
	// Tick, when set, replaces the interval timer (tests).
	Tick <-chan time.Time
}

// Console is the bench's stderr: log records written through it, and the
// progress of the runs — a status line redrawn in place (ProgressBar), or
// a "bench progress" record at least every interval (ProgressLines). A log
// record never breaks the status line: the line is erased before the
// record and drawn again after it. Console implements Progress and
// io.Writer, and is safe for concurrent use.
type Console struct {
	w        io.Writer
	mode     string
	progress *slog.Logger // ProgressLines records
	stop     context.CancelFunc
	wg       sync.WaitGroup

	mu       sync.Mutex
	active   bool
	info     RunInfo
	done     int
	failed   int
	started  time.Time // of the phase
	first    time.Time // of the first phase
	shown    bool      // the status line is on screen
	lastDraw time.Time
}

var (
	_ Progress  = (*Console)(nil)
	_ io.Writer = (*Console)(nil)
)

// NewConsole returns a Console writing to w; Close stops its timer.
func NewConsole(w io.Writer, opts ConsoleOptions) *Console {
	c := &Console{w: w, mode: opts.Mode}
	if c.mode == "" {
		c.mode = ProgressNone
	}
	newHandler := opts.Handler
	if newHandler == nil {
		newHandler = func(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }
	}
	c.progress = slog.New(newHandler(c))
	interval := opts.Interval
	switch {
	case c.mode == ProgressBar:
		interval = time.Second
	case interval <= 0:
		interval = DefaultProgressInterval
	}
	if c.mode == ProgressNone {
		return c
	}
	tick := opts.Tick
	var ticker *time.Ticker
	if tick == nil {
		ticker = time.NewTicker(interval)
		tick = ticker.C
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.wg.Go(func() {
		if ticker != nil {
			defer ticker.Stop()
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick:
				c.Report()
			}
		}
	})
	return c
}

// Close stops the timer and erases the status line.
func (c *Console) Close() {
	if c.stop != nil {
		c.stop()
		c.wg.Wait()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.erase()
	c.active = false
}

// Write writes a log record (or any text) to the console, keeping the
// status line below it.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.erase()
	n, err := c.w.Write(p)
	if c.active && c.mode == ProgressBar {
		c.draw()
	}
	return n, err
}

// Start begins a phase: the status line (or a progress record) says so
// at once.
func (c *Console) Start(info RunInfo) {
	c.mu.Lock()
	now := time.Now()
	c.active, c.info, c.done, c.failed, c.started = true, info, 0, 0, now
	if c.first.IsZero() {
		c.first = now
	}
	bar := c.mode == ProgressBar
	if bar {
		c.draw()
	}
	c.mu.Unlock()
	if c.mode == ProgressLines {
		c.Report()
	}
}

// Done counts one finished request of the phase.
func (c *Console) Done(failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done++
	if failed {
		c.failed++
	}
	if c.mode == ProgressBar && (time.Since(c.lastDraw) >= 100*time.Millisecond || c.done == c.info.Requests) {
		c.draw()
	}
}

// Finish ends the phase and erases the status line.
func (c *Console) Finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.erase()
	c.active = false
}

// Report shows the progress now: it redraws the status line
// (ProgressBar) or writes a progress record (ProgressLines).
func (c *Console) Report() {
	c.mu.Lock()
	if c.mode == ProgressBar {
		if c.active {
			c.draw()
		}
		c.mu.Unlock()
		return
	}
	if c.mode != ProgressLines || c.first.IsZero() {
		c.mu.Unlock()
		return
	}
	info, done, failed, active := c.info, c.done, c.failed, c.active
	elapsed, total := time.Since(c.started), time.Since(c.first)
	c.mu.Unlock()
	phase := "measure"
	switch {
	case !active:
		phase = "between runs"
	case info.Warmup:
		phase = "warm-up"
	}
	c.progress.Info("bench progress", "run", fmt.Sprintf("%d/%d", info.Index, info.Total), "label", info.Label,
		"load", info.Level(), "phase", phase, "done", done, "failed", failed, "of", info.Requests,
		"phase_elapsed_s", round1(elapsed.Seconds()), "elapsed_s", round1(total.Seconds()))
}

// statusLine renders the status line: run k/N, target, level, phase, a
// bar, done/total, failed, elapsed.
func (c *Console) statusLine() string {
	i := c.info
	const width = 20
	filled := 0
	if i.Requests > 0 {
		filled = min(width, width*c.done/i.Requests)
	}
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	if filled > 0 && filled < width {
		bar = strings.Repeat("=", filled-1) + ">" + strings.Repeat(" ", width-filled)
	}
	phase := ""
	if i.Warmup {
		phase = " warm-up"
	}
	return fmt.Sprintf("run %d/%d %s %s%s [%s] %d/%d, %d failed, %.1fs",
		i.Index, i.Total, i.Label, i.Level(), phase, bar, c.done, i.Requests, c.failed, time.Since(c.started).Seconds())
}

// draw (re)draws the status line; c.mu is held.
func (c *Console) draw() {
	fmt.Fprint(c.w, "\r\x1b[2K"+c.statusLine())
	c.shown, c.lastDraw = true, time.Now()
}

// erase clears the status line if it is on screen; c.mu is held.
func (c *Console) erase() {
	if c.shown {
		fmt.Fprint(c.w, "\r\x1b[2K")
		c.shown = false
	}
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
