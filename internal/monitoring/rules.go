package monitoring

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

// RateWindow is the range of every rate() and histogram quantile in the
// recording rules; the ":rate1m" suffix of the recorded names says it.
const RateWindow = "1m"

// Recorded engine series: one schema for every engine, labelled framework
// and engine.
const (
	EngineTTFTP50         = "servelab:engine_ttft_seconds:p50"
	EngineTTFTP99         = "servelab:engine_ttft_seconds:p99"
	EngineITLP50          = "servelab:engine_itl_seconds:p50"
	EngineITLP99          = "servelab:engine_itl_seconds:p99"
	EngineE2EP50          = "servelab:engine_e2e_seconds:p50"
	EngineE2EP99          = "servelab:engine_e2e_seconds:p99"
	EngineOutputTokens    = "servelab:engine_output_tokens:rate1m"
	EnginePromptTokens    = "servelab:engine_prompt_tokens:rate1m"
	EngineRequests        = "servelab:engine_requests:rate1m"
	EngineRequestsRunning = "servelab:engine_requests_running"
	EngineRequestsWaiting = "servelab:engine_requests_waiting"
	EngineKVCacheUsage    = "servelab:engine_kv_cache_usage_ratio"
)

// Recorded gateway series.
const (
	// GatewayRequestsRate: labels model, backend, engine, code.
	GatewayRequestsRate = "servelab:gateway_requests:rate1m"
	// GatewayLatencyP50/P99: labels model, backend, engine.
	GatewayLatencyP50 = "servelab:gateway_request_duration_seconds:p50"
	GatewayLatencyP99 = "servelab:gateway_request_duration_seconds:p99"
	// GatewayOverheadP50/P99: label model.
	GatewayOverheadP50 = "servelab:gateway_overhead_seconds:p50"
	GatewayOverheadP99 = "servelab:gateway_overhead_seconds:p99"
	// Gateway5xxRatio: label model.
	Gateway5xxRatio = "servelab:gateway_requests_5xx:ratio_rate1m"
	// GatewayCacheHitRatio: label model.
	GatewayCacheHitRatio = "servelab:gateway_cache_hit:ratio_rate1m"
	// GatewayUpstreamErrorsRate: labels model, backend, engine, reason.
	GatewayUpstreamErrorsRate = "servelab:gateway_upstream_errors:rate1m"
)

// Recorded GPU series, labelled host and gpu.
const (
	GPUMemoryUsedRatio  = "servelab:gpu_memory_used:ratio"
	GPUUtilizationRatio = "servelab:gpu_utilization:ratio"
)

// aggregation says how an engine signal is computed from its source.
type aggregation int

const (
	quantile aggregation = iota // histogram_quantile over rate(<base>_bucket)
	rate                        // sum of rate(counter)
	sumGauge                    // sum of a gauge
	maxGauge                    // max of a gauge
)

// engineSignal is one normalised engine series and where each engine gets
// it from. fromEngine picks the engine's own metric ("" = the engine lacks
// it); fromGateway is the gateway metric that fills the gap for engines
// that lack it ("" = nothing fills it).
type engineSignal struct {
	record      string
	agg         aggregation
	q           float64
	fromEngine  func(engine.Metrics) string
	fromGateway string
}

// engineSignals lists the engine schema in file and dashboard order.
var engineSignals = []engineSignal{
	{EngineTTFTP50, quantile, 0.5, func(m engine.Metrics) string { return m.TTFT }, metricnames.GatewayTTFT},
	{EngineTTFTP99, quantile, 0.99, func(m engine.Metrics) string { return m.TTFT }, metricnames.GatewayTTFT},
	{EngineITLP50, quantile, 0.5, func(m engine.Metrics) string { return m.ITL }, ""},
	{EngineITLP99, quantile, 0.99, func(m engine.Metrics) string { return m.ITL }, ""},
	{EngineE2EP50, quantile, 0.5, func(m engine.Metrics) string { return m.E2E }, metricnames.GatewayRequestDuration},
	{EngineE2EP99, quantile, 0.99, func(m engine.Metrics) string { return m.E2E }, metricnames.GatewayRequestDuration},
	{EngineOutputTokens, rate, 0, func(m engine.Metrics) string { return m.GenerationTokens }, metricnames.GatewayOutputTokens},
	{EnginePromptTokens, rate, 0, func(m engine.Metrics) string { return m.PromptTokens }, ""},
	// An engine's finished requests are its end-to-end histogram's count.
	{EngineRequests, rate, 0, func(m engine.Metrics) string { return countOf(m.E2E) }, metricnames.GatewayRequests},
	{EngineRequestsRunning, sumGauge, 0, func(m engine.Metrics) string { return m.Running }, metricnames.GatewayInFlight},
	{EngineRequestsWaiting, sumGauge, 0, func(m engine.Metrics) string { return m.Waiting }, ""},
	{EngineKVCacheUsage, maxGauge, 0, func(m engine.Metrics) string { return m.KVCacheUsage }, ""},
}

func countOf(histogram string) string {
	if histogram == "" {
		return ""
	}
	return histogram + "_count"
}

// gatewayRecords and gpuRecords are the names the gateway and GPU groups
// record, in file order.
var (
	gatewayRecords = []string{
		GatewayRequestsRate, GatewayLatencyP50, GatewayLatencyP99,
		GatewayOverheadP50, GatewayOverheadP99, Gateway5xxRatio,
		GatewayCacheHitRatio, GatewayUpstreamErrorsRate,
	}
	gpuRecords = []string{GPUMemoryUsedRatio, GPUUtilizationRatio}
)

// RecordedNames lists every series name the recording rules may define,
// sorted. With metricnames.Known() it is the checked list of names a
// generated PromQL expression may refer to.
func RecordedNames() []string {
	var out []string
	for _, s := range engineSignals {
		out = append(out, s.record)
	}
	out = append(out, gatewayRecords...)
	out = append(out, gpuRecords...)
	slices.Sort(out)
	return out
}

// Rule group names.
const (
	EngineRulesGroup  = "servelab-engines"
	GatewayRulesGroup = "servelab-gateway"
	GPURulesGroup     = "servelab-gpu"
	AlertRulesGroup   = "servelab-alerts"
)

type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name  string `yaml:"name"`
	Rules []rule `yaml:"rules"`
}

type rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// RecordingRules renders the recording rules file (RecordingRulesFile). It
// holds only the rules the lab can feed: engine signals from the engines it
// runs (and from the gateway for the engines that lack a signal, when it has
// a gateway), the gateway group when it has a gateway, the GPU group when it
// has DCGM exporters.
func RecordingRules(lab Lab) ([]byte, error) {
	lab, err := lab.prepare()
	if err != nil {
		return nil, err
	}
	out, err := marshalYAML("# Generated by servelab for stack "+lab.Stack+". Do not edit.\n",
		ruleFile{Groups: recordingGroups(lab)})
	if err != nil {
		return nil, fmt.Errorf("render recording rules: %w", err)
	}
	return out, nil
}

func recordingGroups(lab Lab) []ruleGroup {
	groups := []ruleGroup{}
	if rules := engineRules(lab); len(rules) > 0 {
		groups = append(groups, ruleGroup{Name: EngineRulesGroup, Rules: rules})
	}
	if lab.Gateway != nil {
		groups = append(groups, ruleGroup{Name: GatewayRulesGroup, Rules: gatewayRules()})
	}
	if len(lab.DCGM) > 0 {
		groups = append(groups, ruleGroup{Name: GPURulesGroup, Rules: gpuRules()})
	}
	return groups
}

// recordedBy lists the names the recording rules of lab define.
func recordedBy(lab Lab) map[string]bool {
	names := map[string]bool{}
	for _, g := range recordingGroups(lab) {
		for _, r := range g.Rules {
			names[r.Record] = true
		}
	}
	return names
}

// labKinds lists the engine kinds (sim flavours resolved) the lab runs, in
// engine.Flavours order.
func labKinds(lab Lab) []engine.Kind {
	var kinds []engine.Kind
	for _, k := range engine.Flavours {
		if slices.ContainsFunc(lab.Frameworks, func(f Framework) bool { return f.Kind() == k }) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// engineRules builds one rule per engine signal the lab has a source for.
// Each rule is the union ("or") of one term per source: an engine's own
// metric, selected by its name, and the gateway's per-backend metric for
// the engines lacking it, selected by the engine label, its backend label
// copied to framework. Each framework has exactly one source per signal, so
// the terms never overlap.
func engineRules(lab Lab) []rule {
	kinds := labKinds(lab)
	var rules []rule
	for _, s := range engineSignals {
		var terms []string
		var gaps []string
		for _, k := range kinds {
			m := s.fromEngine(engine.MustSpec(k).Metrics)
			switch {
			case m != "" && !slices.Contains(terms, engineTerm(s, m)):
				terms = append(terms, engineTerm(s, m))
			case m == "":
				gaps = append(gaps, string(k))
			}
		}
		if lab.Gateway != nil && s.fromGateway != "" && len(gaps) > 0 {
			terms = append(terms, gatewayTerm(s, gaps))
		}
		if len(terms) == 0 {
			continue
		}
		rules = append(rules, rule{Record: s.record, Expr: strings.Join(terms, "\nor\n")})
	}
	return rules
}

const byFrameworkEngine = "framework, engine"

func engineTerm(s engineSignal, metric string) string {
	switch s.agg {
	case quantile:
		return histogramQuantile(s.q, byFrameworkEngine, fmt.Sprintf("rate(%s_bucket[%s])", metric, RateWindow))
	case rate:
		return fmt.Sprintf("sum by (%s) (rate(%s[%s]))", byFrameworkEngine, metric, RateWindow)
	case sumGauge:
		return fmt.Sprintf("sum by (%s) (%s)", byFrameworkEngine, metric)
	default:
		return fmt.Sprintf("max by (%s) (%s)", byFrameworkEngine, metric)
	}
}

// gatewayTerm selects the gateway's series of the given engines and copies
// their backend label to framework before aggregating.
func gatewayTerm(s engineSignal, engines []string) string {
	sel := fmt.Sprintf(`{engine=%q}`, engines[0])
	if len(engines) > 1 {
		sel = fmt.Sprintf(`{engine=~%q}`, strings.Join(engines, "|"))
	}
	relabel := func(inner string) string {
		return fmt.Sprintf(`label_replace(%s, "framework", "$1", "backend", "(.*)")`, inner)
	}
	switch s.agg {
	case quantile:
		return histogramQuantile(s.q, byFrameworkEngine, relabel(fmt.Sprintf("rate(%s_bucket%s[%s])", s.fromGateway, sel, RateWindow)))
	case rate:
		return fmt.Sprintf("sum by (%s) (%s)", byFrameworkEngine, relabel(fmt.Sprintf("rate(%s%s[%s])", s.fromGateway, sel, RateWindow)))
	case sumGauge:
		return fmt.Sprintf("sum by (%s) (%s)", byFrameworkEngine, relabel(s.fromGateway+sel))
	default:
		return fmt.Sprintf("max by (%s) (%s)", byFrameworkEngine, relabel(s.fromGateway+sel))
	}
}

func histogramQuantile(q float64, by, rates string) string {
	return fmt.Sprintf("histogram_quantile(%s, sum by (%s, le) (%s))", formatFloat(q), by, rates)
}

func gatewayRules() []rule {
	requests := metricnames.GatewayRequests
	duration := metricnames.GatewayRequestDuration + "_bucket"
	overhead := metricnames.GatewayOverhead + "_bucket"
	cache := metricnames.GatewayCacheRequests
	// ratio divides the rate of the selected part by the rate of the whole,
	// and is 0 (not absent) while the part has no series yet.
	ratio := func(part, whole string) string {
		return fmt.Sprintf("(\n  %s\n  or\n  %s * 0\n)\n/\n%s", part, whole, whole)
	}
	byModel := func(sel string) string { return fmt.Sprintf("sum by (model) (rate(%s[%s]))", sel, RateWindow) }
	return []rule{
		{Record: GatewayRequestsRate, Expr: fmt.Sprintf("sum by (model, backend, engine, code) (rate(%s[%s]))", requests, RateWindow)},
		{Record: GatewayLatencyP50, Expr: histogramQuantile(0.5, "model, backend, engine", fmt.Sprintf("rate(%s[%s])", duration, RateWindow))},
		{Record: GatewayLatencyP99, Expr: histogramQuantile(0.99, "model, backend, engine", fmt.Sprintf("rate(%s[%s])", duration, RateWindow))},
		{Record: GatewayOverheadP50, Expr: histogramQuantile(0.5, "model", fmt.Sprintf("rate(%s[%s])", overhead, RateWindow))},
		{Record: GatewayOverheadP99, Expr: histogramQuantile(0.99, "model", fmt.Sprintf("rate(%s[%s])", overhead, RateWindow))},
		{Record: Gateway5xxRatio, Expr: ratio(byModel(requests+`{code=~"5.."}`), byModel(requests))},
		// Hits among cacheable requests; bypassed requests are not counted.
		{Record: GatewayCacheHitRatio, Expr: ratio(byModel(cache+`{result="hit"}`), byModel(cache+`{result=~"hit|miss"}`))},
		{Record: GatewayUpstreamErrorsRate, Expr: fmt.Sprintf("sum by (model, backend, engine, reason) (rate(%s[%s]))", metricnames.GatewayUpstreamErrors, RateWindow)},
	}
}

func gpuRules() []rule {
	used := "sum by (host, gpu) (" + metricnames.DCGMFBUsed + ")"
	free := "sum by (host, gpu) (" + metricnames.DCGMFBFree + ")"
	return []rule{
		{Record: GPUMemoryUsedRatio, Expr: fmt.Sprintf("%s\n/\n(%s + %s)", used, used, free)},
		{Record: GPUUtilizationRatio, Expr: "avg by (host, gpu) (" + metricnames.DCGMGPUUtil + ") / 100"},
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
