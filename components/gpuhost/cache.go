package gpuhost

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// ModelCacheVolume is the Docker name of a host's model cache volume. It
// carries no stack name: every stack on the host shares it, so a model is
// downloaded once per host.
const ModelCacheVolume = "servelab-model-cache"

// ModelCacheArgs describe a host's model cache: model downloads (Hugging
// Face, llama.cpp) and compile caches (vLLM), shared by the stacks on the
// host and kept when a stack is destroyed.
type ModelCacheArgs struct {
	// Needed: an engine on the host uses the cache. Without one nothing is
	// created.
	Needed bool
	// HostPath, when set, is a directory on the host bind-mounted instead
	// of the shared volume.
	HostPath string
}

// modelCache is what containers mount.
type modelCache struct {
	needed   bool
	volume   pulumi.StringOutput
	hostPath string
}

// newModelCache creates the shared cache volume when the host needs one
// and has no directory for it. The volume is retained on destroy (and
// labelled without a stack, identically in every stack, so that each stack
// declares the same volume).
func newModelCache(ctx *pulumi.Context, host string, a ModelCacheArgs, opts []pulumi.ResourceOption) (modelCache, error) {
	c := modelCache{needed: a.Needed, hostPath: a.HostPath}
	if !a.Needed || a.HostPath != "" {
		return c, nil
	}
	v, err := docker.NewVolume(ctx, host+"-model-cache", &docker.VolumeArgs{
		Name: pulumi.String(ModelCacheVolume),
		Labels: docker.VolumeLabelArray{
			docker.VolumeLabelArgs{Label: pulumi.String("servelab.role"), Value: pulumi.String("model-cache")},
		},
	}, append(slices.Clone(opts), pulumi.RetainOnDelete(true))...)
	if err != nil {
		return c, fmt.Errorf("host %s: model cache volume: %w", host, err)
	}
	c.volume = v.Name
	return c, nil
}

// ModelCacheMount mounts the host's model cache at path in a container.
func (h *GpuHost) ModelCacheMount(path string) (docker.ContainerVolumeArgs, error) {
	c := h.modelCache
	switch {
	case !c.needed:
		return docker.ContainerVolumeArgs{}, fmt.Errorf("host %s: no model cache (GpuHostArgs.ModelCache.Needed is false)", h.Name)
	case c.hostPath != "":
		return docker.ContainerVolumeArgs{HostPath: pulumi.String(c.hostPath), ContainerPath: pulumi.String(path)}, nil
	default:
		return docker.ContainerVolumeArgs{VolumeName: c.volume, ContainerPath: pulumi.String(path)}, nil
	}
}
