package programs

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
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

// servelabImage returns the servelab image on a host (built once per host).
func (d *deployment) servelabImage(host string) (pulumi.StringInput, error) {
	return nil, fmt.Errorf("host %s: the servelab image is not built yet", host)
}

func (d *deployment) deployGateway(out pulumi.Map) error    { return nil }
func (d *deployment) deployMonitoring(out pulumi.Map) error { return nil }
func (d *deployment) deployBenchmark(out pulumi.Map) error  { return nil }
