// Package gateway is the Kubernetes Gateway component: the servelab
// gateway as a Deployment and a Service named "gateway" in front of the
// cluster's frameworks. Its config is rendered by the Docker target's own
// code (components/gatewayconfig.Render) and mounted from a ConfigMap named by
// its content, so a config change rolls the pod; the API key is generated
// with random.RandomPassword and mounted from a Secret, never in argv,
// env, a ConfigMap or a plain output. Each backend's own engine key
// (components/kube/framework) is mounted from that engine's Secret where
// the config's apiKeyFile names it, as the Docker target uploads it; the
// gateway reads keys when it starts, so a new key (its own or a backend's)
// replaces the Deployment.
package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/kube/cluster"
	kframework "github.com/servelab/servelab/components/kube/framework"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Gateway"

// Object names in the namespace.
const (
	// Name is the gateway's Deployment and Service: engines' backends and
	// Prometheus reach it as http://gateway:<port>.
	Name = "gateway"
	// KeySecret holds the API key file under KeySecretKey.
	KeySecret    = "gateway-api-key"
	KeySecretKey = "gateway-keys"
	// MetricsPortName names the metrics port of the pod and the Service.
	MetricsPortName = "metrics"
	// StartupWindow bounds the gateway's start (Docker: 60 s start
	// period, 120 s wait).
	StartupWindow = 2 * time.Minute
)

// Backend is a framework behind the gateway.
type Backend struct {
	Framework   *kframework.Framework
	PublicModel string
	Weight      int
}

// GatewayArgs configure the gateway.
type GatewayArgs struct {
	Cluster *cluster.Cluster
	// Port is the Service's API port (the container listens on
	// components/gatewayconfig.APIPort).
	Port     int
	Backends []Backend
	// Settings carry routing, retries, timeouts and cache.
	Settings *gw.Config
}

// Gateway is a deployed gateway.
type Gateway struct {
	pulumi.ResourceState

	// URL is its URL inside the namespace; ServiceURL the cluster-wide one.
	URL        pulumi.StringOutput
	ServiceURL pulumi.StringOutput
	// APIKey is the generated bearer key (a secret).
	APIKey pulumi.StringOutput
	// Config is the rendered config (JSON, no secret).
	Config pulumi.StringOutput
	// Port is the Service's API port.
	Port int

	waits []pulumi.Resource
}

// Waits are the resources that finish when the gateway is ready.
func (g *Gateway) Waits() []pulumi.Resource { return g.waits }

// InternalBaseURL is the gateway's URL inside the namespace.
func (g *Gateway) InternalBaseURL() string { return "http://" + Name + ":" + strconv.Itoa(g.Port) }

// MetricsAddress is host:port of its /metrics inside the namespace.
func MetricsAddress() string { return Name + ":" + strconv.Itoa(gatewayconfig.MetricsPort) }

// Render is the gateway config for backends, by the Docker target's code:
// backends are reached by their Service names, and the pod holds its
// listeners and key files where the Docker target's container does.
func Render(settings *gw.Config, backends []Backend) (gw.Config, error) {
	ups := make([]gatewayconfig.Upstream, len(backends))
	for i, b := range backends {
		f := b.Framework
		ups[i] = gatewayconfig.Upstream{
			Name: f.Name, Engine: f.API, URL: f.InternalBaseURL(),
			PublicModel: b.PublicModel, UpstreamModel: f.UpstreamModel, Weight: b.Weight,
		}
		if f.HasAPIKey {
			ups[i].APIKeyFile = gatewayconfig.BackendKeyFile(f.Name)
		}
	}
	return gatewayconfig.Render(settings, gatewayconfig.ContainerListeners(), ups)
}

// NewGateway creates the key, its Secret, the config's ConfigMap, the
// Deployment and the Service.
func NewGateway(ctx *pulumi.Context, name string, args *GatewayArgs, opts ...pulumi.ResourceOption) (*Gateway, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	cfg, err := Render(a.Settings, a.Backends)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", name, err)
	}
	c := a.Cluster
	g := &Gateway{Port: a.Port}
	if err := ctx.RegisterComponentResource(TypeToken, name, g, opts...); err != nil {
		return nil, err
	}
	key, err := framework.NewAPIKey(ctx, name, g)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: api key: %w", name, err)
	}
	keySecret, err := corev1.NewSecret(ctx, name+"-api-key-secret", &corev1.SecretArgs{
		Metadata:   c.Meta(KeySecret, "gateway", nil),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{KeySecretKey: key.Result}, // no newline: the bench reads it as an env var too
	}, c.Opts(g)...)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: key secret: %w", name, err)
	}
	cfgFile := path.Base(gatewayconfig.ConfigPath)
	configMapName := kube.HashName(Name+"-config", cfgJSON)
	configMap, err := corev1.NewConfigMap(ctx, name+"-config", &corev1.ConfigMapArgs{
		Metadata:  c.Meta(configMapName, "gateway", nil),
		Immutable: pulumi.Bool(true),
		Data:      pulumi.StringMap{cfgFile: pulumi.String(string(cfgJSON) + "\n")},
	}, c.Opts(g)...)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: config: %w", name, err)
	}

	probe := []string{frameworkspec.ServelabBinary, "probe", "http://127.0.0.1:" + strconv.Itoa(gatewayconfig.APIPort) + "/readyz"}
	after := []pulumi.Resource{keySecret, configMap}
	replaceWith := []pulumi.Resource{key}
	// One projected volume at the keys' directory: the gateway's keys
	// file, and each keyed backend's engine key (its Secret's key alone)
	// as BackendKeyFile(backend), all 0440, group-owned by the fsGroup.
	keysDir := path.Dir(gatewayconfig.KeysPath)
	keys := corev1.VolumeProjectionArray{corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
		Name:  pulumi.String(KeySecret),
		Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(KeySecretKey), Path: pulumi.String(path.Base(gatewayconfig.KeysPath))}},
	}}}
	for _, b := range a.Backends {
		after = append(after, b.Framework.Waits()...)
		if f := b.Framework; f.HasAPIKey {
			replaceWith = append(replaceWith, f.KeyPassword())
			rel := strings.TrimPrefix(gatewayconfig.BackendKeyFile(f.Name), keysDir+"/")
			keys = append(keys, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
				Name:  pulumi.String(kframework.KeySecret(f.Name)),
				Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{Key: pulumi.String(kframework.KeySecretKey), Path: pulumi.String(rel)}},
			}})
		}
	}
	wait := (StartupWindow + kframework.ImagePullMargin).String()
	deployment, err := appsv1.NewDeployment(ctx, name+"-deployment", &appsv1.DeploymentArgs{
		Metadata: c.Meta(Name, "gateway", nil),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.Selector(Name)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, Name, "gateway", nil)},
				Spec: &corev1.PodSpecArgs{
					EnableServiceLinks:           pulumi.Bool(false),
					AutomountServiceAccountToken: pulumi.Bool(false),
					// The key file is 0440 and group-owned by fsGroup: the
					// non-root gateway reads it, nobody else.
					SecurityContext: &corev1.PodSecurityContextArgs{FsGroup: pulumi.Int(kube.NonRootUID)},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("gateway"),
						Image:           pulumi.String(c.Image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.ToStringArray([]string{"gateway", "--config", gatewayconfig.ConfigPath}),
						Ports: corev1.ContainerPortArray{
							corev1.ContainerPortArgs{Name: pulumi.String(kube.PortName), ContainerPort: pulumi.Int(gatewayconfig.APIPort), Protocol: pulumi.String("TCP")},
							corev1.ContainerPortArgs{Name: pulumi.String(MetricsPortName), ContainerPort: pulumi.Int(gatewayconfig.MetricsPort), Protocol: pulumi.String("TCP")},
						},
						ReadinessProbe:  kube.ReadinessProbe(probe),
						StartupProbe:    kube.StartupProbe(probe, StartupWindow),
						SecurityContext: kube.Restricted(),
						VolumeMounts: corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("config"), MountPath: pulumi.String(path.Dir(gatewayconfig.ConfigPath)), ReadOnly: pulumi.Bool(true)},
							corev1.VolumeMountArgs{Name: pulumi.String("keys"), MountPath: pulumi.String(keysDir), ReadOnly: pulumi.Bool(true)},
						},
					}},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("config"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{
							Name:        pulumi.String(configMapName),
							DefaultMode: pulumi.Int(0o444),
						}},
						corev1.VolumeArgs{Name: pulumi.String("keys"), Projected: &corev1.ProjectedVolumeSourceArgs{
							DefaultMode: pulumi.Int(0o440), Sources: keys,
						}},
					},
				},
			},
		},
	}, append(c.Opts(g), pulumi.DependsOn(after), pulumi.ReplaceWith(replaceWith),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: wait, Update: wait}))...)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: deployment: %w", name, err)
	}
	meta := c.Meta(Name, "gateway", nil)
	meta.Annotations = kube.SkipAwait
	service, err := corev1.NewService(ctx, name+"-service", &corev1.ServiceArgs{
		Metadata: meta,
		Spec: &corev1.ServiceSpecArgs{
			Selector: kube.Selector(Name),
			Ports: corev1.ServicePortArray{
				corev1.ServicePortArgs{Name: pulumi.String(kube.PortName), Port: pulumi.Int(a.Port), TargetPort: pulumi.String(kube.PortName), Protocol: pulumi.String("TCP")},
				corev1.ServicePortArgs{Name: pulumi.String(MetricsPortName), Port: pulumi.Int(gatewayconfig.MetricsPort), TargetPort: pulumi.String(MetricsPortName), Protocol: pulumi.String("TCP")},
			},
		},
	}, c.Opts(g)...)
	if err != nil {
		return nil, fmt.Errorf("gateway %s: service: %w", name, err)
	}

	g.URL = pulumi.String(g.InternalBaseURL()).ToStringOutput()
	g.ServiceURL = pulumi.Sprintf("http://%s.%s.svc:%d", Name, c.NamespaceName, a.Port)
	g.APIKey = pulumi.ToSecret(key.Result).(pulumi.StringOutput)
	g.Config = pulumi.String(string(cfgJSON)).ToStringOutput()
	g.waits = []pulumi.Resource{deployment, service}
	if err := ctx.RegisterResourceOutputs(g, pulumi.Map{
		"url":        g.URL,
		"serviceUrl": g.ServiceURL,
		"apiKey":     g.APIKey,
		"config":     g.Config,
	}); err != nil {
		return nil, err
	}
	return g, nil
}

func validate(name string, args *GatewayArgs) (GatewayArgs, error) {
	if args == nil {
		return GatewayArgs{}, fmt.Errorf("gateway %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Cluster == nil {
		errs = append(errs, fmt.Errorf("gateway %s: cluster is required", name))
	}
	if a.Port == 0 {
		a.Port = gatewayconfig.APIPort
	}
	if a.Port < 1 || a.Port > 65535 {
		errs = append(errs, fmt.Errorf("gateway %s: port %d out of range 1-65535", name, a.Port))
	}
	if a.Port == gatewayconfig.MetricsPort {
		errs = append(errs, fmt.Errorf("gateway %s: port %d is the metrics port", name, a.Port))
	}
	if len(a.Backends) == 0 {
		errs = append(errs, fmt.Errorf("gateway %s: no backends", name))
	}
	if d := path.Dir(gatewayconfig.KeysPath); !strings.HasPrefix(gatewayconfig.BackendKeysDir, d+"/") {
		errs = append(errs, fmt.Errorf("gateway %s: backend keys (%s) are not under %s, where the keys volume is mounted", name, gatewayconfig.BackendKeysDir, d))
	}
	for i, b := range a.Backends {
		if b.Framework == nil {
			errs = append(errs, fmt.Errorf("gateway %s: backends[%d]: framework is required", name, i))
		}
	}
	return a, errors.Join(errs...)
}
