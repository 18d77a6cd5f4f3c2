// Command pulumi-resource-kubernetes is the pulumi-kubernetes provider
// plugin, built by scripts/kube-provider.sh from the provider's module: the
// same main as its cmd/pulumi-resource-kubernetes, whose embedded schema
// files are generated at release time and so are not in the module. The
// script copies the module's schema.json and terraform-mapping.json next to
// this file in a build copy; main stamps the schema with the version, as the
// provider's generate.go does.
package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"os"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var schemaJSON []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	schema, err := withVersion(schemaJSON, version.Version)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-kubernetes: %v\n", err)
		os.Exit(1)
	}
	provider.Serve("kubernetes", version.Version, schema, terraformMapping)
}

// withVersion sets the schema's top-level "version".
func withVersion(schema []byte, v string) ([]byte, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(schema, &spec); err != nil {
		return nil, fmt.Errorf("decode the embedded schema: %w", err)
	}
	ver, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	spec["version"] = ver
	return json.Marshal(spec)
}
