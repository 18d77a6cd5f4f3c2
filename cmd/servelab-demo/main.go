// Command servelab-demo is `make demo`: a stack's whole data path on
// loopback — simulated engines, the gateway, Prometheus, a benchmark and
// the HTML report — with no Docker, GPU or Pulumi (internal/demo). It is
// not a subcommand of servelab: it reads stacks with the Pulumi program's
// own Pulumi-free code (programs/stackconfig and the components' spec
// packages), which the servelab binary must not link; it links no Pulumi
// SDK either (TestLinksNoPulumi). It only parses flags and signals.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/internal/demo"
)

func main() {
	var (
		o    demo.Options
		conc string
	)
	// A flag set of its own: whatever a dependency registers on the
	// global one stays out of its usage.
	flags := flag.NewFlagSet("servelab-demo", flag.ExitOnError)
	flags.StringVar(&o.Stack, "stack", demo.DefaultStack, "stack file whose lab to run (its engines must be simulated: engine sim)")
	flags.StringVar(&o.Servelab, "servelab", demo.DefaultServelab, "servelab binary (make build)")
	flags.StringVar(&o.Dir, "dir", demo.DefaultDir, "work directory: configs, keys, logs, results, report (emptied first)")
	flags.IntVar(&o.NumPrompts, "num-prompts", demo.DefaultNumPrompts, "benchmark requests per target and load level")
	flags.StringVar(&conc, "max-concurrency", "", "benchmark concurrency levels, comma-separated (default: the stack's)")
	flags.BoolVar(&o.FreePorts, "free-ports", false, "listen on free loopback ports instead of the stack's")
	flags.StringVar(&o.Prometheus, "prometheus", "", "prometheus binary (default: prometheus in PATH)")
	flags.BoolVar(&o.NoPrometheus, "no-prometheus", false, "run without Prometheus")
	flags.BoolVar(&o.Exit, "exit", false, "stop everything once the summary is printed")
	flags.Usage = func() {
		fmt.Fprintf(flags.Output(), "usage: servelab-demo [flags]\n\n"+
			"Runs a stack's lab on loopback (default %s): simulated engines, the gateway with a generated\n"+
			"key, Prometheus when installed, a short benchmark through the gateway and directly, the HTML\n"+
			"report; then keeps it running until Ctrl-C. See docs/demo.md.\n\n", demo.DefaultStack)
		flags.PrintDefaults()
	}
	_ = flags.Parse(os.Args[1:]) // ExitOnError
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "servelab-demo: unexpected argument %q\n", flags.Arg(0))
		os.Exit(2)
	}
	if conc != "" {
		var err error
		if o.MaxConcurrency, err = benchmarks.ParseInts("--max-concurrency", conc); err != nil {
			fmt.Fprintf(os.Stderr, "servelab-demo: %v\n", err)
			os.Exit(2)
		}
	}

	// The first Ctrl-C (or SIGTERM) stops the lab; a second one kills
	// every process at once.
	ctx, stop := context.WithCancel(context.Background())
	abort := make(chan struct{})
	o.Abort = abort
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "demo: stopping every process the demo started (Ctrl-C again to kill them at once)")
		stop()
		<-sigs
		fmt.Fprintln(os.Stderr, "demo: killing every process at once")
		close(abort)
	}()

	err := demo.Run(ctx, o)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case err != nil && !interrupted:
		fmt.Fprintf(os.Stderr, "servelab-demo: %v\n", err)
		os.Exit(1)
	case err != nil:
		os.Exit(130) // interrupted before the lab was up
	}
}
