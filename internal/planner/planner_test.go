package planner_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/planner"
)

func rtx5090() []planner.GPU {
	return []planner.GPU{{Index: 0, Model: "RTX 5090", MemoryGiB: 32}}
}

func TestPlanOriginBox(t *testing.T) {
	t.Parallel()
	// The origin box: one 32 GiB RTX 5090 shared by vLLM, SGLang and Ollama.
	got, err := planner.Plan("rtx5090", rtx5090(), []planner.Demand{
		{Name: "vllm", Engine: engine.VLLM, GiB: 11.2, Count: 1},
		{Name: "sglang", Engine: engine.SGLang, GiB: 11.2, Count: 1},
		{Name: "ollama", Engine: engine.Ollama, GiB: 6.4, Count: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 11.2/32 = 0.35; Ollama's 6.4 GiB is reserved, 0.2 of the card.
	want := []struct {
		devices  []int
		fraction float64
	}{{[]int{0}, 0.35}, {[]int{0}, 0.35}, {[]int{0}, 0.2}}
	for i, w := range want {
		if !equalInts(got[i].Devices, w.devices) || got[i].Fraction != w.fraction {
			t.Errorf("%s: devices %v fraction %v, want %v %v", got[i].Name, got[i].Devices, got[i].Fraction, w.devices, w.fraction)
		}
	}
}

func TestPlanOvercommitNamesEverything(t *testing.T) {
	t.Parallel()
	// 14 + 14 + 4 = 32 GiB > 30.4 GiB (95 % of 32).
	_, err := planner.Plan("rtx5090", rtx5090(), []planner.Demand{
		{Name: "vllm", Engine: engine.VLLM, GiB: 14, Count: 1},
		{Name: "sglang", Engine: engine.SGLang, GiB: 14, Count: 1},
		{Name: "ollama", Engine: engine.Ollama, GiB: 4, Count: 1},
	})
	if !errors.Is(err, planner.ErrOvercommitted) {
		t.Fatalf("err = %v, want ErrOvercommitted", err)
	}
	msg := err.Error()
	for _, s := range []string{"host rtx5090", "GPU 0", "RTX 5090", "vllm (vllm) 14.0 GiB", "sglang (sglang) 14.0 GiB", "ollama (ollama) 4.0 GiB", "32.0 GiB > 30.4 GiB (95 %)"} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q lacks %q", msg, s)
		}
	}
}

func TestPlanExactlyAtHeadroomFits(t *testing.T) {
	t.Parallel()
	_, err := planner.Plan("h", []planner.GPU{{Index: 0, Model: "H100", MemoryGiB: 80}}, []planner.Demand{
		{Name: "a", Engine: engine.VLLM, GiB: 40, Count: 1},
		{Name: "b", Engine: engine.SGLang, GiB: 36, Count: 1},
	})
	if err != nil {
		t.Fatalf("76 GiB on 80 GiB (exactly 95 %%) should fit: %v", err)
	}
}

func TestPlanSpreadsAndShards(t *testing.T) {
	t.Parallel()
	gpus := []planner.GPU{{0, "H100", 80}, {1, "H100", 80}, {2, "H100", 80}, {3, "H100", 80}}
	got, err := planner.Plan("fleet-a", gpus, []planner.Demand{
		{Name: "tp2", Engine: engine.VLLM, GiB: 120, Count: 2},  // 60 GiB on each of 0,1
		{Name: "one", Engine: engine.VLLM, GiB: 30, Count: 1},   // emptiest: 2
		{Name: "two", Engine: engine.SGLang, GiB: 30, Count: 1}, // emptiest: 3
		{Name: "pinned", Engine: engine.Ollama, GiB: 10, Devices: []int{0}},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDevices := [][]int{{0, 1}, {2}, {3}, {0}}
	for i, w := range wantDevices {
		if !equalInts(got[i].Devices, w) {
			t.Errorf("%s on %v, want %v", got[i].Name, got[i].Devices, w)
		}
	}
	if got[0].PerGPUGiB != 60 || got[0].Fraction != 0.75 {
		t.Errorf("tp2: %v GiB/GPU fraction %v, want 60 and 0.75", got[0].PerGPUGiB, got[0].Fraction)
	}
}

func TestPlanInputErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		demand planner.Demand
		want   string
	}{
		{"unknown device", planner.Demand{Name: "x", GiB: 1, Devices: []int{3}}, "host h: x: GPU 3 is not declared on this host (it has 1 GPUs)"},
		{"device twice", planner.Demand{Name: "x", GiB: 1, Devices: []int{0, 0}}, "GPU 0 listed twice"},
		{"too many", planner.Demand{Name: "x", GiB: 1, Count: 2}, "wants 2 GPUs, host has 1"},
		{"negative count", planner.Demand{Name: "x", GiB: 1, Count: -1}, "negative GPU count -1"},
		{"negative GiB", planner.Demand{Name: "x", GiB: -1, Count: 1}, "negative memory demand"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := planner.Plan("h", rtx5090(), []planner.Demand{tt.demand})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestPlanCPUOnlyDemand(t *testing.T) {
	t.Parallel()
	got, err := planner.Plan("laptop", nil, []planner.Demand{{Name: "ollama", Engine: engine.Ollama}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0].Devices) != 0 || got[0].Fraction != 0 {
		t.Errorf("CPU demand placed on %v with fraction %v", got[0].Devices, got[0].Fraction)
	}
}

func TestEstimateGiB(t *testing.T) {
	t.Parallel()
	tests := []struct {
		params float64
		dtype  string
		kv     float64
		want   float64
	}{
		// 7e9 × 2 B × 1.2 / 2^30 = 15.646 GiB, + 2 GiB KV
		{7, "bf16", 2, 7e9*2*1.2/(1<<30) + 2},
		{8, "FP8", 0, 8e9 * 1 * 1.2 / (1 << 30)},
		{0.5, "q4_k_m", 1, 0.5e9*4.85/8*1.2/(1<<30) + 1},
	}
	for _, tt := range tests {
		got, err := planner.EstimateGiB(tt.params, tt.dtype, tt.kv)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("EstimateGiB(%v, %s, %v) = %v, want %v", tt.params, tt.dtype, tt.kv, got, tt.want)
		}
	}
	if _, err := planner.EstimateGiB(7, "fp12", 0); err == nil || !strings.Contains(err.Error(), `unknown dtype "fp12"`) {
		t.Errorf("unknown dtype: err = %v", err)
	}
	if _, err := planner.EstimateGiB(0, "bf16", 0); err == nil {
		t.Error("zero params accepted")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
