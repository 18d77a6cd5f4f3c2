package programs

import (
	"encoding/json"
	"maps"
	"os"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// EnvConfigKeys are the stack's config keys as the Pulumi language host
// hands them to pulumi.Run (the PULUMI_CONFIG environment variable), or
// nil when the program runs otherwise (an Automation API inline program,
// the mock engine), where the SDK keeps the keys to itself.
func EnvConfigKeys() []string {
	raw := os.Getenv(pulumi.EnvConfig)
	if raw == "" {
		return nil
	}
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(cfg))
}
