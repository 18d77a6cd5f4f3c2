package sim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/servelab/servelab/internal/engine"
)

// meters are the flavour's Prometheus series, registered on a per-server
// registry under exactly the names package engine lists for the flavour.
// A nil field is a signal the flavour does not expose; its update is a
// no-op.
type meters struct {
	reg *prometheus.Registry

	ttft, itl, tpot, e2e, queue prometheus.Observer
	running, waiting, kvUsage   prometheus.Gauge
	promptTokens, genTokens     prometheus.Counter

	genThroughput, cacheHitRate prometheus.Gauge   // sglang
	promptTPS, predictedTPS     prometheus.Gauge   // llama.cpp
	nDecode                     prometheus.Counter // llama.cpp
}

// Bucket layouts modelled on the engines' own (seconds).
var (
	ttftBuckets = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80}
	itlBuckets  = []float64{0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5}
	e2eBuckets  = []float64{0.1, 0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480}
)

// vllmBlockSize is the KV-cache block size the vLLM flavour reports.
const vllmBlockSize = 16

// newMeters registers the flavour's series; kvTokens is the simulated
// KV-cache capacity the flavour reports (vLLM: ⌈kvTokens/16⌉ blocks of 16,
// SGLang: sglang:max_total_num_tokens).
func newMeters(flavour engine.Kind, model string, kvTokens int) (*meters, error) {
	spec, err := engine.SpecOf(flavour)
	if err != nil {
		return nil, err
	}
	m := &meters{reg: prometheus.NewRegistry()}
	if !spec.HasMetrics() {
		return m, nil
	}
	// llama.cpp's series carry no labels; vLLM's and SGLang's carry the
	// served model name.
	var labels prometheus.Labels
	if flavour != engine.LlamaCpp {
		labels = prometheus.Labels{"model_name": model}
	}
	help := func(name string) string { return "servelab sim: " + name + " (simulated " + string(flavour) + ")" }
	hist := func(name string, buckets []float64) prometheus.Observer {
		if name == "" {
			return nil
		}
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help(name), Buckets: buckets, ConstLabels: labels})
		m.reg.MustRegister(h)
		return h
	}
	gauge := func(name string) prometheus.Gauge {
		if name == "" {
			return nil
		}
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help(name), ConstLabels: labels})
		m.reg.MustRegister(g)
		return g
	}
	counter := func(name string) prometheus.Counter {
		if name == "" {
			return nil
		}
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help(name), ConstLabels: labels})
		m.reg.MustRegister(c)
		return c
	}
	n := spec.Metrics
	m.ttft = hist(n.TTFT, ttftBuckets)
	m.itl = hist(n.ITL, itlBuckets)
	m.tpot = hist(n.TPOT, itlBuckets)
	m.e2e = hist(n.E2E, e2eBuckets)
	m.queue = hist(n.Queue, ttftBuckets)
	m.running = gauge(n.Running)
	m.waiting = gauge(n.Waiting)
	m.kvUsage = gauge(n.KVCacheUsage)
	m.promptTokens = counter(n.PromptTokens)
	m.genTokens = counter(n.GenerationTokens)
	for _, name := range n.Other {
		switch name {
		case "sglang:gen_throughput":
			m.genThroughput = gauge(name)
		case "sglang:cache_hit_rate":
			m.cacheHitRate = gauge(name)
		case "sglang:max_total_num_tokens":
			gauge(name).Set(float64(kvTokens))
		case "vllm:cache_config_info":
			// vLLM's info gauge: value 1, the cache's shape in labels.
			blocks := (kvTokens + vllmBlockSize - 1) / vllmBlockSize
			info := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help(name), ConstLabels: prometheus.Labels{
				"block_size": strconv.Itoa(vllmBlockSize), "num_gpu_blocks": strconv.Itoa(blocks),
				"cache_dtype": "auto", "enable_prefix_caching": "False",
			}})
			info.Set(1)
			m.reg.MustRegister(info)
		case "llamacpp:prompt_tokens_seconds":
			m.promptTPS = gauge(name)
		case "llamacpp:predicted_tokens_seconds":
			m.predictedTPS = gauge(name)
		case "llamacpp:n_decode_total":
			m.nDecode = counter(name)
		default:
			return nil, fmt.Errorf("sim %s: engine metric %q has no simulated counterpart", flavour, name)
		}
	}
	return m, nil
}

func observe(o prometheus.Observer, d time.Duration) {
	if o != nil {
		o.Observe(d.Seconds())
	}
}

func setGauge(g prometheus.Gauge, v float64) {
	if g != nil {
		g.Set(v)
	}
}

func addGauge(g prometheus.Gauge, v float64) {
	if g != nil {
		g.Add(v)
	}
}

func addCounter(c prometheus.Counter, v float64) {
	if c != nil {
		c.Add(v)
	}
}
