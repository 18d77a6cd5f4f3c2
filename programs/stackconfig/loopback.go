package stackconfig

import (
	"fmt"
	"slices"

	"github.com/servelab/servelab/internal/engine"
)

// LoopbackOnly reports whether an instance speaks the API of an engine that
// takes no API key (Ollama, and a sim of its flavour): servelab publishes
// it on 127.0.0.1 only, whatever the host's bindAddress, so that nobody on
// the host's network reaches it without a credential. Containers on the
// same host reach it over the lab network; other hosts, only through a
// tunnel of their own.
func LoopbackOnly(in InstancePlan) bool {
	api := in.Instance.API()
	spec, err := engine.SpecOf(api)
	return err == nil && !spec.Auth.Supported
}

// loopbackOnly checks that whatever must reach a loopback-only engine runs
// on its host: the gateway, and a benchmark that measures it directly.
func (v *validator) loopbackOnly(ins []InstancePlan) {
	reported := map[string]bool{}
	report := func(in InstancePlan, format string, args ...any) {
		if reported[in.Framework.Name] {
			return
		}
		reported[in.Framework.Name] = true
		i := slices.IndexFunc(v.cfg.Frameworks, func(f Framework) bool { return f.Name == in.Framework.Name })
		v.errorf(fmt.Sprintf("frameworks[%d].host", i), format, args...)
	}
	b := v.cfg.Benchmark
	for _, in := range ins {
		if !LoopbackOnly(in) {
			continue
		}
		name := engine.MustSpec(in.Instance.API()).Title
		if v.cfg.GatewayEnabled() && v.cfg.Gateway.Host != "" && in.Host != v.cfg.Gateway.Host {
			report(in, "%s has no API key, so servelab publishes it on 127.0.0.1 only: the gateway on %s cannot reach it on %s; run it on %s", name, v.cfg.Gateway.Host, in.Host, v.cfg.Gateway.Host)
			continue
		}
		direct := b.Enabled && (b.Direct || !v.cfg.GatewayEnabled())
		if !direct {
			continue
		}
		switch h := v.hosts[in.Host]; {
		case b.RunOn == "local" && h != nil && h.SSH != nil:
			report(in, "%s has no API key, so servelab publishes it on 127.0.0.1 only: a runOn: local benchmark cannot measure it directly on %s; use runOn: host", name, in.Host)
		case b.RunOn == "host" && in.Host != v.benchHost(ins):
			report(in, "%s has no API key, so servelab publishes it on 127.0.0.1 only: the benchmark on %s cannot measure it directly on %s", name, v.benchHost(ins), in.Host)
		}
	}
}

// benchHost is where a runOn: host benchmark runs: the gateway's host, or
// the first instance's.
func (v *validator) benchHost(ins []InstancePlan) string {
	if v.cfg.GatewayEnabled() {
		return v.cfg.Gateway.Host
	}
	if len(ins) > 0 {
		return ins[0].Host
	}
	return ""
}

// hostDataset checks that a benchmark running in a container on a lab host
// is not given a file on the machine running Pulumi: the FROM-scratch
// bench image cannot see it.
func (v *validator) hostDataset(ins []InstancePlan) {
	b := v.cfg.Benchmark
	if !b.Enabled || b.RunOn != "host" || b.DatasetPath == "" {
		return
	}
	v.errorf("benchmark.datasetPath", "runOn: host runs the bench in a container on %s that cannot read %q; use runOn: local, or a built-in dataset (random, multilingual)", v.benchHost(ins), b.DatasetPath)
}
