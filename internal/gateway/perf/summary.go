package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// figures are one target's results, gathered for the Markdown summary.
type figures struct {
	serialP50    float64 // µs
	rps          float64
	cpuPerReq    float64 // µs, NaN when unknown
	ttftP99      float64 // ms
	itlP50       float64 // ms
	itlP99       float64 // ms
	rssPeak      float64 // MiB during the streaming rounds
	cpuPerStream float64 // µs per stream, NaN when unknown
	errors       int
	short        int
}

// summary collects figures per target in the targets' order.
type summary struct {
	order []string
	f     map[string]*figures
}

func newSummary(targets []target) *summary {
	s := &summary{f: map[string]*figures{}}
	for _, t := range targets {
		s.order = append(s.order, t.name)
		s.f[t.name] = &figures{cpuPerReq: math.NaN(), cpuPerStream: math.NaN(), rssPeak: math.NaN(),
			serialP50: math.NaN(), rps: math.NaN(), ttftP99: math.NaN(), itlP50: math.NaN(), itlP99: math.NaN()}
	}
	return s
}

func (s *summary) get(name string) *figures { return s.f[name] }

// markdown prints the summary table: one column per target, ratios to
// direct where the targets are ratios.
func (s *summary) markdown(w io.Writer, o options, loadStart, loadEnd string) {
	fmt.Fprintf(w, "Command: `%s` (load average %s at the start, %s at the end)\n\n", commandLine(), loadStart, loadEnd)
	fmt.Fprintf(w, "| | %s |\n|---|%s\n", strings.Join(s.order, " | "), strings.Repeat("---|", len(s.order)))
	d := s.f["direct"]
	row := func(label string, val func(f *figures) float64, format string, ratio, added bool) {
		cells := make([]string, 0, len(s.order))
		for _, name := range s.order {
			v := val(s.f[name])
			cell := "–"
			if !math.IsNaN(v) {
				cell = fmt.Sprintf(format, v)
				if d != nil && name != "direct" && !math.IsNaN(val(d)) && val(d) > 0 {
					switch {
					case ratio:
						cell += fmt.Sprintf(" (%.2f×)", v/val(d))
					case added:
						cell += fmt.Sprintf(" (%+.0f)", v-val(d))
					}
				}
			}
			cells = append(cells, cell)
		}
		fmt.Fprintf(w, "| %s | %s |\n", label, strings.Join(cells, " | "))
	}
	row("one request at a time, p50 µs (added vs direct)", func(f *figures) float64 { return f.serialP50 }, "%.0f", false, true)
	row(fmt.Sprintf("%d clients, RPS", o.concurrency), func(f *figures) float64 { return f.rps }, "%.0f", false, false)
	row(fmt.Sprintf("%d clients, CPU µs per request†", o.concurrency), func(f *figures) float64 { return f.cpuPerReq }, "%.1f", false, false)
	n := strconv.Itoa(o.streams)
	row(n+" streams, TTFT p99 ms (× direct)", func(f *figures) float64 { return f.ttftP99 }, "%.1f", true, false)
	row(fmt.Sprintf("%s streams, ITL p50 ms (upstream paces %s)", n, o.itl), func(f *figures) float64 { return f.itlP50 }, "%.1f", false, false)
	row(n+" streams, ITL p99 ms (× direct)", func(f *figures) float64 { return f.itlP99 }, "%.1f", true, false)
	row(n+" streams, peak RSS MiB", func(f *figures) float64 { return f.rssPeak }, "%.1f", false, false)
	row(n+" streams, CPU µs per stream†", func(f *figures) float64 { return f.cpuPerStream }, "%.0f", false, false)
	row("errors + short streams", func(f *figures) float64 { return float64(f.errors + f.short) }, "%.0f", false, false)
	fmt.Fprintln(w, "\n† of the process the client talks to (the upstream for direct; nginx: master and workers)")
}

func commandLine() string {
	args := append([]string{"go run ./internal/gateway/perf"}, os.Args[1:]...)
	return strings.Join(args, " ")
}
