package benchmark_test

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/benchmark/benchspec"
	kbench "github.com/servelab/servelab/components/kube/benchmark"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/pulumitest"
)

const typeJob = "kubernetes:batch/v1:Job"

var (
	targets = []benchmark.Target{
		{Target: benchspec.Target{Label: "vllm", BaseURL: "http://gateway:8088", Model: "vllm", Engine: "vllm", Framework: "vllm", KeyIndex: 0},
			Spec: pulumi.String(`{"gateway":1}`)},
		{Target: benchspec.Target{Label: "vllm-direct", BaseURL: "http://vllm:8000", Model: "vllm", Engine: "vllm", Framework: "vllm", Direct: true, KeyIndex: 1},
			Spec: pulumi.String(`{"engine":1}`)},
	}
	workload = benchspec.Workload{Dataset: "random", NumPrompts: 10, MaxConcurrency: []int{1, 4}, Seed: 7, Repeats: 3}
)

func keys(gateway, engine string) []pulumi.StringInput {
	return []pulumi.StringInput{
		pulumi.ToSecret(pulumi.String(gateway)).(pulumi.StringOutput),
		pulumi.ToSecret(pulumi.String(engine)).(pulumi.StringOutput),
	}
}

func run(mutate ...func(*benchmark.BenchmarkArgs)) benchmark.BenchmarkArgs {
	r := benchmark.BenchmarkArgs{Targets: targets, Keys: keys("gw-1", "engine-1"), Workload: workload, Timeout: 10 * time.Minute}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

// runs is a bench output with one result per target.
func runs(labels ...string) string {
	var r benchmarks.Runs
	for _, l := range labels {
		res := benchmarks.Result{Label: l, StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), DatasetSHA256: "d5"}
		res.Completed, res.Duration, res.RequestThroughput = 10, 1, 10
		r.Runs = append(r.Runs, res)
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func TestRunOutput(t *testing.T) {
	t.Parallel()
	ok := map[string]string{kbench.RunKey: "benchmark-1", kbench.ResultsKey: runs("vllm", "vllm-direct")}
	if got, err := kbench.RunOutput(ok, "benchmark-1"); err != nil || got != ok[kbench.ResultsKey] {
		t.Errorf("RunOutput = %q, %v", got, err)
	}
	if _, err := kbench.RunOutput(ok, "benchmark-2"); !errors.Is(err, kbench.ErrStale) {
		t.Errorf("another run's results: err = %v", err)
	}
	if _, err := kbench.RunOutput(map[string]string{}, "benchmark-1"); !errors.Is(err, kbench.ErrStale) {
		t.Errorf("an empty ConfigMap: err = %v", err)
	}
}

// TestArgv: the Docker target's argv, reading the targets from the
// mounted ConfigMap and writing results for the publish container.
func TestArgv(t *testing.T) {
	t.Parallel()
	a, err := benchmark.Check("b", run())
	if err != nil {
		t.Fatal(err)
	}
	docker := benchmark.Argv(a)
	got := kbench.Argv(docker)
	i := slices.Index(docker, "/dev/stdin")
	want := slices.Clone(docker)
	want[i] = "/etc/servelab/bench/targets.json"
	want = append(want, "--output", "/results/runs.json")
	if !slices.Equal(got, want) {
		t.Errorf("argv %v, want %v", got, want)
	}
}

type deployed struct {
	mocks *pulumitest.Mocks
	job   string
	out   map[string]any
}

// deploy runs the component in a cluster whose servelab image is image.
// data, when set, is what the results ConfigMap holds; else what the Job
// publishes. baseline answers a StackReference.
func deploy(t *testing.T, args *kbench.BenchmarkArgs, image string, data map[string]string, baseline map[string]any) (deployed, error) {
	t.Helper()
	var r deployed
	r.mocks = pulumitest.New(func(a pulumi.MockResourceArgs) resource.PropertyMap {
		if a.TypeToken == "pulumi:pulumi:StackReference" {
			return resource.PropertyMap{"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{"benchmark": baseline}))}
		}
		if a.ReadRPC == nil {
			return nil
		}
		d := data
		if d == nil { // what the Job publishes: a result per target, under its name
			job, _ := r.mocks.Get(typeJob, "benchmark-run")
			var labels []string
			for _, t := range args.Run.Targets {
				labels = append(labels, t.Label)
			}
			d = map[string]string{kbench.RunKey: job.String("metadata.name"), kbench.ResultsKey: runs(labels...)}
		}
		m := resource.PropertyMap{}
		for k, v := range d {
			m[resource.PropertyKey(k)] = resource.NewProperty(v)
		}
		return resource.PropertyMap{"data": resource.NewProperty(m)}
	})
	err := r.mocks.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		c, err := cluster.NewCluster(ctx, "c", &cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: image,
			ModelCache: cluster.ModelCache{SizeGiB: 10}})
		if err != nil {
			return err
		}
		if args != nil {
			a := *args
			a.Cluster = c
			args = &a
		}
		b, err := kbench.NewBenchmark(ctx, "benchmark", args)
		if err != nil {
			return err
		}
		job, err := internals.UnsafeAwaitOutput(context.Background(), b.JobName)
		if err != nil {
			return err
		}
		r.job, _ = job.Value.(string)
		res, err := internals.UnsafeAwaitOutput(context.Background(), b.Results)
		r.out, _ = res.Value.(map[string]any)
		return err
	})
	return r, err
}

func TestNewBenchmarkArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args *kbench.BenchmarkArgs
		want string
	}{
		{"nil", nil, "args are required"},
		{"no targets", &kbench.BenchmarkArgs{Run: benchmark.BenchmarkArgs{Workload: workload}}, "no targets"},
		{"key out of range", &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Keys = a.Keys[:1] })}, "key 1 of 1"},
		{"no prompts", &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Workload.NumPrompts = 0 })}, "numPrompts must be positive"},
		{"repeats", &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Workload.Repeats = 101 })}, "repeats 101 is out of range 1-100"},
		{"short timeout", &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Timeout = time.Second })}, "timeout 1s is shorter than 1m0s"},
		{"a local binary", &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Binary = "bin/servelab" })},
			"the Job runs the cluster's servelab image: leave host, binary and image empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := deploy(t, tt.args, "servelab:x", nil, nil)
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
}

// TestBenchmarkJob: a Job of one attempt, its deadline above the bench's
// own --deadline; keys read from the keys Secret by reference, never in
// the Job; a Role that may patch the results ConfigMap and nothing else;
// results read after the Job become the Docker target's outputs, with
// provenance.
func TestBenchmarkJob(t *testing.T) {
	t.Parallel()
	r, err := deploy(t, &kbench.BenchmarkArgs{Run: run()}, "servelab:x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	j, _ := r.mocks.Get(typeJob, "benchmark-run")
	if j.String("metadata.name") != r.job || !strings.HasPrefix(r.job, "benchmark-") {
		t.Errorf("Job %q, component says %q", j.String("metadata.name"), r.job)
	}
	b, _ := json.Marshal(j.Plain("spec"))
	for _, want := range []string{`"backoffLimit":0`, `"activeDeadlineSeconds":900`, `"serviceAccountName":"benchmark"`,
		`"--repeats","3","--deadline","9m30s"`,
		`{"name":"SERVELAB_BENCH_KEY_0","valueFrom":{"secretKeyRef":{"key":"key-0","name":"benchmark-keys"}}}`,
		`{"name":"SERVELAB_BENCH_KEY_1","valueFrom":{"secretKeyRef":{"key":"key-1","name":"benchmark-keys"}}}`,
		`"args":["publish","--configmap","benchmark-results","--from-file","runs.json=/results/runs.json","--literal","run=` + r.job + `"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("job spec lacks %s: %s", want, b)
		}
	}
	if len(j.Secrets()) > 0 || strings.Contains(string(b), "gw-1") || strings.Contains(string(b), "engine-1") {
		t.Errorf("the Job holds a key (secrets %v)", j.Secrets())
	}
	if j.CreateTimeout != "16m0s" {
		t.Errorf("`up` waits %q for the Job, want its deadline (timeout + start margin) plus a minute", j.CreateTimeout)
	}
	ann, _ := j.Plain("metadata").(map[string]any)["annotations"].(map[string]any)[kbench.TriggersAnnotation].(string)
	for _, want := range []string{"servelab image docker.io/library/servelab:x", "workload ", "target vllm ", "target vllm-direct "} {
		if !strings.Contains(ann, want) {
			t.Errorf("triggers annotation %q lacks %q", ann, want)
		}
	}
	keys, _ := r.mocks.Get("kubernetes:core/v1:Secret", "benchmark-keys")
	if keys.String("metadata.name") != kbench.KeysSecret || !slices.Equal(keys.Secrets(), []string{"stringData"}) {
		t.Errorf("keys Secret %s, secret inputs %v", keys.String("metadata.name"), keys.Secrets())
	}
	role, _ := r.mocks.Get("kubernetes:rbac.authorization.k8s.io/v1:Role", "benchmark-role")
	if rb, _ := json.Marshal(role.Plain("rules")); string(rb) != `[{"apiGroups":[""],"resourceNames":["benchmark-results"],"resources":["configmaps"],"verbs":["patch"]}]` {
		t.Errorf("the Job may %s", rb)
	}
	read := slices.IndexFunc(r.mocks.Resources(), func(x pulumitest.Resource) bool { return x.Read })
	if read < 0 {
		t.Fatal("the results are not read")
	}
	rd := r.mocks.Resources()[read]
	if rd.ID != "lab/benchmark-results" || !slices.ContainsFunc(rd.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::benchmark-run") }) {
		t.Errorf("read %s deps %v, want lab/benchmark-results after the Job", rd.ID, rd.Dependencies)
	}
	if got := slices.Sorted(maps.Keys(r.out["targets"].(map[string]any))); !slices.Equal(got, []string{"vllm", "vllm-direct"}) {
		t.Errorf("outputs' targets %v", got)
	}
	prov, _ := r.out["provenance"].(map[string]any)
	servelab, _ := prov["servelab"].(map[string]any)
	if servelab["image"] != "docker.io/library/servelab:x" || servelab["binarySha256"] != nil || prov["datasetHash"] != "d5" ||
		!strings.HasPrefix(r.job, "benchmark-"+prov["specHash"].(string)[:8]) {
		t.Errorf("provenance %v (Job %s)", prov, r.job)
	}
	// Another run's results in the ConfigMap fail the run, naming the Job.
	_, err = deploy(t, &kbench.BenchmarkArgs{Run: run()}, "servelab:x",
		map[string]string{kbench.RunKey: "benchmark-0ld", kbench.ResultsKey: runs("vllm", "vllm-direct")}, nil)
	if err == nil || !strings.Contains(err.Error(), "did Job "+r.job+" publish?") {
		t.Errorf("stale results: err = %v", err)
	}
	// A failed run fails it with the Docker target's parser's error.
	_, err = deploy(t, &kbench.BenchmarkArgs{Run: run()}, "servelab:x",
		map[string]string{kbench.RunKey: r.job, kbench.ResultsKey: runs("vllm")}, nil)
	if err == nil || !strings.Contains(err.Error(), "vllm-direct: no result in the bench output") {
		t.Errorf("a target without results: err = %v", err)
	}
}

// TestBaseline: with a baseline the outputs carry the comparison, as on
// Docker.
func TestBaseline(t *testing.T) {
	t.Parallel()
	args := &kbench.BenchmarkArgs{Run: run(func(a *benchmark.BenchmarkArgs) { a.Baseline = &benchmark.Baseline{Stack: "other"} })}
	first, err := deploy(t, &kbench.BenchmarkArgs{Run: run()}, "servelab:x", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := deploy(t, args, "servelab:x", nil, first.out)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.out["comparison"].(map[string]any)
	lv, _ := c["targets"].(map[string]any)["vllm"].([]any)
	if c["baseline"] != "other" || len(lv) != 1 || lv[0].(map[string]any)["verdict"] != benchmark.Unchanged {
		t.Errorf("comparison %v", c)
	}
}

// TestRerunRules: the Job — the run — is renamed, so replaced and re-run,
// exactly when a trigger changes: the workload, a target's spec, the
// servelab image, the timeout (the bench's --deadline); never when a key
// rotates (it updates the keys Secret only).
func TestRerunRules(t *testing.T) {
	t.Parallel()
	job := func(a benchmark.BenchmarkArgs, image string) (string, pulumitest.Resource, pulumitest.Resource) {
		r, err := deploy(t, &kbench.BenchmarkArgs{Run: a}, image, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		j, _ := r.mocks.Get(typeJob, "benchmark-run")
		k, _ := r.mocks.Get("kubernetes:core/v1:Secret", "benchmark-keys")
		return r.job, j, k
	}
	first, j1, k1 := job(run(), "servelab:x")
	again, j2, _ := job(run(), "servelab:x")
	if again != first || !j1.Inputs.DeepEquals(j2.Inputs) {
		t.Errorf("an unchanged benchmark re-runs: %s then %s", first, again)
	}
	rotated, j3, k3 := job(run(func(a *benchmark.BenchmarkArgs) { a.Keys = keys("gw-2", "engine-2") }), "servelab:x")
	if rotated != first || !j1.Inputs.DeepEquals(j3.Inputs) {
		t.Errorf("a rotated key changes the Job (%s, was %s)", rotated, first)
	}
	if k1.Inputs.DeepEquals(k3.Inputs) {
		t.Error("a rotated key leaves the keys Secret alone")
	}
	for what, a := range map[string]benchmark.BenchmarkArgs{
		"seed":    run(func(a *benchmark.BenchmarkArgs) { a.Workload.Seed = 8 }),
		"repeats": run(func(a *benchmark.BenchmarkArgs) { a.Workload.Repeats = 1 }),
		"timeout": run(func(a *benchmark.BenchmarkArgs) { a.Timeout = 20 * time.Minute }),
		"target spec": run(func(a *benchmark.BenchmarkArgs) {
			a.Targets = slices.Clone(a.Targets)
			a.Targets[1].Spec = pulumi.String(`{"engine":2}`)
		}),
		"targets": run(func(a *benchmark.BenchmarkArgs) { a.Targets = a.Targets[:1] }),
	} {
		if got, _, _ := job(a, "servelab:x"); got == first {
			t.Errorf("a new %s does not re-run the benchmark (Job %s)", what, got)
		}
	}
	if got, _, _ := job(run(), "servelab:y"); got == first {
		t.Error("a new servelab image does not re-run the benchmark")
	}
}
