// Command servelab is the one binary the servelab stack deploys: the
// OpenAI-compatible gateway, the benchmark runner, the engine simulator and
// the report tool. Each subcommand parses flags and calls its library
// package; nothing else lives here.
package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/servelab/servelab/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

// exitError carries a specific exit status out of a subcommand (for example
// bench's "partial results written" status).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "servelab",
		Short:         "servelab gateway, benchmark runner, engine simulator and report tool",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.SetErrPrefix("servelab:")
	root.AddCommand(
		newGatewayCmd(),
		newBenchCmd(),
		newSimCmd(),
		newProbeCmd(),
		newReportCmd(),
		newPublishCmd(),
		// subcommands: one constructor per file (gateway.go, bench.go, sim.go, report.go)
	)
	return root
}
