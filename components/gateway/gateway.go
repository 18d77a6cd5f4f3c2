// Package gateway is the Gateway component: the servelab gateway container
// on a host, in front of the frameworks it is given. It renders the
// gateway's config from those frameworks (URLs, engine kinds, model names),
// generates the API key with random.RandomPassword, delivers config and key
// as files (the key with mode 0400, never in argv or env), adds each
// backend's own engine key the same way (the gateway sends it upstream),
// publishes the port on the configured address and waits until the gateway
// reports every model ready.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/gpuhost"
	gw "github.com/servelab/servelab/internal/gateway"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:gateway:Gateway"

// ReadyTimeout bounds the wait for the gateway to report every model ready
// (its backends are ready before it starts).
const ReadyTimeout = 2 * time.Minute

// Backend is a framework instance behind the gateway.
type Backend struct {
	Framework *framework.Framework
	// PublicModel is the model name clients send for it.
	PublicModel string
	// Weight is its share under weighted routing (0 = 1).
	Weight int
}

// GatewayArgs configure the gateway. Everything but Image is known at
// preview: the rendered config shows up in `pulumi preview --diff`.
type GatewayArgs struct {
	Host *gpuhost.GpuHost
	// Image is the servelab image on Host.
	Image pulumi.StringInput
	// Port is the published port; BindAddress overrides the host's.
	Port        int
	BindAddress string
	Backends    []Backend
	// Settings carries routing, retries, timeouts and cache; the component
	// fills in listeners, auth and models. Zero value = gateway defaults.
	Settings *gw.Config
}

// Gateway is a running gateway.
type Gateway struct {
	pulumi.ResourceState

	// URL is the gateway's published URL.
	URL pulumi.StringOutput
	// InternalURL is its URL on the lab network.
	InternalURL pulumi.StringOutput
	// MetricsTarget is host:port of its /metrics on the lab network.
	MetricsTarget pulumi.StringOutput
	// APIKey is the generated bearer key (a secret).
	APIKey pulumi.StringOutput
	// Config is the rendered gateway config (JSON, no secrets).
	Config pulumi.StringOutput
	// Ready resolves when the gateway answers /readyz.
	Ready pulumi.StringOutput

	waits []pulumi.Resource
}

// Waits are the resources that finish when the gateway is ready.
func (g *Gateway) Waits() []pulumi.Resource { return g.waits }

// RenderConfig builds the gateway config for backends on a host and checks
// it with the gateway's own validation.
func RenderConfig(host *gpuhost.GpuHost, settings *gw.Config, backends []Backend) (gw.Config, error) {
	upstreams := make([]gatewayconfig.Upstream, len(backends))
	for i, b := range backends {
		f := b.Framework
		url := f.InternalBaseURL()
		if f.Host != host {
			url = f.Host.PublishedURL(f.PublishedPort)
		}
		u := gatewayconfig.Upstream{
			Name: f.Name, Engine: f.API, URL: url,
			PublicModel: b.PublicModel, UpstreamModel: f.UpstreamModel, Weight: b.Weight,
		}
		if f.HasAPIKey {
			u.APIKeyFile = gatewayconfig.BackendKeyFile(f.Name)
		}
		upstreams[i] = u
	}
	return gatewayconfig.Render(settings, gatewayconfig.ContainerListeners(), upstreams)
}

// NewGateway creates the API key, the config and the gateway container.
func NewGateway(ctx *pulumi.Context, name string, args *GatewayArgs, opts ...pulumi.ResourceOption) (*Gateway, error) {
	if args == nil {
		return nil, fmt.Errorf("gateway %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Host == nil {
		errs = append(errs, fmt.Errorf("gateway %s: host is required", name))
	}
	if a.Image == nil {
		errs = append(errs, fmt.Errorf("gateway %s: image is required", name))
	}
	if a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("gateway %s: port %d out of range 1-65535", name, a.Port))
	}
	if len(a.Backends) == 0 {
		errs = append(errs, fmt.Errorf("gateway %s: no backends", name))
	}
	if a.BindAddress != "" && net.ParseIP(a.BindAddress) == nil {
		errs = append(errs, fmt.Errorf("gateway %s: bind address %q is not an IP", name, a.BindAddress))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg, err := RenderConfig(a.Host, a.Settings, a.Backends)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}
	bind := a.BindAddress
	if bind == "" {
		bind = a.Host.BindAddress()
	}

	g := &Gateway{}
	if err := ctx.RegisterComponentResource(TypeToken, name, g, opts...); err != nil {
		return nil, err
	}
	key, err := framework.NewAPIKey(ctx, name, g)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: api key: %w", name, err)
	}

	var after []pulumi.Resource
	uploads := docker.ContainerUploadArray{
		docker.ContainerUploadArgs{File: pulumi.String(gatewayconfig.ConfigPath), Content: pulumi.String(string(cfgJSON) + "\n"), Permissions: pulumi.String("0444")},
		docker.ContainerUploadArgs{File: pulumi.String(gatewayconfig.KeysPath), Content: pulumi.Sprintf("%s\n", key.Result), Permissions: pulumi.String("0400")},
	}
	for _, b := range a.Backends {
		after = append(after, b.Framework.Waits()...)
		if f := b.Framework; f.HasAPIKey {
			uploads = append(uploads, docker.ContainerUploadArgs{
				File: pulumi.String(gatewayconfig.BackendKeyFile(f.Name)), Content: pulumi.Sprintf("%s\n", f.APIKey), Permissions: pulumi.String("0400"),
			})
		}
	}
	container, err := docker.NewContainer(ctx, name+"-container", &docker.ContainerArgs{
		Name:    pulumi.String(a.Host.DockerName(gatewayconfig.Alias)),
		Image:   a.Image,
		Command: pulumi.ToStringArray([]string{"gateway", "--config", gatewayconfig.ConfigPath}),
		Uploads: uploads,
		Ports: docker.ContainerPortArray{docker.ContainerPortArgs{
			Internal: pulumi.Int(gatewayconfig.APIPort), External: pulumi.Int(a.Port), Ip: pulumi.String(bind),
		}},
		NetworksAdvanced: docker.ContainerNetworksAdvancedArray{docker.ContainerNetworksAdvancedArgs{
			Name: a.Host.NetworkName, Aliases: pulumi.ToStringArray([]string{gatewayconfig.Alias}),
		}},
		Healthcheck: a.Host.Healthcheck(gpuhost.Healthcheck{
			Test:     []string{"CMD", frameworkspec.ServelabBinary, "probe", "http://127.0.0.1:" + strconv.Itoa(gatewayconfig.APIPort) + "/readyz"},
			Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 3,
			StartPeriod: time.Minute, StartInterval: time.Second,
		}),
		Restart: pulumi.String("unless-stopped"),
		// The keys file is root-owned (0400), so the process runs as root
		// inside the container, with every capability dropped.
		Capabilities: docker.ContainerCapabilitiesArgs{Drops: pulumi.ToStringArray([]string{"ALL"})},
		SecurityOpts: pulumi.ToStringArray([]string{"no-new-privileges:true"}),
		Labels: docker.ContainerLabelArray{
			docker.ContainerLabelArgs{Label: pulumi.String("servelab.stack"), Value: pulumi.String(ctx.Stack())},
			docker.ContainerLabelArgs{Label: pulumi.String("servelab.role"), Value: pulumi.String("gateway")},
		},
		LogOpts: pulumi.StringMap{"max-size": pulumi.String("50m"), "max-file": pulumi.String("3")},
	}, pulumi.Parent(g), pulumi.Provider(a.Host.Provider), pulumi.DependsOn(after),
		pulumi.IgnoreChanges(gpuhost.EngineFilledContainerFields()))
	if err != nil {
		return nil, fmt.Errorf("gateway %s: container: %w", name, err)
	}
	ready, err := a.Host.AwaitReady(ctx, name+"-ready", gpuhost.ReadyArgs{
		Container: container, ContainerName: a.Host.DockerName(gatewayconfig.Alias), Timeout: ReadyTimeout,
	}, pulumi.Parent(g))
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}

	g.URL = pulumi.String(a.Host.PublishedURL(a.Port)).ToStringOutput()
	g.InternalURL = pulumi.String(gatewayconfig.InternalBaseURL).ToStringOutput()
	g.MetricsTarget = pulumi.String(gatewayconfig.Alias + ":" + strconv.Itoa(gatewayconfig.MetricsPort)).ToStringOutput()
	g.APIKey = pulumi.ToSecret(key.Result).(pulumi.StringOutput)
	g.Config = pulumi.String(string(cfgJSON)).ToStringOutput()
	g.Ready = pulumi.All(container.ID(), ready.Stdout).ApplyT(func(v []any) string { return string(v[0].(pulumi.ID)) }).(pulumi.StringOutput)
	g.waits = []pulumi.Resource{ready.Resource}
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{
		"url":           g.URL,
		"internalUrl":   g.InternalURL,
		"metricsTarget": g.MetricsTarget,
		"apiKey":        g.APIKey,
		"config":        g.Config,
	}); err != nil {
		return nil, err
	}
	return g, nil
}
