package programs

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/programs/stackconfig"
)

// bench deploys nothing: it benchmarks the endpoints listed in targets.
func (d *deployment) bench() (pulumi.Map, error) {
	targets := pulumi.Map{}
	for _, t := range d.lab.Config.Targets {
		targets[t.Name] = pulumi.Map{
			"url":    pulumi.String(t.URL),
			"model":  pulumi.String(t.Model),
			"engine": pulumi.String(t.Engine),
		}
	}
	out := pulumi.Map{
		"program": pulumi.String(string(stackconfig.Bench)),
		"targets": targets,
	}
	return out, d.deployBenchmark(out)
}
