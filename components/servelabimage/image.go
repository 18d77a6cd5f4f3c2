// Package servelabimage is the ServelabImage component: the servelab binary
// (gateway, bench, sim, probe) built into an image on a host's Docker
// daemon from this repository's Dockerfile. The gateway, simulated engines
// and benchmarks that run on the host use it. Sources (source.go) decides
// what the build sees and what the tag hashes: only what goes into the
// binary.
package servelabimage

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/imageref"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:image:ServelabImage"

// ImageArgs say where and what to build.
type ImageArgs struct {
	Host *gpuhost.GpuHost
	// Context is the build context holding the Dockerfile: the directory
	// Source.WriteContext wrote.
	Context string
	// Tag is the image reference, fully qualified, e.g.
	// localhost/servelab:0.1.0-3f2a9c1d0e4b (Source.Tag). It changes
	// whenever the binary's sources do, so containers are replaced.
	Tag string
}

// ServelabImage is the built image.
type ServelabImage struct {
	pulumi.ResourceState

	// Ref is the image reference containers run.
	Ref pulumi.StringOutput
}

// NewServelabImage builds the servelab image on a host.
func NewServelabImage(ctx *pulumi.Context, name string, args *ImageArgs, opts ...pulumi.ResourceOption) (*ServelabImage, error) {
	if args == nil {
		return nil, fmt.Errorf("servelab image %s: args are required", name)
	}
	var errs []error
	if args.Host == nil {
		errs = append(errs, fmt.Errorf("servelab image %s: host is required", name))
	}
	if !strings.Contains(args.Tag, ":") || !imageref.Qualified(args.Tag) {
		errs = append(errs, fmt.Errorf("servelab image %s: tag %q must be a fully qualified name:tag (localhost/servelab:…)", name, args.Tag))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	buildCtx := args.Context
	if buildCtx == "" {
		buildCtx = "."
	}
	img := &ServelabImage{}
	if err := ctx.RegisterComponentResource(TypeToken, name, img, opts...); err != nil {
		return nil, err
	}
	built, err := docker.NewImage(ctx, name+"-build", &docker.ImageArgs{
		ImageName: pulumi.String(args.Tag),
		SkipPush:  pulumi.Bool(true),
		Build: docker.DockerBuildArgs{
			Context:    pulumi.String(buildCtx),
			Dockerfile: pulumi.String(buildCtx + "/Dockerfile"),
		},
	}, pulumi.Parent(img), pulumi.Provider(args.Host.Provider), pulumi.DependsOn(args.Host.Waits()))
	if err != nil {
		return nil, fmt.Errorf("servelab image %s: %w", name, err)
	}
	img.Ref = built.ImageName
	if err := ctx.RegisterResourceOutputs(img, pulumi.Map{"ref": img.Ref}); err != nil {
		return nil, err
	}
	return img, nil
}
