package benchmark

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// Provenance is what produced a run's results; it sits next to them in
// the stack output (benchmark.provenance) and is what a baseline
// comparison checks before comparing anything.
type Provenance struct {
	// SpecHash is the SHA-256 of the run's triggers: equal hashes, equal
	// inputs.
	SpecHash string `json:"specHash"`
	// Servelab is the servelab that ran the bench.
	Servelab ServelabProvenance `json:"servelab"`
	// Images are the engines' image repo digests by target label.
	Images map[string]string `json:"images,omitempty"`
	// DatasetHash is the bench's SHA-256 of the requests it sent (the
	// same for every target and load level).
	DatasetHash string           `json:"datasetHash"`
	Seed        int64            `json:"seed"`
	Workload    WorkloadSettings `json:"workload"`
	// Bench holds what the bench itself records at the top of its output
	// (e.g. its binary's hash), as it wrote it.
	Bench map[string]any `json:"bench,omitempty"`
}

// ServelabProvenance identifies the servelab code.
type ServelabProvenance struct {
	// Version is the release the bench reported.
	Version string `json:"version"`
	// BinarySHA256 is the hash of the binary run on this machine
	// (runOn: local).
	BinarySHA256 string `json:"binarySha256,omitempty"`
	// Image is the servelab image it ran in (runOn: host); its tag is a
	// hash of the binary's sources.
	Image string `json:"image,omitempty"`
}

// WorkloadSettings is the workload as the stack set it, in the outputs'
// JSON (rates as text: "inf" is not a JSON number).
type WorkloadSettings struct {
	Dataset        string             `json:"dataset"`
	DatasetPath    string             `json:"datasetPath,omitempty"`
	NumPrompts     int                `json:"numPrompts"`
	MaxConcurrency []int              `json:"maxConcurrency"`
	RequestRate    []string           `json:"requestRate"`
	Burstiness     float64            `json:"burstiness"`
	InputLen       int                `json:"inputLen"`
	OutputLen      int                `json:"outputLen"`
	Goodput        map[string]float64 `json:"goodput,omitempty"`
	// Warmup is a request count, or "auto" (as many as each level's
	// concurrency).
	Warmup  any `json:"warmup"`
	Repeats int `json:"repeats"`
}

func workloadSettings(w benchspec.Workload) WorkloadSettings {
	s := WorkloadSettings{
		Dataset: w.Dataset, DatasetPath: w.DatasetPath, NumPrompts: w.NumPrompts,
		MaxConcurrency: slices.Clone(w.MaxConcurrency), Burstiness: w.Burstiness,
		InputLen: w.InputLen, OutputLen: w.OutputLen, Goodput: maps.Clone(w.Goodput),
		Warmup: "auto", Repeats: max(w.Repeats, 1), RequestRate: []string{},
	}
	if w.Warmup != nil {
		s.Warmup = *w.Warmup
	}
	if s.MaxConcurrency == nil {
		s.MaxConcurrency = []int{}
	}
	if s.Burstiness == 0 {
		s.Burstiness = 1
	}
	for _, r := range w.RequestRate {
		if math.IsInf(r, 1) {
			s.RequestRate = append(s.RequestRate, "inf")
		} else {
			s.RequestRate = append(s.RequestRate, strconv.FormatFloat(r, 'g', -1, 64))
		}
	}
	return s
}

// benchProvenance is the bench output's top level minus the runs: what the
// bench records about itself and its workload.
func benchProvenance(stdout string) map[string]any {
	var top map[string]any
	if json.Unmarshal([]byte(stdout), &top) != nil {
		return nil
	}
	if _, ok := top["runs"]; !ok {
		return nil // one bare result: nothing beside it
	}
	if p, ok := top["provenance"].(map[string]any); ok {
		return p // what the bench records about itself and its workload
	}
	delete(top, "runs")
	if len(top) == 0 {
		return nil
	}
	return top
}

// datasetHash is the runs' common dataset hash.
func datasetHash(runs []benchmarks.Result) string {
	for _, r := range runs {
		if r.DatasetSHA256 != "" {
			return r.DatasetSHA256
		}
	}
	return ""
}

func benchVersion(runs []benchmarks.Result) string {
	if len(runs) == 0 {
		return ""
	}
	return runs[0].ServelabVersion
}
