// Package benchmark is the Kubernetes Benchmark component: one `servelab
// bench` run as a Job in the cluster, after the gateway and every
// framework are ready, whose results become the same stack output as the
// Docker target's (components/benchmark: same targets file, argv, parser
// and re-run rule).
//
// How the results come back: the Job's bench container writes them to a
// file, then its publish container (`servelab publish`) merge-patches
// them into the ConfigMap benchmark-results, which the program created
// empty; the Job's ServiceAccount may patch that one ConfigMap and do
// nothing else. The program reads the ConfigMap once the Job has
// completed and checks that the results are this run's. Pulumi waits for
// the Job, so a failed bench fails `up`.
//
// Re-runs: the Job is named by a digest of everything that decides the
// results (components/benchmark.Triggers, plus the servelab image), so it
// is replaced — re-run — exactly when one of them changes. API keys are
// read from Secrets at run time: rotating one does not re-run it.
package benchmark

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"time"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Benchmark"

// Object names and paths.
const (
	// Name prefixes the Job (Name-<digest>) and names its ServiceAccount.
	Name = "benchmark"
	// ResultsConfigMap receives the results; ResultsKey holds the bench's
	// JSON, RunKey the Job's name.
	ResultsConfigMap = "benchmark-results"
	ResultsKey       = "runs.json"
	RunKey           = "run"
	// TargetsDir holds the targets file; ResultsDir the bench's output,
	// shared by the pod's two containers.
	TargetsDir  = "/etc/servelab/bench"
	TargetsFile = "targets.json"
	ResultsDir  = "/results"
	// StartMargin is added to the timeout in `up`'s wait for the Job:
	// scheduling and image pull come before the bench's clock starts.
	StartMargin = 5 * time.Minute
)

// KeyRef is an API key in a Secret of the namespace.
type KeyRef struct {
	Secret string
	Key    string
}

// BenchmarkArgs configure a run.
type BenchmarkArgs struct {
	Cluster *cluster.Cluster
	// Targets are measured one after another; their URLs are in-cluster.
	Targets []benchmark.Target
	// Keys are indexed by Target.KeyIndex.
	Keys     []KeyRef
	Workload benchmark.Workload
	// Provenance lists what else decides the results (engine images,
	// models).
	Provenance []string
	// Timeout bounds the bench (30 min when zero): the Job's
	// activeDeadlineSeconds.
	Timeout time.Duration
	// After are the resources that must be ready first.
	After []pulumi.Resource
}

// Benchmark is a finished run.
type Benchmark struct {
	pulumi.ResourceState

	// JobName is the run's Job (benchmark-<digest>).
	JobName string
	// Results are the parsed outputs, as the Docker target's.
	Results pulumi.MapOutput
}

// NewBenchmark creates the results ConfigMap and the RBAC that lets the
// Job fill it, the targets ConfigMap, the Job, and reads the results once
// the Job has completed.
func NewBenchmark(ctx *pulumi.Context, name string, args *BenchmarkArgs, opts ...pulumi.ResourceOption) (*Benchmark, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	c := a.Cluster
	targetsJSON, err := benchmark.TargetsFile(a.Targets)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	triggers, err := benchmark.Triggers(a.Targets, a.Workload, a.Timeout, append(slices.Clone(a.Provenance), c.Image))
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	run := make([][]byte, len(triggers))
	for i, t := range triggers {
		run[i] = []byte(t)
	}
	jobName := kube.HashName(Name, run...)
	bench := Argv(a.Workload, a.Timeout)

	b := &Benchmark{JobName: jobName}
	if err := ctx.RegisterComponentResource(TypeToken, name, b, opts...); err != nil {
		return nil, err
	}
	copts := c.Opts(b)
	results, err := corev1.NewConfigMap(ctx, name+"-results", &corev1.ConfigMapArgs{
		Metadata: c.Meta(ResultsConfigMap, "benchmark", nil),
	}, copts...)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: results: %w", name, err)
	}
	rbac, err := writerRBAC(ctx, b, c, name)
	if err != nil {
		return nil, err
	}
	targetsMap := kube.HashName(Name+"-targets", targetsJSON)
	targets, err := corev1.NewConfigMap(ctx, name+"-targets", &corev1.ConfigMapArgs{
		Metadata:  c.Meta(targetsMap, "benchmark", nil),
		Immutable: pulumi.Bool(true),
		Data:      pulumi.StringMap{TargetsFile: pulumi.String(string(targetsJSON))},
	}, copts...)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: targets: %w", name, err)
	}

	env := corev1.EnvVarArray{}
	for i, k := range a.Keys {
		env = append(env, corev1.EnvVarArgs{
			Name: pulumi.String(benchmark.KeyEnv(i)),
			ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
				Name: pulumi.String(k.Secret), Key: pulumi.String(k.Key),
			}},
		})
	}
	resultsMount := corev1.VolumeMountArgs{Name: pulumi.String("results"), MountPath: pulumi.String(ResultsDir)}
	after := append(slices.Clone(a.After), results, targets)
	after = append(after, rbac...)
	wait := (a.Timeout + StartMargin).String()
	job, err := batchv1.NewJob(ctx, name+"-job", &batchv1.JobArgs{
		Metadata: c.Meta(jobName, "benchmark", nil),
		Spec: &batchv1.JobSpecArgs{
			// One attempt: a failed bench fails `up` with its Job.
			BackoffLimit:          pulumi.Int(0),
			ActiveDeadlineSeconds: pulumi.Int(int(a.Timeout.Seconds())),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, jobName, "benchmark", nil)},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:      pulumi.String("Never"),
					ServiceAccountName: pulumi.String(Name),
					EnableServiceLinks: pulumi.Bool(false),
					SecurityContext:    &corev1.PodSecurityContextArgs{FsGroup: pulumi.Int(kube.NonRootUID)},
					InitContainers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("bench"),
						Image:           pulumi.String(c.Image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.ToStringArray(bench),
						Env:             env,
						// The bench's closing summary on stderr becomes the
						// pod's termination message (kubectl describe).
						TerminationMessagePolicy: pulumi.String("FallbackToLogsOnError"),
						SecurityContext:          kube.Restricted(),
						VolumeMounts: corev1.VolumeMountArray{
							corev1.VolumeMountArgs{Name: pulumi.String("targets"), MountPath: pulumi.String(TargetsDir), ReadOnly: pulumi.Bool(true)},
							resultsMount,
						},
					}},
					Containers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("publish"),
						Image:           pulumi.String(c.Image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args: pulumi.ToStringArray([]string{"publish", "--configmap", ResultsConfigMap,
							"--from-file", ResultsKey + "=" + path.Join(ResultsDir, ResultsKey), "--literal", RunKey + "=" + jobName}),
						SecurityContext: kube.Restricted(),
						VolumeMounts:    corev1.VolumeMountArray{resultsMount},
					}},
					Volumes: corev1.VolumeArray{
						corev1.VolumeArgs{Name: pulumi.String("targets"), ConfigMap: &corev1.ConfigMapVolumeSourceArgs{Name: pulumi.String(targetsMap)}},
						corev1.VolumeArgs{Name: pulumi.String("results"), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}},
					},
				},
			},
		},
	}, append(slices.Clone(copts), pulumi.DependsOn(after), pulumi.DeleteBeforeReplace(true),
		pulumi.Timeouts(&pulumi.CustomTimeouts{Create: wait, Update: wait}))...)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: job: %w", name, err)
	}

	// Read after the Job: its ID waits for the Job's outputs, which exist
	// once the Job has completed (and are unknown in a preview that
	// replaces it, so the read is skipped there).
	id := pulumi.All(job.Metadata.Name().Elem(), c.NamespaceName).ApplyT(func(v []any) pulumi.ID {
		return pulumi.ID(v[1].(string) + "/" + ResultsConfigMap)
	}).(pulumi.IDOutput)
	read, err := corev1.GetConfigMap(ctx, name+"-results-read", id, nil, pulumi.Parent(b), pulumi.Provider(c.Provider), pulumi.DependsOn([]pulumi.Resource{job}))
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: read results: %w", name, err)
	}
	tgts := a.Targets
	b.Results = read.Data.ApplyT(func(data map[string]string) (map[string]any, error) {
		res, err := Results(data, jobName, tgts)
		if err != nil {
			return nil, fmt.Errorf("benchmark %s: %w", name, err)
		}
		return res, nil
	}).(pulumi.MapOutput)
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{"results": b.Results, "job": pulumi.String(jobName)}); err != nil {
		return nil, err
	}
	return b, nil
}

// ErrStale is returned when the results ConfigMap holds another run's
// results.
var ErrStale = errors.New("the results ConfigMap holds another run's results")

// Results turns the results ConfigMap's data into the stack output: the
// run must be job's, then the Docker target's parser decides.
func Results(data map[string]string, job string, targets []benchmark.Target) (map[string]any, error) {
	if got := data[RunKey]; got != job {
		return nil, fmt.Errorf("%w (run %q, want %q): did Job %s publish?", ErrStale, got, job, job)
	}
	res, err := benchmark.Parse(data[ResultsKey], targets)
	if err != nil {
		return nil, err
	}
	return benchmark.Output(res)
}

// Argv is the bench's argv in the Job: the Docker target's, reading the
// targets file from its ConfigMap and writing results to a file.
func Argv(w benchmark.Workload, timeout time.Duration) []string {
	argv := benchmark.Args(w, timeout)
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "--targets" {
			argv[i+1] = path.Join(TargetsDir, TargetsFile)
		}
	}
	return append(argv, "--output", path.Join(ResultsDir, ResultsKey))
}

// writerRBAC lets the Job's ServiceAccount patch the results ConfigMap,
// by name, and nothing else.
func writerRBAC(ctx *pulumi.Context, b *Benchmark, c *cluster.Cluster, name string) ([]pulumi.Resource, error) {
	opts := c.Opts(b)
	sa, err := corev1.NewServiceAccount(ctx, name+"-sa", &corev1.ServiceAccountArgs{
		Metadata: c.Meta(Name, "benchmark", nil),
	}, opts...)
	if err != nil {
		return nil, err
	}
	role, err := rbacv1.NewRole(ctx, name+"-role", &rbacv1.RoleArgs{
		Metadata: c.Meta(ResultsConfigMap+"-writer", "benchmark", nil),
		Rules: rbacv1.PolicyRuleArray{rbacv1.PolicyRuleArgs{
			ApiGroups:     pulumi.ToStringArray([]string{""}),
			Resources:     pulumi.ToStringArray([]string{"configmaps"}),
			ResourceNames: pulumi.ToStringArray([]string{ResultsConfigMap}),
			Verbs:         pulumi.ToStringArray([]string{"patch"}),
		}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	binding, err := rbacv1.NewRoleBinding(ctx, name+"-rolebinding", &rbacv1.RoleBindingArgs{
		Metadata: c.Meta(ResultsConfigMap+"-writer", "benchmark", nil),
		RoleRef: &rbacv1.RoleRefArgs{
			ApiGroup: pulumi.String("rbac.authorization.k8s.io"), Kind: pulumi.String("Role"), Name: pulumi.String(ResultsConfigMap + "-writer"),
		},
		Subjects: rbacv1.SubjectArray{rbacv1.SubjectArgs{
			Kind: pulumi.String("ServiceAccount"), Name: pulumi.String(Name), Namespace: c.NamespaceName,
		}},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{sa, role, binding}, nil
}

func validate(name string, args *BenchmarkArgs) (BenchmarkArgs, error) {
	if args == nil {
		return BenchmarkArgs{}, fmt.Errorf("benchmark %s: args are required", name)
	}
	a := *args
	var errs []error
	if a.Cluster == nil {
		errs = append(errs, fmt.Errorf("benchmark %s: cluster is required", name))
	}
	if len(a.Targets) == 0 {
		errs = append(errs, fmt.Errorf("benchmark %s: no targets", name))
	}
	seen := map[string]bool{}
	for i, t := range a.Targets {
		if t.Label == "" || seen[t.Label] {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d]: label %q is empty or repeated", name, i, t.Label))
		}
		seen[t.Label] = true
		if t.BaseURL == "" || t.Model == "" {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d] (%s): base URL and model are required", name, i, t.Label))
		}
		if t.KeyIndex >= len(a.Keys) {
			errs = append(errs, fmt.Errorf("benchmark %s: targets[%d] (%s): key %d of %d", name, i, t.Label, t.KeyIndex, len(a.Keys)))
		}
	}
	for i, k := range a.Keys {
		if k.Secret == "" || k.Key == "" {
			errs = append(errs, fmt.Errorf("benchmark %s: keys[%d]: secret and key are required", name, i))
		}
	}
	if a.Workload.NumPrompts <= 0 {
		errs = append(errs, fmt.Errorf("benchmark %s: numPrompts must be positive", name))
	}
	if a.Workload.Dataset == "" {
		a.Workload.Dataset = "random"
	}
	if a.Timeout == 0 {
		a.Timeout = 30 * time.Minute
	}
	if a.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("benchmark %s: timeout %s is under a second", name, a.Timeout))
	}
	return a, errors.Join(errs...)
}
