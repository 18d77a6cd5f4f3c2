package programs

import (
	"math"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/gateway"
)

// deployBenchmark runs the stack's benchmark once the gateway and every
// framework are ready and adds its results to out["benchmark"].
func (d *deployment) deployBenchmark(out pulumi.Map) error {
	b := d.lab.Config.Benchmark
	if !b.Enabled {
		return nil
	}
	args := &benchmark.BenchmarkArgs{Workload: d.workload(), Timeout: 30 * time.Minute}
	if b.Timeout != "" {
		args.Timeout, _ = time.ParseDuration(b.Timeout) // validated
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
		args.Binary = d.opts.BenchBinary
	}

	if d.lab.Config.Program == Bench {
		for _, t := range d.lab.Config.Targets {
			tg := benchmark.Target{Label: t.Name, BaseURL: t.URL, Model: t.Model, Engine: t.Engine, KeyIndex: -1}
			if key, ok := d.secrets.TargetKeys[t.Name]; ok {
				tg.KeyIndex = len(args.Keys)
				args.Keys = append(args.Keys, key)
			}
			args.Targets = append(args.Targets, tg)
			args.Provenance = append(args.Provenance, t.URL, t.Model)
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
func (d *deployment) servingTargets(args *benchmark.BenchmarkArgs, onHost bool) {
	cfg := d.lab.Config
	for i, f := range d.frameworks {
		args.After = append(args.After, f.Waits()...)
		in := d.lab.Instances[i]
		args.Provenance = append(args.Provenance, in.Framework.Image, in.Instance.Model)
	}
	if d.gateway != nil {
		args.After = append(args.After, d.gateway.Waits()...)
		url := d.hosts[cfg.Gateway.Host].PublishedURL(cfg.Gateway.Port)
		if onHost {
			url = gateway.InternalBaseURL
		}
		args.Keys = []pulumi.StringInput{d.gateway.APIKey}
		if cfg.Program == Serve {
			args.Targets = append(args.Targets, benchmark.Target{
				Label: "gateway", BaseURL: url, Model: d.lab.Instances[0].PublicModel, Engine: "gateway", KeyIndex: 0,
			})
		} else {
			for i, f := range d.frameworks {
				in := d.lab.Instances[i]
				args.Targets = append(args.Targets, benchmark.Target{
					Label: f.Name, BaseURL: url, Model: in.PublicModel, Engine: string(f.Engine),
					Image: in.Framework.Image, Framework: f.Name, KeyIndex: 0,
				})
			}
		}
	}
	if cfg.Benchmark.Direct || d.gateway == nil {
		bench := d.benchHost()
		for i, f := range d.frameworks {
			in := d.lab.Instances[i]
			url := f.Host.PublishedURL(f.PublishedPort)
			if onHost && f.Host.Name == bench {
				url = f.InternalBaseURL()
			}
			label := f.Name + "-direct"
			if d.gateway == nil {
				label = f.Name
			}
			args.Targets = append(args.Targets, benchmark.Target{
				Label: label, BaseURL: url, Model: f.UpstreamModel, Engine: string(f.Engine),
				Image: in.Framework.Image, Framework: f.Name, Direct: true, KeyIndex: -1,
			})
		}
	}
}

func (d *deployment) workload() benchmark.Workload {
	b := d.lab.Config.Benchmark
	w := benchmark.Workload{
		Dataset: b.Dataset, DatasetPath: b.DatasetPath, NumPrompts: b.NumPrompts,
		MaxConcurrency: b.MaxConcurrency, Burstiness: b.Burstiness,
		InputLen: b.InputLen, OutputLen: b.OutputLen, Goodput: b.Goodput, Warmup: b.Warmup,
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
