package benchmark

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// What another runner of the same benchmark uses to run it exactly as this
// component does. The Kubernetes target runs the bench as a Job
// (components/kube/benchmark): the same checks, targets file
// (benchspec.TargetsFile and KeyEnv), argv and --deadline, the same named
// triggers and spec hash deciding re-runs, and the same stack output — results,
// provenance and baseline comparison. Such a runner sets Image (the
// servelab image the bench runs in) and leaves Host and Binary empty.

// Check validates the runner-independent part of args — targets, keys,
// workload, repeats, timeout, baseline — and fills in the defaults
// (Timeout benchspec.DefaultTimeout, dataset random).
func Check(name string, args BenchmarkArgs) (BenchmarkArgs, error) { return check(name, args) }

// Argv is the bench's argv after `servelab` (or the servelab image's
// entrypoint) for a checked args: its workload, --repeats, and
// --deadline benchspec.Deadline(a.Timeout); it reads the targets file from
// /dev/stdin.
func Argv(a BenchmarkArgs) []string { return benchspec.Argv(a.Workload, benchspec.Deadline(a.Timeout)) }

// Triggers are the run's named trigger digests (triggers.go) for a checked
// args, the argv it runs and its targets file, and the spec hash: the
// SHA-256 of all of them, recorded in the provenance. A runner re-runs the
// bench exactly when one of them changes.
func Triggers(a BenchmarkArgs, argv []string, targetsJSON []byte) ([]pulumi.StringOutput, pulumi.StringOutput) {
	return triggerInputs(a, argv, targetsJSON)
}

// Results is the stack output of a run: raw, the bench's JSON output,
// parsed (a failed or partial run is an error naming the target and load
// level), with its provenance and, with a.Baseline, the comparison (read
// through a StackReference named <name>-baseline, a child of parent).
func Results(ctx *pulumi.Context, name string, parent pulumi.Resource, a BenchmarkArgs, raw, specHash pulumi.StringOutput) (pulumi.MapOutput, error) {
	return results(ctx, name, parent, a, raw, specHash)
}
