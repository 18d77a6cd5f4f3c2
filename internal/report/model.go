package report

import (
	"cmp"
	"math"
	"strconv"

	"github.com/servelab/servelab/benchmarks"
)

// DefaultTitle is the report title when none is given.
const DefaultTitle = "servelab benchmark comparison"

// Report is the comparison model every renderer reads: series sorted by
// name, each with points sorted by load level.
type Report struct {
	// Title heads the report.
	Title string
	// Sources are the inputs in the order given.
	Sources []SourceInfo
	// Series are sorted by Name.
	Series []Series
	// Levels is the sorted union of every series' load levels.
	Levels []Level
	// Overhead is the gateway's added latency, from stack outputs and
	// from every X / X-direct pair of series of one source, sorted by
	// source, framework and level.
	Overhead []Overhead
	// Comparisons are the stack outputs' own baseline comparisons, in
	// input order, then the one --baseline asks for.
	Comparisons []Comparison
	// Warnings say why the inputs are not comparable (different workloads).
	Warnings []string
	// Notes are provenance and reading notes.
	Notes []string
}

// SourceInfo describes one input file.
type SourceInfo struct {
	Name string
	Path string
	Kind Kind
	// Provenance is what the file records about what produced it; nil
	// when it records nothing (a single bench Result, an older output).
	Provenance *SourceProvenance
}

// SourceProvenance is what produced one input's numbers: a stack
// output's benchmark.provenance or a bench document's provenance.
type SourceProvenance struct {
	// Version is the servelab release.
	Version string
	// BinarySHA256 is the hash of the servelab binary that ran the bench.
	BinarySHA256 string
	// Image is the servelab image it ran in (stack runOn: host).
	Image string
	// SpecHash is the stack's hash of everything that decides results.
	SpecHash string
	// DatasetHash is the hash of the requests sent.
	DatasetHash string
	Seed        string
	// Workload is the workload in one line.
	Workload string
}

// Level is a load point: the cap on in-flight requests and the arrival rate.
type Level struct {
	// MaxConcurrency is the in-flight cap; 0 = unlimited.
	MaxConcurrency int
	// RequestRate is the mean arrival rate in requests/s; +Inf sends every
	// request at t0.
	RequestRate float64
}

// Compare orders levels by concurrency (unlimited last), then rate (inf
// last).
func (l Level) Compare(o Level) int {
	if c := cmp.Compare(concKey(l.MaxConcurrency), concKey(o.MaxConcurrency)); c != 0 {
		return c
	}
	return cmp.Compare(l.RequestRate, o.RequestRate)
}

func concKey(c int) float64 {
	if c == 0 {
		return math.Inf(1)
	}
	return float64(c)
}

// Conc formats the concurrency cap ("unlimited" for 0).
func (l Level) Conc() string {
	if l.MaxConcurrency == 0 {
		return "unlimited"
	}
	return strconv.Itoa(l.MaxConcurrency)
}

// Rate formats the request rate as the bench CLI accepts it ("inf", "2.5").
func (l Level) Rate() string { return benchmarks.Rate(l.RequestRate).String() }

// String is "concurrency 4, rate inf".
func (l Level) String() string { return "concurrency " + l.Conc() + ", rate " + l.Rate() }

// Percentiles are a latency's p50 and p99 in ms. P99 is NaN when the bench
// was not asked for it (--percentiles without 99).
type Percentiles struct {
	P50, P99 float64
}

// Point is one series at one load level. With repeats, every figure is the
// median over them and Spread holds each one's range; counts are totals.
type Point struct {
	Level
	// Repeats is how many runs the figures summarise (1 for one run).
	Repeats           int
	Completed, Failed int
	// RequestThroughput is completed requests/s.
	RequestThroughput float64
	// OutputThroughput is output tokens/s.
	OutputThroughput float64
	// Goodput is requests/s meeting every SLO; nil without SLOs.
	Goodput *float64
	// TTFT, TPOT, ITL and E2EL in ms.
	TTFT, TPOT, ITL, E2EL Percentiles
	// Spread is each figure's min and max over the repeats, by figure
	// path ("ttftMs.p50"); nil for one run.
	Spread map[string]MinMax
	// Partial marks an interrupted bench run.
	Partial bool
	// Languages is the per-language breakdown, sorted by language.
	Languages []Language
}

// Language is one language of a multilingual run: the fields both bench
// results and stack outputs carry.
type Language struct {
	Language          string
	Completed, Failed int
	OutputThroughput  float64
	TTFT, TPOT        Percentiles
}

// Series is one target of one source: "rtx5090/vllm".
type Series struct {
	// Name is Source + "/" + Label (Source alone for an unlabelled result).
	Name   string
	Source string
	Label  string
	Kind   Kind
	// Engine and Model come from bench results ("" for stack outputs,
	// which do not record them).
	Engine, Model string
	// Image is the engine's image: a stack's resolved repo digest, or the
	// image a bench target declared.
	Image string
	// KVCacheTokens is the engine's KV-cache capacity in tokens as the
	// bench read it ("" when unknown).
	KVCacheTokens string
	// Provenance is what the input records about the series' runs.
	Provenance Provenance
	// Points are sorted by level.
	Points []Point
}

// Provenance is what an input records about how a series was produced.
// When a series' runs disagree, the distinct values are joined with ", ".
type Provenance struct {
	// Recorded is false for stack outputs made before servelab recorded
	// provenance: their workload cannot be checked.
	Recorded      bool
	Version       string
	Dataset       string
	Seed          string
	DatasetSHA256 string
	Goodput       string // SLOs, "ttft:100,tpot:50"
	StartedAt     string // earliest run start, RFC 3339 UTC
}

// Overhead is the gateway's added latency for one framework at one level:
// latency through the gateway minus latency reached directly.
type Overhead struct {
	Source    string
	Framework string
	Level
	TTFTP50Ms, TTFTP99Ms, E2ELP50Ms float64
	// Derived is true when the report computed it from the series
	// Framework and Framework-direct, false when a stack output carried it.
	Derived bool
}

// HasLanguages reports whether any point has a per-language breakdown.
func (r *Report) HasLanguages() bool {
	for _, s := range r.Series {
		for _, p := range s.Points {
			if len(p.Languages) > 0 {
				return true
			}
		}
	}
	return false
}
