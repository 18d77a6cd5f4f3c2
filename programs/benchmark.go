package programs

import (
	"fmt"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/programs/stackconfig"
)

// deployBenchmark runs the stack's benchmark once the gateway and every
// framework are ready and adds its results to out["benchmark"].
func (d *deployment) deployBenchmark(out pulumi.Map) error {
	b := d.lab.Config.Benchmark
	if !b.Enabled {
		return nil
	}
	args, err := d.benchmarkArgs()
	if err != nil {
		return err
	}
	onHost := b.RunOn == "host"
	if onHost {
		host := d.benchHost()
		img, err := d.servelabImage(host)
		if err != nil {
			return err
		}
		args.Host, args.Image = d.hosts[host], img
	} else {
		args.Binary, args.BinarySHA256 = d.opts.BenchBinary, d.opts.BenchBinarySHA256
	}

	if d.lab.Config.Program == stackconfig.Bench {
		for _, t := range d.lab.Config.Targets {
			tg := benchmark.Target{Target: benchspec.Target{Label: t.Name, BaseURL: t.URL, Model: t.Model, Engine: t.Engine, KeyIndex: -1}}
			if key, ok := d.secrets.TargetKeys[t.Name]; ok {
				tg.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, key)
			}
			args.Targets = append(args.Targets, tg)
		}
	} else {
		d.servingTargets(args, d.served(onHost))
	}

	bench, err := benchmark.NewBenchmark(d.ctx, "benchmark", args)
	if err != nil {
		return err
	}
	out["benchmark"] = bench.Results
	return nil
}

// benchmarkArgs are the stack's benchmark settings, whichever target runs
// it: workload, timeout and baseline.
func (d *deployment) benchmarkArgs() (*benchmark.BenchmarkArgs, error) {
	b := d.lab.Config.Benchmark
	args := &benchmark.BenchmarkArgs{Workload: stackconfig.Workload(b)}
	if b.Timeout != "" {
		args.Timeout, _ = time.ParseDuration(b.Timeout) // validated
	}
	if b.Baseline != "" {
		if b.Baseline == d.ctx.Stack() {
			return nil, fmt.Errorf("servelab:benchmark.baseline: %q is this stack; name the stack to compare with", b.Baseline)
		}
		args.Baseline = &benchmark.Baseline{Stack: b.Baseline}
		if b.FailOnRegression != nil {
			args.Baseline.FailOnRegression = *b.FailOnRegression
		}
	}
	return args, nil
}

// benchHost is where a runOn: host benchmark runs: next to the gateway.
func (d *deployment) benchHost() string {
	if d.lab.Config.GatewayEnabled() {
		return d.lab.Config.Gateway.Host
	}
	return d.lab.Instances[0].Host
}

// servedLab is what the benchmark of a compare or serve stack measures,
// whichever target deployed it (Docker hosts: deployment.served; a
// cluster: kubeDeployment.served): every framework instance, in
// lab.Instances order, and the gateway (nil without one).
type servedLab struct {
	frameworks []servedFramework
	gateway    *servedGateway
}

// servedFramework is one framework instance as the bench reaches it.
type servedFramework struct {
	name string
	// directURL is its URL bypassing the gateway, from where the bench
	// runs.
	directURL string
	// key is the engine's own API key (nil: it takes none).
	key pulumi.StringInput
	// imageDigest identifies the image it runs (nil: not known).
	imageDigest pulumi.StringInput
	// spec decides its results (specs.go); waits finish when it is ready.
	spec  pulumi.StringOutput
	waits []pulumi.Resource
}

// servedGateway is the gateway as the bench reaches it.
type servedGateway struct {
	url   string
	key   pulumi.StringInput
	waits []pulumi.Resource
	// spec is the spec of a target through the gateway to the instances
	// idx (specs.go).
	spec func(idx ...int) pulumi.StringOutput
}

// served describes the Docker target's lab for the bench: on the lab
// network when it runs on a host (onHost), else by published ports.
func (d *deployment) served(onHost bool) servedLab {
	var s servedLab
	bench := d.benchHost()
	for i, f := range d.frameworks {
		s.frameworks = append(s.frameworks, servedFramework{
			name: f.Name, directURL: d.directURL(i, onHost, bench), key: d.engineKey(f), imageDigest: f.ImageDigest,
			spec: d.engineSpec(i), waits: f.Waits(),
		})
	}
	if d.gateway != nil {
		url := d.hosts[d.lab.Config.Gateway.Host].PublishedURL(d.lab.Config.Gateway.Port)
		if onHost {
			url = gatewayconfig.InternalBaseURL
		}
		s.gateway = &servedGateway{url: url, key: d.gateway.APIKey, waits: d.gateway.Waits(), spec: d.gatewaySpec}
	}
	return s
}

// servingTargets adds to args the targets stackconfig.ServingTargets
// gives the lab s describes, each with the spec of what it measures
// (specs.go), so that a change there re-runs the bench, and a direct
// target of an engine that checks a key with the engine's own key. Both targets build their
// benchmark with it.
func (d *deployment) servingTargets(args *benchmark.BenchmarkArgs, s servedLab) {
	for _, f := range s.frameworks {
		args.After = append(args.After, f.waits...)
	}
	var gatewayURL string
	if g := s.gateway; g != nil {
		args.After = append(args.After, g.waits...)
		args.Keys = []pulumi.StringInput{g.key}
		gatewayURL = g.url
	}
	targets := stackconfig.ServingTargets(d.lab, gatewayURL, func(i int) string { return s.frameworks[i].directURL })
	for _, plain := range targets {
		t := benchmark.Target{Target: plain}
		i := slices.IndexFunc(s.frameworks, func(f servedFramework) bool { return f.name == t.Framework })
		switch {
		case t.Framework == "": // serve: the gateway in front of every instance
			all := make([]int, len(s.frameworks))
			for j := range all {
				all[j] = j
			}
			t.Spec, t.ImageDigest = s.gateway.spec(all...), s.frameworks[0].imageDigest
		case !t.Direct:
			t.Spec, t.ImageDigest = s.gateway.spec(i), s.frameworks[i].imageDigest
		default:
			f := s.frameworks[i]
			t.Spec, t.ImageDigest = f.spec, f.imageDigest
			if f.key != nil {
				t.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, f.key)
			}
		}
		args.Targets = append(args.Targets, t)
	}
}

// directURL is how the bench reaches framework i bypassing the gateway:
// on the lab network when it runs on the same host, else the published
// port.
func (d *deployment) directURL(i int, onHost bool, bench string) string {
	f := d.frameworks[i]
	if onHost && f.Host.Name == bench {
		return f.InternalBaseURL()
	}
	return f.Host.PublishedURL(f.PublishedPort)
}
