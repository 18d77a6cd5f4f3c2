package benchmark

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Target is one endpoint the benchmark measures.
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
	// Spec is what else decides this target's results: the rendered spec
	// of the engine(s) behind it and, through the gateway, the gateway's
	// config and image. Its hash is one of the run's triggers. Nil for a
	// target whose label, URL and model say it all (program bench).
	Spec pulumi.StringInput
	// ImageDigest is the engine image's repo digest, recorded in the
	// outputs' provenance (nil = not known).
	ImageDigest pulumi.StringInput
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
	Warmup  int
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

// keyEnv is the environment variable that carries the i-th API key into
// the bench process.
func keyEnv(i int) string { return "SERVELAB_BENCH_KEY_" + strconv.Itoa(i) }

// targetsFile is the JSON `servelab bench --targets` reads.
func targetsFile(targets []Target) ([]byte, error) {
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
			e.APIKeyEnv = keyEnv(t.KeyIndex)
		}
		doc.Targets = append(doc.Targets, e)
	}
	return json.Marshal(doc)
}

// benchArgs is the argv after `servelab` (or the servelab image's
// entrypoint): the bench subcommand reading its targets from stdin,
// bounded by deadline.
func benchArgs(w Workload, deadline time.Duration) []string {
	args := []string{"bench", "--targets", "/dev/stdin", "--runs", "--log-level", "warn",
		"--dataset", w.Dataset, "--num-prompts", strconv.Itoa(w.NumPrompts), "--seed", strconv.FormatInt(w.Seed, 10),
		"--repeats", strconv.Itoa(max(w.Repeats, 1)), "--deadline", deadline.String()}
	if w.DatasetPath != "" {
		args = append(args, "--dataset-path", w.DatasetPath)
	}
	if len(w.MaxConcurrency) > 0 {
		s := make([]string, len(w.MaxConcurrency))
		for i, c := range w.MaxConcurrency {
			s[i] = strconv.Itoa(c)
		}
		args = append(args, "--max-concurrency", strings.Join(s, ","))
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
		args = append(args, "--request-rate", strings.Join(s, ","))
	}
	if w.Burstiness > 0 {
		args = append(args, "--burstiness", strconv.FormatFloat(w.Burstiness, 'g', -1, 64))
	}
	if w.Dataset == "random" {
		if w.InputLen > 0 {
			args = append(args, "--random-input-len", strconv.Itoa(w.InputLen))
		}
		if w.OutputLen > 0 {
			args = append(args, "--random-output-len", strconv.Itoa(w.OutputLen))
		}
	} else if w.OutputLen > 0 {
		args = append(args, "--output-len", strconv.Itoa(w.OutputLen))
	}
	if len(w.Goodput) > 0 {
		var slo []string
		for _, k := range []string{"ttft", "tpot", "e2el"} {
			if v, ok := w.Goodput[k]; ok {
				slo = append(slo, k+":"+strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		args = append(args, "--goodput", strings.Join(slo, ","))
	}
	if w.Warmup > 0 {
		args = append(args, "--warmup", strconv.Itoa(w.Warmup))
	}
	if w.RequestTimeout != "" {
		args = append(args, "--timeout", w.RequestTimeout)
	}
	return args
}

// dockerArgv runs the bench in the servelab image on the lab network, so
// it reaches engines and the gateway by their network aliases. The keys
// pass by name (-e NAME): their values stay out of argv.
func dockerArgv(image, network string, keys int, bench []string) []string {
	argv := []string{"docker", "run", "--rm", "-i", "--network", network}
	for i := range keys {
		argv = append(argv, "-e", keyEnv(i))
	}
	argv = append(argv, image)
	return append(argv, bench...)
}
