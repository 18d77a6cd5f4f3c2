// Package benchmark is the Benchmark component: one `servelab bench` run,
// after the gateway and every framework are ready, whose JSON stdout
// becomes typed stack outputs. It runs as a pulumi-command Command — on the
// machine running Pulumi, or on a GPU host inside the lab network (in the
// servelab image) — from an argv every word of which is shell-quoted, with
// API keys passed on stdin. Its triggers are the inputs that change results
// (targets, images, models, workload, seed, servelab version), so an
// unchanged stack does not re-run it; a failed or partial run fails `up`
// with the bench's own error text.
package benchmark

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/benchmarks/summary"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/version"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:benchmark:Benchmark"

// BenchmarkArgs configure a run.
type BenchmarkArgs struct {
	// Host runs the bench in the servelab image on its lab network; nil
	// runs Binary on the machine running Pulumi.
	Host *gpuhost.GpuHost
	// Image is the servelab image on Host.
	Image pulumi.StringInput
	// Binary is the servelab binary on this machine (Host nil).
	Binary string
	// Targets are measured one after another with the same workload.
	Targets []Target
	// Keys are API keys (secrets), indexed by Target.KeyIndex.
	Keys     []pulumi.StringInput
	Workload Workload
	// Provenance lists what else decides the results — engine images,
	// models — so that a change re-runs the bench.
	Provenance []string
	// Timeout bounds the whole run (30 min when zero).
	Timeout time.Duration
	// After are the resources that must be ready first: the gateway and
	// every framework measured. The run command depends on them.
	After []pulumi.Resource
}

// Benchmark is a finished run.
type Benchmark struct {
	pulumi.ResourceState

	// Raw is the bench's JSON output.
	Raw pulumi.StringOutput
	// Results are the parsed outputs: runs by target, gateway overhead.
	Results pulumi.MapOutput
}

// NewBenchmark runs the benchmark once everything in args.After is ready.
func NewBenchmark(ctx *pulumi.Context, name string, args *BenchmarkArgs, opts ...pulumi.ResourceOption) (*Benchmark, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	targetsJSON, err := targetsFile(a.Targets)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	bench := benchArgs(a.Workload)

	b := &Benchmark{}
	if err := ctx.RegisterComponentResource(TypeToken, name, b, opts...); err != nil {
		return nil, err
	}

	// stdin: one line per key, then the targets file.
	parts := make([]any, 0, len(a.Keys)+1)
	format := strings.Repeat("%s\n", len(a.Keys)) + "%s"
	for _, k := range a.Keys {
		parts = append(parts, k)
	}
	parts = append(parts, string(targetsJSON))
	stdin := pulumi.ToSecret(pulumi.Sprintf(format, parts...)).(pulumi.StringOutput)

	env := make([]string, len(a.Keys))
	for i := range a.Keys {
		env[i] = keyEnv(i)
	}
	run := gpuhost.RunArgs{
		StdinEnv:   env,
		Stdin:      stdin,
		Triggers:   triggers(targetsJSON, bench, a.Provenance),
		StderrOnly: true,
	}
	cmdOpts := []pulumi.ResourceOption{
		pulumi.Parent(b),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: a.Timeout.String(), Update: a.Timeout.String()}),
	}
	after := a.After
	if a.Host != nil {
		// The host's own readiness, as explicit resources (never the
		// GpuHost component: see GpuHost.Waits).
		after = append(append([]pulumi.Resource{}, a.Host.Waits()...), after...)
	}
	if len(after) > 0 {
		cmdOpts = append(cmdOpts, pulumi.DependsOn(after))
	}
	var cmd *gpuhost.Command
	if a.Host == nil {
		run.Argv = append([]string{a.Binary}, bench...)
		cmd, err = gpuhost.RunLocal(ctx, name+"-run", run, cmdOpts...)
	} else {
		run.ArgvInput = pulumi.All(a.Image, a.Host.NetworkName).ApplyT(func(v []any) []string {
			return dockerArgv(v[0].(string), v[1].(string), len(a.Keys), bench)
		}).(pulumi.StringArrayOutput)
		cmd, err = a.Host.Run(ctx, name+"-run", run, cmdOpts...)
	}
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	stdout := cmd.Stdout

	targets := a.Targets
	b.Raw = stdout
	b.Results = stdout.ApplyT(func(out string) (map[string]any, error) {
		res, err := Parse(out, targets)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", name, err)
		}
		return toMap(res)
	}).(pulumi.MapOutput)

	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{"results": b.Results}); err != nil {
		return nil, err
	}
	return b, nil
}

// triggers is one digest of everything that decides the results, plus the
// servelab version in clear so a preview diff says why a re-run happens.
func triggers(targetsJSON []byte, bench, provenance []string) []string {
	h := sha256.New()
	h.Write(targetsJSON)
	for _, s := range append(append([]string{}, bench...), provenance...) {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return []string{"servelab " + version.Version, "inputs " + hex.EncodeToString(h.Sum(nil))[:16]}
}

func toMap(r summary.Results) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func validate(name string, args *BenchmarkArgs) (BenchmarkArgs, error) {
	if args == nil {
		return BenchmarkArgs{}, fmt.Errorf("benchmark %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Host == nil && a.Binary == "" {
		errs = append(errs, fmt.Errorf("benchmark %s: set Host (run in the lab network) or Binary (run here)", name))
	}
	if a.Host != nil && a.Image == nil {
		errs = append(errs, fmt.Errorf("benchmark %s: running on host %s needs the servelab image", name, a.Host.Name))
	}
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
	if a.Workload.Dataset == "" {
		a.Workload.Dataset = "random"
	}
	if a.Timeout == 0 {
		a.Timeout = 30 * time.Minute
	}
	return a, errors.Join(errs...)
}
