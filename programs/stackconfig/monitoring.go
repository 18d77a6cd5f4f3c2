package stackconfig

import (
	"time"

	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
)

// MonitoringLab is what internal/monitoring generates Prometheus's files
// and Grafana's dashboards from: the stack's monitoring settings, its
// frameworks and models, and where Prometheus reaches each — the gateway's
// metrics at gatewayAddr ("" = no gateway), framework instance i at
// addr(i) ("" on a cluster, where Prometheus finds the pods through the
// Kubernetes API). keyFile(i) is where Prometheus reads instance i's API
// key ("" = the engine takes none); it becomes the scrape's credentials
// file when the engine checks its key on its metrics path (llama.cpp).
// The Docker target, the Kubernetes target and `make demo` all monitor
// this lab.
func MonitoringLab(stack string, lab *Lab, gatewayAddr string, addr, keyFile func(i int) string) mon.Lab {
	cfg := lab.Config
	ml := mon.Lab{Stack: stack}
	if si := cfg.Monitoring.Prometheus.ScrapeInterval; si != "" {
		ml.ScrapeInterval, _ = time.ParseDuration(si) // validated
	}
	if slo := cfg.Monitoring.TTFTSLO; slo != "" {
		ml.SLO.TTFTP99, _ = time.ParseDuration(slo)
	}
	if gatewayAddr != "" {
		host := cfg.Gateway.Host
		if lab.Cluster != nil {
			host = lab.Cluster.Name // the gateway runs in the cluster
		}
		ml.Gateway = &mon.Target{Host: host, Address: gatewayAddr}
	}
	seen := map[string]bool{}
	for i, in := range lab.Instances {
		f := mon.Framework{Name: in.Instance.Name, Engine: in.Instance.Engine, Host: in.Host, Address: addr(i)}
		if in.Instance.Engine == engine.Sim {
			f.Flavour = in.Instance.Flavour
		}
		if spec := engine.MustSpec(in.Instance.API()); spec.HasMetrics() && spec.Auth.Protects(spec.MetricsPath) {
			f.CredentialsFile = keyFile(i)
		}
		ml.Frameworks = append(ml.Frameworks, f)
		if gatewayAddr != "" && !seen[in.PublicModel] {
			seen[in.PublicModel] = true
			ml.Models = append(ml.Models, in.PublicModel)
		}
	}
	return ml
}
