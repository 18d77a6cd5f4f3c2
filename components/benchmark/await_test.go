package benchmark_test

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
)

func await(o pulumi.MapOutput) (map[string]any, error) {
	res, err := internals.UnsafeAwaitOutput(context.Background(), o)
	if err != nil {
		return nil, err
	}
	m, _ := res.Value.(map[string]any)
	return m, nil
}
