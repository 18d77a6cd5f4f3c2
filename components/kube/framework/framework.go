// Package framework is the Kubernetes Framework component: one inference
// engine (vLLM, SGLang, Ollama, llama.cpp or the servelab simulator) as a
// Deployment of Replicas pods and a Service named after the framework.
// The container is the Docker target's, built by the same spec
// (components/frameworkspec.BuildSpec): the same argv, environment and
// healthcheck command. That command is the pod's readiness probe, and its
// startup probe for as long as the Docker target waits (5 min + 45 s per
// GiB of demand), so `up` returns when every pod is ready; the spec's
// ready steps (Ollama: pull and load the model) then run as a Job against
// the Service. GPUs are requested as the cluster's GPU resource; the model
// cache is a retained claim; the Hugging Face token comes from a Secret.
//
// API keys, as on Docker (docs/security.md): an engine that checks one
// gets its own, generated with random.RandomPassword, in the Secret
// <name>-api-key, mounted as the file the Docker target uploads (same
// path, same content, mode 0400; 0440 group-owned by the pod's fsGroup
// for the non-root sim). Engines without keys (Ollama, the Ollama-flavour
// sim) accept traffic only from the stack's own pods (a NetworkPolicy):
// on Docker they are published on loopback only.
package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/kube"
	"github.com/servelab/servelab/internal/kubetypes"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Framework"

// ContainerName is the engine container's name in its pods.
const ContainerName = "engine"

// RunDir is where the Docker target uploads an engine's secret files (the
// Hugging Face token, the engine's key file): one projected volume of
// Secrets here.
const RunDir = "/run/servelab"

// ImagePullMargin is added to the startup window in `up`'s wait for the
// Deployment: the kubelet pulls the image (vLLM's is ~10 GB) before the
// startup probe's clock starts.
const ImagePullMargin = 15 * time.Minute

// FrameworkArgs declare one framework in a cluster. Instance is the
// planner's, with DevicesByScheduler set.
type FrameworkArgs struct {
	Cluster  *cluster.Cluster
	Instance frameworkspec.Instance
	// Image is the engine image (a sim's: the servelab image).
	Image string
	// Replicas of the Deployment (1 when zero).
	Replicas int
	// ServicePort is the Service's port (the engine's port when zero).
	ServicePort int
	// GPUs is the count of the cluster's GPU resource each pod requests.
	GPUs int
	// NodeSelector and Tolerations place the pods.
	NodeSelector map[string]string
	Tolerations  []kubetypes.Toleration
	// After are resources that must be ready before the Deployment is
	// created: the planner's start order on a shared (time-sliced) GPU.
	After []pulumi.Resource
	// ReplaceWith are the Deployments of the engines started before this
	// one (Framework.Deployments of each): when one of them is replaced,
	// this Deployment is replaced too, so that the start order holds for
	// every creation, not only the first. (A rollout of one of them, an
	// update of its pod template, is not a replacement: docs/kubernetes.md.)
	ReplaceWith []pulumi.Resource
}

// Framework is a deployed engine.
type Framework struct {
	pulumi.ResourceState

	Engine engine.Kind
	API    engine.Kind
	// Name is the framework's name: its Deployment and Service.
	Name string
	// Port is the Service's port; ContainerPort the engine's.
	Port          int
	ContainerPort int
	// UpstreamModel is the model name the engine serves.
	UpstreamModel string
	// Image is the engine image; Spec the container it runs as (the
	// Docker target's argv, environment, checks).
	Image string
	Spec  frameworkspec.Spec
	// HasAPIKey reports whether the engine checks an API key: APIKey,
	// also under KeySecretKey in the Secret KeySecret().
	HasAPIKey bool
	// APIKey is the engine's own API key (a secret); the zero
	// StringOutput when HasAPIKey is false.
	APIKey pulumi.StringOutput

	instance frameworkspec.Instance
	key      *random.RandomPassword

	// InternalURL is its URL inside the namespace (the Service's name);
	// ServiceURL the cluster-wide one.
	InternalURL     pulumi.StringOutput
	ServiceURL      pulumi.StringOutput
	ServedModelName pulumi.StringOutput
	MetricsPath     pulumi.StringOutput
	EngineKind      pulumi.StringOutput

	waits []pulumi.Resource
	// deployments are its Deployment and those it is replaced with.
	deployments []pulumi.Resource
}

// Deployments are the engine's Deployment and the Deployments it is
// replaced with (FrameworkArgs.ReplaceWith): an engine started after this
// one is replaced with all of them.
func (f *Framework) Deployments() []pulumi.Resource { return f.deployments }

// Waits are the resources that finish when the engine is ready: the
// Deployment (every pod ready), its Service and, for Ollama, the model
// pull. Depend on them, not on the component.
func (f *Framework) Waits() []pulumi.Resource { return f.waits }

// Keys of the engine's key Secret: KeySecretKey holds the key alone (for
// the gateway, Prometheus, the bench), KeySecretFile the engine's own key
// file as the Docker target uploads it.
const (
	KeySecretKey  = "key"
	KeySecretFile = "engine"
)

// KeySecret is the name of the Secret holding framework name's API key.
func KeySecret(name string) string { return name + "-api-key" }

// KeyPassword is the resource that generates the engine's key (nil when
// HasAPIKey is false): whatever reads the key file only at start is
// replaced with it (pulumi.ReplaceWith).
func (f *Framework) KeyPassword() pulumi.Resource {
	if f.key == nil {
		return nil
	}
	return f.key
}

// InternalBaseURL is the engine's URL inside the namespace.
func (f *Framework) InternalBaseURL() string {
	return "http://" + f.Name + ":" + strconv.Itoa(f.Port)
}

// NewFramework creates the model-cache claim, the Deployment, the Service
// and, for Ollama, the Job that pulls the model into the running server.
func NewFramework(ctx *pulumi.Context, name string, args *FrameworkArgs, opts ...pulumi.ResourceOption) (*Framework, error) {
	a, spec, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	in, c := a.Instance, a.Cluster
	f := &Framework{
		Engine: in.Engine, API: in.API(), Name: in.Name, Port: a.ServicePort,
		ContainerPort: spec.Port, UpstreamModel: in.ServedModelName,
		Image: a.Image, Spec: spec, HasAPIKey: spec.APIKeyFile != "", instance: in,
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, f, opts...); err != nil {
		return nil, err
	}

	var keySecret pulumi.Resource
	if f.HasAPIKey {
		if keySecret, err = f.apiKey(ctx, c, name, spec); err != nil {
			return nil, err
		}
	}
	volumes, mounts, err := f.volumes(ctx, c, name, spec)
	if err != nil {
		return nil, err
	}
	readiness, err := kube.ExecCommand(spec.Health)
	if err != nil {
		return nil, fmt.Errorf("framework %s: %w", name, err)
	}
	container := &corev1.ContainerArgs{
		Name:            pulumi.String(ContainerName),
		Image:           pulumi.String(a.Image),
		ImagePullPolicy: pulumi.String("IfNotPresent"),
		Env:             env(spec),
		Ports: corev1.ContainerPortArray{corev1.ContainerPortArgs{
			Name: pulumi.String(kube.PortName), ContainerPort: pulumi.Int(spec.Port), Protocol: pulumi.String("TCP"),
		}},
		ReadinessProbe: kube.ReadinessProbe(readiness),
		StartupProbe:   kube.StartupProbe(readiness, spec.WaitTimeout),
		VolumeMounts:   mounts,
	}
	if len(spec.Command) > 0 {
		// Docker's command replaces the image's CMD and keeps its
		// ENTRYPOINT; so do a container's args.
		container.Args = pulumi.ToStringArray(spec.Command)
	}
	if a.GPUs > 0 {
		container.Resources = &corev1.ResourceRequirementsArgs{
			Limits: pulumi.StringMap{c.GPUResource: pulumi.String(strconv.Itoa(a.GPUs))},
		}
	}
	pod := &corev1.PodSpecArgs{
		Containers:         corev1.ContainerArray{container},
		Volumes:            volumes,
		NodeSelector:       stringMap(a.NodeSelector),
		Tolerations:        kube.Tolerations(a.Tolerations),
		EnableServiceLinks: pulumi.Bool(false), // a Service named vllm would set VLLM_PORT, which vLLM reads
		// Engines never talk to the Kubernetes API.
		AutomountServiceAccountToken: pulumi.Bool(false),
	}
	if nonRoot(in) {
		container.SecurityContext = kube.Restricted()
		// Secret files are group-owned by the fsGroup: the non-root
		// engine reads its key file, nobody else does.
		pod.SecurityContext = &corev1.PodSecurityContextArgs{FsGroup: pulumi.Int(kube.NonRootUID)}
	}
	if a.GPUs > 0 && c.RuntimeClassName != "" {
		pod.RuntimeClassName = pulumi.String(c.RuntimeClassName)
	}
	labels := map[string]string{kube.LabelFramework: in.Name, kube.LabelEngine: string(in.Engine)}
	wait := spec.WaitTimeout + ImagePullMargin
	dopts := append(c.Opts(f), pulumi.Timeouts(&pulumi.CustomTimeouts{Create: wait.String(), Update: wait.String()}))
	after, replaceWith := slices.Clone(a.After), slices.Clone(a.ReplaceWith)
	if keySecret != nil {
		after = append(after, keySecret)
		// The engine reads its key file at start: a new key (the password
		// replaced) starts it afresh, as on Docker.
		replaceWith = append(replaceWith, f.key)
	}
	if len(after) > 0 {
		dopts = append(dopts, pulumi.DependsOn(after))
	}
	if len(replaceWith) > 0 {
		dopts = append(dopts, pulumi.ReplaceWith(replaceWith))
	}
	deployment, err := appsv1.NewDeployment(ctx, name+"-deployment", &appsv1.DeploymentArgs{
		Metadata: c.Meta(in.Name, "engine", labels),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(a.Replicas),
			// One pod at a time on its GPUs and claim: a surge pod would
			// wait for GPUs the old one holds.
			Strategy: &appsv1.DeploymentStrategyArgs{Type: pulumi.String("Recreate")},
			Selector: &metav1.LabelSelectorArgs{MatchLabels: kube.Selector(in.Name)},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, in.Name, "engine", labels)},
				Spec:     pod,
			},
		},
	}, dopts...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: deployment: %w", name, err)
	}
	service, err := corev1.NewService(ctx, name+"-service", &corev1.ServiceArgs{
		Metadata: serviceMeta(c, in.Name, "engine", labels),
		Spec: &corev1.ServiceSpecArgs{
			Selector: kube.Selector(in.Name),
			Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
				Name: pulumi.String(kube.PortName), Port: pulumi.Int(a.ServicePort),
				TargetPort: pulumi.String(kube.PortName), Protocol: pulumi.String("TCP"),
			}},
		},
	}, c.Opts(f)...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: service: %w", name, err)
	}
	f.waits = []pulumi.Resource{deployment, service}
	f.deployments = append([]pulumi.Resource{deployment}, a.ReplaceWith...)
	if !f.HasAPIKey {
		if err := f.restrictIngress(ctx, c, name); err != nil {
			return nil, err
		}
	}

	if len(spec.ReadySteps) > 0 {
		job, err := f.ready(ctx, c, name, a)
		if err != nil {
			return nil, err
		}
		f.waits = append(f.waits, job)
	}

	api := engine.MustSpec(in.API())
	f.InternalURL = pulumi.String(f.InternalBaseURL()).ToStringOutput()
	f.ServiceURL = pulumi.Sprintf("http://%s.%s.svc:%d", in.Name, c.NamespaceName, a.ServicePort)
	f.ServedModelName = pulumi.String(in.ServedModelName).ToStringOutput()
	f.MetricsPath = pulumi.String(api.MetricsPath).ToStringOutput()
	f.EngineKind = pulumi.String(string(in.Engine)).ToStringOutput()
	outputs := pulumi.Map{
		"internalUrl":     f.InternalURL,
		"serviceUrl":      f.ServiceURL,
		"servedModelName": f.ServedModelName,
		"metricsPath":     f.MetricsPath,
		"engine":          f.EngineKind,
	}
	if f.HasAPIKey {
		outputs["apiKey"] = f.APIKey
	}
	if err := ctx.RegisterResourceOutputs(f, outputs); err != nil {
		return nil, err
	}
	return f, nil
}

// nonRoot reports whether the engine runs as kube.NonRootUID: the servelab
// image (sims) does; the engines' own images run as root.
func nonRoot(in frameworkspec.Instance) bool { return in.Engine == engine.Sim }

// apiKey generates the engine's key and its Secret (returned): the key
// alone, and the engine's key file as the Docker target uploads it.
func (f *Framework) apiKey(ctx *pulumi.Context, c *cluster.Cluster, name string, spec frameworkspec.Spec) (pulumi.Resource, error) {
	key, err := framework.NewAPIKey(ctx, name, f)
	if err != nil {
		return nil, fmt.Errorf("framework %s: api key: %w", name, err)
	}
	f.key = key
	f.APIKey = pulumi.ToSecret(key.Result).(pulumi.StringOutput)
	format := spec.APIKeyFormat
	secret, err := corev1.NewSecret(ctx, name+"-api-key-secret", &corev1.SecretArgs{
		Metadata: c.Meta(KeySecret(f.Name), "engine", map[string]string{kube.LabelFramework: f.Name}),
		Type:     pulumi.String("Opaque"),
		StringData: pulumi.StringMap{
			KeySecretKey:  f.APIKey,
			KeySecretFile: f.APIKey.ApplyT(func(k string) string { return frameworkspec.KeyFileContent(format, k) }).(pulumi.StringOutput),
		},
	}, c.Opts(f)...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: api key secret: %w", name, err)
	}
	return secret, nil
}

// restrictIngress lets only the stack's own pods in the namespace (the
// gateway, the benchmark) reach an engine that takes no key; on Docker
// such an engine is published on 127.0.0.1 only. It needs a network
// plugin that enforces NetworkPolicies (docs/kubernetes.md).
func (f *Framework) restrictIngress(ctx *pulumi.Context, c *cluster.Cluster, name string) error {
	_, err := networkingv1.NewNetworkPolicy(ctx, name+"-ingress", &networkingv1.NetworkPolicyArgs{
		Metadata: c.Meta(f.Name+"-ingress", "engine", map[string]string{kube.LabelFramework: f.Name}),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: kube.Selector(f.Name)},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
				From: networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
					PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{kube.LabelStack: pulumi.String(c.Stack)}},
				}},
			}},
		},
	}, c.Opts(f)...)
	if err != nil {
		return fmt.Errorf("framework %s: network policy: %w", name, err)
	}
	return nil
}

// volumes are the pod's volumes and the engine's mounts: the model cache
// (the shared Hugging Face claim, or a claim of the framework's own), the
// HF token file, and memory-backed /dev/shm where Docker shares the host's
// IPC namespace (PyTorch's shared memory).
func (f *Framework) volumes(ctx *pulumi.Context, c *cluster.Cluster, name string, spec frameworkspec.Spec) (corev1.VolumeArray, corev1.VolumeMountArray, error) {
	var vols corev1.VolumeArray
	var mounts corev1.VolumeMountArray
	for _, v := range spec.Volumes {
		var claim pulumi.StringInput
		if v.Shared && c.SharedHFCache != "" {
			claim = pulumi.String(c.SharedHFCache)
		} else {
			out, err := c.Claim(ctx, f, name+"-model-cache", f.Name+"-model-cache")
			if err != nil {
				return nil, nil, fmt.Errorf("framework %s: %w", name, err)
			}
			claim = out
		}
		vols = append(vols, corev1.VolumeArgs{
			Name:                  pulumi.String("model-cache"),
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSourceArgs{ClaimName: claim},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("model-cache"), MountPath: pulumi.String(v.Path)})
	}
	if run := runFiles(spec, f.Name, nonRoot(f.instance)); run != nil {
		vols = append(vols, corev1.VolumeArgs{Name: pulumi.String("run"), Projected: run})
		mounts = append(mounts, corev1.VolumeMountArgs{
			Name: pulumi.String("run"), MountPath: pulumi.String(RunDir), ReadOnly: pulumi.Bool(true),
		})
	}
	if spec.IPCHost {
		vols = append(vols, corev1.VolumeArgs{
			Name:     pulumi.String("shm"),
			EmptyDir: &corev1.EmptyDirVolumeSourceArgs{Medium: pulumi.String("Memory")},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{Name: pulumi.String("shm"), MountPath: pulumi.String("/dev/shm")})
	}
	return vols, mounts, nil
}

// runFiles are the engine's secret files under framework.RunDir, where
// the Docker target uploads them: the Hugging Face token and the engine's
// key file, both 0400 (0440 with the non-root engine's fsGroup); nil when
// it has neither.
func runFiles(spec frameworkspec.Spec, name string, nonRoot bool) *corev1.ProjectedVolumeSourceArgs {
	mode := 0o400
	if nonRoot {
		mode = 0o440
	}
	sources := corev1.VolumeProjectionArray{}
	if spec.UploadHFToken {
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name: pulumi.String(cluster.HFTokenSecret),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{
				Key: pulumi.String(cluster.HFTokenKey), Path: pulumi.String(path.Base(frameworkspec.HFTokenPath)),
			}},
		}})
	}
	if spec.APIKeyFile != "" {
		sources = append(sources, corev1.VolumeProjectionArgs{Secret: &corev1.SecretProjectionArgs{
			Name: pulumi.String(KeySecret(name)),
			Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{
				Key: pulumi.String(KeySecretFile), Path: pulumi.String(path.Base(spec.APIKeyFile)),
			}},
		}})
	}
	if len(sources) == 0 {
		return nil
	}
	return &corev1.ProjectedVolumeSourceArgs{DefaultMode: pulumi.Int(mode), Sources: sources}
}

// ready runs the spec's ready steps — what the Docker target runs with
// docker exec once the container is healthy (Ollama: pull the model, then
// load it) — in order, as the containers of a Job that reaches the engine
// through its Service. The Job is named by the steps and the engine's pod
// spec, so a new model or restarted pods (a changed spec) run it again.
func (f *Framework) ready(ctx *pulumi.Context, c *cluster.Cluster, name string, a FrameworkArgs) (*batchv1.Job, error) {
	spec := f.Spec
	digest, err := json.Marshal(struct {
		Steps    [][]string
		Image    string
		Command  []string
		Env      []string
		Replicas int
	}{spec.ReadySteps, a.Image, spec.Command, spec.Env, a.Replicas})
	if err != nil {
		return nil, fmt.Errorf("framework %s: ready: %w", name, err)
	}
	jobName := kube.HashName(f.Name+"-ready", digest)
	labels := map[string]string{kube.LabelFramework: f.Name}
	local := "http://127.0.0.1:" + strconv.Itoa(spec.Port)
	var steps corev1.ContainerArray
	for i, step := range spec.ReadySteps {
		argv := make([]string, len(step))
		for j, arg := range step {
			// The step ran inside the engine's container; the Job reaches
			// the engine at its Service.
			argv[j] = strings.Replace(arg, local, f.InternalBaseURL(), 1)
		}
		ct := corev1.ContainerArgs{
			Name:            pulumi.String(fmt.Sprintf("step-%d", i)),
			Image:           pulumi.String(a.Image),
			ImagePullPolicy: pulumi.String("IfNotPresent"),
			Command:         pulumi.ToStringArray(argv),
		}
		if f.Engine == engine.Ollama {
			// The ollama CLI is a client of the server at OLLAMA_HOST.
			ct.Env = corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("OLLAMA_HOST"), Value: pulumi.String(f.InternalBaseURL())}}
		}
		if nonRoot(a.Instance) {
			ct.SecurityContext = kube.Restricted()
		}
		steps = append(steps, ct)
	}
	// Init containers run one after another, each after the previous
	// succeeded; the last step is the Job's container.
	pod := &corev1.PodSpecArgs{
		RestartPolicy:                pulumi.String("Never"),
		EnableServiceLinks:           pulumi.Bool(false),
		AutomountServiceAccountToken: pulumi.Bool(false),
		Containers:                   corev1.ContainerArray{steps[len(steps)-1]},
	}
	if len(steps) > 1 {
		pod.InitContainers = steps[:len(steps)-1]
	}
	timeout := spec.ReadyTimeout
	wait := (timeout + ImagePullMargin).String()
	job, err := batchv1.NewJob(ctx, name+"-ready", &batchv1.JobArgs{
		Metadata: c.Meta(jobName, "engine-ready", labels),
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(2),
			ActiveDeadlineSeconds: pulumi.Int(int(timeout.Seconds())),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, jobName, "engine-ready", labels)},
				Spec:     pod,
			},
		},
	}, append(c.Opts(f), pulumi.DependsOn(f.waits), pulumi.DeleteBeforeReplace(true),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: wait, Update: wait}))...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: ready: %w", name, err)
	}
	return job, nil
}

// env is the engine's environment: the spec's plain variables, and the
// ones it wants filled with the Hugging Face token from its Secret.
func env(spec frameworkspec.Spec) corev1.EnvVarArray {
	out := corev1.EnvVarArray{}
	for _, kv := range spec.Env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(v)})
	}
	for _, k := range spec.SecretEnv {
		out = append(out, corev1.EnvVarArgs{
			Name: pulumi.String(k),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: pulumi.String(cluster.HFTokenSecret), Key: pulumi.String(cluster.HFTokenKey),
			}},
		})
	}
	return out
}

func serviceMeta(c *cluster.Cluster, name, role string, labels map[string]string) *metav1.ObjectMetaArgs {
	m := c.Meta(name, role, labels)
	m.Annotations = kube.SkipAwait
	return m
}

func stringMap(m map[string]string) pulumi.StringMap {
	if len(m) == 0 {
		return nil
	}
	out := pulumi.StringMap{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out[k] = pulumi.String(m[k])
	}
	return out
}

// serviceName is an RFC 1035 label: a Service's name starts with a letter.
var serviceName = regexp.MustCompile(`^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$`)

func validate(name string, args *FrameworkArgs) (FrameworkArgs, frameworkspec.Spec, error) {
	if args == nil {
		return FrameworkArgs{}, frameworkspec.Spec{}, fmt.Errorf("framework %s: args are required", name)
	}
	a := *args
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("framework: name is empty"))
	}
	if a.Cluster == nil {
		errs = append(errs, fmt.Errorf("framework %s: cluster is required", name))
	}
	if a.Image == "" {
		errs = append(errs, fmt.Errorf("framework %s: image is required", name))
	}
	a.Image = imageref.Qualify(a.Image)
	if a.Instance.Name == "" {
		a.Instance.Name = name
	}
	if !serviceName.MatchString(a.Instance.Name) {
		errs = append(errs, fmt.Errorf("framework %s: %q must be a DNS label starting with a letter (it names a Service)", name, a.Instance.Name))
	}
	if a.Replicas == 0 {
		a.Replicas = 1
	}
	if a.Replicas < 1 {
		errs = append(errs, fmt.Errorf("framework %s: replicas %d must be at least 1", name, a.Replicas))
	}
	if a.GPUs < 0 {
		errs = append(errs, fmt.Errorf("framework %s: GPUs %d must not be negative", name, a.GPUs))
	}
	if !a.Instance.DevicesByScheduler && len(a.Instance.Devices) > 0 {
		errs = append(errs, fmt.Errorf("framework %s: in a cluster the device plugin assigns GPUs (set DevicesByScheduler)", name))
	}
	if a.GPUs > 0 && len(a.Instance.Devices) != a.GPUs {
		errs = append(errs, fmt.Errorf("framework %s: %d GPUs requested but tensor parallelism over %d", name, a.GPUs, len(a.Instance.Devices)))
	}
	if a.Cluster != nil {
		a.Instance.HasHFToken = a.Cluster.HFToken
	}
	spec, err := frameworkspec.BuildSpec(a.Instance)
	if err != nil {
		errs = append(errs, fmt.Errorf("framework %s: %w", name, err))
	}
	for _, p := range []string{spec.APIKeyFile, frameworkspec.HFTokenPath} {
		if p != "" && path.Dir(p) != RunDir {
			errs = append(errs, fmt.Errorf("framework %s: secret file %s is not in %s, where its volume is mounted", name, p, RunDir))
		}
	}
	if a.ServicePort == 0 {
		a.ServicePort = spec.Port
	}
	if a.ServicePort < 1 || a.ServicePort > 65535 {
		errs = append(errs, fmt.Errorf("framework %s: service port %d out of range 1-65535", name, a.ServicePort))
	}
	return a, spec, errors.Join(errs...)
}
