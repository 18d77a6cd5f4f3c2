// Command outputs prints a stack's outputs for people, from `pulumi stack
// output --json` on stdin: `make outputs` (no flag: URLs and non-secret
// outputs), `make grafana` (-grafana) and `make gateway` (-gateway) —
// the last two read with --show-secrets.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/servelab/servelab/internal/stackoutputs"
)

func main() {
	stack := flag.String("stack", "", "stack name (for the commands it suggests)")
	grafana := flag.Bool("grafana", false, "print Grafana's (and Prometheus's) URL and password")
	gateway := flag.Bool("gateway", false, "print the gateway's URL and API key")
	flag.Parse()
	o, err := stackoutputs.Read(os.Stdin)
	if err == nil {
		switch {
		case *grafana:
			err = stackoutputs.Grafana(os.Stdout, o)
		case *gateway:
			err = stackoutputs.Gateway(os.Stdout, o)
		default:
			err = stackoutputs.Summary(os.Stdout, *stack, o)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "outputs:", err)
		os.Exit(1)
	}
}
