// Package planner places inference engines on a host's GPUs and sizes each
// engine's share of GPU memory.
//
// The origin of servelab split one GPU with a fixed 0.45 memory fraction per
// engine and hoped. Here every engine states (or has estimated) what it
// needs; the planner assigns GPUs, checks that on every GPU the sum of
// demands fits in Headroom of its memory, and derives the fractions vLLM
// (--gpu-memory-utilization) and SGLang (--mem-fraction-static) are given.
// Ollama and llama.cpp take no fraction: their demand is reserved so the
// others are sized around them.
//
// The two fractions mean different things. vLLM's is a share of the whole
// card: its budget is fraction × total memory whatever else runs. SGLang's
// is a share of the memory free when SGLang starts: its budget depends on
// what the engines started before it hold. Started in parallel, SGLang's
// KV cache would change from run to run with the start order. So engines
// sharing a GPU start one after another in a planned order (Placement.After:
// each waits until the one before it on its GPUs is ready), and each
// fraction is computed with its engine's own formula for that order:
// SGLang first (nothing else is on the card yet), then vLLM, then llama.cpp,
// then Ollama (which loads lazily, into what is left). See docs/planner.md.
package planner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/servelab/servelab/internal/engine"
)

// Headroom is the share of a GPU's memory the planner will hand out. The
// rest is left for the CUDA context, NCCL buffers and fragmentation.
const Headroom = 0.95

// ErrOvercommitted is wrapped by every over-commitment error.
var ErrOvercommitted = errors.New("GPU memory over-committed")

// GPU is one device on a host, as declared in the stack.
type GPU struct {
	Index     int
	Model     string
	MemoryGiB float64
}

// Demand is one engine instance asking for GPU memory.
type Demand struct {
	Name   string
	Engine engine.Kind
	// GiB is the instance's total memory demand; it is split evenly across
	// the GPUs it is placed on (tensor parallelism shards weights and KV).
	GiB float64
	// Count is how many GPUs to place it on when Devices is empty.
	Count int
	// Devices pins the instance to these GPU indices.
	Devices []int
}

// Placement is where a Demand landed.
type Placement struct {
	Name    string
	Engine  engine.Kind
	Devices []int
	// PerGPUGiB is the demand on each of Devices.
	PerGPUGiB float64
	// Fraction, rounded to two decimals, is the engine's memory flag:
	// vLLM's --gpu-memory-utilization, PerGPUGiB over the smallest placed
	// GPU's memory; SGLang's --mem-fraction-static, PerGPUGiB over the
	// memory its GPUs have free when it starts (total minus the demands
	// of the engines started before it, the least over its GPUs). For
	// other engines it is PerGPUGiB over the GPU's memory, for reports.
	Fraction float64
	// After names the placements that must be ready before this one
	// starts: the one before it in the start order on each of its GPUs.
	After []string
}

// startRank is an engine's place in a GPU's start order. SGLang sizes its
// memory from what is free at its start, so it goes first, onto a card
// nothing else holds yet; vLLM's share is of the whole card; llama.cpp
// offloads a fixed number of layers; Ollama loads lazily into what is left.
func startRank(k engine.Kind) int {
	switch k {
	case engine.SGLang:
		return 0
	case engine.VLLM:
		return 1
	case engine.LlamaCpp:
		return 2
	default:
		return 3
	}
}

// Plan places demands on gpus, in order. A demand with Devices is pinned;
// otherwise it takes the Count GPUs with the most memory still free (lowest
// index on ties), so engines spread before they stack. It returns every
// problem at once: unknown devices, too many GPUs asked for, and each
// over-committed GPU with the engines and GiB on it.
func Plan(host string, gpus []GPU, demands []Demand) ([]Placement, error) {
	byIndex := make(map[int]GPU, len(gpus))
	for _, g := range gpus {
		byIndex[g.Index] = g
	}
	used := make(map[int]float64, len(gpus))
	onGPU := make(map[int][]Placement, len(gpus))

	var errs []error
	placements := make([]Placement, 0, len(demands))
	for _, d := range demands {
		devices, err := choose(gpus, byIndex, used, d)
		if err != nil {
			errs = append(errs, fmt.Errorf("host %s: %s: %w", host, d.Name, err))
			continue
		}
		p := Placement{Name: d.Name, Engine: d.Engine, Devices: devices}
		if len(devices) > 0 {
			p.PerGPUGiB = d.GiB / float64(len(devices))
			for _, i := range devices {
				used[i] += p.PerGPUGiB
				onGPU[i] = append(onGPU[i], p)
			}
		}
		placements = append(placements, p)
	}
	order(byIndex, placements)

	for _, g := range gpus {
		limit := g.MemoryGiB * Headroom
		if used[g.Index] <= limit+1e-9 {
			continue
		}
		parts := make([]string, len(onGPU[g.Index]))
		for i, p := range onGPU[g.Index] {
			parts[i] = fmt.Sprintf("%s (%s) %.1f GiB", p.Name, p.Engine, p.PerGPUGiB)
		}
		errs = append(errs, fmt.Errorf("host %s: GPU %d (%s, %.1f GiB): %w: %s = %.1f GiB > %.1f GiB (%.0f %%)",
			host, g.Index, g.Model, g.MemoryGiB, ErrOvercommitted,
			strings.Join(parts, " + "), used[g.Index], limit, Headroom*100))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return placements, nil
}

// order sets each placement's start order on its GPUs (After) and its
// fraction by its engine's formula for that order. The start order is by
// startRank, then by position in the stack.
func order(byIndex map[int]GPU, placements []Placement) {
	idx := make([]int, len(placements))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return startRank(placements[a].Engine) - startRank(placements[b].Engine)
	})
	started := map[int]float64{} // GiB held on each GPU by the engines started so far
	last := map[int]string{}     // the last engine started on each GPU
	for _, i := range idx {
		p := &placements[i]
		if len(p.Devices) == 0 {
			continue
		}
		whole, free := math.Inf(1), math.Inf(1)
		for _, g := range p.Devices {
			whole = min(whole, byIndex[g].MemoryGiB)
			free = min(free, byIndex[g].MemoryGiB-started[g])
			if prev, ok := last[g]; ok && !slices.Contains(p.After, prev) {
				p.After = append(p.After, prev)
			}
		}
		base := whole
		if p.Engine == engine.SGLang {
			base = free
		}
		p.Fraction = math.Round(p.PerGPUGiB/base*100) / 100
		for _, g := range p.Devices {
			started[g] += p.PerGPUGiB
			last[g] = p.Name
		}
	}
}

func choose(gpus []GPU, byIndex map[int]GPU, used map[int]float64, d Demand) ([]int, error) {
	if d.GiB < 0 {
		return nil, fmt.Errorf("negative memory demand %.1f GiB", d.GiB)
	}
	if len(d.Devices) > 0 {
		seen := make(map[int]bool, len(d.Devices))
		for _, i := range d.Devices {
			if _, ok := byIndex[i]; !ok {
				return nil, fmt.Errorf("GPU %d is not declared on this host (it has %d GPUs)", i, len(gpus))
			}
			if seen[i] {
				return nil, fmt.Errorf("GPU %d listed twice", i)
			}
			seen[i] = true
		}
		return slices.Clone(d.Devices), nil
	}
	if d.Count == 0 {
		return nil, nil
	}
	if d.Count < 0 {
		return nil, fmt.Errorf("negative GPU count %d", d.Count)
	}
	if d.Count > len(gpus) {
		return nil, fmt.Errorf("wants %d GPUs, host has %d", d.Count, len(gpus))
	}
	order := make([]GPU, len(gpus))
	copy(order, gpus)
	slices.SortStableFunc(order, func(a, b GPU) int {
		fa, fb := a.MemoryGiB-used[a.Index], b.MemoryGiB-used[b.Index]
		switch {
		case fa > fb+1e-9:
			return -1
		case fb > fa+1e-9:
			return 1
		}
		return a.Index - b.Index
	})
	devices := make([]int, d.Count)
	for i := range devices {
		devices[i] = order[i].Index
	}
	slices.Sort(devices)
	return devices, nil
}

// bytesPerParam maps a weight dtype or quantisation to bytes per parameter.
// GGUF k-quants use their average bits per weight.
var bytesPerParam = map[string]float64{
	"fp32": 4, "float32": 4,
	"bf16": 2, "bfloat16": 2, "fp16": 2, "float16": 2, "half": 2,
	"fp8": 1, "int8": 1, "q8_0": 8.5 / 8,
	"q6_k": 6.56 / 8, "q5_k_m": 5.69 / 8, "q4_k_m": 4.85 / 8, "q4_0": 4.5 / 8,
	"int4": 0.5, "awq": 0.5, "gptq": 0.5,
}

// Dtypes lists the dtypes EstimateGiB knows, sorted.
func Dtypes() []string {
	out := make([]string, 0, len(bytesPerParam))
	for k := range bytesPerParam {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// WeightOverhead covers activations, CUDA graphs and allocator slack on top
// of the raw weights.
const WeightOverhead = 1.2

// EstimateGiB is the planner's demand for a model of paramsB billion
// parameters stored as dtype, plus kvGiB reserved for the KV cache:
// params × bytes(dtype) × 1.2 + KV.
func EstimateGiB(paramsB float64, dtype string, kvGiB float64) (float64, error) {
	b, ok := bytesPerParam[strings.ToLower(dtype)]
	if !ok {
		return 0, fmt.Errorf("unknown dtype %q (want one of %s)", dtype, strings.Join(Dtypes(), ", "))
	}
	if paramsB <= 0 {
		return 0, fmt.Errorf("model size %.2fB must be positive", paramsB)
	}
	if kvGiB < 0 {
		return 0, fmt.Errorf("KV reserve %.1f GiB must not be negative", kvGiB)
	}
	return paramsB*1e9*b*WeightOverhead/(1<<30) + kvGiB, nil
}
