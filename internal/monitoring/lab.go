// Package monitoring generates a lab's monitoring configuration from its
// declared stack: prometheus.yml, Prometheus's web config, recording and
// alert rules, Grafana's datasource and dashboard provisioning, and the
// dashboards themselves. What is deployed is what is scraped and drawn.
//
// The package is pure: no Pulumi, no network, no clock. Every function
// returns file contents that are deterministic for a given input, so golden
// files and Pulumi diffs are stable. The Pulumi component
// components/monitoring uploads the files to the paths given by the Path
// constants (paths.go).
package monitoring

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// Lab is what the monitoring generators need to know about a lab.
type Lab struct {
	// Stack is the Pulumi stack name; it becomes the external label
	// "stack" and a dashboard tag.
	Stack string
	// ScrapeInterval is Prometheus's global scrape and rule evaluation
	// interval (default 5s, at most 15s so that the 1m rate windows of the
	// recording rules hold at least four samples).
	ScrapeInterval time.Duration
	// Gateway is the servelab gateway's metrics endpoint; nil when the stack
	// has no gateway.
	Gateway *Target
	// Frameworks are the inference engines of the lab, one scrape target
	// each. Replicas are listed as separate frameworks, named as the
	// gateway names its backends.
	Frameworks []Framework
	// DCGM lists one dcgm-exporter per GPU host (port 9400), when the stack
	// sets dcgm: true.
	DCGM []Target
	// Models are the models the gateway serves; the ServelabNoReadyBackend
	// alert fires for a listed model even before the gateway has reported
	// any backend for it.
	Models []string
	// SLO holds the alert thresholds; zero fields take the defaults.
	SLO SLO
	// Alerting holds the alerts' "for" durations; zero fields take the
	// defaults.
	Alerting Alerting
	// RulesDir is where Prometheus finds the rule files (default
	// PrometheusRulesDir). An end-to-end test running Prometheus outside a
	// container points it at a temporary directory.
	RulesDir string
}

// Target is one scrape endpoint.
type Target struct {
	// Host is the stack's name for the machine; it becomes the label "host".
	Host string
	// Address is "host:port" as Prometheus reaches it (a container alias on
	// the lab network, or 127.0.0.1:port in a loopback test).
	Address string
}

// Framework is one inference engine of the lab.
type Framework struct {
	// Name is the framework's name in the stack; it becomes the label
	// "framework" and equals the gateway's "backend" label for it.
	Name string
	// Engine is the engine kind.
	Engine engine.Kind
	// Flavour is the kind a sim engine imitates; required for engine.Sim,
	// empty otherwise.
	Flavour engine.Kind
	// Host is the stack's name for the machine the engine runs on.
	Host string
	// Address is "host:port" of the engine's HTTP server as Prometheus
	// reaches it. Required when the engine (or sim flavour) exposes
	// metrics; Ollama has none and is not scraped.
	Address string
	// CredentialsFile, when set, is a file in the Prometheus container
	// holding the engine's API key, sent as a bearer token: llama.cpp
	// checks its key on /metrics too (vLLM and SGLang leave it open).
	CredentialsFile string
}

// Kind is the engine kind whose metric names and gaps the framework has:
// its flavour for a sim engine, else its engine.
func (f Framework) Kind() engine.Kind {
	if f.Engine == engine.Sim {
		return f.Flavour
	}
	return f.Engine
}

// IsSim reports whether the framework is a simulated engine.
func (f Framework) IsSim() bool { return f.Engine == engine.Sim }

// SLO holds the thresholds of the SLO alerts.
type SLO struct {
	// TTFTP99 is the highest acceptable p99 time to first token (default 2s).
	TTFTP99 time.Duration
	// Gateway5xxRatio is the highest acceptable share of gateway responses
	// with a 5xx status (default 0.05).
	Gateway5xxRatio float64
	// GPUMemoryRatio is the highest acceptable framebuffer use of a GPU,
	// used/(used+free) (default 0.95).
	GPUMemoryRatio float64
}

// Alerting holds how long a condition must hold before its alert fires.
// They are inputs so that an end-to-end test can shorten them.
type Alerting struct {
	// TargetDownFor applies to ServelabFrameworkDown, ServelabGatewayDown,
	// ServelabDCGMExporterDown and ServelabBackendNotReady (default 30s).
	TargetDownFor time.Duration
	// NoReadyBackendFor applies to ServelabNoReadyBackend (default 30s).
	NoReadyBackendFor time.Duration
	// SLOFor applies to ServelabGateway5xxRatioHigh and
	// ServelabTTFTP99High (default 2m).
	SLOFor time.Duration
	// GPUMemoryFor applies to ServelabGPUMemoryHigh (default 5m).
	GPUMemoryFor time.Duration
}

// Defaults.
const (
	DefaultScrapeInterval    = 5 * time.Second
	MaxScrapeInterval        = 15 * time.Second
	DefaultTTFTP99           = 2 * time.Second
	DefaultGateway5xxRatio   = 0.05
	DefaultGPUMemoryRatio    = 0.95
	DefaultTargetDownFor     = 30 * time.Second
	DefaultNoReadyBackendFor = 30 * time.Second
	DefaultSLOFor            = 2 * time.Minute
	DefaultGPUMemoryFor      = 5 * time.Minute
)

// Problem is one invalid field of a Lab.
type Problem struct {
	// Field is the path of the field, e.g. "frameworks[1].address".
	Field string
	// Message says what is wrong with it.
	Message string
}

// ValidationError lists every problem found in a Lab.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid monitoring lab: " + strings.Join(parts, "; ")
}

type problems []Problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// namePattern is what stack names, framework names and host names may look
// like: they become label values, job names and Grafana variable values.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// modelPattern is what a model name may look like ("Qwen/Qwen3-0.6B",
// "llama3.2:1b"): no quote, comma, space or "$", so that it can stand in a
// PromQL string, a label_replace replacement and a Grafana custom variable.
var modelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/@+-]*$`)

// withDefaults returns a copy of l with zero fields set to their defaults.
// Slices are shared with l: nothing here modifies them.
func (l Lab) withDefaults() Lab {
	if l.ScrapeInterval == 0 {
		l.ScrapeInterval = DefaultScrapeInterval
	}
	if l.RulesDir == "" {
		l.RulesDir = PrometheusRulesDir
	}
	if l.SLO.TTFTP99 == 0 {
		l.SLO.TTFTP99 = DefaultTTFTP99
	}
	if l.SLO.Gateway5xxRatio == 0 {
		l.SLO.Gateway5xxRatio = DefaultGateway5xxRatio
	}
	if l.SLO.GPUMemoryRatio == 0 {
		l.SLO.GPUMemoryRatio = DefaultGPUMemoryRatio
	}
	if l.Alerting.TargetDownFor == 0 {
		l.Alerting.TargetDownFor = DefaultTargetDownFor
	}
	if l.Alerting.NoReadyBackendFor == 0 {
		l.Alerting.NoReadyBackendFor = DefaultNoReadyBackendFor
	}
	if l.Alerting.SLOFor == 0 {
		l.Alerting.SLOFor = DefaultSLOFor
	}
	if l.Alerting.GPUMemoryFor == 0 {
		l.Alerting.GPUMemoryFor = DefaultGPUMemoryFor
	}
	return l
}

// Validate reports every problem of l (before defaults are applied) in one
// *ValidationError, or nil.
func (l Lab) Validate() error {
	var ps problems
	checkName(&ps, "stack", l.Stack)
	switch {
	case l.ScrapeInterval < 0:
		ps.add("scrapeInterval", "must not be negative, got %s", l.ScrapeInterval)
	case l.ScrapeInterval > 0 && l.ScrapeInterval < time.Second:
		ps.add("scrapeInterval", "must be at least 1s, got %s", l.ScrapeInterval)
	case l.ScrapeInterval > MaxScrapeInterval:
		ps.add("scrapeInterval", "must be at most %s (the recording rules use 1m rate windows), got %s", MaxScrapeInterval, l.ScrapeInterval)
	case l.ScrapeInterval%time.Millisecond != 0:
		ps.add("scrapeInterval", "must be a whole number of milliseconds, got %s", l.ScrapeInterval)
	}
	if l.Gateway != nil {
		checkTarget(&ps, "gateway", *l.Gateway)
	}
	if len(l.Frameworks) == 0 {
		ps.add("frameworks", "at least one framework is required")
	}
	seen := map[string]int{}
	for i, f := range l.Frameworks {
		checkFramework(&ps, fmt.Sprintf("frameworks[%d]", i), f)
		if f.Name == "" {
			continue
		}
		if j, dup := seen[f.Name]; dup {
			ps.add(fmt.Sprintf("frameworks[%d].name", i), "duplicate %q (also frameworks[%d])", f.Name, j)
		} else {
			seen[f.Name] = i
		}
	}
	hosts := map[string]int{}
	for i, t := range l.DCGM {
		field := fmt.Sprintf("dcgm[%d]", i)
		checkTarget(&ps, field, t)
		if t.Host == "" {
			continue
		}
		if j, dup := hosts[t.Host]; dup {
			ps.add(field+".host", "duplicate %q (also dcgm[%d]): one exporter per GPU host", t.Host, j)
		} else {
			hosts[t.Host] = i
		}
	}
	models := map[string]int{}
	for i, m := range l.Models {
		field := fmt.Sprintf("models[%d]", i)
		if !modelPattern.MatchString(m) {
			ps.add(field, "%q is not a model name (letters, digits and _ . : / @ + -, not starting with a symbol)", m)
			continue
		}
		if j, dup := models[m]; dup {
			ps.add(field, "duplicate %q (also models[%d])", m, j)
		} else {
			models[m] = i
		}
	}
	if len(l.Models) > 0 && l.Gateway == nil {
		ps.add("models", "models are only used for gateway alerts, but the lab has no gateway")
	}
	checkDuration(&ps, "slo.ttftP99", l.SLO.TTFTP99)
	checkRatio(&ps, "slo.gateway5xxRatio", l.SLO.Gateway5xxRatio)
	checkRatio(&ps, "slo.gpuMemoryRatio", l.SLO.GPUMemoryRatio)
	checkDuration(&ps, "alerting.targetDownFor", l.Alerting.TargetDownFor)
	checkDuration(&ps, "alerting.noReadyBackendFor", l.Alerting.NoReadyBackendFor)
	checkDuration(&ps, "alerting.sloFor", l.Alerting.SLOFor)
	checkDuration(&ps, "alerting.gpuMemoryFor", l.Alerting.GPUMemoryFor)
	if l.RulesDir != "" && !strings.HasPrefix(l.RulesDir, "/") {
		ps.add("rulesDir", "must be an absolute path, got %q", l.RulesDir)
	}
	if len(ps) > 0 {
		return &ValidationError{Problems: ps}
	}
	return nil
}

// prepare validates l and applies the defaults.
func (l Lab) prepare() (Lab, error) {
	if err := l.Validate(); err != nil {
		return Lab{}, err
	}
	return l.withDefaults(), nil
}

func checkName(ps *problems, field, v string) {
	switch {
	case v == "":
		ps.add(field, "is required")
	case !namePattern.MatchString(v):
		ps.add(field, "%q must be letters, digits, '_', '.' or '-', starting with a letter or digit", v)
	}
}

func checkTarget(ps *problems, field string, t Target) {
	checkName(ps, field+".host", t.Host)
	checkAddress(ps, field+".address", t.Address)
}

func checkAddress(ps *problems, field, addr string) {
	if addr == "" {
		ps.add(field, "is required")
		return
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		ps.add(field, "%q is not host:port", addr)
		return
	}
	if host == "" {
		ps.add(field, "%q has no host", addr)
	} else if strings.ContainsAny(host, "/@?#\"' ") {
		ps.add(field, "%q has an invalid host %q", addr, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		ps.add(field, "%q has an invalid port %q (want 1-65535)", addr, port)
	}
}

func checkFramework(ps *problems, field string, f Framework) {
	checkName(ps, field+".name", f.Name)
	checkName(ps, field+".host", f.Host)
	if _, err := engine.Parse(string(f.Engine)); err != nil {
		ps.add(field+".engine", "%v", err)
		return
	}
	if f.Engine == engine.Sim {
		if _, err := engine.ParseFlavour(string(f.Flavour)); err != nil {
			ps.add(field+".flavour", "a sim engine needs a flavour: %v", err)
			return
		}
	} else if f.Flavour != "" {
		ps.add(field+".flavour", "only a sim engine has a flavour, %s has %q", f.Engine, f.Flavour)
	}
	spec := engine.MustSpec(f.Kind())
	if spec.HasMetrics() || f.Address != "" {
		checkAddress(ps, field+".address", f.Address)
	}
	if f.CredentialsFile != "" && !path.IsAbs(f.CredentialsFile) {
		ps.add(field+".credentialsFile", "must be an absolute path, got %q", f.CredentialsFile)
	}
}

func checkDuration(ps *problems, field string, d time.Duration) {
	switch {
	case d < 0:
		ps.add(field, "must not be negative, got %s", d)
	case d%time.Millisecond != 0:
		ps.add(field, "must be a whole number of milliseconds, got %s", d)
	}
}

func checkRatio(ps *problems, field string, r float64) {
	if r < 0 || r > 1 || r != r {
		ps.add(field, "must be between 0 and 1, got %v", r)
	}
}
