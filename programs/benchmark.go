package programs

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/gateway"
	"github.com/servelab/servelab/internal/engine"
)

// deployBenchmark runs the stack's benchmark once the gateway and every
// framework are ready and adds its results to out["benchmark"].
func (d *deployment) deployBenchmark(out pulumi.Map) error {
	b := d.lab.Config.Benchmark
	if !b.Enabled {
		return nil
	}
	args := &benchmark.BenchmarkArgs{Workload: Workload(b)}
	if b.Timeout != "" {
		args.Timeout, _ = time.ParseDuration(b.Timeout) // validated
	}
	if b.Baseline != "" {
		if b.Baseline == d.ctx.Stack() {
			return fmt.Errorf("servelab:benchmark.baseline: %q is this stack; name the stack to compare with", b.Baseline)
		}
		args.Baseline = &benchmark.Baseline{Stack: b.Baseline}
		if b.FailOnRegression != nil {
			args.Baseline.FailOnRegression = *b.FailOnRegression
		}
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

	if d.lab.Config.Program == Bench {
		for _, t := range d.lab.Config.Targets {
			tg := benchmark.Target{Label: t.Name, BaseURL: t.URL, Model: t.Model, Engine: t.Engine, KeyIndex: -1}
			if key, ok := d.secrets.TargetKeys[t.Name]; ok {
				tg.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, key)
			}
			args.Targets = append(args.Targets, tg)
		}
	} else {
		d.servingTargets(args, onHost)
	}

	bench, err := benchmark.NewBenchmark(d.ctx, "benchmark", args)
	if err != nil {
		return err
	}
	out["benchmark"] = bench.Results
	return nil
}

// benchHost is where a runOn: host benchmark runs: next to the gateway.
func (d *deployment) benchHost() string {
	if d.lab.Config.GatewayEnabled() {
		return d.lab.Config.Gateway.Host
	}
	return d.lab.Instances[0].Host
}

// servingTargets measures every framework through the gateway and, with
// direct: true, directly — so the outputs show the gateway's overhead.
// Each target carries the spec of what it measures (specs.go), so that a
// change there re-runs the bench.
func (d *deployment) servingTargets(args *benchmark.BenchmarkArgs, onHost bool) {
	cfg := d.lab.Config
	for _, f := range d.frameworks {
		args.After = append(args.After, f.Waits()...)
	}
	bench := d.benchHost()
	var gatewayURL string
	if d.gateway != nil {
		args.After = append(args.After, d.gateway.Waits()...)
		gatewayURL = d.hosts[cfg.Gateway.Host].PublishedURL(cfg.Gateway.Port)
		if onHost {
			gatewayURL = gateway.InternalBaseURL
		}
		args.Keys = []pulumi.StringInput{d.gateway.APIKey}
	}
	targets := ServingTargets(d.lab, gatewayURL, func(i int) string { return d.directURL(i, onHost, bench) })
	for _, t := range targets {
		switch {
		case t.Framework == "": // serve: the gateway in front of every instance
			all := make([]int, len(d.frameworks))
			for i := range all {
				all[i] = i
			}
			t.Spec, t.ImageDigest = d.gatewaySpec(all...), d.frameworks[0].ImageDigest
		case !t.Direct:
			i := d.instanceIndex(t.Framework)
			t.Spec, t.ImageDigest = d.gatewaySpec(i), d.frameworks[i].ImageDigest
		default:
			i := d.instanceIndex(t.Framework)
			f := d.frameworks[i]
			t.Spec, t.ImageDigest = d.engineSpec(i), f.ImageDigest
			if key := d.engineKey(f); key != nil {
				t.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, key)
			}
		}
		args.Targets = append(args.Targets, t)
	}
}

// instanceIndex is the index of the framework instance named name.
func (d *deployment) instanceIndex(name string) int {
	return slices.IndexFunc(d.frameworks, func(f *framework.Framework) bool { return f.Name == name })
}

// ServingTargets are what the benchmark of a compare or serve lab
// measures, in order: every framework instance through the gateway at
// gatewayURL ("" = no gateway; under serve, one "gateway" target for all
// of them), then, with benchmark.direct (or without a gateway), every
// instance at direct(i). Targets through the gateway send key 0 (the
// gateway's); direct ones none: the caller gives the target of an engine
// that checks a key that engine's key, and Spec and ImageDigest.
func ServingTargets(lab *Lab, gatewayURL string, direct func(i int) string) []benchmark.Target {
	cfg := lab.Config
	// The bench reads an engine's KV-cache capacity at its metrics URL:
	// only vLLM and SGLang report one (llama.cpp's /metrics has none, and
	// wants its key).
	metrics := func(i int) string {
		api := lab.Instances[i].Instance.API()
		path := engine.MustSpec(api).MetricsPath
		if path == "" || (api != engine.VLLM && api != engine.SGLang) {
			return ""
		}
		return direct(i) + path
	}
	var out []benchmark.Target
	if gatewayURL != "" {
		if cfg.Program == Serve {
			out = append(out, benchmark.Target{
				Label: "gateway", BaseURL: gatewayURL, Model: lab.Instances[0].PublicModel, Engine: "gateway", KeyIndex: 0,
				MetricsURL: metrics(0),
			})
		} else {
			for i, in := range lab.Instances {
				out = append(out, benchmark.Target{
					Label: in.Instance.Name, BaseURL: gatewayURL, Model: in.PublicModel, Engine: string(in.Instance.Engine),
					Image: in.Framework.Image, Framework: in.Instance.Name, KeyIndex: 0, MetricsURL: metrics(i),
				})
			}
		}
	}
	if cfg.Benchmark.Direct || gatewayURL == "" {
		for i, in := range lab.Instances {
			label := in.Instance.Name + "-direct"
			if gatewayURL == "" {
				label = in.Instance.Name
			}
			out = append(out, benchmark.Target{
				Label: label, BaseURL: direct(i), Model: in.Instance.ServedModelName, Engine: string(in.Instance.Engine),
				Image: in.Framework.Image, Framework: in.Instance.Name, Direct: true, KeyIndex: -1, MetricsURL: metrics(i),
			})
		}
	}
	return out
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

// Workload is the stack's benchmark workload as the Benchmark component
// runs it.
func Workload(b Benchmark) benchmark.Workload {
	w := benchmark.Workload{
		Dataset: b.Dataset, DatasetPath: b.DatasetPath, NumPrompts: b.NumPrompts,
		MaxConcurrency: b.MaxConcurrency, Burstiness: b.Burstiness,
		InputLen: b.InputLen, OutputLen: b.OutputLen, Goodput: b.Goodput, Warmup: b.Warmup,
	}
	if b.Repeats != nil {
		w.Repeats = *b.Repeats
	}
	for _, r := range b.RequestRate {
		w.RequestRate = append(w.RequestRate, r)
	}
	if b.Seed != nil {
		w.Seed = *b.Seed
	}
	if len(w.RequestRate) == 1 && math.IsInf(w.RequestRate[0], 1) {
		w.RequestRate = nil // inf is bench's default
	}
	return w
}
