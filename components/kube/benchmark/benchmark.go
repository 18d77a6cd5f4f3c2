// Package benchmark is the Kubernetes Benchmark component: one `servelab
// bench` run as a Job in the cluster, after the gateway and every
// framework are ready, whose results become the same stack output as the
// Docker target's. Everything that decides a run is components/benchmark's
// (Check, Argv, Triggers, Results, and benchspec.TargetsFile): the same checks, argv
// with --repeats and --deadline, targets file, named triggers and spec
// hash, and the same outputs — results, provenance and the baseline
// comparison. Only how the bench is started and its output carried back
// differs.
//
// How the results come back: the Job's bench container writes them to a
// file, then its publish container (`servelab publish`) merge-patches
// them into the ConfigMap benchmark-results, which the program created
// empty; the Job's ServiceAccount may patch that one ConfigMap and do
// nothing else. The program reads the ConfigMap once the Job has
// completed and checks that the results are this run's. Pulumi waits for
// the Job, so a failed bench fails `up`.
//
// Re-runs: the Job is named benchmark-<spec hash>, so it is replaced —
// re-run — exactly when one of the triggers changes; they are also its
// annotation servelab.dev/triggers, so `pulumi preview --diff` shows which
// one did. API keys are never in the Job: the Secret benchmark-keys holds
// them and the bench container reads them from it at start
// (secretKeyRef), so a rotated key updates that Secret and leaves the run
// alone — the Docker target's keys file, as a Secret.
package benchmark

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	rbacv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/rbac/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Benchmark"

// Object names and paths.
const (
	// Name prefixes the Job (Name-<spec hash>) and names its
	// ServiceAccount.
	Name = "benchmark"
	// KeysSecret holds the API keys, KeySecretKey(i) the i-th.
	KeysSecret = "benchmark-keys"
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
	// TriggersAnnotation lists the run's named triggers on the Job.
	TriggersAnnotation = "servelab.dev/triggers"
	// StartMargin is what the Job may spend before the bench's clock
	// starts — scheduling, pulling the servelab image — on top of the
	// timeout: the Job's activeDeadlineSeconds is Timeout + StartMargin,
	// the bench's own --deadline benchspec.Deadline(Timeout), so the bench
	// ends by itself first.
	StartMargin = 5 * time.Minute
	// AwaitMargin is how much longer than the Job's deadline `up` waits
	// for it, so that the Job's own failure is what `up` reports.
	AwaitMargin = time.Minute
)

// KeySecretKey is the key of the i-th API key in KeysSecret.
func KeySecretKey(i int) string { return fmt.Sprintf("key-%d", i) }

// BenchmarkArgs configure a run.
type BenchmarkArgs struct {
	Cluster *cluster.Cluster
	// Run is the run as the Docker target's Benchmark takes it: targets
	// (in-cluster URLs), keys (secrets, by Target.KeyIndex), workload,
	// timeout, baseline and what to wait for. Host, Binary, BinarySHA256
	// and Image are left empty: the bench runs in the cluster's servelab
	// image.
	Run benchmark.BenchmarkArgs
}

// Benchmark is a finished run.
type Benchmark struct {
	pulumi.ResourceState

	// JobName is the run's Job (benchmark-<spec hash>).
	JobName pulumi.StringOutput
	// Results are the stack output, as the Docker target's.
	Results pulumi.MapOutput
	// SpecHash is the digest of everything that decides the results.
	SpecHash pulumi.StringOutput
}

// NewBenchmark creates the results ConfigMap and the RBAC that lets the
// Job fill it, the keys Secret, the targets ConfigMap, the Job, and reads
// the results once the Job has completed.
func NewBenchmark(ctx *pulumi.Context, name string, args *BenchmarkArgs, opts ...pulumi.ResourceOption) (*Benchmark, error) {
	c, a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	targetsJSON, err := benchspec.TargetsFile(benchmark.Plain(a.Targets))
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	bench := benchmark.Argv(a)
	triggers, specHash := benchmark.Triggers(a, bench, targetsJSON)
	jobName := specHash.ApplyT(func(h string) string { return Name + "-" + h[:8] }).(pulumi.StringOutput)
	annotation := pulumi.All(toAny(triggers)...).ApplyT(func(v []any) string {
		lines := make([]string, len(v))
		for i, t := range v {
			lines[i] = t.(string)
		}
		return strings.Join(lines, "\n")
	}).(pulumi.StringOutput)

	b := &Benchmark{JobName: jobName, SpecHash: specHash}
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
	after := append(slices.Clone(a.After), results)
	after = append(after, rbac...)
	env := corev1.EnvVarArray{}
	if len(a.Keys) > 0 {
		keys, err := storeKeys(ctx, b, c, name, a.Keys)
		if err != nil {
			return nil, err
		}
		after = append(after, keys)
		for i := range a.Keys {
			env = append(env, corev1.EnvVarArgs{
				Name: pulumi.String(benchspec.KeyEnv(i)),
				ValueFrom: &corev1.EnvVarSourceArgs{SecretKeyRef: &corev1.SecretKeySelectorArgs{
					Name: pulumi.String(KeysSecret), Key: pulumi.String(KeySecretKey(i)),
				}},
			})
		}
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
	after = append(after, targets)

	resultsMount := corev1.VolumeMountArgs{Name: pulumi.String("results"), MountPath: pulumi.String(ResultsDir)}
	deadline := a.Timeout + StartMargin
	wait := (deadline + AwaitMargin).String()
	meta := c.Meta(Name, "benchmark", nil)
	meta.Name = jobName
	meta.Annotations = pulumi.StringMap{TriggersAnnotation: annotation}
	job, err := batchv1.NewJob(ctx, name+"-run", &batchv1.JobArgs{
		Metadata: meta,
		Spec: &batchv1.JobSpecArgs{
			// One attempt: a failed bench fails `up` with its Job.
			BackoffLimit:          pulumi.Int(0),
			ActiveDeadlineSeconds: pulumi.Int(int(deadline.Seconds())),
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: kube.Labels(c.Stack, Name, "benchmark", nil)},
				Spec: &corev1.PodSpecArgs{
					RestartPolicy:      pulumi.String("Never"),
					ServiceAccountName: pulumi.String(Name),
					EnableServiceLinks: pulumi.Bool(false),
					SecurityContext:    &corev1.PodSecurityContextArgs{FsGroup: pulumi.Int(kube.NonRootUID)},
					InitContainers: corev1.ContainerArray{corev1.ContainerArgs{
						Name:            pulumi.String("bench"),
						Image:           pulumi.String(c.Image),
						ImagePullPolicy: pulumi.String("IfNotPresent"),
						Args:            pulumi.ToStringArray(Argv(bench)),
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
						Args: jobName.ApplyT(func(job string) []string {
							return []string{"publish", "--configmap", ResultsConfigMap,
								"--from-file", ResultsKey + "=" + path.Join(ResultsDir, ResultsKey), "--literal", RunKey + "=" + job}
						}).(pulumi.StringArrayOutput),
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
	raw := pulumi.All(read.Data, jobName).ApplyT(func(v []any) (string, error) {
		out, err := RunOutput(v[0].(map[string]string), v[1].(string))
		if err != nil {
			return "", fmt.Errorf("benchmark %s: %w", name, err)
		}
		return out, nil
	}).(pulumi.StringOutput)
	if b.Results, err = benchmark.Results(ctx, name, b, a, raw, specHash); err != nil {
		return nil, fmt.Errorf("benchmark %s: %w", name, err)
	}
	if err := ctx.RegisterResourceOutputs(b, pulumi.Map{"results": b.Results, "specHash": b.SpecHash, "job": b.JobName}); err != nil {
		return nil, err
	}
	return b, nil
}

// storeKeys writes the API keys into the Secret KeysSecret, which the
// bench container reads at start. A rotated key updates it in place; the
// Job is not touched.
func storeKeys(ctx *pulumi.Context, b *Benchmark, c *cluster.Cluster, name string, keys []pulumi.StringInput) (pulumi.Resource, error) {
	data := pulumi.StringMap{}
	for i, k := range keys {
		data[KeySecretKey(i)] = pulumi.ToSecret(k).(pulumi.StringOutput)
	}
	s, err := corev1.NewSecret(ctx, name+"-keys", &corev1.SecretArgs{
		Metadata:   c.Meta(KeysSecret, "benchmark", nil),
		Type:       pulumi.String("Opaque"),
		StringData: data,
	}, c.Opts(b)...)
	if err != nil {
		return nil, fmt.Errorf("benchmark %s: keys: %w", name, err)
	}
	return s, nil
}

// ErrStale is returned when the results ConfigMap holds another run's
// results.
var ErrStale = errors.New("the results ConfigMap holds another run's results")

// RunOutput is the bench's JSON output in the results ConfigMap's data,
// which must be Job job's.
func RunOutput(data map[string]string, job string) (string, error) {
	if got := data[RunKey]; got != job {
		return "", fmt.Errorf("%w (run %q, want %q): did Job %s publish?", ErrStale, got, job, job)
	}
	return data[ResultsKey], nil
}

// Argv is the bench's argv in the Job: the Docker target's
// (benchmark.Argv), reading the targets file from its ConfigMap and
// writing results to a file for the publish container.
func Argv(bench []string) []string {
	argv := slices.Clone(bench)
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "--targets" {
			argv[i+1] = path.Join(TargetsDir, TargetsFile)
		}
	}
	return append(argv, "--output", path.Join(ResultsDir, ResultsKey))
}

func toAny(outs []pulumi.StringOutput) []any {
	all := make([]any, len(outs))
	for i, o := range outs {
		all[i] = o
	}
	return all
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

func validate(name string, args *BenchmarkArgs) (*cluster.Cluster, benchmark.BenchmarkArgs, error) {
	if args == nil {
		return nil, benchmark.BenchmarkArgs{}, fmt.Errorf("benchmark %s: args are required", name)
	}
	var errs []error
	if args.Cluster == nil {
		errs = append(errs, fmt.Errorf("benchmark %s: cluster is required", name))
	}
	r := args.Run
	if r.Host != nil || r.Binary != "" || r.BinarySHA256 != "" || r.Image != nil {
		errs = append(errs, fmt.Errorf("benchmark %s: the Job runs the cluster's servelab image: leave host, binary and image empty", name))
	}
	if args.Cluster != nil {
		r.Image = pulumi.String(args.Cluster.Image)
	}
	r, err := benchmark.Check(name, r)
	return args.Cluster, r, errors.Join(append(errs, err)...)
}
