package demo

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
)

// printSummary says where everything is and how to stop it.
func (l *lab) printSummary(w io.Writer) {
	p := l.plan
	var b strings.Builder
	fmt.Fprintf(&b, "\nservelab demo: stack %s on loopback, up in %s — %d simulated engines, the gateway",
		p.Stack, time.Since(l.start).Round(time.Second), len(p.Engines))
	if l.prom != nil {
		b.WriteString(", Prometheus")
	}
	b.WriteString("\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	models := l.models()
	fmt.Fprintf(tw, "  gateway\thttp://%s\tOpenAI-compatible; models: %s\n", p.GatewayAddr, strings.Join(models, ", "))
	fmt.Fprintf(tw, "  gateway key\t%s\t(also in %s)\n", l.gwKey, l.rel(l.path(gatewayKeyFile)))
	if l.prom != nil {
		fmt.Fprintf(tw, "  Prometheus\t%s\tuser %s, password %s (also in %s)\n", l.prom.url, l.prom.user, l.prom.password, l.rel(l.path(promPassFile)))
		if l.prom.targets != "" {
			fmt.Fprintf(tw, "  \t\t%s\n", l.prom.targets)
		}
	} else {
		fmt.Fprintf(tw, "  Prometheus\tnot running\t%s\n", strings.TrimPrefix(howToGetPrometheus, "Prometheus is not installed, so the demo goes on without it. "))
	}
	fmt.Fprintf(tw, "  report\t%s\t%d targets × %d load levels × %d prompts, benchmarked in %s\n",
		l.rel(l.report), l.bench.targets, l.bench.levels, l.bench.prompts, l.bench.took.Round(100*time.Millisecond))
	fmt.Fprintf(tw, "  results\t%s\tthe shape of the stack output `benchmark`\n", l.rel(l.outputs))
	fmt.Fprintf(tw, "  engines\t")
	for i, e := range p.Engines {
		if i > 0 {
			fmt.Fprintf(tw, "  \t")
		}
		key := "takes no key"
		if e.KeyFile != "" {
			key = "its key in " + l.rel(e.KeyFile)
		}
		fmt.Fprintf(tw, "http://%s\t%s (simulates %s), %s\n", e.Addr, e.Name, e.Flavour, key)
	}
	fmt.Fprintf(tw, "  logs\t%s\t\n", l.rel(l.path(logsDir))+string(filepath.Separator))
	tw.Flush()
	model := "MODEL"
	if len(models) > 0 {
		model = models[0]
	}
	fmt.Fprintf(&b, "\nTry it:\n  curl -s http://%s/v1/chat/completions -H \"Authorization: Bearer $(cat %s)\" \\\n"+
		"    -H 'Content-Type: application/json' -d '{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}'\n",
		p.GatewayAddr, l.rel(l.path(gatewayKeyFile)), model)
	if l.o.Exit {
		b.WriteString("\nStopping every process the demo started (--exit).\n")
	} else {
		fmt.Fprintf(&b, "\nThe lab runs until you stop it: Ctrl-C here, or `kill -INT %d` (a second Ctrl-C kills everything at once).\n"+
			"With Docker, the same stack for real: make up STACK=%s\n", os.Getpid(), p.Stack)
	}
	io.WriteString(w, b.String())
}

// rel is path relative to the working directory when it is below it.
func (l *lab) rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	r, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(r, "..") {
		return path
	}
	return r
}
