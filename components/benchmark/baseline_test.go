package benchmark_test

import (
	"encoding/json"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/benchmark"
	"github.com/servelab/servelab/internal/pulumitest"
)

// outputs is a benchmark stack output with one target at one level.
func outputs(datasetHash string, levels []int, throughput, ttftP99 float64) map[string]any {
	var doc map[string]any
	b, _ := json.Marshal(map[string]any{
		"targets": map[string]any{"vllm": []any{map[string]any{
			"maxConcurrency": 16, "requestRate": "inf", "outputThroughput": throughput, "requestThroughput": 4.0,
			"goodput": nil, "ttftMs": map[string]any{"p50": 50.0, "p99": ttftP99},
		}}},
		"provenance": map[string]any{"specHash": "x", "datasetHash": datasetHash, "seed": 42, "workload": map[string]any{
			"dataset": "random", "numPrompts": 500, "maxConcurrency": levels, "requestRate": []string{}, "burstiness": 1,
			"inputLen": 1024, "outputLen": 256, "warmup": 0, "repeats": 3,
		}},
	})
	_ = json.Unmarshal(b, &doc)
	return doc
}

func TestCompare(t *testing.T) {
	t.Parallel()
	cur := outputs("h1", []int{16}, 900, 100)
	noProvenance := outputs("h1", []int{16}, 1000, 100)
	delete(noProvenance, "provenance")
	otherTarget := outputs("h1", []int{16}, 1000, 100)
	otherTarget["targets"] = map[string]any{"sglang": otherTarget["targets"].(map[string]any)["vllm"]}
	tests := []struct {
		name     string
		b        benchmark.Baseline
		baseline any
		verdict  string
		figure   string // its verdict must be figVerdict
		figV     string
		wantErr  string
	}{
		{name: "same numbers", b: benchmark.Baseline{Stack: "h100"}, baseline: outputs("h1", []int{16}, 900, 100),
			verdict: benchmark.Unchanged, figure: "outputThroughput", figV: benchmark.Unchanged},
		{name: "10% less throughput is reported", b: benchmark.Baseline{Stack: "h100"}, baseline: outputs("h1", []int{16}, 1000, 100),
			verdict: benchmark.Regressed, figure: "outputThroughput", figV: benchmark.Regressed},
		{name: "within the failure threshold", b: benchmark.Baseline{Stack: "h100", FailOnRegression: 15}, baseline: outputs("h1", []int{16}, 1000, 100),
			verdict: benchmark.Unchanged, figure: "outputThroughput", figV: benchmark.Unchanged},
		{name: "beyond it fails up", b: benchmark.Baseline{Stack: "h100", FailOnRegression: 5}, baseline: outputs("h1", []int{16}, 1000, 100),
			wantErr: "benchmark regressed beyond 5% against baseline stack \"h100\":\n  vllm at concurrency 16, rate inf: outputThroughput 900, baseline 1000 (-10.0%)"},
		{name: "lower latency is better", b: benchmark.Baseline{Stack: "h100"}, baseline: outputs("h1", []int{16}, 900, 150),
			verdict: benchmark.Improved, figure: "ttftMs.p99", figV: benchmark.Improved},
		{name: "higher latency fails", b: benchmark.Baseline{Stack: "org/servelab/h100", FailOnRegression: 20}, baseline: outputs("h1", []int{16}, 900, 50),
			wantErr: "ttftMs.p99 100, baseline 50 (-100.0%)"},
		{name: "no benchmark outputs", b: benchmark.Baseline{Stack: "h100"}, baseline: nil,
			wantErr: `baseline stack "h100" has no benchmark outputs: run its benchmark first`},
		{name: "no provenance", b: benchmark.Baseline{Stack: "h100"}, baseline: noProvenance,
			wantErr: `baseline stack "h100"'s benchmark output has no provenance`},
		{name: "another workload", b: benchmark.Baseline{Stack: "h100"}, baseline: outputs("h2", []int{16, 64}, 900, 100),
			wantErr: `baseline stack "h100" ran a different workload, so its numbers do not compare: datasetHash "h2" (baseline) vs "h1" (this stack); maxConcurrency [16,64] (baseline) vs [16] (this stack)`},
		{name: "nothing in common", b: benchmark.Baseline{Stack: "h100"}, baseline: otherTarget,
			wantErr: `baseline stack "h100" has no target and load level in common with this stack (its targets: sglang)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := benchmark.Compare(tt.b, tt.baseline, cur)
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			lc := c.Targets["vllm"]
			if len(lc) != 1 || lc[0].Verdict != tt.verdict || lc[0].Figures[tt.figure].Verdict != tt.figV {
				t.Fatalf("comparison %+v", c)
			}
			if _, ok := lc[0].Figures["goodput"]; ok {
				t.Error("a null figure was compared")
			}
		})
	}
}

// The baseline is read with a StackReference, whose outputs are mocked.
func TestBenchmarkBaselineUnderMocks(t *testing.T) {
	t.Parallel()
	// This stack's own outputs, as the baseline's: equal numbers.
	own, err := runBench(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	worse := deepCopy(own)
	for _, r := range worse["targets"].(map[string]any)["vllm"].([]any) {
		r := r.(map[string]any)
		r["outputThroughput"] = r["outputThroughput"].(float64) * 2
	}
	otherSeed := deepCopy(own)
	otherSeed["provenance"].(map[string]any)["datasetHash"] = "0000"

	for _, tt := range []struct {
		name     string
		baseline map[string]any
		failOn   float64
		wantErr  string
	}{
		{name: "equal", baseline: own, failOn: 5},
		{name: "regressed", baseline: worse, failOn: 5,
			wantErr: "benchmark bench: benchmark regressed beyond 5% against baseline stack \"h100\":\n  vllm at concurrency 1, rate inf: outputThroughput"},
		{name: "other workload", baseline: otherSeed, wantErr: `datasetHash "0000" (baseline) vs`},
		{name: "stack without benchmark", baseline: nil, wantErr: `baseline stack "h100" has no benchmark outputs`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := runBench(t, &benchmark.Baseline{Stack: "h100", FailOnRegression: tt.failOn}, tt.baseline)
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			cmp := got["comparison"].(map[string]any)
			if cmp["baseline"] != "h100" || len(cmp["targets"].(map[string]any)) != 3 {
				t.Errorf("comparison %v", cmp)
			}
			for _, lc := range cmp["targets"].(map[string]any)["vllm"].([]any) {
				if v := lc.(map[string]any)["verdict"]; v != benchmark.Unchanged {
					t.Errorf("equal numbers judged %v", v)
				}
			}
		})
	}
}

// runBench runs the component on the recorded output, with the baseline
// stack's benchmark output mocked.
func runBench(t *testing.T, b *benchmark.Baseline, baseline map[string]any) (map[string]any, error) {
	t.Helper()
	bench := stdoutOf(recorded(t))
	m := pulumitest.New(func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if args.TypeToken == "pulumi:pulumi:StackReference" {
			if args.Inputs["name"].StringValue() != "h100" {
				t.Errorf("stack reference to %v", args.Inputs["name"])
			}
			outs := map[string]any{}
			if baseline != nil {
				outs["benchmark"] = baseline
			}
			return resource.PropertyMap{"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(outs))}
		}
		return bench(args)
	})
	var results map[string]any
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		bm, err := benchmark.NewBenchmark(ctx, "bench", &benchmark.BenchmarkArgs{
			Binary: "bin/servelab", BinarySHA256: "00", Targets: targets, Workload: workload, Baseline: b,
			Keys: []pulumi.StringInput{pulumi.ToSecret(pulumi.String("k")).(pulumi.StringOutput)},
		})
		if err != nil {
			return err
		}
		results, err = await(bm.Results)
		return err
	})
	return results, err
}

func deepCopy(m map[string]any) map[string]any {
	var out map[string]any
	b, _ := json.Marshal(m)
	_ = json.Unmarshal(b, &out)
	return out
}
