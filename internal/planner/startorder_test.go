package planner_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/planner"
)

// engineOnGPU is a model of how each engine sizes its memory when it
// starts on one GPU of totalGiB, used GiB already held by others:
//
//   - vLLM: budget = --gpu-memory-utilization × total; it refuses to start
//     when less than that is free. KV = budget − its non-KV footprint.
//   - SGLang: static pool = --mem-fraction-static × free memory at its
//     start. KV = pool − its non-KV footprint.
//   - Ollama, llama.cpp: take their reservation.
//
// It returns the engine's KV budget and what it now holds.
func engineOnGPU(p planner.Placement, footprint, totalGiB, used float64) (kv, holds float64, err error) {
	free := totalGiB - used
	switch p.Engine {
	case engine.VLLM:
		budget := p.Fraction * totalGiB
		if free < budget-1e-9 {
			return 0, 0, fmt.Errorf("%s refuses to start: %.2f GiB free < %.2f × %.0f GiB", p.Name, free, p.Fraction, totalGiB)
		}
		return budget - footprint, budget, nil
	case engine.SGLang:
		pool := p.Fraction * free
		if pool <= footprint {
			return 0, 0, fmt.Errorf("%s: pool %.2f GiB holds no KV cache past its %.2f GiB of weights", p.Name, pool, footprint)
		}
		return pool - footprint, pool, nil
	default:
		return p.PerGPUGiB - footprint, p.PerGPUGiB, nil
	}
}

// startAll starts the placements on one GPU in the given order and returns
// each engine's KV budget.
func startAll(ps map[string]planner.Placement, footprints map[string]float64, totalGiB float64, order []string) (map[string]float64, error) {
	kv := map[string]float64{}
	used := 0.0
	for _, name := range order {
		k, holds, err := engineOnGPU(ps[name], footprints[name], totalGiB, used)
		if err != nil {
			return nil, err
		}
		kv[name], used = k, used+holds
	}
	return kv, nil
}

// permutations of names.
func permutations(names []string) [][]string {
	if len(names) <= 1 {
		return [][]string{slices.Clone(names)}
	}
	var out [][]string
	for i, n := range names {
		rest := slices.Concat(names[:i], names[i+1:])
		for _, p := range permutations(rest) {
			out = append(out, append([]string{n}, p...))
		}
	}
	return out
}

// permitted reports whether order starts every placement after the ones
// it must wait for.
func permitted(ps map[string]planner.Placement, order []string) bool {
	for i, n := range order {
		for _, a := range ps[n].After {
			if !slices.Contains(order[:i], a) {
				return false
			}
		}
	}
	return true
}

// TestKVBudgetIndependentOfStartOrder: whatever order Docker would start
// the containers in, the start order the plan enforces (each engine waits
// for the one before it on its GPU) gives every engine the same KV budget,
// equal to what the planner reserved for it (± the fraction's rounding).
// Without it, on the origin box, SGLang's budget depends on what started
// first — it may not fit at all.
func TestKVBudgetIndependentOfStartOrder(t *testing.T) {
	t.Parallel()
	// Qwen2.5-3B in bf16: 3.09e9 × 2 B × 1.2 = 6.906 GiB of weights and
	// overhead, + 3 GiB KV = 9.906 GiB (stacks/Pulumi.rtx5090.yaml).
	w3b := 3.09e9 * 2 * planner.WeightOverhead / (1 << 30)
	// Llama-3.1-8B in bf16: 17.95 GiB.
	w8b := 8.03e9 * 2 * planner.WeightOverhead / (1 << 30)
	tests := []struct {
		name     string
		gpuGiB   float64
		demands  []planner.Demand
		kvGiB    map[string]float64 // planned KV (demand − footprint); absent = reserved engine
		fraction map[string]float64
		after    map[string][]string
		// unordered is what SGLang's KV budget would be across every start
		// order if the order were not enforced ("" to skip).
		unordered string
	}{
		{
			name:   "origin box: RTX 5090, vLLM + SGLang + Ollama",
			gpuGiB: 32,
			demands: []planner.Demand{
				{Name: "vllm", Engine: engine.VLLM, GiB: w3b + 3, Count: 1},
				{Name: "sglang", Engine: engine.SGLang, GiB: w3b + 3, Count: 1},
				{Name: "ollama", Engine: engine.Ollama, GiB: 4, Count: 1},
			},
			kvGiB: map[string]float64{"vllm": 3, "sglang": 3},
			// 9.906/32 = 0.3096 → 0.31 for both: SGLang starts first, on a
			// card with 32 GiB free; vLLM's share is of the whole card;
			// Ollama's 4 GiB are reserved (4/32 = 0.125 → 0.13, reported).
			fraction:  map[string]float64{"sglang": 0.31, "vllm": 0.31, "ollama": 0.13},
			after:     map[string][]string{"sglang": nil, "vllm": {"sglang"}, "ollama": {"vllm"}},
			unordered: "sglang fails when it starts after vllm",
		},
		{
			name:   "h100: vLLM against SGLang, 36 GiB each",
			gpuGiB: 80,
			demands: []planner.Demand{
				{Name: "vllm", Engine: engine.VLLM, GiB: 36, Count: 1},
				{Name: "sglang", Engine: engine.SGLang, GiB: 36, Count: 1},
			},
			kvGiB:     map[string]float64{"vllm": 36 - w8b, "sglang": 36 - w8b},
			fraction:  map[string]float64{"sglang": 0.45, "vllm": 0.45},
			after:     map[string][]string{"sglang": nil, "vllm": {"sglang"}},
			unordered: "sglang's KV spans 18.05 to 1.85 GiB",
		},
		{
			name:   "two SGLangs on one H100: the second's fraction is of what the first left",
			gpuGiB: 80,
			demands: []planner.Demand{
				{Name: "a", Engine: engine.SGLang, GiB: 30, Count: 1},
				{Name: "b", Engine: engine.SGLang, GiB: 30, Count: 1},
			},
			kvGiB: map[string]float64{"a": 30 - w8b, "b": 30 - w8b},
			// a: 30/80 = 0.375 → 0.38; b: 30/(80−30) = 0.6.
			fraction:  map[string]float64{"a": 0.38, "b": 0.6},
			after:     map[string][]string{"a": nil, "b": {"a"}},
			unordered: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := planner.Plan("h", []planner.GPU{{Index: 0, Model: "GPU", MemoryGiB: tt.gpuGiB}}, tt.demands)
			if err != nil {
				t.Fatal(err)
			}
			ps := map[string]planner.Placement{}
			footprints := map[string]float64{}
			var names []string
			for i, p := range got {
				ps[p.Name] = p
				names = append(names, p.Name)
				footprints[p.Name] = tt.demands[i].GiB
				if kv, ok := tt.kvGiB[p.Name]; ok {
					footprints[p.Name] = tt.demands[i].GiB - kv
				}
				if p.Fraction != tt.fraction[p.Name] {
					t.Errorf("%s: fraction %v, want %v", p.Name, p.Fraction, tt.fraction[p.Name])
				}
				if !slices.Equal(p.After, tt.after[p.Name]) {
					t.Errorf("%s: starts after %v, want %v", p.Name, p.After, tt.after[p.Name])
				}
			}
			var budgets []map[string]float64
			for _, order := range permutations(names) {
				if !permitted(ps, order) {
					continue
				}
				kv, err := startAll(ps, footprints, tt.gpuGiB, order)
				if err != nil {
					t.Fatalf("order %v: %v", order, err)
				}
				budgets = append(budgets, kv)
			}
			if len(budgets) == 0 {
				t.Fatal("the plan permits no start order")
			}
			for _, kv := range budgets {
				for name, want := range tt.kvGiB {
					// Equal in every order; within the fraction's rounding
					// (±0.005 of the card) of the plan.
					if kv[name] != budgets[0][name] {
						t.Errorf("%s: KV %.3f GiB in one start order, %.3f in another", name, kv[name], budgets[0][name])
					}
					if math.Abs(kv[name]-want) > 0.005*tt.gpuGiB+1e-9 {
						t.Errorf("%s: KV %.3f GiB, planned %.3f", name, kv[name], want)
					}
				}
			}
			if tt.unordered != "" {
				if got := unorderedSpread(ps, footprints, tt.gpuGiB, names); got != tt.unordered {
					t.Errorf("without the enforced order: %s, want %s", got, tt.unordered)
				}
			}
		})
	}
}

// unorderedSpread describes SGLang's KV budget over every start order,
// ignoring the plan's After: what starting in parallel would give.
func unorderedSpread(ps map[string]planner.Placement, footprints map[string]float64, gpuGiB float64, names []string) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, order := range permutations(names) {
		kv, err := startAll(ps, footprints, gpuGiB, order)
		if err != nil {
			return "sglang fails when it starts after vllm"
		}
		lo, hi = min(lo, kv["sglang"]), max(hi, kv["sglang"])
	}
	return fmt.Sprintf("sglang's KV spans %.2f to %.2f GiB", hi, lo)
}

// TestStartOrderAcrossGPUs: a tensor-parallel SGLang on two GPUs goes
// first on both; each other engine waits for it on its own GPU, and its
// fraction uses the least free memory over its GPUs.
func TestStartOrderAcrossGPUs(t *testing.T) {
	t.Parallel()
	gpus := []planner.GPU{{0, "L40S", 48}, {1, "L40S", 48}}
	got, err := planner.Plan("h", gpus, []planner.Demand{
		{Name: "ollama", Engine: engine.Ollama, GiB: 4, Devices: []int{1}},
		{Name: "vllm", Engine: engine.VLLM, GiB: 20, Devices: []int{0}},
		{Name: "sglang", Engine: engine.SGLang, GiB: 40, Count: 2}, // 20 GiB on each
		{Name: "sglang2", Engine: engine.SGLang, GiB: 10, Devices: []int{0, 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		after    []string
		fraction float64
	}{
		"sglang":  {nil, 0.42},                 // 20/48
		"sglang2": {[]string{"sglang"}, 0.18},  // 5/(48−20)
		"vllm":    {[]string{"sglang2"}, 0.42}, // 20/48, of the whole card
		"ollama":  {[]string{"sglang2"}, 0.08}, // reserved, 4/48
	}
	for _, p := range got {
		w := want[p.Name]
		if !slices.Equal(p.After, w.after) || p.Fraction != w.fraction {
			t.Errorf("%s: after %v fraction %v, want %v %v", p.Name, p.After, p.Fraction, w.after, w.fraction)
		}
	}
}
