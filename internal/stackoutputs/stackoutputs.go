// Package stackoutputs prints a servelab stack's outputs (`pulumi stack
// output --json`) for people: `make outputs` (URLs and other non-secret
// outputs), `make grafana` (Grafana's URL and admin password) and `make
// gateway` (the gateway's URL and API key), so that nobody has to run the
// Pulumi CLI against servelab's state by hand.
package stackoutputs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Outputs are a stack's outputs as `pulumi stack output --json` prints
// them (secrets as "[secret]" unless --show-secrets).
type Outputs map[string]any

// Read decodes `pulumi stack output --json`.
func Read(r io.Reader) (Outputs, error) {
	var o Outputs
	if err := json.NewDecoder(r).Decode(&o); err != nil {
		return nil, fmt.Errorf("read `pulumi stack output --json`: %w", err)
	}
	if len(o) == 0 {
		return nil, errors.New("the stack has no outputs: has `make up` run?")
	}
	return o, nil
}

// Summary writes the stack's URLs and non-secret outputs. A secret is
// never printed, even when o holds it in clear.
func Summary(w io.Writer, stack string, o Outputs) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "stack %s, program %s\n", stack, text(o, "program"))
	if g := obj(o, "gateway"); g != nil {
		fmt.Fprintf(tw, "  gateway\t%s\tmodels: %s; API key: make gateway STACK=%s\n", text(g, "url"), list(g, "models"), stack)
	}
	if m := obj(o, "monitoring"); m != nil {
		fmt.Fprintf(tw, "  Prometheus\t%s\tuser %s; password: make grafana STACK=%s\n", text(m, "prometheusUrl"), text(m, "prometheusUser"), stack)
		if u := text(m, "grafanaUrl"); u != "" {
			fmt.Fprintf(tw, "  Grafana\t%s\tuser admin; password: make grafana STACK=%s\n", u, stack)
		}
	}
	if fws := obj(o, "frameworks"); fws != nil {
		for _, name := range slices.Sorted(maps.Keys(fws)) {
			f, _ := fws[name].(map[string]any)
			fmt.Fprintf(tw, "  %s\t%s\t%s %s on %s\n", name, text(f, "publishedUrl"), text(f, "engine"), text(f, "model"), text(f, "host"))
		}
	}
	if hosts := obj(o, "hosts"); hosts != nil {
		for _, name := range slices.Sorted(maps.Keys(hosts)) {
			h, _ := hosts[name].(map[string]any)
			fmt.Fprintf(tw, "  host %s\t%s\t%s\n", name, text(h, "address"), remote(h))
		}
	}
	if b := obj(o, "benchmark"); b != nil {
		targets := obj(b, "targets")
		levels := 0
		for _, runs := range targets {
			if rs, ok := runs.([]any); ok {
				levels = max(levels, len(rs))
			}
		}
		fmt.Fprintf(tw, "  benchmark\t%d targets × %d load levels\tthe report: make report STACK=%s\n", len(targets), levels, stack)
	}
	return tw.Flush()
}

// Grafana writes Grafana's URL, user and admin password (o read with
// --show-secrets), and Prometheus's.
func Grafana(w io.Writer, o Outputs) error {
	m := obj(o, "monitoring")
	if m == nil {
		return errors.New("the stack has no monitoring output (monitoring.enabled: false, or program bench)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if u := text(m, "grafanaUrl"); u != "" {
		fmt.Fprintf(tw, "Grafana\t%s\tuser admin\tpassword %s\n", u, secret(m, "grafanaAdminPassword"))
	} else {
		fmt.Fprintf(tw, "Grafana\tnot deployed (monitoring.grafana.enabled: false)\t\t\n")
	}
	fmt.Fprintf(tw, "Prometheus\t%s\tuser %s\tpassword %s\n", text(m, "prometheusUrl"), text(m, "prometheusUser"), secret(m, "prometheusPassword"))
	return tw.Flush()
}

// Gateway writes the gateway's URL, models and API key (o read with
// --show-secrets).
func Gateway(w io.Writer, o Outputs) error {
	g := obj(o, "gateway")
	if g == nil {
		return errors.New("the stack has no gateway output (gateway.enabled: false, or program bench)")
	}
	_, err := fmt.Fprintf(w, "gateway  %s\nmodels   %s\nAPI key  %s\n", text(g, "url"), list(g, "models"), secret(g, "apiKey"))
	return err
}

func obj(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

func text(m map[string]any, key string) string {
	switch v := m[key].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func secret(m map[string]any, key string) string {
	v := text(m, key)
	if v == "" || v == "[secret]" {
		return "(not readable: run with the stack's passphrase)"
	}
	return v
}

func list(m map[string]any, key string) string {
	xs, _ := m[key].([]any)
	s := make([]string, 0, len(xs))
	for _, x := range xs {
		s = append(s, fmt.Sprint(x))
	}
	return strings.Join(s, ", ")
}

func remote(h map[string]any) string {
	if r, _ := h["remote"].(bool); r {
		return "over SSH"
	}
	return "local Docker"
}
