package benchmark_test

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark"
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
	{Label: "vllm", BaseURL: "http://gateway:8080", Model: "vllm", Engine: "gateway", Framework: "vllm", KeyIndex: 0},
	{Label: "vllm-direct", BaseURL: "http://vllm:8000", Model: "vllm", Engine: "vllm", Framework: "vllm", Direct: true, KeyIndex: -1},
	{Label: "ollama", BaseURL: "http://gateway:8080", Model: "ollama", Engine: "gateway", Framework: "ollama", KeyIndex: 0},
}

var workload = benchmark.Workload{Dataset: "multilingual", NumPrompts: 22, MaxConcurrency: []int{1, 4}, OutputLen: 16, Seed: 42,
	Goodput: map[string]float64{"ttft": 100}}

func stdoutOf(out string) pulumitest.OutputsFunc {
	return func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if strings.HasSuffix(args.Name, "-run") {
			return resource.PropertyMap{"stdout": resource.NewProperty(out)}
		}
		if strings.HasSuffix(args.Name, "-probe") {
			return resource.PropertyMap{"stdout": resource.NewProperty("### servelab:gpus\nNo devices were found\n### servelab:runtimes\n{}\n")}
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
		b, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
			Host: h, Image: pulumi.String("servelab:0.1.0-abc"), Targets: targets, Keys: []pulumi.StringInput{key},
			Workload: workload, Provenance: []string{"vllm/vllm-openai:v0.32.1"}, After: []pulumi.Resource{h},
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
	if run.ParentName() != "bench" || !dependsOn(run, "gpu1-probe") {
		t.Errorf("parent %q deps %v", run.ParentName(), run.Dependencies)
	}
	create := run.String("create")
	want := "IFS= read -r SERVELAB_BENCH_KEY_0 && export SERVELAB_BENCH_KEY_0 && exec docker run --rm -i --network servelab-test-lab " +
		"-e SERVELAB_BENCH_KEY_0 servelab:0.1.0-abc bench --targets /dev/stdin --runs --log-level warn --dataset multilingual " +
		"--num-prompts 22 --seed 42 --max-concurrency 1,4 --output-len 16 --goodput ttft:100"
	if create != want {
		t.Errorf("create\n got %q\nwant %q", create, want)
	}
	if strings.Contains(create, "sk-gateway-key") {
		t.Error("the API key is in the command line")
	}
	if !slices.Contains(run.Secrets(), "stdin") {
		t.Errorf("stdin is not secret: %v", run.Secrets())
	}
	stdin := run.String("stdin")
	key, targetsDoc, _ := strings.Cut(stdin, "\n")
	if key != "sk-gateway-key" || !json.Valid([]byte(targetsDoc)) || strings.Contains(targetsDoc, "sk-") {
		t.Errorf("stdin = %q", stdin)
	}
	if run.String("logging") != "stderr" {
		t.Errorf("logging %q: the result JSON belongs in outputs, not logs", run.String("logging"))
	}
	if trig := run.Strings("triggers"); len(trig) != 2 || trig[0] != "servelab 0.1.0" || !strings.HasPrefix(trig[1], "inputs ") {
		t.Errorf("triggers %v", trig)
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
		{name: "partial run fails up", stdout: partial, targets: targets, wantErr: "benchmark bench: vllm: benchmark run was interrupted (partial results)"},
		{name: "missing target fails up", stdout: recorded(t),
			targets: append(targets, benchmark.Target{Label: "sglang", BaseURL: "http://x", Model: "m", KeyIndex: -1}),
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
					Binary: "/opt/servelab/bin/servelab", Targets: tt.targets, Keys: []pulumi.StringInput{key}, Workload: workload,
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
			if !strings.HasPrefix(run.String("create"), "IFS= read -r SERVELAB_BENCH_KEY_0 && export SERVELAB_BENCH_KEY_0 && exec /opt/servelab/bin/servelab bench --targets /dev/stdin") {
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
		{"no targets", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload}, "no targets"},
		{"repeated label", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload, Targets: []benchmark.Target{
			{Label: "a", BaseURL: "u", Model: "m", KeyIndex: -1}, {Label: "a", BaseURL: "u", Model: "m", KeyIndex: -1}}}, `label "a" is empty or repeated`},
		{"key out of range", &benchmark.BenchmarkArgs{Binary: "x", Workload: workload, Targets: []benchmark.Target{
			{Label: "a", BaseURL: "u", Model: "m", KeyIndex: 1}}}, "key 1 of 0"},
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
