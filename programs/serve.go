package programs

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/programs/stackconfig"
)

// serve runs replicas of one model across hosts behind the gateway.
func (d *deployment) serve() (pulumi.Map, error) {
	if err := d.deployHosts(); err != nil {
		return nil, err
	}
	if err := d.deployFrameworks(); err != nil {
		return nil, err
	}
	replicas := pulumi.StringArray{}
	for _, in := range d.lab.Instances {
		replicas = append(replicas, pulumi.String(in.Instance.Name))
	}
	out := pulumi.Map{
		"program":    pulumi.String(string(stackconfig.Serve)),
		"model":      pulumi.String(d.lab.Instances[0].PublicModel),
		"replicas":   replicas,
		"hosts":      d.hostOutputs(),
		"frameworks": d.frameworkOutputs(),
		"engineKeys": d.engineKeyOutputs(),
	}
	return out, d.deployServing(out)
}
