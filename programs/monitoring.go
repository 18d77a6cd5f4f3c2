package programs

import (
	"net"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/components/monitoring"
	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
)

// deployMonitoring runs Prometheus and Grafana on the monitoring host,
// scraping the gateway and every framework that has metrics, and a DCGM
// exporter per GPU host when asked.
func (d *deployment) deployMonitoring(out pulumi.Map) error {
	cfg := d.lab.Config
	m := cfg.Monitoring
	host := d.hosts[m.Host]
	lab, keys := d.monitoringLab(host)

	args := &monitoring.MonitoringArgs{
		EngineKeys: keys,
		Host:       host, Lab: lab, BindAddress: m.BindAddress,
		PrometheusPort: m.Prometheus.Port, GrafanaPort: m.Grafana.Port, GrafanaEnabled: cfg.GrafanaEnabled(),
		PrometheusImage: m.Prometheus.Image, GrafanaImage: m.Grafana.Image, DCGMImage: m.DCGMImage,
	}
	if r, err := model.ParseDuration(m.Prometheus.Retention); err == nil {
		args.Retention = time.Duration(r)
	}
	if m.DCGM {
		for _, hp := range d.lab.Hosts {
			if len(hp.Declared) > 0 {
				args.DCGMHosts = append(args.DCGMHosts, d.hosts[hp.Host.Name])
			}
		}
	}
	for _, f := range d.frameworks {
		args.After = append(args.After, f.Waits()...)
	}
	if d.gateway != nil {
		args.After = append(args.After, d.gateway.Waits()...)
	}
	mo, err := monitoring.NewMonitoring(d.ctx, "monitoring", args)
	if err != nil {
		return err
	}
	monOut := pulumi.Map{
		"prometheusUrl":      mo.PrometheusURL,
		"prometheusUser":     mo.PrometheusUser,
		"prometheusPassword": mo.PrometheusPassword,
	}
	if cfg.GrafanaEnabled() {
		monOut["grafanaUrl"] = mo.GrafanaURL
		monOut["grafanaAdminPassword"] = mo.GrafanaAdminPassword
	}
	out["monitoring"] = monOut
	return nil
}

// monitoringLab describes the lab as Prometheus on host reaches it: by
// network alias on its own host, by published address elsewhere. It also
// returns the API keys Prometheus needs, by framework: those of the
// frameworks MonitoringLab gives a credentials file (engines that check
// their key on the metrics path: llama.cpp).
func (d *deployment) monitoringLab(host *gpuhost.GpuHost) (mon.Lab, map[string]pulumi.StringInput) {
	var gatewayAddr string
	if d.gateway != nil {
		gatewayAddr = gatewayconfig.Alias + ":" + strconv.Itoa(gatewayconfig.MetricsPort)
	}
	ml := MonitoringLab(d.ctx.Stack(), d.lab, gatewayAddr, func(i int) string {
		f := d.frameworks[i]
		if f.Host != host {
			return net.JoinHostPort(f.Host.Address(), strconv.Itoa(f.PublishedPort))
		}
		return f.Name + ":" + strconv.Itoa(f.Port)
	}, func(i int) string {
		if f := d.frameworks[i]; f.HasAPIKey {
			return mon.EngineKeyFile(f.Name)
		}
		return ""
	})
	keys := map[string]pulumi.StringInput{}
	for i, mf := range ml.Frameworks {
		if mf.CredentialsFile != "" {
			keys[mf.Name] = d.frameworks[i].APIKey
		}
	}
	return ml, keys
}

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
