// Package stackconfig is a stack's servelab: config, without Pulumi: its
// typed keys (Config), Load and Check, which decode them with every
// problem reported at its key path, Validate, which plans the lab (Lab:
// hosts, framework instances, ports, GPU shares), and what each part of
// the lab gets from it (GatewaySettings, MonitoringLab, ServingTargets,
// Workload). The Pulumi program (programs) deploys a Lab; `make demo`
// (internal/demo) runs one on loopback.
package stackconfig

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/servelab/servelab/internal/engine"
)

// Namespace is the config namespace of every servelab key.
const Namespace = "servelab"

// Program selects what a stack deploys.
type Program string

const (
	// Compare runs several frameworks side by side behind the gateway.
	Compare Program = "compare"
	// Serve runs replicas of one model across hosts behind the gateway.
	Serve Program = "serve"
	// Bench deploys nothing and benchmarks existing endpoints (targets).
	Bench Program = "bench"
)

// Programs lists the valid programs.
var Programs = []Program{Compare, Serve, Bench}

// Config is everything under the servelab: namespace, decoded. Secrets are
// not here: they are read as Pulumi secrets by Run.
type Config struct {
	Program    Program     `json:"program"`
	Hosts      []Host      `json:"hosts"`
	Frameworks []Framework `json:"frameworks"`
	Gateway    Gateway     `json:"gateway"`
	Monitoring Monitoring  `json:"monitoring"`
	Benchmark  Benchmark   `json:"benchmark"`
	Targets    []Target    `json:"targets"`
	// Clusters is the Kubernetes cluster a stack deploys to instead of
	// Docker hosts (cluster.go, docs/kubernetes.md).
	Clusters []Cluster `json:"clusters"`

	// undecoded names the top-level keys Load could not decode at all (not
	// the right shape): Validate does not report references to them again.
	undecoded map[string]bool
}

// Host is a machine of the lab.
type Host struct {
	Name string `json:"name"`
	// SSH reaches a remote host; absent = the local Docker daemon.
	SSH *SSH `json:"ssh,omitempty"`
	// DockerHost overrides the local Docker endpoint
	// (e.g. unix:///run/user/1000/docker.sock for rootless Docker).
	DockerHost string `json:"dockerHost,omitempty"`
	// GPUs declared on the host; absent = CPU-only.
	GPUs []GPUGroup `json:"gpus,omitempty"`
	// BindAddress is where published ports listen (default 127.0.0.1:
	// nothing is exposed unless the stack says so).
	BindAddress string `json:"bindAddress,omitempty"`
	// Address is how other hosts reach this one's published ports
	// (default: ssh.host, or localhost): a host name or an IP address.
	Address string `json:"address,omitempty"`
	// ModelCache is a directory on the host holding the model cache
	// (Hugging Face downloads, vLLM's compile cache, llama.cpp's GGUF
	// files); empty = a Docker volume shared by every stack on the host.
	ModelCache string `json:"modelCache,omitempty"`
}

// SSH reaches a remote Docker daemon. The private key is never here.
type SSH struct {
	Host string `json:"host"`
	User string `json:"user"`
	Port int    `json:"port,omitempty"`
	// Opts are extra options for Docker's ssh transport (the system ssh
	// client); the commands' SSH client does not read them.
	Opts []string `json:"opts,omitempty"`
	// HostKey is the host's public key ("ssh-ed25519 AAAA..."), checked by
	// both SSH transports. Required unless InsecureIgnoreHostKey.
	HostKey string `json:"hostKey,omitempty"`
	// InsecureIgnoreHostKey accepts any host key: the probe, pull and bench
	// commands then send their secrets to whoever answers at Host.
	InsecureIgnoreHostKey bool `json:"insecureIgnoreHostKey,omitempty"`
	// ProxyJump reaches Host through a bastion.
	ProxyJump *ProxyJump `json:"proxyJump,omitempty"`
}

// ProxyJump is a bastion host both SSH transports go through.
type ProxyJump struct {
	Host    string `json:"host"`
	User    string `json:"user"`
	Port    int    `json:"port,omitempty"`
	HostKey string `json:"hostKey,omitempty"`
}

// GPUGroup is Count identical GPUs.
type GPUGroup struct {
	Model     string  `json:"model"`
	MemoryGiB float64 `json:"memoryGiB"`
	Count     int     `json:"count,omitempty"`
}

// Framework is one engine serving one model.
type Framework struct {
	Name    string      `json:"name"`
	Engine  engine.Kind `json:"engine"`
	Flavour engine.Kind `json:"flavour,omitempty"`
	Host    string      `json:"host"`
	Model   string      `json:"model"`
	// ServedModelName is the name clients (and the gateway) use; default:
	// the framework name under compare, the model under serve.
	ServedModelName string `json:"servedModelName,omitempty"`
	Image           string `json:"image"`
	// GPUMemoryGiB is the memory demand per instance; or give ModelParamsB
	// and Dtype (and KVCacheGiB) for the planner's estimate.
	GPUMemoryGiB float64  `json:"gpuMemoryGiB,omitempty"`
	ModelParamsB float64  `json:"modelParamsB,omitempty"`
	Dtype        string   `json:"dtype,omitempty"`
	KVCacheGiB   *float64 `json:"kvCacheGiB,omitempty"`
	// GPUs is a count (2) or device indices ([0, 1]).
	GPUs     *GPUSelector `json:"gpus,omitempty"`
	Replicas int          `json:"replicas,omitempty"`
	// Port is the published host port (replica i gets Port+i).
	Port int `json:"port,omitempty"`
	// Args are typed per engine (see components/framework/frameworkspec/args.go).
	Args      json.RawMessage   `json:"args,omitempty"`
	ExtraArgs []string          `json:"extraArgs,omitempty"`
	Env       map[string]string `json:"env,omitempty"`
	// Kubernetes placement (cluster stacks only; cluster.go).
	NodePool     string            `json:"nodePool,omitempty"`
	Node         string            `json:"node,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	Tolerations  []Toleration      `json:"tolerations,omitempty"`
}

// GPUSelector is a GPU count or a list of device indices.
type GPUSelector struct {
	Count   int
	Devices []int
}

// UnmarshalJSON accepts 2 or [0, 1].
func (g *GPUSelector) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		if n != math.Trunc(n) {
			return fmt.Errorf("%v is not a whole number", n)
		}
		g.Count = int(n)
		return nil
	}
	var ids []int
	if err := json.Unmarshal(b, &ids); err != nil {
		return fmt.Errorf("want a GPU count or a list of device indices, got %s", b)
	}
	if len(ids) == 0 {
		return fmt.Errorf("empty device list (use 0 for none)")
	}
	g.Devices = ids
	return nil
}

// MarshalJSON writes what UnmarshalJSON reads.
func (g GPUSelector) MarshalJSON() ([]byte, error) {
	if g.Devices != nil {
		return json.Marshal(g.Devices)
	}
	return json.Marshal(g.Count)
}

// Gateway configures the servelab gateway.
type Gateway struct {
	// Enabled defaults to true for compare and serve.
	Enabled *bool `json:"enabled,omitempty"`
	// Host runs the gateway (default: the first host).
	Host string `json:"host,omitempty"`
	// Port is the published port (default 8088).
	Port int `json:"port,omitempty"`
	// BindAddress overrides the host's bind address for the gateway.
	BindAddress string `json:"bindAddress,omitempty"`
	// Routing is least-outstanding (default) | round-robin | weighted.
	Routing string `json:"routing,omitempty"`
	// Retries on connect failure / 502 / 503 before any byte was sent.
	Retries *int `json:"retries,omitempty"`
	// MaxBodyBytes caps request bodies (default 10 MiB).
	MaxBodyBytes int64        `json:"maxBodyBytes,omitempty"`
	Cache        GatewayCache `json:"cache"`
	// StreamIdleTimeout ends a stream whose upstream is silent this long.
	StreamIdleTimeout string `json:"streamIdleTimeout,omitempty"`
	// MaxConnections caps client connections open at once (default 4096);
	// more are refused with 503.
	MaxConnections int `json:"maxConnections,omitempty"`
	// RequestReadTimeout bounds the arrival of a whole request, headers and
	// body, from its first byte (default 60s; at least 10s).
	RequestReadTimeout string `json:"requestReadTimeout,omitempty"`
	// UpstreamClient is http (default) or direct; see docs/gateway.md.
	UpstreamClient string `json:"upstreamClient,omitempty"`
	// Weights per framework for weighted routing.
	Weights map[string]int `json:"weights,omitempty"`
}

// GatewayCache configures the response cache.
type GatewayCache struct {
	Enabled    bool   `json:"enabled,omitempty"`
	TTL        string `json:"ttl,omitempty"`
	MaxEntries int    `json:"maxEntries,omitempty"`
	MaxBytes   int64  `json:"maxBytes,omitempty"`
}

// Monitoring configures Prometheus, Grafana and DCGM.
type Monitoring struct {
	// Enabled defaults to true for compare and serve.
	Enabled *bool `json:"enabled,omitempty"`
	// Host runs Prometheus and Grafana (default: the gateway's host).
	Host        string     `json:"host,omitempty"`
	BindAddress string     `json:"bindAddress,omitempty"`
	Prometheus  Prometheus `json:"prometheus"`
	Grafana     Grafana    `json:"grafana"`
	// DCGM runs NVIDIA's exporter on every GPU host.
	DCGM bool `json:"dcgm,omitempty"`
	// DCGMImage overrides the pinned dcgm-exporter image.
	DCGMImage string `json:"dcgmImage,omitempty"`
	// TTFTSLO is the TTFT p99 alert threshold (default 2s).
	TTFTSLO string `json:"ttftSlo,omitempty"`
	// PrometheusOperator (cluster stacks) hands scraping and rules to the
	// cluster's Prometheus Operator instead (cluster.go).
	PrometheusOperator *PrometheusOperator `json:"prometheusOperator,omitempty"`
}

// Prometheus settings.
type Prometheus struct {
	Image          string `json:"image,omitempty"`
	Port           int    `json:"port,omitempty"`
	Retention      string `json:"retention,omitempty"`
	ScrapeInterval string `json:"scrapeInterval,omitempty"`
}

// Grafana settings.
type Grafana struct {
	Enabled *bool  `json:"enabled,omitempty"`
	Image   string `json:"image,omitempty"`
	Port    int    `json:"port,omitempty"`
}

// Benchmark configures the benchmark run whose results become outputs.
type Benchmark struct {
	Enabled bool `json:"enabled,omitempty"`
	// RunOn is local (the machine running Pulumi) or host (the gateway's
	// host, inside the lab network).
	RunOn string `json:"runOn,omitempty"`
	// Dataset is multilingual | random | sharegpt | jsonl.
	Dataset     string `json:"dataset,omitempty"`
	DatasetPath string `json:"datasetPath,omitempty"`
	NumPrompts  int    `json:"numPrompts,omitempty"`
	// MaxConcurrency is one level or a sweep.
	MaxConcurrency IntList `json:"maxConcurrency,omitempty"`
	// RequestRate is requests/s ("inf" = all at once), one or a sweep.
	RequestRate RateList `json:"requestRate,omitempty"`
	Burstiness  float64  `json:"burstiness,omitempty"`
	InputLen    int      `json:"inputLen,omitempty"`
	OutputLen   int      `json:"outputLen,omitempty"`
	Seed        *int64   `json:"seed,omitempty"`
	// Goodput SLOs in ms, e.g. {"ttft": 500, "tpot": 50}.
	Goodput map[string]float64 `json:"goodput,omitempty"`
	// Direct also benchmarks each framework bypassing the gateway.
	Direct bool `json:"direct,omitempty"`
	// Timeout bounds the whole run (default 30m); the bench stops by
	// itself a margin before it.
	Timeout string `json:"timeout,omitempty"`
	// Warmup is the number of unmeasured requests before each load level;
	// unset, the bench warms each level with as many requests as its
	// concurrency (all prompts when unlimited). 0 turns warm-up off.
	Warmup *int `json:"warmup,omitempty"`
	// Repeats runs every load level this many times, 1-100 (default 3
	// when an engine runs on a GPU, else 1); outputs give median and
	// spread.
	Repeats *int `json:"repeats,omitempty"`
	// Baseline is a stack ("h100" or "org/project/stack") whose benchmark
	// outputs the results are compared with.
	Baseline string `json:"baseline,omitempty"`
	// FailOnRegression fails `up` when any figure is worse than the
	// baseline's by more than this many percent.
	FailOnRegression *float64 `json:"failOnRegression,omitempty"`
}

// Target is an existing endpoint for the bench program.
type Target struct {
	Name   string `json:"name"`
	URL    string `json:"url"`
	Model  string `json:"model"`
	Engine string `json:"engine,omitempty"`
	// APIKeySecret names a secret config key holding the target's API key
	// (pulumi config set --secret servelab:<name> ...).
	APIKeySecret string `json:"apiKeySecret,omitempty"`
}

// IntList is a number or a list of numbers.
type IntList []int

// UnmarshalJSON accepts 8 or [1, 8, 64].
func (l *IntList) UnmarshalJSON(b []byte) error {
	var n int
	if err := json.Unmarshal(b, &n); err == nil {
		*l = IntList{n}
		return nil
	}
	var ns []int
	if err := json.Unmarshal(b, &ns); err != nil {
		return fmt.Errorf("want a whole number or a list of them, got %s", b)
	}
	*l = ns
	return nil
}

// RateList is a request rate or a list of them; "inf" is +Inf.
type RateList []float64

// UnmarshalJSON accepts 2, "inf" or [1, 2, "inf"].
func (l *RateList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		raw = []json.RawMessage{b}
	}
	out := make(RateList, 0, len(raw))
	for _, r := range raw {
		var f float64
		if err := json.Unmarshal(r, &f); err == nil {
			out = append(out, f)
			continue
		}
		var s string
		if err := json.Unmarshal(r, &s); err == nil {
			if strings.EqualFold(s, "inf") {
				out = append(out, math.Inf(1))
				continue
			}
			if f, err := strconv.ParseFloat(s, 64); err == nil {
				out = append(out, f)
				continue
			}
		}
		return fmt.Errorf(`want a rate in requests/s or "inf", got %s`, r)
	}
	*l = out
	return nil
}

// Strings renders rates the way `servelab bench --request-rate` takes them.
func (l RateList) Strings() []string {
	out := make([]string, len(l))
	for i, r := range l {
		if math.IsInf(r, 1) {
			out[i] = "inf"
		} else {
			out[i] = strconv.FormatFloat(r, 'g', -1, 64)
		}
	}
	return out
}
