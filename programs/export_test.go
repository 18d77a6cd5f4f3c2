package programs

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/programs/stackconfig"
)

// DeployWithEngineKeys is Deploy with engine API keys given by keys, as
// contract C1's Framework.APIKey will give them.
func DeployWithEngineKeys(ctx *pulumi.Context, lab *stackconfig.Lab, secrets Secrets, opts Options,
	keys func(*framework.Framework) pulumi.StringInput,
) (pulumi.Map, error) {
	d := newDeployment(ctx, lab, secrets, opts)
	d.engineKey = keys
	return d.deploy()
}
