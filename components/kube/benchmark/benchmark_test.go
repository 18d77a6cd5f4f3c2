package benchmark_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark"
	kbench "github.com/servelab/servelab/components/kube/benchmark"
	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/pulumitest"
)

var (
	targets = []benchmark.Target{
		{Label: "vllm", BaseURL: "http://gateway:8088", Model: "vllm", Engine: "vllm", Framework: "vllm", KeyIndex: 0},
		{Label: "vllm-direct", BaseURL: "http://vllm:8000", Model: "vllm", Engine: "vllm", Framework: "vllm", Direct: true, KeyIndex: -1},
	}
	keys     = []kbench.KeyRef{{Secret: "gateway-api-key", Key: "gateway-keys"}}
	workload = benchmark.Workload{Dataset: "random", NumPrompts: 10, MaxConcurrency: []int{1, 4}, Seed: 7}
)

// runs is a bench output with one result per target.
func runs(labels ...string) string {
	var r benchmarks.Runs
	for _, l := range labels {
		res := benchmarks.Result{Label: l, StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
		res.Completed, res.Duration, res.RequestThroughput = 10, 1, 10
		r.Runs = append(r.Runs, res)
	}
	b, _ := json.Marshal(r)
	return string(b)
}

func TestResults(t *testing.T) {
	t.Parallel()
	ok := map[string]string{kbench.RunKey: "benchmark-1", kbench.ResultsKey: runs("vllm", "vllm-direct")}
	got, err := kbench.Results(ok, "benchmark-1", targets)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := benchmark.Parse(ok[kbench.ResultsKey], targets)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := benchmark.Output(parsed)
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if string(a) != string(b) {
		t.Errorf("output %s, want the Docker target's %s", a, b)
	}
	if _, err := kbench.Results(ok, "benchmark-2", targets); !errors.Is(err, kbench.ErrStale) {
		t.Errorf("another run's results: err = %v", err)
	}
	if _, err := kbench.Results(map[string]string{}, "benchmark-1", targets); !errors.Is(err, kbench.ErrStale) {
		t.Errorf("an empty ConfigMap: err = %v", err)
	}
	missing := map[string]string{kbench.RunKey: "benchmark-1", kbench.ResultsKey: runs("vllm")}
	if _, err := kbench.Results(missing, "benchmark-1", targets); err == nil || !strings.Contains(err.Error(), "vllm-direct: no result") {
		t.Errorf("a target without results: err = %v", err)
	}
}

// TestArgv: the Docker target's argv, reading the targets from the
// mounted ConfigMap and writing results for the publish container.
func TestArgv(t *testing.T) {
	t.Parallel()
	docker := benchmark.Args(workload, 30*time.Minute)
	got := kbench.Argv(workload, 30*time.Minute)
	i := slices.Index(docker, "/dev/stdin")
	want := slices.Clone(docker)
	want[i] = "/etc/servelab/bench/targets.json"
	want = append(want, "--output", "/results/runs.json")
	if !slices.Equal(got, want) {
		t.Errorf("argv %v, want %v", got, want)
	}
}

type run struct {
	mocks *pulumitest.Mocks
	job   string
	out   map[string]any
}

func deploy(t *testing.T, args *kbench.BenchmarkArgs, image string, data map[string]string) (run, error) {
	t.Helper()
	var r run
	r.mocks = pulumitest.New(func(a pulumi.MockResourceArgs) resource.PropertyMap {
		if a.ReadRPC == nil {
			return nil
		}
		d := data
		if d == nil { // what the Job publishes: a result per target, under its name
			job, _ := r.mocks.Get("kubernetes:batch/v1:Job", "benchmark-job")
			var labels []string
			for _, t := range args.Targets {
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
		r.job = b.JobName
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
		{"no targets", &kbench.BenchmarkArgs{Workload: workload}, "no targets"},
		{"key out of range", &kbench.BenchmarkArgs{Targets: targets, Workload: workload}, "key 0 of 0"},
		{"empty key ref", &kbench.BenchmarkArgs{Targets: targets, Keys: []kbench.KeyRef{{}}, Workload: workload}, "secret and key are required"},
		{"no prompts", &kbench.BenchmarkArgs{Targets: targets, Keys: keys}, "numPrompts must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := deploy(t, tt.args, "servelab:x", nil)
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
}

// TestBenchmarkJob: a Job of one attempt bounded by the timeout, waiting
// for what it measures; keys from the Secret by reference; a Role that
// may patch the results ConfigMap and nothing else; results read after
// the Job become the outputs.
func TestBenchmarkJob(t *testing.T) {
	t.Parallel()
	args := &kbench.BenchmarkArgs{Targets: targets, Keys: keys, Workload: workload, Timeout: 10 * time.Minute}
	r, err := deploy(t, args, "servelab:x", nil)
	if err != nil {
		t.Fatal(err)
	}
	job := r.job
	j, _ := r.mocks.Get("kubernetes:batch/v1:Job", "benchmark-job")
	b, _ := json.Marshal(j.Plain("spec"))
	for _, want := range []string{`"backoffLimit":0`, `"activeDeadlineSeconds":600`, `"serviceAccountName":"benchmark"`,
		`{"name":"SERVELAB_BENCH_KEY_0","valueFrom":{"secretKeyRef":{"key":"gateway-keys","name":"gateway-api-key"}}}`,
		`"args":["publish","--configmap","benchmark-results","--from-file","runs.json=/results/runs.json","--literal","run=` + job + `"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("job spec lacks %s: %s", want, b)
		}
	}
	if j.CreateTimeout != "15m0s" {
		t.Errorf("`up` waits %q for the Job, want the timeout plus the start margin", j.CreateTimeout)
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
	if rd.ID != "lab/benchmark-results" || !slices.ContainsFunc(rd.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::benchmark-job") }) {
		t.Errorf("read %s deps %v, want lab/benchmark-results after the Job", rd.ID, rd.Dependencies)
	}
	targets, _ := r.out["targets"].(map[string]any)
	if len(targets) != 2 {
		t.Errorf("outputs %v", r.out)
	}
	// Another run's results in the ConfigMap fail the run, naming the Job.
	_, err = deploy(t, args, "servelab:x", map[string]string{kbench.RunKey: "benchmark-0ld", kbench.ResultsKey: runs("vllm", "vllm-direct")})
	if !errors.Is(err, kbench.ErrStale) && (err == nil || !strings.Contains(err.Error(), "did Job "+job+" publish?")) {
		t.Errorf("stale results: err = %v", err)
	}
}

// TestRerunRules: the Job — the run — is renamed, so replaced and re-run,
// when the workload, the targets, the provenance or the servelab image
// change; never when only the key's Secret changes content (it is read at
// run time).
func TestRerunRules(t *testing.T) {
	t.Parallel()
	name := func(args kbench.BenchmarkArgs, image string) string {
		r, err := deploy(t, &args, image, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.job
	}
	base := kbench.BenchmarkArgs{Targets: targets, Keys: keys, Workload: workload, Provenance: []string{"vllm/vllm-openai:v0.32.1", "m"}}
	first := name(base, "servelab:x")
	if again := name(base, "servelab:x"); again != first {
		t.Errorf("an unchanged benchmark re-runs: %s then %s", first, again)
	}
	w := base
	w.Workload.Seed = 8
	p := base
	p.Provenance = []string{"vllm/vllm-openai:v0.33.0", "m"}
	tg := base
	tg.Targets = targets[:1]
	for what, got := range map[string]string{
		"seed": name(w, "servelab:x"), "engine image": name(p, "servelab:x"),
		"targets": name(tg, "servelab:x"), "servelab image": name(base, "servelab:y"),
	} {
		if got == first {
			t.Errorf("a new %s does not re-run the benchmark (Job %s)", what, got)
		}
	}
}
