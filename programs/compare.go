package programs

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/programs/stackconfig"
)

// compare runs several frameworks side by side: hosts, frameworks, then the
// gateway, monitoring and benchmark that compare them.
func (d *deployment) compare() (pulumi.Map, error) {
	if err := d.deployHosts(); err != nil {
		return nil, err
	}
	if err := d.deployFrameworks(); err != nil {
		return nil, err
	}
	out := pulumi.Map{
		"program":    pulumi.String(string(stackconfig.Compare)),
		"hosts":      d.hostOutputs(),
		"frameworks": d.frameworkOutputs(),
		"engineKeys": d.engineKeyOutputs(),
	}
	return out, d.deployServing(out)
}
