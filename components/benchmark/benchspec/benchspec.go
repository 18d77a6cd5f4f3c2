// Package benchspec is what the benchmark runs, without Pulumi: its
// targets and seeded workload, the targets file and argv of `servelab
// bench`, and the parsing of its JSON output into the stack output
// `benchmark`. The Benchmark component (components/benchmark), its
// Kubernetes runner and `make demo` all run the bench through it.
package benchspec

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout bounds a run when the stack sets no timeout;
// MinTimeout is the shortest timeout accepted.
const (
	DefaultTimeout = 30 * time.Minute
	MinTimeout     = time.Minute
)

// Target is one endpoint the benchmark measures, as the bench's targets
// file names it.
type Target struct {
	// Label names the target in results and outputs: a framework name
	// (through the gateway), "<framework>-direct", "gateway", or a bench
	// stack's target name.
	Label   string
	BaseURL string
	Model   string
	// Engine and Image are provenance (Engine "gateway" for the gateway).
	Engine string
	Image  string
	// Framework is the framework the target measures ("" for none).
	Framework string
	// Direct is true when the target bypasses the gateway.
	Direct bool
	// KeyIndex selects the API key (in Keys order) sent as bearer token; -1
	// for none.
	KeyIndex int
	// MetricsURL is the Prometheus endpoint of the engine behind the
	// target, as reachable from where the bench runs ("" = none): the
	// bench reads the engine's KV-cache capacity from it.
	MetricsURL string
}

// Workload is the seeded load every target receives.
type Workload struct {
	Dataset        string
	DatasetPath    string
	NumPrompts     int
	MaxConcurrency []int
	// RequestRate in requests/s; +Inf = all at once.
	RequestRate []float64
	Burstiness  float64
	InputLen    int
	OutputLen   int
	Seed        int64
	// Goodput SLOs in ms by metric (ttft, tpot, e2el).
	Goodput map[string]float64
	// Warmup is the unmeasured requests before each load level; nil lets
	// the bench warm each level with as many requests as its concurrency.
	Warmup *int
	// Repeats runs every load level this many times (1 when zero); the
	// outputs give the median and the spread.
	Repeats int
	// RequestTimeout bounds one request ("5m" when empty).
	RequestTimeout string
}

// Deadline is the bench's own bound for a run whose command is killed at
// timeout: a margin earlier (a tenth of it, between 10 s and 30 s), so
// the bench cancels its requests, reports and exits by itself.
func Deadline(timeout time.Duration) time.Duration {
	return timeout - min(max(timeout/10, 10*time.Second), 30*time.Second)
}

// KeyEnv is the environment variable that carries the i-th API key into
// the bench process.
func KeyEnv(i int) string { return "SERVELAB_BENCH_KEY_" + strconv.Itoa(i) }

// TargetsFile is the JSON `servelab bench --targets` reads: each target's
// label, URL, model, provenance, metrics URL and, for a target with a key,
// the environment variable holding it (SERVELAB_BENCH_KEY_<KeyIndex>).
func TargetsFile(targets []Target) ([]byte, error) {
	type entry struct {
		Label      string `json:"label"`
		BaseURL    string `json:"base_url"`
		Model      string `json:"model"`
		Engine     string `json:"engine,omitempty"`
		Image      string `json:"image,omitempty"`
		APIKeyEnv  string `json:"api_key_env,omitempty"`
		MetricsURL string `json:"metrics_url,omitempty"`
	}
	doc := struct {
		Targets []entry `json:"targets"`
	}{}
	for _, t := range targets {
		e := entry{Label: t.Label, BaseURL: t.BaseURL, Model: t.Model, Engine: t.Engine, Image: t.Image, MetricsURL: t.MetricsURL}
		if t.KeyIndex >= 0 {
			e.APIKeyEnv = KeyEnv(t.KeyIndex)
		}
		doc.Targets = append(doc.Targets, e)
	}
	return json.Marshal(doc)
}

// Argv is the argv after `servelab` (or the servelab image's
// entrypoint): the bench subcommand reading its targets from stdin,
// bounded by deadline.
func Argv(w Workload, deadline time.Duration) []string {
	head, rest := workloadFlags(w)
	args := append([]string{"bench", "--targets", "/dev/stdin", "--runs", "--log-level", "warn"}, head...)
	args = append(args, "--repeats", strconv.Itoa(max(w.Repeats, 1)), "--deadline", deadline.String())
	return append(args, rest...)
}

// WorkloadFlags are the `servelab bench` flags that give it workload w,
// but for its repeats (`make demo` runs each load level once).
func WorkloadFlags(w Workload) []string {
	head, rest := workloadFlags(w)
	return append(head, rest...)
}

// workloadFlags are w's flags in the order the bench command has them:
// dataset, size and seed first, the rest after the repeats and deadline.
func workloadFlags(w Workload) (head, rest []string) {
	head = []string{"--dataset", w.Dataset, "--num-prompts", strconv.Itoa(w.NumPrompts), "--seed", strconv.FormatInt(w.Seed, 10)}
	if w.DatasetPath != "" {
		rest = append(rest, "--dataset-path", w.DatasetPath)
	}
	if len(w.MaxConcurrency) > 0 {
		s := make([]string, len(w.MaxConcurrency))
		for i, c := range w.MaxConcurrency {
			s[i] = strconv.Itoa(c)
		}
		rest = append(rest, "--max-concurrency", strings.Join(s, ","))
	}
	if len(w.RequestRate) > 0 {
		s := make([]string, len(w.RequestRate))
		for i, r := range w.RequestRate {
			if math.IsInf(r, 1) {
				s[i] = "inf"
			} else {
				s[i] = strconv.FormatFloat(r, 'g', -1, 64)
			}
		}
		rest = append(rest, "--request-rate", strings.Join(s, ","))
	}
	if w.Burstiness > 0 {
		rest = append(rest, "--burstiness", strconv.FormatFloat(w.Burstiness, 'g', -1, 64))
	}
	if w.Dataset == "random" {
		if w.InputLen > 0 {
			rest = append(rest, "--random-input-len", strconv.Itoa(w.InputLen))
		}
		if w.OutputLen > 0 {
			rest = append(rest, "--random-output-len", strconv.Itoa(w.OutputLen))
		}
	} else if w.OutputLen > 0 {
		rest = append(rest, "--output-len", strconv.Itoa(w.OutputLen))
	}
	if len(w.Goodput) > 0 {
		var slo []string
		for _, k := range []string{"ttft", "tpot", "e2el"} {
			if v, ok := w.Goodput[k]; ok {
				slo = append(slo, k+":"+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		rest = append(rest, "--goodput", strings.Join(slo, ","))
	}
	if w.Warmup != nil {
		rest = append(rest, "--warmup", strconv.Itoa(*w.Warmup))
	}
	if w.RequestTimeout != "" {
		rest = append(rest, "--timeout", w.RequestTimeout)
	}
	return head, rest
}
