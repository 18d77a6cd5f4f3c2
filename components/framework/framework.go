// Package framework is the Framework component: one inference engine
// (vLLM, SGLang, Ollama, llama.cpp or the servelab simulator) serving one
// model in a container on a GpuHost. The engine kind selects the spec
// (frameworkspec.BuildSpec): argv, environment, volumes, healthcheck and
// how long to wait.
// `up` returns only when the engine is ready: a readiness command
// (gpuhost.AwaitReady) waits for the container's healthcheck, which uses a
// binary present in the image, and fails at the first crash with the
// container's logs; an Ollama model is pulled and loaded into the running
// server before the framework counts as ready. Engines that take an API key
// (vLLM, SGLang, llama.cpp, and sims of them) get one of their own,
// generated with random.RandomPassword and delivered as a 0400 file; the
// others (Ollama) are published on 127.0.0.1 only.
package framework

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/imageref"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:framework:Framework"

// FrameworkArgs declare one engine instance. The Instance shapes the
// graph and the argv and is plain data; values produced by other resources
// or secret are inputs.
type FrameworkArgs struct {
	Host     *gpuhost.GpuHost
	Instance frameworkspec.Instance
	// Image is the engine image reference, pinned by tag or digest.
	Image pulumi.StringInput
	// ImageIsLocal: Image was built on the host (the servelab image for a
	// sim); it is used as is, not pulled.
	ImageIsLocal bool
	// PublishedPort is the host port the engine is published on.
	PublishedPort int
	// HFToken is the Hugging Face token (a secret), or nil.
	HFToken pulumi.StringInput
	// After are resources to wait for before the container is created:
	// the planner's start order on shared GPUs (engines that size their
	// memory from what is free when they start).
	After []pulumi.Resource
	// ReplaceWith are the containers of the engines started before this
	// one (Framework.Containers of each): when one of them is replaced,
	// this container is replaced too, so that the start order holds for
	// every creation, not only the first.
	ReplaceWith []pulumi.Resource
}

// Framework is a running engine instance.
type Framework struct {
	pulumi.ResourceState

	// Engine is the engine kind; API is the engine whose API it speaks
	// (the flavour of a sim).
	Engine engine.Kind
	API    engine.Kind
	// Name is the instance name and its alias on the lab network.
	Name string
	// Host is the host it runs on.
	Host *gpuhost.GpuHost
	// Port is the engine's port inside the container.
	Port int
	// PublishedPort is its port on the host.
	PublishedPort int
	// UpstreamModel is the model name the engine itself serves (an Ollama
	// tag, or the served model name given to vLLM, SGLang, llama.cpp, sim).
	UpstreamModel string
	// Spec is the container the instance runs as (argv, non-secret env,
	// runtime): with ImageDigest, what decides its benchmark results.
	Spec frameworkspec.Spec
	// HasAPIKey reports whether the engine checks an API key (APIKey).
	HasAPIKey bool
	// LoopbackOnly: the engine takes no API key and is published on
	// 127.0.0.1 only; other hosts cannot reach it.
	LoopbackOnly bool

	// InternalURL is its URL on the host's lab network.
	InternalURL pulumi.StringOutput
	// PublishedURL is its URL through the host's published port.
	PublishedURL pulumi.StringOutput
	// ServedModelName is the model name clients send.
	ServedModelName pulumi.StringOutput
	// MetricsPath is the Prometheus path, "" for engines without metrics.
	MetricsPath pulumi.StringOutput
	// EngineKind is Engine as an output.
	EngineKind pulumi.StringOutput
	// ContainerName is the Docker container name.
	ContainerName pulumi.StringOutput
	// ImageDigest identifies the image the engine runs: the pulled
	// image's repo digest (repo@sha256:…), or the reference of an image
	// built on the host (a sim's servelab image).
	ImageDigest pulumi.StringOutput
	// Ready resolves once the engine serves its model: the container is
	// healthy and, for Ollama, the model is pulled and loaded.
	Ready pulumi.StringOutput
	// APIKey is the engine's own API key (a secret), sent as
	// "Authorization: Bearer KEY"; the zero StringOutput when HasAPIKey is
	// false (Ollama).
	APIKey pulumi.StringOutput

	waits []pulumi.Resource
	// containers are its container and those it is replaced with.
	containers []pulumi.Resource
}

// Containers are the engine's container and the containers it is
// replaced with (FrameworkArgs.ReplaceWith): an engine started after this
// one is replaced with all of them.
func (f *Framework) Containers() []pulumi.Resource { return f.containers }

// Waits are the resources that finish when the engine is ready (the
// readiness command that watched the container become healthy, and an
// Ollama model pull and load): depend on them to start after it. Depending
// on the component itself is not enough: it
// waits only for the children registered by then.
func (f *Framework) Waits() []pulumi.Resource { return f.waits }

// NewFramework creates the engine's image, volumes, container and, for
// Ollama, the model pull.
func NewFramework(ctx *pulumi.Context, name string, args *FrameworkArgs, opts ...pulumi.ResourceOption) (*Framework, error) {
	a, spec, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	in := a.Instance
	f := &Framework{
		Engine: in.Engine, API: in.API(), Name: in.Name, Host: a.Host,
		Port: spec.Port, PublishedPort: a.PublishedPort, UpstreamModel: in.ServedModelName, Spec: spec,
		HasAPIKey: spec.APIKeyFile != "", LoopbackOnly: spec.LoopbackOnly(),
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, f, opts...); err != nil {
		return nil, err
	}
	onHost := []pulumi.ResourceOption{pulumi.Parent(f), pulumi.Provider(a.Host.Provider)}

	image := a.Image.ToStringOutput()
	f.ImageDigest = image
	if !a.ImageIsLocal {
		remote, err := docker.NewRemoteImage(ctx, name+"-image", &docker.RemoteImageArgs{
			Name:        a.Image.ToStringOutput().ApplyT(imageref.Qualify).(pulumi.StringOutput),
			KeepLocally: pulumi.Bool(true),
		}, append(onHost, pulumi.DependsOn(a.Host.Waits()))...)
		if err != nil {
			return nil, fmt.Errorf("framework %s: image: %w", name, err)
		}
		image = remote.ImageId
		f.ImageDigest = remote.RepoDigest
	}

	labels := docker.ContainerLabelArray{}
	for _, kv := range [][2]string{
		{"servelab.stack", ctx.Stack()}, {"servelab.framework", in.Name},
		{"servelab.engine", string(in.Engine)}, {"servelab.model", in.ServedModelName},
	} {
		labels = append(labels, docker.ContainerLabelArgs{Label: pulumi.String(kv[0]), Value: pulumi.String(kv[1])})
	}

	volumes := docker.ContainerVolumeArray{}
	for _, v := range spec.Volumes {
		if v.Shared {
			mount, err := a.Host.ModelCacheMount(v.Path)
			if err != nil {
				return nil, fmt.Errorf("framework %s: %w", name, err)
			}
			volumes = append(volumes, mount)
			continue
		}
		vol, err := docker.NewVolume(ctx, name+"-models", &docker.VolumeArgs{
			Name: pulumi.String(a.Host.DockerName(in.Name + "-models")),
			Labels: docker.VolumeLabelArray{
				docker.VolumeLabelArgs{Label: pulumi.String("servelab.stack"), Value: pulumi.String(ctx.Stack())},
			},
		}, append(slices.Clone(onHost), pulumi.RetainOnDelete(true), pulumi.DependsOn(a.Host.Waits()))...)
		if err != nil {
			return nil, fmt.Errorf("framework %s: volume: %w", name, err)
		}
		volumes = append(volumes, docker.ContainerVolumeArgs{VolumeName: vol.Name, ContainerPath: pulumi.String(v.Path)})
	}

	env := pulumi.StringArray{}
	for _, e := range spec.Env {
		env = append(env, pulumi.String(e))
	}
	uploads := docker.ContainerUploadArray{}
	if a.HFToken != nil {
		token := pulumi.ToSecret(a.HFToken).(pulumi.StringOutput)
		if spec.UploadHFToken {
			uploads = append(uploads, docker.ContainerUploadArgs{
				File:        pulumi.String(frameworkspec.HFTokenPath),
				Content:     token,
				Permissions: pulumi.String("0400"),
			})
		}
		for _, k := range spec.SecretEnv {
			env = append(env, pulumi.Sprintf("%s=%s", k, token))
		}
	}
	if f.HasAPIKey {
		key, err := NewAPIKey(ctx, name, f)
		if err != nil {
			return nil, fmt.Errorf("framework %s: api key: %w", name, err)
		}
		f.APIKey = pulumi.ToSecret(key.Result).(pulumi.StringOutput)
		format := spec.APIKeyFormat
		uploads = append(uploads, docker.ContainerUploadArgs{
			File:        pulumi.String(spec.APIKeyFile),
			Content:     f.APIKey.ApplyT(func(k string) string { return frameworkspec.KeyFileContent(format, k) }).(pulumi.StringOutput),
			Permissions: pulumi.String("0400"),
		})
	}
	bind := a.Host.BindAddress()
	if f.LoopbackOnly {
		bind = "127.0.0.1"
	}

	containerName := a.Host.DockerName(in.Name)
	cargs := &docker.ContainerArgs{
		Name:    pulumi.String(containerName),
		Image:   image,
		Envs:    env,
		Restart: pulumi.String("unless-stopped"),
		Labels:  labels,
		Volumes: volumes,
		Ports: docker.ContainerPortArray{docker.ContainerPortArgs{
			Internal: pulumi.Int(spec.Port),
			External: pulumi.Int(a.PublishedPort),
			Ip:       pulumi.String(bind),
		}},
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name:    a.Host.NetworkName,
			Aliases: pulumi.ToStringArray([]string{in.Name}),
		}},
		Healthcheck: a.Host.Healthcheck(gpuhost.Healthcheck{
			Test:     spec.Health,
			Interval: 10 * time.Second, Timeout: 25 * time.Second, Retries: 3,
			StartPeriod: spec.WaitTimeout, StartInterval: 2 * time.Second,
		}),
		LogOpts: pulumi.StringMap{"max-size": pulumi.String("50m"), "max-file": pulumi.String("3")},
	}
	if len(spec.Command) > 0 {
		cargs.Command = pulumi.ToStringArray(spec.Command)
	}
	if spec.IPCHost {
		cargs.IpcMode = pulumi.String("host")
	}
	if spec.Runtime != "" {
		cargs.Runtime = pulumi.String(spec.Runtime)
	}
	if len(uploads) > 0 {
		cargs.Uploads = uploads
	}
	if a.Host.Probed {
		// Nothing lands on a host whose GPUs failed the probe: this label
		// exists only once the inventory check has passed, so a failed
		// check fails the container's inputs instead of creating it.
		checked := a.Host.Inventory.ApplyT(func(string) string { return "true" }).(pulumi.StringOutput)
		cargs.Labels = append(labels, docker.ContainerLabelArgs{Label: pulumi.String("servelab.host-checked"), Value: checked})
	}
	copts := append(slices.Clone(onHost), pulumi.IgnoreChanges(gpuhost.EngineFilledContainerFields()))
	if len(a.After) > 0 {
		copts = append(copts, pulumi.DependsOn(a.After))
	}
	if len(a.ReplaceWith) > 0 {
		copts = append(copts, pulumi.ReplaceWith(a.ReplaceWith))
	}
	container, err := docker.NewContainer(ctx, name+"-container", cargs, copts...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: container: %w", name, err)
	}
	f.containers = append([]pulumi.Resource{container}, a.ReplaceWith...)
	ready, err := a.Host.AwaitReady(ctx, name+"-ready", gpuhost.ReadyArgs{
		Container: container, ContainerName: containerName, Timeout: spec.WaitTimeout,
	}, pulumi.Parent(f))
	if err != nil {
		return nil, fmt.Errorf("framework %s: %w", name, err)
	}

	f.Ready = pulumi.All(container.ID(), ready.Stdout).ApplyT(func(v []any) string { return string(v[0].(pulumi.ID)) }).(pulumi.StringOutput)
	f.waits = []pulumi.Resource{ready.Resource}
	if len(spec.ReadySteps) > 0 {
		// The steps need the server up: they run after the container is
		// healthy, inside it (Ollama: pull, check, load the model).
		pipeline := make([][]string, len(spec.ReadySteps))
		for i, step := range spec.ReadySteps {
			pipeline[i] = append([]string{"docker", "exec", containerName}, step...)
		}
		pull, err := a.Host.Run(ctx, name+"-pull", gpuhost.RunArgs{
			Pipeline:      pipeline,
			Triggers:      []string{in.Model},
			TriggerInputs: []pulumi.Input{container.ID()},
			Quiet:         true,
		}, pulumi.Parent(f), pulumi.DependsOn([]pulumi.Resource{ready.Resource}),
			pulumi.Timeouts(&pulumi.CustomTimeouts{Create: spec.ReadyTimeout.String(), Update: spec.ReadyTimeout.String()}))
		if err != nil {
			return nil, fmt.Errorf("framework %s: ready steps: %w", name, err)
		}
		f.Ready = pulumi.All(container.ID(), pull.Stdout).ApplyT(func(v []any) string { return string(v[0].(pulumi.ID)) }).(pulumi.StringOutput)
		f.waits = append(f.waits, pull.Resource)
	}

	api := engine.MustSpec(in.API())
	f.InternalURL = pulumi.String(f.InternalBaseURL()).ToStringOutput()
	f.PublishedURL = pulumi.String(a.Host.PublishedURL(a.PublishedPort)).ToStringOutput()
	f.ServedModelName = pulumi.String(in.ServedModelName).ToStringOutput()
	f.MetricsPath = pulumi.String(api.MetricsPath).ToStringOutput()
	f.EngineKind = pulumi.String(string(in.Engine)).ToStringOutput()
	f.ContainerName = container.Name

	outputs := pulumi.Map{
		"internalUrl":     f.InternalURL,
		"publishedUrl":    f.PublishedURL,
		"servedModelName": f.ServedModelName,
		"metricsPath":     f.MetricsPath,
		"engine":          f.EngineKind,
		"containerName":   f.ContainerName,
		"ready":           f.Ready,
	}
	if f.HasAPIKey {
		outputs["apiKey"] = f.APIKey
	}
	if err := ctx.RegisterResourceOutputs(f, outputs); err != nil {
		return nil, err
	}
	return f, nil
}

// InternalBaseURL is the engine's URL on its host's lab network.
func (f *Framework) InternalBaseURL() string {
	return "http://" + f.Name + ":" + strconv.Itoa(f.Port)
}

func validate(name string, args *FrameworkArgs) (FrameworkArgs, frameworkspec.Spec, error) {
	if args == nil {
		return FrameworkArgs{}, frameworkspec.Spec{}, fmt.Errorf("framework %s: args are required", name)
	}
	a := *args
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("framework: name is empty"))
	}
	if a.Host == nil {
		errs = append(errs, fmt.Errorf("framework %s: host is required", name))
	}
	if a.Image == nil {
		errs = append(errs, fmt.Errorf("framework %s: image is required", name))
	}
	if a.PublishedPort < 1 || a.PublishedPort > 65535 {
		errs = append(errs, fmt.Errorf("framework %s: published port %d out of range 1-65535", name, a.PublishedPort))
	}
	if a.Instance.Name == "" {
		a.Instance.Name = name
	}
	a.Instance.HasHFToken = a.HFToken != nil
	if strings.ContainsAny(a.Instance.Name, " /:") {
		errs = append(errs, fmt.Errorf("framework %s: instance name %q must be a DNS label", name, a.Instance.Name))
	}
	spec, err := frameworkspec.BuildSpec(a.Instance)
	if err != nil {
		errs = append(errs, fmt.Errorf("framework %s: %w", name, err))
	}
	return a, spec, errors.Join(errs...)
}

// NewAPIKey generates the API key of the component name, <name>-api-key
// (48 letters and digits; its result is a secret), as a child of parent:
// each engine's own key and the gateway's, on both targets.
func NewAPIKey(ctx *pulumi.Context, name string, parent pulumi.Resource) (*random.RandomPassword, error) {
	return random.NewRandomPassword(ctx, name+"-api-key", &random.RandomPasswordArgs{
		Length:  pulumi.Int(48),
		Special: pulumi.Bool(false),
	}, pulumi.Parent(parent))
}
