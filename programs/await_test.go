package programs_test

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

// awaitMap resolves stack outputs to plain Go values.
func awaitMap(m pulumi.Map) (map[string]any, error) {
	res, err := internals.UnsafeAwaitOutput(context.Background(), m.ToMapOutput())
	if err != nil {
		return nil, err
	}
	out, _ := res.Value.(map[string]any)
	return out, nil
}
