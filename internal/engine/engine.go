// Package engine holds what servelab knows about each inference engine:
// its default port, how to tell it is alive and ready, where its metrics are
// and what they are called. The facts come from the engines' sources
// (each fact names where it comes from); every other package asks here instead
// of repeating them.
package engine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Kind is an inference engine servelab can deploy.
type Kind string

const (
	VLLM     Kind = "vllm"
	SGLang   Kind = "sglang"
	Ollama   Kind = "ollama"
	LlamaCpp Kind = "llamacpp"
	// Sim is servelab's simulated engine; it speaks one of the other kinds'
	// APIs, its flavour.
	Sim Kind = "sim"
)

// Kinds lists every engine kind, in documentation order.
var Kinds = []Kind{VLLM, SGLang, Ollama, LlamaCpp, Sim}

// Flavours lists the kinds a simulated engine can imitate.
var Flavours = []Kind{VLLM, SGLang, Ollama, LlamaCpp}

// Parse returns the Kind named s, or an error listing the valid ones.
func Parse(s string) (Kind, error) {
	k := Kind(s)
	if slices.Contains(Kinds, k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown engine %q (want one of %s)", s, join(Kinds))
}

// ParseFlavour returns the flavour named s: any kind but sim.
func ParseFlavour(s string) (Kind, error) {
	k := Kind(s)
	if slices.Contains(Flavours, k) {
		return k, nil
	}
	return "", fmt.Errorf("unknown flavour %q (want one of %s)", s, join(Flavours))
}

func join(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// ProbeKind says how a readiness probe decides that an engine is ready.
type ProbeKind string

const (
	// ProbeStatus: ready when GET Path answers 200.
	ProbeStatus ProbeKind = "status"
	// ProbeOpenAIModels: ready when GET Path (an OpenAI /v1/models) answers
	// 200 and lists the served model name.
	ProbeOpenAIModels ProbeKind = "openai-models"
	// ProbeOllamaTags: ready when GET Path (Ollama's /api/tags) answers 200
	// and lists the model.
	ProbeOllamaTags ProbeKind = "ollama-tags"
)

// Probe is an HTTP check against an engine.
type Probe struct {
	Path string
	Kind ProbeKind
}

// Metrics names an engine's Prometheus series. Histograms are given by their
// base name (without _bucket/_sum/_count); an empty name means the engine
// does not expose that signal.
type Metrics struct {
	TTFT             string // histogram, seconds
	ITL              string // histogram, seconds
	TPOT             string // histogram, seconds
	E2E              string // histogram, seconds
	Queue            string // histogram, seconds
	Running          string // gauge, requests being decoded
	Waiting          string // gauge, requests queued
	KVCacheUsage     string // gauge, 0..1
	PromptTokens     string // counter
	GenerationTokens string // counter
	// Other series the engine documents and servelab may draw.
	Other []string
}

// Spec is everything servelab relies on about one engine.
type Spec struct {
	Kind Kind
	// Title is the engine's name as its project spells it, for messages.
	Title       string
	DefaultPort int
	// Live answers 200 once the server process is up (it may still load).
	Live Probe
	// Ready answers as Probe.Kind says once requests can be served.
	Ready Probe
	// MetricsPath is the Prometheus endpoint, "" when the engine has none.
	MetricsPath string
	Metrics     Metrics
	// Auth is how the engine checks an API key.
	Auth Auth
}

// HasMetrics reports whether the engine exposes Prometheus metrics.
func (s Spec) HasMetrics() bool { return s.MetricsPath != "" }

var specs = map[Kind]Spec{
	VLLM: {
		Kind:        VLLM,
		Title:       "vLLM",
		DefaultPort: 8000,
		Live:        Probe{Path: "/health", Kind: ProbeStatus},
		Ready:       Probe{Path: "/v1/models", Kind: ProbeOpenAIModels},
		MetricsPath: "/metrics",
		// vLLM checks the key on /v1 paths only: /health and /metrics stay
		// open (vllm/entrypoints/openai/api_server.py, authentication).
		Auth: Auth{Supported: true, OnlyPrefixes: []string{"/v1"}},
		Metrics: Metrics{
			TTFT:             "vllm:time_to_first_token_seconds",
			ITL:              "vllm:inter_token_latency_seconds",
			TPOT:             "vllm:request_time_per_output_token_seconds",
			E2E:              "vllm:e2e_request_latency_seconds",
			Running:          "vllm:num_requests_running",
			Waiting:          "vllm:num_requests_waiting",
			KVCacheUsage:     "vllm:kv_cache_usage_perc",
			PromptTokens:     "vllm:prompt_tokens_total",
			GenerationTokens: "vllm:generation_tokens_total",
		},
	},
	SGLang: {
		Kind:        SGLang,
		Title:       "SGLang",
		DefaultPort: 30000,
		Live:        Probe{Path: "/health", Kind: ProbeStatus},
		// /v1/models answers during warmup: it is not a readiness signal.
		Ready:       Probe{Path: "/health_generate", Kind: ProbeStatus},
		MetricsPath: "/metrics",
		// SGLang checks the key everywhere but /health* and /metrics*
		// (sglang/srt/utils, add_api_key_middleware).
		Auth: Auth{Supported: true, OpenPrefixes: []string{"/health", "/metrics"}},
		Metrics: Metrics{
			TTFT:             "sglang:time_to_first_token_seconds",
			ITL:              "sglang:inter_token_latency_seconds",
			E2E:              "sglang:e2e_request_latency_seconds",
			Queue:            "sglang:queue_time_seconds",
			Running:          "sglang:num_running_reqs",
			Waiting:          "sglang:num_queue_reqs",
			KVCacheUsage:     "sglang:token_usage",
			PromptTokens:     "sglang:prompt_tokens_total",
			GenerationTokens: "sglang:generation_tokens_total",
			Other:            []string{"sglang:gen_throughput", "sglang:cache_hit_rate"},
		},
	},
	Ollama: {
		Kind:        Ollama,
		Title:       "Ollama",
		DefaultPort: 11434,
		Live:        Probe{Path: "/api/version", Kind: ProbeStatus},
		Ready:       Probe{Path: "/api/tags", Kind: ProbeOllamaTags},
		// Ollama has no /metrics: the gateway's per-backend series fill in.
	},
	LlamaCpp: {
		Kind:        LlamaCpp,
		Title:       "llama.cpp",
		DefaultPort: 8080,
		Live:        Probe{Path: "/health", Kind: ProbeStatus},
		Ready:       Probe{Path: "/health", Kind: ProbeStatus},
		MetricsPath: "/metrics", // only with --metrics, which servelab always passes
		// llama-server checks the key on every path but these; /metrics
		// needs it (tools/server, public_endpoints).
		Auth: Auth{Supported: true, OpenPaths: []string{"/health", "/v1/health", "/models", "/v1/models", "/api/tags"}},
		Metrics: Metrics{
			Running:          "llamacpp:requests_processing",
			Waiting:          "llamacpp:requests_deferred",
			PromptTokens:     "llamacpp:prompt_tokens_total",
			GenerationTokens: "llamacpp:tokens_predicted_total",
			Other: []string{
				"llamacpp:prompt_tokens_seconds",
				"llamacpp:predicted_tokens_seconds",
				"llamacpp:n_decode_total",
			},
		},
	},
}

// Auth is how an engine checks the API key it is started with
// (Authorization: Bearer KEY).
type Auth struct {
	// Supported is false for engines that take no API key (Ollama).
	Supported bool
	// OnlyPrefixes, when set, limits the check to paths under them.
	OnlyPrefixes []string
	// OpenPrefixes are path prefixes answered without the key.
	OpenPrefixes []string
	// OpenPaths are exact paths answered without the key.
	OpenPaths []string
}

// Protects reports whether a request for path needs the key, when the
// engine runs with one.
func (a Auth) Protects(path string) bool {
	if !a.Supported || slices.Contains(a.OpenPaths, path) {
		return false
	}
	for _, p := range a.OpenPrefixes {
		if strings.HasPrefix(path, p) {
			return false
		}
	}
	if len(a.OnlyPrefixes) == 0 {
		return true
	}
	for _, p := range a.OnlyPrefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// SpecOf returns the spec of a real engine kind. For Sim, pass its flavour:
// a simulated engine behaves as its flavour in every respect but the image.
func SpecOf(k Kind) (Spec, error) {
	s, ok := specs[k]
	if !ok {
		return Spec{}, fmt.Errorf("no engine spec for %q (a sim engine uses its flavour's)", k)
	}
	return s, nil
}

// MustSpec is SpecOf for kinds known valid at compile time (the Flavours).
// It panics on an unknown kind, which is a programming error.
func MustSpec(k Kind) Spec {
	s, err := SpecOf(k)
	if err != nil {
		panic(err)
	}
	return s
}

// Names lists every metric name of m, histograms by base name.
func (m Metrics) Names() []string {
	var out []string
	for _, n := range []string{m.TTFT, m.ITL, m.TPOT, m.E2E, m.Queue, m.Running, m.Waiting, m.KVCacheUsage, m.PromptTokens, m.GenerationTokens} {
		if n != "" {
			out = append(out, n)
		}
	}
	return append(out, m.Other...)
}

// ModelListed reports whether a ready-probe body lists model. It decodes an
// OpenAI /v1/models list ({"data":[{"id":..}]}) or Ollama's /api/tags
// ({"models":[{"name":..,"model":..}]}); Ollama's implicit ":latest" tag is
// matched both ways.
func ModelListed(kind ProbeKind, body []byte, model string) (bool, error) {
	switch kind {
	case ProbeOpenAIModels:
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			return false, fmt.Errorf("decode model list: %w", err)
		}
		for _, m := range list.Data {
			if m.ID == model {
				return true, nil
			}
		}
		return false, nil
	case ProbeOllamaTags:
		var tags struct {
			Models []struct {
				Name  string `json:"name"`
				Model string `json:"model"`
			} `json:"models"`
		}
		if err := json.Unmarshal(body, &tags); err != nil {
			return false, fmt.Errorf("decode ollama tags: %w", err)
		}
		want := OllamaTag(model)
		for _, m := range tags.Models {
			if OllamaTag(m.Name) == want || OllamaTag(m.Model) == want {
				return true, nil
			}
		}
		return false, nil
	default:
		return false, fmt.Errorf("probe kind %q does not list models", kind)
	}
}

// OllamaTag normalises an Ollama model reference: "llama3.2" and
// "llama3.2:latest" name the same model.
func OllamaTag(name string) string {
	if name == "" || strings.Contains(name[strings.LastIndex(name, "/")+1:], ":") {
		return name
	}
	return name + ":latest"
}
