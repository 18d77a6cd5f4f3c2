package programs

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gateway"
	"github.com/servelab/servelab/components/servelabimage"
	"github.com/servelab/servelab/programs/stackconfig"
)

// deployServing adds what serves and watches the frameworks: the gateway,
// monitoring and the benchmark, each its own component. Their outputs are
// added to out.
func (d *deployment) deployServing(out pulumi.Map) error {
	if d.lab.Config.GatewayEnabled() {
		if err := d.deployGateway(out); err != nil {
			return err
		}
	}
	if d.lab.Config.MonitoringEnabled() {
		if err := d.deployMonitoring(out); err != nil {
			return err
		}
	}
	return d.deployBenchmark(out)
}

// servelabImage returns the servelab image on a host, built once per host.
func (d *deployment) servelabImage(host string) (pulumi.StringInput, error) {
	if img, ok := d.images[host]; ok {
		return img, nil
	}
	h, ok := d.hosts[host]
	if !ok {
		return nil, fmt.Errorf("no host %q", host)
	}
	img, err := servelabimage.NewServelabImage(d.ctx, host+"-servelab-image", &servelabimage.ImageArgs{
		Host: h, Context: d.opts.SourceDir, Tag: d.opts.ImageTag,
	})
	if err != nil {
		return nil, err
	}
	d.images[host] = img.Ref
	return img.Ref, nil
}

func (d *deployment) deployGateway(out pulumi.Map) error {
	g := d.lab.Config.Gateway
	host := d.hosts[g.Host]
	img, err := d.servelabImage(g.Host)
	if err != nil {
		return err
	}
	var backends []gateway.Backend
	for i, f := range d.frameworks {
		in := d.lab.Instances[i]
		backends = append(backends, gateway.Backend{Framework: f, PublicModel: in.PublicModel, Weight: g.Weights[in.Framework.Name]})
	}
	gwy, err := gateway.NewGateway(d.ctx, "gateway", &gateway.GatewayArgs{
		Host: host, Image: img, Port: g.Port, BindAddress: g.BindAddress,
		Backends: backends, Settings: stackconfig.GatewaySettings(g),
	})
	if err != nil {
		return err
	}
	d.gateway = gwy
	models := pulumi.StringArray{}
	seen := map[string]bool{}
	for _, b := range backends {
		if !seen[b.PublicModel] {
			seen[b.PublicModel] = true
			models = append(models, pulumi.String(b.PublicModel))
		}
	}
	out["gateway"] = pulumi.Map{
		"url":    gwy.URL,
		"apiKey": gwy.APIKey,
		"models": models,
	}
	return nil
}
