package benchmark

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// Target is one endpoint the benchmark measures and what else decides its
// results.
type Target struct {
	benchspec.Target
	// Spec is what else decides this target's results: the rendered spec
	// of the engine(s) behind it and, through the gateway, the gateway's
	// config and image. Its hash is one of the run's triggers. Nil for a
	// target whose label, URL and model say it all (program bench).
	Spec pulumi.StringInput
	// ImageDigest is the engine image's repo digest, recorded in the
	// outputs' provenance (nil = not known).
	ImageDigest pulumi.StringInput
}

// Plain are targets as the bench's targets file and its outputs name them.
func Plain(targets []Target) []benchspec.Target {
	out := make([]benchspec.Target, len(targets))
	for i, t := range targets {
		out[i] = t.Target
	}
	return out
}

// dockerArgv runs the bench in the servelab image on the lab network, so
// it reaches engines and the gateway by their network aliases. The keys
// pass by name (-e NAME): their values stay out of argv.
func dockerArgv(image, network string, keys int, bench []string) []string {
	argv := []string{"docker", "run", "--rm", "-i", "--network", network}
	for i := range keys {
		argv = append(argv, "-e", benchspec.KeyEnv(i))
	}
	argv = append(argv, image)
	return append(argv, bench...)
}
