package benchmark_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/pulumitest"
)

// recorded.json is real `servelab bench` output: three targets (vllm
// through a "gateway", the same directly, ollama) against `servelab sim`,
// concurrency 1 and 4, the multilingual set. Regenerate with the commands
// in docs/bench.md if the result format changes.
func recorded(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/recorded.json")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var targets = []benchmark.Target{
	{Target: benchspec.Target{Label: "vllm", BaseURL: "http://gateway:8080", Model: "vllm", Engine: "gateway", Framework: "vllm", KeyIndex: 0}},
	{Target: benchspec.Target{Label: "vllm-direct", BaseURL: "http://vllm:8000", Model: "vllm", Engine: "vllm", Framework: "vllm", Direct: true, KeyIndex: -1}},
	{Target: benchspec.Target{Label: "ollama", BaseURL: "http://gateway:8080", Model: "ollama", Engine: "gateway", Framework: "ollama", KeyIndex: 0}},
}

var workload = benchspec.Workload{Dataset: "multilingual", NumPrompts: 22, MaxConcurrency: []int{1, 4}, OutputLen: 16, Seed: 42,
	Goodput: map[string]float64{"ttft": 100}}

func stdoutOf(out string) pulumitest.OutputsFunc {
	return func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if strings.HasSuffix(args.Name, "-run") {
			return resource.PropertyMap{"stdout": resource.NewProperty(out)}
		}
		if strings.HasSuffix(args.Name, "-probe") {
			return resource.PropertyMap{"stdout": resource.NewProperty("### servelab:gpus\nNo devices were found\n### servelab:runtimes\n{}\n" + pulumitest.ProbeDocker)}
		}
		return nil
	}
}

func TestBenchmarkOnHost(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(stdoutOf(recorded(t)))
	var results map[string]any
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		h, err := gpuhost.NewGpuHost(ctx, "gpu1", &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "gpu1", User: "lab", InsecureIgnoreHostKey: true}})
		if err != nil {
			return err
		}
		key := pulumi.ToSecret(pulumi.String("sk-gateway-key")).(pulumi.StringOutput)
		tgs := slices.Clone(targets)
		tgs[1].Spec, tgs[1].ImageDigest = pulumi.String(`{"argv":["vllm"]}`), pulumi.String("vllm/vllm-openai@sha256:abc")
		tgs[1].MetricsURL = "http://vllm:8000/metrics"
		b, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
			Host: h, Image: pulumi.String("servelab:0.1.0-abc"), Targets: tgs, Keys: []pulumi.StringInput{key},
			Workload: workload,
		})
		if err != nil {
			return err
		}
		results, err = await(b.Results)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	run, ok := m.Get("command:remote:Command", "bench-run")
	if !ok {
		t.Fatal("no remote bench command")
	}
	if run.ParentName() != "bench" || !dependsOn(run, "gpu1-probe") || !dependsOn(run, "bench-keys") {
		t.Errorf("parent %q deps %v", run.ParentName(), run.Dependencies)
	}
	// The key file lands on the host only once the host passed its probe.
	if keys, ok := m.Get("command:remote:Command", "bench-keys"); !ok || !dependsOn(keys, "gpu1-probe") {
		t.Errorf("the keys command (found %v) does not wait for the host's probe: deps %v", ok, keys.Dependencies)
	}
	create := run.String("create")
	wantTail := " servelab-bench servelab-test 30m0s 29m30s 1 docker run --rm -i --network servelab-test-lab " +
		"-e SERVELAB_BENCH_KEY_0 servelab:0.1.0-abc bench --targets /dev/stdin --runs --log-level warn --dataset multilingual " +
		"--num-prompts 22 --seed 42 --repeats 1 --deadline 29m30s --max-concurrency 1,4 --output-len 16 --goodput ttft:100"
	if !strings.HasPrefix(create, "/bin/sh -c '") || !strings.HasSuffix(create, wantTail) {
		t.Errorf("create\n got %q\nwant /bin/sh -c '<script>'%s", create, wantTail)
	}
	// The key is nowhere in the run's inputs: a rotated key must not re-run it.
	for _, in := range []string{"create", "stdin"} {
		if strings.Contains(run.String(in), "sk-gateway-key") {
			t.Errorf("the API key is in the bench command's %s", in)
		}
	}
	var doc struct {
		Targets []map[string]string `json:"targets"`
	}
	if err := json.Unmarshal([]byte(run.String("stdin")), &doc); err != nil || len(doc.Targets) != 3 {
		t.Fatalf("stdin is not the targets file: %v %q", err, run.String("stdin"))
	}
	if doc.Targets[0]["api_key_env"] != "SERVELAB_BENCH_KEY_0" || doc.Targets[1]["metrics_url"] != "http://vllm:8000/metrics" {
		t.Errorf("targets file %v", doc.Targets)
	}
	if run.String("logging") != "stderr" {
		t.Errorf("logging %q: the result JSON belongs in outputs, not logs", run.String("logging"))
	}
	if !slices.Equal(run.IgnoreChanges, []string{"connection.privateKey"}) {
		t.Errorf("ignoreChanges %v: a rotated SSH key would re-run the bench", run.IgnoreChanges)
	}
	trig := run.Strings("triggers")
	if len(trig) != 3 || trig[0] != "servelab image servelab:0.1.0-abc" || !strings.HasPrefix(trig[1], "workload ") ||
		!strings.HasPrefix(trig[2], "target vllm-direct ") {
		t.Errorf("triggers %v", trig)
	}

	keys, ok := m.Get("command:remote:Command", "bench-keys")
	if !ok {
		t.Fatal("no keys command")
	}
	if keys.String("stdin") != "sk-gateway-key\n" || !slices.Contains(keys.Secrets(), "stdin") || keys.String("logging") != "none" {
		t.Errorf("keys command stdin %q (secrets %v), logging %q", keys.String("stdin"), keys.Secrets(), keys.String("logging"))
	}
	if !keys.DeleteBeforeReplace {
		t.Error("replacing the keys command would delete the file its replacement wrote")
	}
	if !strings.HasSuffix(keys.String("create"), " servelab-bench-keys servelab-test") || !strings.Contains(keys.String("delete"), "rm -f") {
		t.Errorf("keys command create %q delete %q", keys.String("create"), keys.String("delete"))
	}

	// The outputs carry the recorded numbers.
	runs, err := benchmarks.Decode(strings.NewReader(recorded(t)))
	if err != nil {
		t.Fatal(err)
	}
	byTarget := results["targets"].(map[string]any)
	for _, r := range runs {
		got := byTarget[r.Label].([]any)
		var match map[string]any
		for _, g := range got {
			if g := g.(map[string]any); int(g["maxConcurrency"].(float64)) == *r.MaxConcurrency {
				match = g
			}
		}
		if match == nil {
			t.Fatalf("%s at concurrency %d missing from outputs", r.Label, *r.MaxConcurrency)
		}
		p99, _ := r.TTFT.At(99)
		if got := match["ttftMs"].(map[string]any)["p99"].(float64); math.Abs(got-p99) > 0.001 {
			t.Errorf("%s c=%d: ttft p99 %v, want %v", r.Label, *r.MaxConcurrency, got, p99)
		}
		if got := match["outputThroughput"].(float64); math.Abs(got-r.OutputThroughput) > 0.001 {
			t.Errorf("%s: output throughput %v, want %v", r.Label, got, r.OutputThroughput)
		}
		langs := match["languages"].(map[string]any)
		if len(langs) != len(r.PerLanguage) || len(langs) < 10 {
			t.Errorf("%s: %d languages in outputs, %d in results", r.Label, len(langs), len(r.PerLanguage))
		}
	}
	over := results["gatewayOverhead"].(map[string]any)["vllm"].([]any)
	if len(over) != 2 {
		t.Errorf("overhead %v, want one entry per concurrency", over)
	}

	// ... and what produced them.
	prov := results["provenance"].(map[string]any)
	if h, _ := prov["specHash"].(string); len(h) != 64 {
		t.Errorf("specHash %q", h)
	}
	servelab := prov["servelab"].(map[string]any)
	if servelab["image"] != "servelab:0.1.0-abc" || servelab["version"] != runs[0].ServelabVersion {
		t.Errorf("servelab provenance %v", servelab)
	}
	if prov["datasetHash"] != runs[0].DatasetSHA256 || prov["seed"] != float64(42) {
		t.Errorf("dataset provenance %v %v", prov["datasetHash"], prov["seed"])
	}
	if images := prov["images"].(map[string]any); images["vllm-direct"] != "vllm/vllm-openai@sha256:abc" {
		t.Errorf("images %v", images)
	}
	w := prov["workload"].(map[string]any)
	if w["dataset"] != "multilingual" || w["numPrompts"] != float64(22) || fmt.Sprint(w["maxConcurrency"]) != "[1 4]" ||
		w["outputLen"] != float64(16) || w["repeats"] != float64(1) {
		t.Errorf("workload %v", w)
	}
}

// A rotated key changes the keys command only; a changed target spec
// changes the run's triggers.
func TestBenchmarkInputsAndKeys(t *testing.T) {
	t.Parallel()
	runWith := func(key, spec string) (run, keys pulumitest.Resource) {
		t.Helper()
		m := pulumitest.New(stdoutOf(recorded(t)))
		err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
			tgs := slices.Clone(targets)
			tgs[1].Spec = pulumi.String(spec)
			_, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
				Binary: "bin/servelab", BinarySHA256: strings.Repeat("ab", 32), Targets: tgs,
				Keys: []pulumi.StringInput{pulumi.ToSecret(pulumi.String(key)).(pulumi.StringOutput)}, Workload: workload,
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		run, _ = m.Get("command:local:Command", "bench-run")
		keys, _ = m.Get("command:local:Command", "bench-keys")
		return run, keys
	}
	run1, keys1 := runWith("key-one", "spec-a")
	run2, keys2 := runWith("key-two", "spec-a")
	run3, _ := runWith("key-one", "spec-b")
	if !reflect.DeepEqual(run1.Inputs, run2.Inputs) {
		t.Errorf("rotating a key changed the bench's inputs:\n%v\n%v", run1.Inputs, run2.Inputs)
	}
	if keys1.String("stdin") == keys2.String("stdin") {
		t.Error("the keys command did not see the new key")
	}
	if slices.Equal(run1.Strings("triggers"), run3.Strings("triggers")) {
		t.Errorf("a changed target spec left the triggers alone: %v", run1.Strings("triggers"))
	}
	if trig := run1.Strings("triggers"); trig[0] != "servelab sha256:abababababababab" {
		t.Errorf("triggers %v: the binary's hash is not one", trig)
	}
}

func TestBenchmarkLocalAndFailures(t *testing.T) {
	t.Parallel()
	partial := strings.Replace(recorded(t), `"partial": false`, `"partial": true`, 1)
	tests := []struct {
		name    string
		stdout  string
		targets []benchmark.Target
		wantErr string
	}{
		{name: "recorded", stdout: recorded(t), targets: targets},
		{name: "partial run fails up", stdout: partial, targets: targets,
			wantErr: "benchmark bench: vllm at concurrency 1, rate inf: benchmark run was interrupted (partial results): 22 completed, 0 failed"},
		{name: "missing target fails up", stdout: recorded(t),
			targets: append(targets, benchmark.Target{Target: benchspec.Target{Label: "sglang", BaseURL: "http://x", Model: "m", KeyIndex: -1}}),
			wantErr: "sglang: no result in the bench output"},
		{name: "garbage output", stdout: "not json", targets: targets, wantErr: "decode bench result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(stdoutOf(tt.stdout))
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				key := pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)
				b, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
					Binary: "bin/servelab", BinarySHA256: "00", Targets: tt.targets, Keys: []pulumi.StringInput{key}, Workload: workload,
				})
				if err != nil {
					return err
				}
				_, err = await(b.Results)
				return err
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			run, ok := m.Get("command:local:Command", "bench-run")
			if !ok {
				t.Fatal("no local command")
			}
			if !strings.Contains(run.String("create"), " servelab-bench servelab-test 30m0s 29m30s 1 bin/servelab bench --targets /dev/stdin") {
				t.Errorf("create %q", run.String("create"))
			}
			if run.CreateTimeout != "30m0s" {
				t.Errorf("timeout %q", run.CreateTimeout)
			}
		})
	}
}

func TestBenchmarkArgsErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args *benchmark.BenchmarkArgs
		want string
	}{
		{"nil", nil, "args are required"},
		{"empty", &benchmark.BenchmarkArgs{}, "set Host (run in the lab network) or Binary (run here)"},
		{"binary without hash", &benchmark.BenchmarkArgs{Binary: "bin/servelab"}, "BinarySHA256 is required with Binary"},
		{"timeout too short", &benchmark.BenchmarkArgs{Binary: "x", BinarySHA256: "00", Workload: workload, Timeout: 30 * time.Second}, "timeout 30s is shorter than 1m0s"},
		{"repeats out of range", &benchmark.BenchmarkArgs{Binary: "x", BinarySHA256: "00", Workload: benchspec.Workload{NumPrompts: 1, Repeats: 101}}, "repeats 101 is out of range 1-100"},
		{"no targets", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload}, "no targets"},
		{"repeated label", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload, Targets: []benchmark.Target{
			{Target: benchspec.Target{Label: "a", BaseURL: "u", Model: "m", KeyIndex: -1}}, {Target: benchspec.Target{Label: "a", BaseURL: "u", Model: "m", KeyIndex: -1}}}}, `label "a" is empty or repeated`},
		{"key out of range", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload, Targets: []benchmark.Target{
			{Target: benchspec.Target{Label: "a", BaseURL: "u", Model: "m", KeyIndex: 1}}}}, "key 1 of 0"},
	} {
		err := pulumitest.New(nil).Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
			_, err := benchmark.NewBenchmark(ctx, "bench", tt.args)
			return err
		})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func dependsOn(r pulumitest.Resource, name string) bool {
	for _, d := range r.Dependencies {
		if strings.HasSuffix(d, "::"+name) {
			return true
		}
	}
	return false
}

// What the bench records at the top of its output is kept as it wrote it.
func TestProvenanceKeepsTheBenchsOwn(t *testing.T) {
	t.Parallel()
	out := `{"binary_sha256": "feed", "dataset_hash": "0240ab5e", ` + strings.TrimPrefix(strings.TrimSpace(recorded(t)), "{")
	m := pulumitest.New(stdoutOf(out))
	var results map[string]any
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		b, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
			Binary: "bin/servelab", BinarySHA256: "beef", Targets: targets, Workload: workload,
			Keys: []pulumi.StringInput{pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		results, err = await(b.Results)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	prov := results["provenance"].(map[string]any)
	bench, _ := prov["bench"].(map[string]any)
	if bench["binary_sha256"] != "feed" || bench["dataset_hash"] != "0240ab5e" || bench["runs"] != nil {
		t.Errorf("bench provenance %v", bench)
	}
	if s := prov["servelab"].(map[string]any); s["binarySha256"] != "beef" || s["image"] != nil {
		t.Errorf("servelab provenance %v", s)
	}
}

// Warm-up: unset lets the bench warm each level as deep as its
// concurrency (no flag); an explicit count, 0 included, is passed on.
func TestWarmupFlag(t *testing.T) {
	t.Parallel()
	create := func(warmup *int) string {
		t.Helper()
		m := pulumitest.New(stdoutOf(recorded(t)))
		w := workload
		w.Warmup = warmup
		err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
			_, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
				Binary: "bin/servelab", BinarySHA256: strings.Repeat("ab", 32), Targets: targets, Workload: w,
				Keys: []pulumi.StringInput{pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		run, _ := m.Get("command:local:Command", "bench-run")
		return run.String("create")
	}
	if c := create(nil); strings.Contains(c, "--warmup") {
		t.Errorf("unset warm-up passed a count: %s", c)
	}
	zero, five := 0, 5
	if c := create(&zero); !strings.Contains(c, "--warmup 0") {
		t.Errorf("warm-up 0 not passed: %s", c)
	}
	if c := create(&five); !strings.Contains(c, "--warmup 5") {
		t.Errorf("warm-up 5 not passed: %s", c)
	}
}
