package programs

import (
	"fmt"
	"math"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
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
	args := &benchmark.BenchmarkArgs{Workload: d.workload()}
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
	if d.gateway != nil {
		args.After = append(args.After, d.gateway.Waits()...)
		url := d.hosts[cfg.Gateway.Host].PublishedURL(cfg.Gateway.Port)
		if onHost {
			url = gateway.InternalBaseURL
		}
		args.Keys = []pulumi.StringInput{d.gateway.APIKey}
		if cfg.Program == Serve {
			all := make([]int, len(d.frameworks))
			for i := range all {
				all[i] = i
			}
			args.Targets = append(args.Targets, benchmark.Target{
				Label: "gateway", BaseURL: url, Model: d.lab.Instances[0].PublicModel, Engine: "gateway", KeyIndex: 0,
				MetricsURL: d.metricsURL(0, onHost, bench), Spec: d.gatewaySpec(all...), ImageDigest: d.frameworks[0].ImageDigest,
			})
		} else {
			for i, f := range d.frameworks {
				in := d.lab.Instances[i]
				args.Targets = append(args.Targets, benchmark.Target{
					Label: f.Name, BaseURL: url, Model: in.PublicModel, Engine: string(f.Engine),
					Image: in.Framework.Image, Framework: f.Name, KeyIndex: 0,
					MetricsURL: d.metricsURL(i, onHost, bench), Spec: d.gatewaySpec(i), ImageDigest: f.ImageDigest,
				})
			}
		}
	}
	if cfg.Benchmark.Direct || d.gateway == nil {
		for i, f := range d.frameworks {
			in := d.lab.Instances[i]
			label := f.Name + "-direct"
			if d.gateway == nil {
				label = f.Name
			}
			t := benchmark.Target{
				Label: label, BaseURL: d.directURL(i, onHost, bench), Model: f.UpstreamModel, Engine: string(f.Engine),
				Image: in.Framework.Image, Framework: f.Name, Direct: true, KeyIndex: -1,
				MetricsURL: d.metricsURL(i, onHost, bench), Spec: d.engineSpec(i), ImageDigest: f.ImageDigest,
			}
			if key := d.engineKey(f); key != nil {
				t.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, key)
			}
			args.Targets = append(args.Targets, t)
		}
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

// metricsURL is framework i's Prometheus endpoint as the bench reaches
// it, "" for engines without metrics (Ollama).
func (d *deployment) metricsURL(i int, onHost bool, bench string) string {
	path := engine.MustSpec(d.frameworks[i].API).MetricsPath
	if path == "" {
		return ""
	}
	return d.directURL(i, onHost, bench) + path
}

func (d *deployment) workload() benchmark.Workload {
	b := d.lab.Config.Benchmark
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
