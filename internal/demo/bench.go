package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/internal/procs"
)

// benchSummary is what the summary says about the benchmark.
type benchSummary struct {
	targets, levels, prompts int
	took                     time.Duration
}

// runBench runs `servelab bench` with the stack's workload (NumPrompts
// requests per run, the demo's concurrency levels when given) against the
// stack's targets — every engine through the gateway, and directly — and
// writes its results as the stack's `benchmark` output would hold them.
func (l *lab) runBench(ctx context.Context) error {
	w := l.plan.Workload
	w.NumPrompts = l.o.NumPrompts
	if len(l.o.MaxConcurrency) > 0 {
		w.MaxConcurrency = l.o.MaxConcurrency
	}
	targets, env := benchKeys(l.plan.Targets, l.gwKey, l.engineKeys)
	doc, err := benchspec.TargetsFile(targets)
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.path(targetsFile), doc, 0o600); err != nil {
		return err
	}
	levels := max(len(w.MaxConcurrency), 1) * max(len(w.RequestRate), 1)
	l.bench = benchSummary{targets: len(targets), levels: levels, prompts: w.NumPrompts}
	l.logf("benchmark: %d targets (%s) × %d load levels × %d %s prompts",
		len(targets), labels(targets), levels, w.NumPrompts, w.Dataset)

	argv := append([]string{l.o.Servelab, "bench", "--targets", l.path(targetsFile), "--runs", "--log-level", "warn"},
		benchspec.WorkloadFlags(w)...)
	var stdout bytes.Buffer
	// The bench reads the keys from these variables (the targets file
	// names them), never from argv.
	opts := procs.Options{Dir: l.o.Dir, Env: env, Stdout: &stdout, Log: l.o.Stderr}
	if f, ok := l.o.Stderr.(*os.File); ok {
		opts.Stderr = f // the bench draws its progress bar on a terminal
	}
	p, err := procs.Start("bench", argv, opts)
	if err != nil {
		return err
	}
	started := time.Now()
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = l.stop(p)
		return ctx.Err()
	case q := <-l.exited():
		_ = l.stop(p)
		return q.ExitError()
	}
	l.bench.took = time.Since(started)
	if err := p.Wait(); err != nil {
		return fmt.Errorf("servelab bench failed (%v); its output is above", err)
	}
	if err := os.WriteFile(l.path(benchRunsFile), stdout.Bytes(), 0o600); err != nil {
		return err
	}
	results, err := benchspec.Parse(stdout.String(), targets)
	if err != nil {
		return fmt.Errorf("benchmark: %w", err)
	}
	outputs := map[string]any{
		"program": string(l.plan.Lab.Config.Program),
		"gateway": map[string]any{"url": "http://" + l.plan.GatewayAddr, "models": l.models()},
		// The stack output's shape (the report reads "benchmark").
		"benchmark": results,
	}
	if l.prom != nil {
		outputs["monitoring"] = map[string]any{"prometheusUrl": l.prom.url, "prometheusUser": l.prom.user}
	}
	b, err := json.MarshalIndent(outputs, "", "  ")
	if err != nil {
		return err
	}
	l.outputs = l.path(outputsFile)
	return os.WriteFile(l.outputs, append(b, '\n'), 0o600)
}

// writeReport writes the HTML report of the results with `servelab
// report`, as `make report` does for a stack's outputs.
func (l *lab) writeReport(ctx context.Context) error {
	l.report = l.path(reportFile)
	title := "servelab demo: stack " + l.plan.Stack + " on loopback (simulated engines)"
	return l.runCommand(ctx, "report", []string{l.o.Servelab, "report", "--format", "html", "--output", l.report,
		"--title", title, "--name", l.plan.Stack + "=" + l.outputs, l.outputs})
}

// models are the gateway's public models, in order.
func (l *lab) models() []string {
	var out []string
	for _, m := range l.plan.Gateway.Models {
		out = append(out, m.Name)
	}
	return out
}

func labels(ts []benchspec.Target) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Label)
	}
	if len(s) > 4 {
		return strings.Join(s[:4], ", ") + ", … " + strconv.Itoa(len(s)-4) + " more"
	}
	return strings.Join(slices.Clip(s), ", ")
}

// benchKeys gives the targets their keys as the stack's benchmark does:
// key 0, the gateway's, to the targets through the gateway (ServingTargets
// gives them index 0); to each direct target of an engine that checks a
// key (engineKeys, by framework instance), that engine's, at the next
// index. It returns the targets and the bench's environment, one
// SERVELAB_BENCH_KEY_<index>=KEY per key.
func benchKeys(targets []benchspec.Target, gatewayKey string, engineKeys map[string]string) ([]benchspec.Target, []string) {
	out := slices.Clone(targets)
	env := []string{benchspec.KeyEnv(0) + "=" + gatewayKey}
	for i, t := range out {
		if key, ok := engineKeys[t.Framework]; ok && t.Direct {
			out[i].KeyIndex = len(env)
			env = append(env, benchspec.KeyEnv(len(env))+"="+key)
		}
	}
	return out, env
}
