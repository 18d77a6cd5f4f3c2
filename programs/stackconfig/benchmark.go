package stackconfig

import (
	"math"

	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/internal/engine"
)

// ServingTargets are what the benchmark of a compare or serve lab
// measures, in order: every framework instance through the gateway at
// gatewayURL ("" = no gateway; under serve, one "gateway" target for all
// of them), then, with benchmark.direct (or without a gateway), every
// instance at direct(i). Targets through the gateway send key 0 (the
// gateway's); direct ones none: the caller gives the target of an engine
// that checks a key that engine's key, and Spec and ImageDigest
// (benchmark.Target). The Docker target, the Kubernetes target (programs'
// servingTargets) and `make demo` all measure these.
func ServingTargets(lab *Lab, gatewayURL string, direct func(i int) string) []benchspec.Target {
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
	var out []benchspec.Target
	if gatewayURL != "" {
		if cfg.Program == Serve {
			out = append(out, benchspec.Target{
				Label: "gateway", BaseURL: gatewayURL, Model: lab.Instances[0].PublicModel, Engine: "gateway", KeyIndex: 0,
				MetricsURL: metrics(0),
			})
		} else {
			for i, in := range lab.Instances {
				out = append(out, benchspec.Target{
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
			out = append(out, benchspec.Target{
				Label: label, BaseURL: direct(i), Model: in.Instance.ServedModelName, Engine: string(in.Instance.Engine),
				Image: in.Framework.Image, Framework: in.Instance.Name, Direct: true, KeyIndex: -1, MetricsURL: metrics(i),
			})
		}
	}
	return out
}

// Workload is the stack's benchmark workload as the Benchmark component
// (or, on a cluster, its Job) runs it.
func Workload(b Benchmark) benchspec.Workload {
	w := benchspec.Workload{
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
