package programs

import (
	"net"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gateway"
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
// returns the API keys Prometheus needs, by framework: those of engines
// that check their key on the metrics path (llama.cpp).
func (d *deployment) monitoringLab(host *gpuhost.GpuHost) (mon.Lab, map[string]pulumi.StringInput) {
	keys := map[string]pulumi.StringInput{}
	cfg := d.lab.Config
	lab := mon.Lab{Stack: d.ctx.Stack()}
	if si := cfg.Monitoring.Prometheus.ScrapeInterval; si != "" {
		lab.ScrapeInterval, _ = time.ParseDuration(si) // validated
	}
	if slo := cfg.Monitoring.TTFTSLO; slo != "" {
		lab.SLO.TTFTP99, _ = time.ParseDuration(slo)
	}
	if d.gateway != nil {
		lab.Gateway = &mon.Target{Host: cfg.Gateway.Host, Address: gateway.Alias + ":" + strconv.Itoa(gateway.MetricsPort)}
	}
	seen := map[string]bool{}
	for i, f := range d.frameworks {
		in := d.lab.Instances[i]
		addr := f.Name + ":" + strconv.Itoa(f.Port)
		if f.Host != host {
			addr = net.JoinHostPort(f.Host.Address(), strconv.Itoa(f.PublishedPort))
		}
		mf := mon.Framework{Name: f.Name, Engine: f.Engine, Flavour: f.API, Host: in.Host, Address: addr}
		if spec := engine.MustSpec(f.API); f.HasAPIKey && spec.HasMetrics() && spec.Auth.Protects(spec.MetricsPath) {
			mf.CredentialsFile = mon.EngineKeyFile(f.Name)
			keys[f.Name] = f.APIKey
		}
		lab.Frameworks = append(lab.Frameworks, mf)
		if f.Engine != "sim" {
			lab.Frameworks[len(lab.Frameworks)-1].Flavour = ""
		}
		if d.gateway != nil && !seen[in.PublicModel] {
			seen[in.PublicModel] = true
			lab.Models = append(lab.Models, in.PublicModel)
		}
	}
	return lab, keys
}
