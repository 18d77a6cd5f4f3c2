// Command perf compares the servelab gateway with a direct connection and
// with nginx, in one run on this machine, and prints the figures. It is a
// harness, not a test: it asserts nothing.
//
//	go run ./internal/gateway/perf [flags]
//
// It starts three processes (re-running its own binary for the first two):
// a fast fake upstream (small JSON answers; SSE streams with a fixed delay
// between tokens), the gateway in front of it, and nginx in front of it
// (when installed). Then, from this process, it measures (a) non-streamed
// requests at a fixed concurrency: RPS and p50/p99 latency, and (b) many
// concurrent streams: TTFT and ITL p50/p99, for each target in turn,
// interleaving rounds so that the machine's background load hits all three
// alike.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	role        string
	addr        string
	config      string
	concurrency int
	duration    time.Duration
	rounds      int
	streams     int
	tokens      int
	firstToken  time.Duration
	itl         time.Duration
	streamRound int
	nginx       string
	only        string
	profile     string
	serial      time.Duration
	gwProcs     int
	gwGOGC      string
	gateways    string
	variant     string
	soak        time.Duration
	soakStreams int
}

func main() {
	var o options
	flag.StringVar(&o.role, "role", "", "internal: run as upstream or gateway (set by the harness)")
	flag.StringVar(&o.addr, "addr", "127.0.0.1:0", "internal: listen address of a role")
	flag.StringVar(&o.config, "config", "", "internal: gateway config file")
	flag.IntVar(&o.concurrency, "concurrency", 32, "non-streamed: concurrent clients")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "non-streamed: length of one measured round per target")
	flag.DurationVar(&o.serial, "serial-duration", 2*time.Second, "one-at-a-time: length of one measured round per target")
	flag.IntVar(&o.rounds, "rounds", 3, "non-streamed: rounds per target (interleaved)")
	flag.IntVar(&o.streams, "streams", 1000, "streaming: concurrent streams")
	flag.IntVar(&o.tokens, "tokens", 16, "streaming: content chunks per stream")
	flag.DurationVar(&o.firstToken, "first-token", 100*time.Millisecond, "streaming: upstream delay before the first token")
	flag.DurationVar(&o.itl, "itl", 50*time.Millisecond, "streaming: upstream delay between tokens")
	flag.IntVar(&o.streamRound, "stream-rounds", 2, "streaming: rounds per target (interleaved)")
	flag.StringVar(&o.nginx, "nginx", "nginx", "nginx binary (skipped when not found)")
	flag.StringVar(&o.profile, "gateway-cpuprofile", "", "write the gateway process's CPU profile to this file")
	flag.IntVar(&o.gwProcs, "gateway-gomaxprocs", 0, "GOMAXPROCS of the gateway process (0: Go's default, the CPU count)")
	flag.StringVar(&o.gwGOGC, "gateway-gogc", "", "GOGC of the gateway process (empty: Go's default, 100)")
	flag.StringVar(&o.gateways, "gateways", "h1", "comma-separated gateway variants to run side by side: h1 (the default core), nethttp (net/http server + http.Transport), nethttp-direct (net/http server + DirectTransport)")
	flag.StringVar(&o.variant, "variant", "h1", "internal: the gateway variant of a gateway role")
	flag.DurationVar(&o.soak, "soak", 0, "instead of the figures: mixed traffic through the gateway(s) for this long, RSS reported over time (e.g. 5m)")
	flag.IntVar(&o.soakStreams, "soak-streams", 200, "soak: concurrent streaming clients (a tenth of their streams are cut by the client)")
	flag.StringVar(&o.only, "only", "", "comma-separated targets to run (direct,gateway,nginx); empty = all")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch o.role {
	case "upstream":
		err = runUpstream(ctx, o)
	case "gateway":
		err = runGateway(ctx, o)
	case "":
		err = runHarness(ctx, o)
	default:
		err = fmt.Errorf("unknown -role %q", o.role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perf:", err)
		stop()
		os.Exit(1)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func header(o options, nginxVersion string) string {
	return fmt.Sprintf("servelab gateway perf: %s, %d CPUs, GOMAXPROCS %d, load average %s, nginx %s, gateways %s",
		runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), loadAvg(), nginxVersion, o.gateways)
}
