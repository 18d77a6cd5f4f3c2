package gateway

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// TestBucketRatios: within each histogram's dense range no bound exceeds
// the one before by more than its factor, so a constant value's p50 and p99
// estimates stay within the documented error.
func TestBucketRatios(t *testing.T) {
	t.Parallel()
	for _, h := range []struct {
		name    string
		buckets []float64
		lo, hi  float64
		factor  float64
	}{
		{"ttft", ttftBuckets, 0.01, 10, 1.1},
		{"duration", durationBuckets, 0.02, 120, 1.1},
		{"overhead", overheadBuckets, 2e-6, 0.05, 1.2},
	} {
		for i := 1; i < len(h.buckets); i++ {
			a, b := h.buckets[i-1], h.buckets[i]
			if b <= a {
				t.Errorf("%s: bounds not strictly increasing at %g, %g", h.name, a, b)
			}
			if a >= h.lo && b <= h.hi && b/a > h.factor+1e-12 {
				t.Errorf("%s: %g → %g grows by %.4f > %g", h.name, a, b, b/a, h.factor)
			}
		}
	}
}

// TestHistogramQuantilesOfKnownLatencies observes constant latencies in the
// gateway's own histograms, exports them as Prometheus would scrape them,
// and evaluates the lab's real recording rules on them with `promtool test
// rules`: for an Ollama backend (whose TTFT and end-to-end latency come
// from the gateway) the recorded p50 and p99 of TTFT and request duration
// are within 10 % of the latency observed (a fixed 120 ms TTFT among them),
// the gateway latency rules likewise, and the overhead rules within 10 %
// (p50) and 20 % (p99).
func TestHistogramQuantilesOfKnownLatencies(t *testing.T) {
	t.Parallel()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found in PATH: install it with `apt-get update && apt-get install -y prometheus`: %v", err)
	}
	ttfts := []float64{0.012, 0.05, 0.12, 0.3, 0.75, 1.9, 7}
	durations := []float64{0.03, 0.12, 0.9, 4, 33, 100}
	overheads := []float64{3e-6, 1.5e-5, 4e-4, 0.02}

	m := newMetrics()
	const n = 100
	for i, v := range ttfts {
		s := m.series("m", fmt.Sprintf("ttft%d", i), string(engine.Ollama))
		for range n {
			s.ttft.Observe(v)
		}
	}
	for i, v := range durations {
		s := m.series("m", fmt.Sprintf("e2e%d", i), string(engine.Ollama))
		for range n {
			s.duration.Observe(v)
		}
	}
	for i, v := range overheads {
		s := m.model(fmt.Sprintf("m%d", i))
		for range n {
			s.overhead.Observe(v)
		}
	}

	dir := t.TempDir()
	lab := monitoring.Lab{
		Stack:      "t",
		Gateway:    &monitoring.Target{Host: "h", Address: "gateway:8080"},
		Frameworks: []monitoring.Framework{{Name: "ollama", Engine: engine.Ollama, Host: "h"}},
		Models:     []string{"m"},
	}
	rules, err := monitoring.RecordingRules(lab)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "recording.yml"), rules, 0o644); err != nil {
		t.Fatal(err)
	}

	var in, exprs strings.Builder
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			h := metric.GetHistogram()
			if h == nil || h.GetSampleCount() == 0 {
				continue
			}
			labels := `job="gateway", instance="gateway:8080", host="h"`
			for _, l := range metric.GetLabel() {
				labels += fmt.Sprintf(", %s=%q", l.GetName(), l.GetValue())
			}
			bucket := func(le string, count uint64) {
				// Counts grow by count every 20 s: a steady rate.
				fmt.Fprintf(&in, "      - series: '%s_bucket{%s, le=\"%s\"}'\n        values: '0+%dx40'\n", mf.GetName(), labels, le, count)
			}
			for _, b := range h.GetBucket() {
				bucket(strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64), b.GetCumulativeCount())
			}
			bucket("+Inf", h.GetSampleCount())
		}
	}
	check := func(series, selector, labels string, want, tolerance float64) {
		fmt.Fprintf(&exprs, "      - expr: 'abs(%s{%s} / %g - 1) < bool %g'\n        eval_time: 10m\n        exp_samples:\n          - labels: '{%s}'\n            value: 1\n",
			series, selector, want, tolerance, labels)
	}
	for i, v := range ttfts {
		b := fmt.Sprintf("ttft%d", i)
		for _, q := range []string{monitoring.EngineTTFTP50, monitoring.EngineTTFTP99} {
			check(q, `framework="`+b+`"`, `framework="`+b+`", engine="ollama"`, v, 0.1)
		}
	}
	for i, v := range durations {
		b := fmt.Sprintf("e2e%d", i)
		for _, q := range []string{monitoring.EngineE2EP50, monitoring.EngineE2EP99} {
			check(q, `framework="`+b+`"`, `framework="`+b+`", engine="ollama"`, v, 0.1)
		}
		for _, q := range []string{monitoring.GatewayLatencyP50, monitoring.GatewayLatencyP99} {
			check(q, `backend="`+b+`"`, `model="m", backend="`+b+`", engine="ollama"`, v, 0.1)
		}
	}
	for i, v := range overheads {
		model := fmt.Sprintf("m%d", i)
		check(monitoring.GatewayOverheadP50, `model="`+model+`"`, `model="`+model+`"`, v, 0.1)
		check(monitoring.GatewayOverheadP99, `model="`+model+`"`, `model="`+model+`"`, v, 0.2)
	}
	test := fmt.Sprintf("rule_files:\n  - recording.yml\nevaluation_interval: 20s\ntests:\n  - interval: 20s\n    input_series:\n%s    promql_expr_test:\n%s",
		in.String(), exprs.String())
	testFile := filepath.Join(dir, "quantiles_test.yml")
	if err := os.WriteFile(testFile, []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "test", "rules", testFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || !strings.Contains(out.String(), "SUCCESS") {
		t.Errorf("promtool test rules: %v (a got value of 0 is an estimate off by more than the tolerance)\n%s", err, out.String())
		for _, v := range ttfts {
			t.Logf("TTFT %g s falls in bucket %s", v, bucketOf(ttftBuckets, v))
		}
	}
}

// bucketOf names the bucket (a, b] that holds v.
func bucketOf(bounds []float64, v float64) string {
	lo := 0.0
	for _, b := range bounds {
		if v <= b {
			return fmt.Sprintf("(%g, %g]", lo, b)
		}
		lo = b
	}
	return fmt.Sprintf("(%g, +Inf]", lo)
}
