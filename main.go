// servelab declares a multi-model LLM serving lab as one Pulumi program.
// Everything happens in package programs; see README.md.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/programs"
)

func main() {
	pulumi.Run(programs.Run)
}
