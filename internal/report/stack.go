package report

import (
	"encoding/json"
	"strconv"

	"github.com/servelab/servelab/benchmarks/summary"
)

// stackBenchmark is the Benchmark component's stack output (`benchmark`)
// as the report reads it: components/benchmark writes it, docs/bench.md
// and contract C2 give its shape. This is a reading copy, so that the
// report does not link the Pulumi SDK; everything added after the first
// release (repeats, spread, KV-cache capacity, provenance, comparison) is
// optional, and outputs without it still load.
type stackBenchmark struct {
	Targets  map[string][]stackRun         `json:"targets"`
	Overhead map[string][]summary.Overhead `json:"gatewayOverhead,omitempty"`
	// KVCacheCapacityTokens is each target's engine KV-cache capacity, in
	// tokens, when the engine reported one.
	KVCacheCapacityTokens map[string]int64 `json:"kvCacheCapacityTokens,omitempty"`
	Provenance            *stackProvenance `json:"provenance,omitempty"`
	Comparison            *stackComparison `json:"comparison,omitempty"`
}

// stackRun is one target at one load level. With repeats its figures are
// medians, Repeats says over how many runs and Spread holds each figure's
// min and max by its JSON path (contract C2). The two fields shadow
// summary.Run's own once the bench's summary carries them.
type stackRun struct {
	summary.Run
	Repeats int               `json:"repeats,omitempty"`
	Spread  map[string]MinMax `json:"spread,omitempty"`
}

// stackProvenance is `benchmark.provenance`: what produced the results.
type stackProvenance struct {
	SpecHash    string            `json:"specHash"`
	Servelab    stackServelab     `json:"servelab"`
	Images      map[string]string `json:"images,omitempty"`
	DatasetHash string            `json:"datasetHash"`
	Seed        int64             `json:"seed"`
	Workload    stackWorkload     `json:"workload"`
	// Bench is the bench's own provenance, as the component found it.
	Bench map[string]any `json:"bench,omitempty"`
}

type stackServelab struct {
	Version      string `json:"version"`
	BinarySHA256 string `json:"binarySha256,omitempty"`
	Image        string `json:"image,omitempty"`
}

// stackWorkload is the workload as the stack set it.
type stackWorkload struct {
	Dataset        string             `json:"dataset"`
	DatasetPath    string             `json:"datasetPath,omitempty"`
	NumPrompts     int                `json:"numPrompts"`
	MaxConcurrency []int              `json:"maxConcurrency"`
	RequestRate    []string           `json:"requestRate"`
	Burstiness     float64            `json:"burstiness"`
	InputLen       int                `json:"inputLen"`
	OutputLen      int                `json:"outputLen"`
	Goodput        map[string]float64 `json:"goodput,omitempty"`
	// Warmup is a request count, or "auto".
	Warmup  json.RawMessage `json:"warmup,omitempty"`
	Repeats int             `json:"repeats"`
}

// stackComparison is `benchmark.comparison`: this stack against a
// baseline stack, per target and load level.
type stackComparison struct {
	Baseline         string                            `json:"baseline"`
	VerdictPct       float64                           `json:"verdictPct"`
	FailOnRegression float64                           `json:"failOnRegressionPct,omitempty"`
	Targets          map[string][]stackLevelComparison `json:"targets"`
}

type stackLevelComparison struct {
	MaxConcurrency int              `json:"maxConcurrency"`
	RequestRate    string           `json:"requestRate"`
	Verdict        string           `json:"verdict"`
	Figures        map[string]Ratio `json:"figures"`
}

// benchDocument is what a `servelab bench` JSON document carries beside
// the Result fields benchmarks.Decode reads (contract C2): the document's
// provenance and each run's repeat number and KV-cache capacity.
type benchDocument struct {
	Provenance *benchProvenance `json:"provenance"`
	Runs       []benchRunExtras `json:"runs"`
}

type benchRunExtras struct {
	// Repeat is the run's repetition of its load level, from 1; 0 in
	// documents older than repeats.
	Repeat                int    `json:"repeat"`
	KVCacheCapacityTokens *int64 `json:"kv_cache_capacity_tokens"`
}

// benchProvenance is the top-level provenance of a `--runs` document.
type benchProvenance struct {
	ServelabVersion string        `json:"servelab_version"`
	BinarySHA256    string        `json:"binary_sha256"`
	DatasetHash     string        `json:"dataset_hash"`
	Seed            int64         `json:"seed"`
	Workload        benchWorkload `json:"workload"`
}

type benchWorkload struct {
	Dataset        string          `json:"dataset"`
	DatasetPath    string          `json:"dataset_path"`
	NumPrompts     int             `json:"num_prompts"`
	Endpoint       string          `json:"endpoint"`
	MaxConcurrency []int           `json:"max_concurrency"`
	RequestRates   []jsonRate      `json:"request_rates"`
	Burstiness     float64         `json:"burstiness"`
	InputLen       int             `json:"input_len"`
	OutputLen      int             `json:"output_len"`
	Warmup         json.RawMessage `json:"warmup"`
	Repeats        int             `json:"repeats"`
}

// jsonRate is a request rate as the bench writes it: a number or "inf".
type jsonRate string

// UnmarshalJSON accepts a number or a string.
func (r *jsonRate) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*r = jsonRate(s)
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*r = jsonRate(strconv.FormatFloat(f, 'f', -1, 64))
	return nil
}

// warmupText shows a warm-up setting: a count, "auto", or "" when absent.
func warmupText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n float64
	if json.Unmarshal(raw, &n) == nil {
		return strconv.FormatFloat(n, 'f', -1, 64)
	}
	return ""
}
