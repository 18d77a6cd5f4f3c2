package benchmark

import (
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks/summary"
)

// What another runner of the same benchmark needs to run it exactly as
// this component does — the Kubernetes target runs it as a Job
// (components/kube/benchmark) and must give the bench the same targets
// file, argv and re-run rule, and the stack the same output.

// TargetsFile is the JSON `servelab bench --targets` reads for targets.
func TargetsFile(targets []Target) ([]byte, error) { return targetsFile(targets) }

// Args is the bench argv after `servelab` for a workload bounded by
// timeout; it reads the targets file from /dev/stdin.
func Args(w Workload, timeout time.Duration) []string { return benchArgs(w, Deadline(timeout)) }

// KeyEnv names the environment variable of the i-th API key.
func KeyEnv(i int) string { return keyEnv(i) }

// Triggers are the values whose change re-runs the benchmark.
func Triggers(targets []Target, w Workload, timeout time.Duration, provenance []string) ([]string, error) {
	tj, err := targetsFile(targets)
	if err != nil {
		return nil, err
	}
	bench := benchArgs(w, Deadline(timeout))
	return append([]string{"workload " + digest(strings.Join(bench, "\x00"), string(tj))}, provenance...), nil
}

// Output is the stack output of parsed results, as NewBenchmark exports it.
func Output(r summary.Results) (map[string]any, error) { return toMap(r) }
