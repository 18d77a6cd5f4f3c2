// Package framework is the Kubernetes Framework component: one inference
// engine (vLLM, SGLang, Ollama, llama.cpp or the servelab simulator) as a
// Deployment of Replicas pods and a Service named after the framework.
// The container is the Docker target's, built by the same spec
// (components/framework.BuildSpec): the same argv, environment and
// healthcheck command. That command is the pod's readiness probe, and its
// startup probe for as long as the Docker target waits (5 min + 45 s per
// GiB of demand), so `up` returns when every pod is ready. GPUs are
// requested as the cluster's GPU resource; the model cache is a retained
// claim; the Hugging Face token comes from a Secret.
package framework

import (
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
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Framework"

// ContainerName is the engine container's name in its pods.
const ContainerName = "engine"

// ImagePullMargin is added to the startup window in `up`'s wait for the
// Deployment: the kubelet pulls the image (vLLM's is ~10 GB) before the
// startup probe's clock starts.
const ImagePullMargin = 15 * time.Minute

// FrameworkArgs declare one framework in a cluster. Instance is the
// planner's, with DevicesByScheduler set.
type FrameworkArgs struct {
	Cluster  *cluster.Cluster
	Instance framework.Instance
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
	Tolerations  []kube.Toleration
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

	// InternalURL is its URL inside the namespace (the Service's name);
	// ServiceURL the cluster-wide one.
	InternalURL     pulumi.StringOutput
	ServiceURL      pulumi.StringOutput
	ServedModelName pulumi.StringOutput
	MetricsPath     pulumi.StringOutput
	EngineKind      pulumi.StringOutput

	waits []pulumi.Resource
}

// Waits are the resources that finish when the engine is ready: the
// Deployment (every pod ready), its Service and, for Ollama, the model
// pull. Depend on them, not on the component.
func (f *Framework) Waits() []pulumi.Resource { return f.waits }

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
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, f, opts...); err != nil {
		return nil, err
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
	if in.Engine == engine.Sim {
		container.SecurityContext = kube.Restricted()
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
	if a.GPUs > 0 && c.RuntimeClassName != "" {
		pod.RuntimeClassName = pulumi.String(c.RuntimeClassName)
	}
	labels := map[string]string{kube.LabelFramework: in.Name, kube.LabelEngine: string(in.Engine)}
	wait := spec.WaitTimeout + ImagePullMargin
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
	}, append(c.Opts(f), pulumi.Timeouts(&pulumi.CustomTimeouts{Create: wait.String(), Update: wait.String()}))...)
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

	if in.Engine == engine.Ollama {
		job, err := f.pull(ctx, c, name, a.Image, in.Model, spec.ReadyTimeout)
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
	if err := ctx.RegisterResourceOutputs(f, pulumi.Map{
		"internalUrl":     f.InternalURL,
		"serviceUrl":      f.ServiceURL,
		"servedModelName": f.ServedModelName,
		"metricsPath":     f.MetricsPath,
		"engine":          f.EngineKind,
	}); err != nil {
		return nil, err
	}
	return f, nil
}

// volumes are the pod's volumes and the engine's mounts: the model cache
// (the shared Hugging Face claim, or a claim of the framework's own), the
// HF token file, and memory-backed /dev/shm where Docker shares the host's
// IPC namespace (PyTorch's shared memory).
func (f *Framework) volumes(ctx *pulumi.Context, c *cluster.Cluster, name string, spec framework.Spec) (corev1.VolumeArray, corev1.VolumeMountArray, error) {
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
	if spec.UploadHFToken {
		vols = append(vols, corev1.VolumeArgs{
			Name: pulumi.String("hf-token"),
			Secret: &corev1.SecretVolumeSourceArgs{
				SecretName:  pulumi.String(cluster.HFTokenSecret),
				DefaultMode: pulumi.Int(0o400),
				Items: corev1.KeyToPathArray{corev1.KeyToPathArgs{
					Key: pulumi.String(cluster.HFTokenKey), Path: pulumi.String(path.Base(framework.HFTokenPath)),
				}},
			},
		})
		mounts = append(mounts, corev1.VolumeMountArgs{
			Name: pulumi.String("hf-token"), MountPath: pulumi.String(path.Dir(framework.HFTokenPath)), ReadOnly: pulumi.Bool(true),
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

// pull runs `ollama pull MODEL` against the ready server through its
// Service — what the Docker target runs with docker exec — as a Job named
// by the model, so a new model is a new Job.
func (f *Framework) pull(ctx *pulumi.Context, c *cluster.Cluster, name, image, model string, timeout time.Duration) (*batchv1.Job, error) {
	jobName := kube.HashName(f.Name+"-pull", []byte(model))
	labels := map[string]string{kube.LabelFramework: f.Name}
	job, err := batchv1.NewJob(ctx, name+"-pull", &batchv1.JobArgs{
		Metadata: c.Meta(jobName, "model-pull", labels),
		Spec: &batchv1.JobSpecArgs{
			BackoffLimit:          pulumi.Int(2),
			ActiveDeadlineSeconds: pulumi.Int(int(timeout.Seconds())),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, jobName, "model-pull", labels)},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:                pulumi.String("Never"),
					EnableServiceLinks:           pulumi.Bool(false),
					AutomountServiceAccountToken: pulumi.Bool(false),
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("pull"),
						Image:           pulumi.String(image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						// The image's entrypoint is the ollama CLI; as a
						// client it reaches the server at OLLAMA_HOST.
						Args: pulumi.ToStringArray([]string{"pull", model}),
						Env: corev1.EnvVarArray{corev1.EnvVarArgs{
							Name: pulumi.String("OLLAMA_HOST"), Value: pulumi.String(f.InternalBaseURL()),
						}},
					}},
				},
			},
		},
	}, append(c.Opts(f), pulumi.DependsOn(f.waits), pulumi.DeleteBeforeReplace(true),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: (timeout + ImagePullMargin).String(), Update: (timeout + ImagePullMargin).String()}))...)
	if err != nil {
		return nil, fmt.Errorf("framework %s: pull: %w", name, err)
	}
	return job, nil
}

// env is the engine's environment: the spec's plain variables, and the
// ones it wants filled with the Hugging Face token from its Secret.
func env(spec framework.Spec) corev1.EnvVarArray {
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

func validate(name string, args *FrameworkArgs) (FrameworkArgs, framework.Spec, error) {
	if args == nil {
		return FrameworkArgs{}, framework.Spec{}, fmt.Errorf("framework %s: args are required", name)
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
	spec, err := framework.BuildSpec(a.Instance)
	if err != nil {
		errs = append(errs, fmt.Errorf("framework %s: %w", name, err))
	}
	if a.ServicePort == 0 {
		a.ServicePort = spec.Port
	}
	if a.ServicePort < 1 || a.ServicePort > 65535 {
		errs = append(errs, fmt.Errorf("framework %s: service port %d out of range 1-65535", name, a.ServicePort))
	}
	return a, spec, errors.Join(errs...)
}
