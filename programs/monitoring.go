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
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/programs/stackconfig"
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
	out["monitoring"] = mo.Outputs(cfg.GrafanaEnabled())
	return nil
}

// monitoringLab describes the lab as Prometheus on host reaches it: by
// network alias on its own host, by published address elsewhere. It also
// returns the API keys Prometheus needs, by framework: those of the
// frameworks stackconfig.MonitoringLab gives a credentials file (engines
// that check their key on the metrics path: llama.cpp).
func (d *deployment) monitoringLab(host *gpuhost.GpuHost) (mon.Lab, map[string]pulumi.StringInput) {
	var gatewayAddr string
	if d.gateway != nil {
		gatewayAddr = gatewayconfig.Alias + ":" + strconv.Itoa(gatewayconfig.MetricsPort)
	}
	ml := stackconfig.MonitoringLab(d.ctx.Stack(), d.lab, gatewayAddr, func(i int) string {
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
