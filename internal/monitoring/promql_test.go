package monitoring_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
	"github.com/servelab/servelab/internal/monitoring"
)

var promqlParser = parser.NewParser(parser.Options{})

// nameCheck is the list every generated expression may refer to: the
// documented gateway, engine and DCGM names, "up" and the recorded names;
// histograms (by base name) may also be referred to by their _bucket, _sum
// and _count series.
type nameCheck struct {
	names      map[string]bool
	histograms map[string]bool
}

func checkedNames() nameCheck {
	c := nameCheck{names: map[string]bool{}, histograms: map[string]bool{}}
	for _, n := range slices.Concat(metricnames.Known(), monitoring.RecordedNames()) {
		c.names[n] = true
	}
	for _, k := range engine.Flavours {
		m := engine.MustSpec(k).Metrics
		for _, h := range []string{m.TTFT, m.ITL, m.TPOT, m.E2E, m.Queue} {
			if h != "" {
				c.histograms[h] = true
			}
		}
	}
	for _, h := range []string{metricnames.GatewayRequestDuration, metricnames.GatewayTTFT, metricnames.GatewayOverhead} {
		c.histograms[h] = true
	}
	return c
}

// known reports whether name is in the checked list.
func (c nameCheck) known(name string) bool {
	if c.names[name] {
		return true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && c.histograms[base] && c.names[base] {
			return true
		}
	}
	return false
}

// selectorNames parses expr with Prometheus's PromQL parser and returns the
// metric name of every vector and matrix selector in it. A selector without
// an exact name is an error: the name check could not see it.
func selectorNames(expr string) ([]string, error) {
	ast, err := promqlParser.ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	var names []string
	var bad error
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		// A matrix selector's vector selector is its child: Inspect
		// reaches it too.
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s in %q has no exact metric name", vs, expr)
		}
		names = append(names, name)
		return nil
	})
	return names, bad
}

// checkExpr parses expr and checks every metric name in it.
func checkExpr(t *testing.T, known nameCheck, where, expr string) {
	t.Helper()
	names, err := selectorNames(expr)
	if err != nil {
		t.Errorf("%s: %v", where, err)
		return
	}
	if len(names) == 0 {
		t.Errorf("%s: %q selects no series", where, expr)
	}
	for _, n := range names {
		if !known.known(n) {
			t.Errorf("%s: %q refers to %q, which is neither in metricnames.Known() nor a recorded name", where, expr, n)
		}
	}
}

// TestNameCheckCatchesUnknownNames makes sure the checker used on every
// generated expression can fail.
func TestNameCheckCatchesUnknownNames(t *testing.T) {
	t.Parallel()
	known := checkedNames()
	tests := []struct {
		expr    string
		wantErr bool // parse error or unnamed selector
		unknown []string
	}{
		{expr: `sum(rate(vllm:time_to_first_token_seconds_bucket[1m]))`},
		{expr: `servelab:engine_ttft_seconds:p99 > 2`},
		{expr: `up{framework!=""} == 0`},
		{expr: `rate(vllm:time_to_first_token_seconds_sum[1m]) / rate(vllm:time_to_first_token_seconds_count[1m])`},
		{expr: `rate(vllm:no_such_metric_total[1m])`, unknown: []string{"vllm:no_such_metric_total"}},
		{expr: `servelab_gateway_requests_total_bucket`, unknown: []string{"servelab_gateway_requests_total_bucket"}},
		{expr: `vllm:num_requests_running_count`, unknown: []string{"vllm:num_requests_running_count"}},
		{expr: `{__name__=~"vllm:.*"}`, wantErr: true},
		{expr: `sum(rate(x[1m])`, wantErr: true},
	}
	for _, tt := range tests {
		names, err := selectorNames(tt.expr)
		if (err != nil) != tt.wantErr {
			t.Errorf("selectorNames(%q) error = %v, want error %v", tt.expr, err, tt.wantErr)
			continue
		}
		var unknown []string
		for _, n := range names {
			if !known.known(n) {
				unknown = append(unknown, n)
			}
		}
		if !tt.wantErr && !slices.Equal(unknown, tt.unknown) {
			t.Errorf("unknown names of %q = %v, want %v", tt.expr, unknown, tt.unknown)
		}
	}
}
