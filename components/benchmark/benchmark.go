// Package benchmark is the Benchmark component: one `servelab bench` run,
// after the gateway and every framework are ready, whose JSON stdout
// becomes typed stack outputs. It runs as a pulumi-command Command — on the
// machine running Pulumi, or on a GPU host inside the lab network (in the
// servelab image) — from an argv every word of which is shell-quoted.
//
// It re-runs exactly when its results could change: its triggers
// (triggers.go) are digests of everything that decides them, and nothing
// else is in its inputs — no API key (keys.go: they are read from a file
// at run time), no path of the user's checkout. It ends by itself a margin
// before its timeout, and a failed run fails `up` with a short error. The
// outputs carry the results, what produced them (provenance.go) and, with
// a baseline, a comparison with another stack's (baseline.go).
package benchmark

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/gpuhost"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:benchmark:Benchmark"

// BenchmarkArgs configure a run.
type BenchmarkArgs struct {
	// Host runs the bench in the servelab image on its lab network; nil
	// runs Binary on the machine running Pulumi.
	Host *gpuhost.GpuHost
	// Image is the servelab image on Host (another runner: the image the
	// bench runs in, see export.go); it, not Binary, is then the servelab
	// in the triggers and provenance.
	Image pulumi.StringInput
	// Binary is the servelab binary on this machine (Host nil) as the
	// command runs it: relative to the Pulumi project directory
	// (bin/servelab), so that where the checkout lies is no input.
	Binary string
	// BinarySHA256 is the hex SHA-256 of Binary's content: a rebuilt
	// binary re-runs the bench.
	BinarySHA256 string
	// Targets are measured one after another with the same workload.
	Targets []Target
	// Keys are API keys (secrets), indexed by Target.KeyIndex.
	Keys     []pulumi.StringInput
	Workload benchspec.Workload
	// Timeout bounds the whole run (benchspec.DefaultTimeout when zero);
	// the bench gets a deadline a margin shorter (benchspec.Deadline).
	Timeout time.Duration
	// Baseline, when set, compares the results with another stack's.
	Baseline *Baseline
	// After are the resources that must be ready first: the gateway and
	// every framework measured. The run command depends on them.
	After []pulumi.Resource
}

// Benchmark is a finished run.
type Benchmark struct {
	pulumi.ResourceState

	// Raw is the bench's JSON output.
	Raw pulumi.StringOutput
	// Results are the stack output: runs by target, gateway overhead,
	// provenance and, with a baseline, the comparison.
	Results pulumi.MapOutput
	// SpecHash is the digest of everything that decides the results.
	SpecHash pulumi.StringOutput
}

// NewBenchmark runs the benchmark once everything in args.After is ready.
func NewBenchmark(ctx *pulumi.Context, name string, args *BenchmarkArgs, opts ...pulumi.ResourceOption) (*Benchmark, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	targetsJSON, err := benchspec.TargetsFile(Plain(a.Targets))
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	bench := benchspec.Argv(a.Workload, benchspec.Deadline(a.Timeout))

	b := &Benchmark{}
	if err := ctx.RegisterComponentResource(TypeToken, name, b, opts...); err != nil {
		return nil, err
	}
	// What must be ready first: on a host, the host itself, as explicit
	// resources (never the GpuHost component: see GpuHost.Waits); then
	// the gateway and the frameworks measured. The key file is written
	// after them too, so nothing lands on a host that failed its probe.
	var after []pulumi.Resource
	if a.Host != nil {
		after = slices.Clone(a.Host.Waits())
	}
	after = append(after, a.After...)
	// One key file per stack on the machine that runs the bench.
	keyFile := ctx.Project() + "-" + ctx.Stack()
	if len(a.Keys) > 0 {
		keys, err := b.storeKeys(ctx, name, a, keyFile, after)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", name, err)
		}
		after = append(slices.Clone(after), keys)
	}

	triggers, specHash := triggerInputs(a, bench, targetsJSON)
	run := gpuhost.RunArgs{
		Stdin:      pulumi.String(string(targetsJSON)),
		StderrOnly: true,
	}
	for _, t := range triggers {
		run.TriggerInputs = append(run.TriggerInputs, t)
	}
	cmdOpts := []pulumi.ResourceOption{
		pulumi.Parent(b),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: a.Timeout.String(), Update: a.Timeout.String()}),
	}
	if len(after) > 0 {
		cmdOpts = append(cmdOpts, pulumi.DependsOn(after))
	}
	var cmd *gpuhost.Command
	if a.Host == nil {
		run.Argv = runArgv(keyFile, len(a.Keys), a.Timeout, append([]string{a.Binary}, bench...))
		cmd, err = gpuhost.RunLocal(ctx, name+"-run", run, cmdOpts...)
	} else {
		keys, timeout := len(a.Keys), a.Timeout
		run.ArgvInput = pulumi.All(a.Image, a.Host.NetworkName).ApplyT(func(v []any) []string {
			return runArgv(keyFile, keys, timeout, dockerArgv(v[0].(string), v[1].(string), keys, bench))
		}).(pulumi.StringArrayOutput)
		if a.Host.Remote() {
			// The SSH key is how the command connects, not what it
			// measures: rotating it must not re-run the bench. A
			// trigger-driven re-run then still connects with the key
			// recorded at the last run (the engine substitutes ignored
			// inputs from state); `make bench` (--replace) takes the
			// current one. See docs/bench.md#re-runs.
			cmdOpts = append(cmdOpts, pulumi.IgnoreChanges([]string{"connection.privateKey"}))
		}
		cmd, err = a.Host.Run(ctx, name+"-run", run, cmdOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}

	b.Raw = cmd.Stdout
	b.SpecHash = specHash
	if b.Results, err = results(ctx, name, b, a, b.Raw, specHash); err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{"results": b.Results, "specHash": b.SpecHash}); err != nil {
		return nil, err
	}
	return b, nil
}

// storeKeys writes the API keys, one per line, to the key file on the
// machine that runs the bench. A rotated key updates this command in
// place; the bench itself is not touched.
func (b *Benchmark) storeKeys(ctx *pulumi.Context, name string, a BenchmarkArgs, file string, after []pulumi.Resource) (pulumi.Resource, error) {
	parts := make([]any, len(a.Keys))
	for i, k := range a.Keys {
		parts[i] = k
	}
	run := gpuhost.RunArgs{
		Argv:   keysArgv(file),
		Delete: deleteKeysArgv(file),
		Stdin:  pulumi.ToSecret(pulumi.Sprintf(strings.Repeat("%s\n", len(a.Keys)), parts...)).(pulumi.StringOutput),
		Quiet:  true,
	}
	// Delete before replace: a replacement (make bench) must not remove
	// the file its new self has just written.
	opts := []pulumi.ResourceOption{pulumi.Parent(b), pulumi.DeleteBeforeReplace(true)}
	if len(after) > 0 {
		opts = append(opts, pulumi.DependsOn(after))
	}
	var cmd *gpuhost.Command
	var err error
	if a.Host == nil {
		cmd, err = gpuhost.RunLocal(ctx, name+"-keys", run, opts...)
	} else {
		cmd, err = a.Host.Run(ctx, name+"-keys", run, opts...)
	}
	if err != nil {
		return nil, err
	}
	return cmd.Resource, nil
}

// results parses the bench's output (raw) and adds its provenance and,
// with a baseline, the comparison (read through a StackReference, a child
// of parent). The servelab that ran it is a.Image when set (the bench ran
// in the image), else the binary a.BinarySHA256.
func results(ctx *pulumi.Context, name string, parent pulumi.Resource, a BenchmarkArgs, raw, specHash pulumi.StringOutput) (pulumi.MapOutput, error) {
	targets, workload := a.Targets, workloadSettings(a.Workload)
	servelab := ServelabProvenance{BinarySHA256: a.BinarySHA256}
	inputs := []any{raw, specHash, pulumi.String("").ToStringOutput()}
	if a.Image != nil {
		servelab.BinarySHA256 = ""
		inputs[2] = a.Image.ToStringOutput()
	}
	var labels []string
	for _, t := range targets {
		if t.ImageDigest != nil {
			labels = append(labels, t.Label)
			inputs = append(inputs, t.ImageDigest.ToStringOutput())
		}
	}
	parsed := pulumi.All(inputs...).ApplyT(func(v []any) (map[string]any, error) {
		stdout := v[0].(string)
		res, runs, err := benchspec.ParseRuns(stdout, Plain(targets))
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", name, err)
		}
		p := Provenance{
			SpecHash: v[1].(string), Servelab: servelab, DatasetHash: datasetHash(runs),
			Seed: a.Workload.Seed, Workload: workload, Bench: benchProvenance(stdout),
		}
		p.Servelab.Version, p.Servelab.Image = benchVersion(runs), v[2].(string)
		for i, label := range labels {
			if p.Images == nil {
				p.Images = map[string]string{}
			}
			p.Images[label] = v[3+i].(string)
		}
		m, err := toMap(res)
		if err != nil {
			return nil, err
		}
		if own, ok := m["provenance"].(map[string]any); ok {
			p.Bench = own // the summary's copy of the bench's own provenance
		}
		m["provenance"], err = toMap(p)
		return m, err
	}).(pulumi.MapOutput)
	if a.Baseline == nil {
		return parsed, nil
	}

	ref, err := pulumi.NewStackReference(ctx, name+"-baseline", &pulumi.StackReferenceArgs{Name: pulumi.String(a.Baseline.Stack)}, pulumi.Parent(parent))
	if err != nil {
		return pulumi.MapOutput{}, fmt.Errorf("baseline stack %q: %w", a.Baseline.Stack, err)
	}
	baseline := *a.Baseline
	return pulumi.All(parsed, ref.GetOutput(pulumi.String("benchmark"))).ApplyT(func(v []any) (map[string]any, error) {
		cur := v[0].(map[string]any)
		c, err := Compare(baseline, v[1], cur)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", name, err)
		}
		cur["comparison"], err = toMap(c)
		return cur, err
	}).(pulumi.MapOutput), nil
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// validate checks args for this component: where the bench runs, then
// what any runner checks (check).
func validate(name string, args *BenchmarkArgs) (BenchmarkArgs, error) {
	if args == nil {
		return BenchmarkArgs{}, fmt.Errorf("benchmark %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Host == nil && a.Binary == "" {
		errs = append(errs, fmt.Errorf("benchmark %s: set Host (run in the lab network) or Binary (run here)", name))
	}
	if a.Host == nil && a.Binary != "" && a.BinarySHA256 == "" {
		errs = append(errs, fmt.Errorf("benchmark %s: BinarySHA256 is required with Binary (a rebuilt binary must re-run the bench)", name))
	}
	if a.Host != nil && a.Image == nil {
		errs = append(errs, fmt.Errorf("benchmark %s: running on host %s needs the servelab image", name, a.Host.Name))
	}
	if a.Host == nil && a.Image != nil {
		errs = append(errs, fmt.Errorf("benchmark %s: an image without a host to run it on", name))
	}
	a, err := check(name, a)
	return a, errors.Join(append(errs, err)...)
}

// check validates what every runner of the bench needs — targets, keys,
// workload, timeout, baseline — and fills in defaults.
func check(name string, a BenchmarkArgs) (BenchmarkArgs, error) {
	var errs []error
	if len(a.Targets) == 0 {
		errs = append(errs, fmt.Errorf("benchmark %s: no targets", name))
	}
	seen := map[string]bool{}
	for i, t := range a.Targets {
		if t.Label == "" || seen[t.Label] {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d]: label %q is empty or repeated", name, i, t.Label))
		}
		seen[t.Label] = true
		if t.BaseURL == "" || t.Model == "" {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d] (%s): base URL and model are required", name, i, t.Label))
		}
		if t.KeyIndex >= len(a.Keys) {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d] (%s): key %d of %d", name, i, t.Label, t.KeyIndex, len(a.Keys)))
		}
	}
	if a.Workload.NumPrompts <= 0 {
		errs = append(errs, fmt.Errorf("benchmark %s: numPrompts must be positive", name))
	}
	if a.Workload.Repeats < 0 || a.Workload.Repeats > 100 {
		errs = append(errs, fmt.Errorf("benchmark %s: repeats %d is out of range 1-100", name, a.Workload.Repeats))
	}
	if a.Workload.Dataset == "" {
		a.Workload.Dataset = "random"
	}
	if a.Timeout == 0 {
		a.Timeout = benchspec.DefaultTimeout
	}
	if a.Timeout < benchspec.MinTimeout {
		errs = append(errs, fmt.Errorf("benchmark %s: timeout %v is shorter than %v", name, a.Timeout, benchspec.MinTimeout))
	}
	if a.Baseline != nil {
		if a.Baseline.Stack == "" {
			errs = append(errs, fmt.Errorf("benchmark %s: baseline stack is empty", name))
		}
		if a.Baseline.FailOnRegression < 0 {
			errs = append(errs, fmt.Errorf("benchmark %s: failOnRegression %v is negative", name, a.Baseline.FailOnRegression))
		}
	}
	return a, errors.Join(errs...)
}
