package monitoring_test

import (
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// parseRules loads a rule file with Prometheus's own rule-file parser, which
// also parses every expression and annotation template.
func parseRules(t *testing.T, content []byte) *rulefmt.RuleGroups {
	t.Helper()
	groups, errs := rulefmt.Parse(content, false, model.UTF8Validation, promqlParser, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.Fatalf("rulefmt returned no groups for:\n%s", content)
	}
	return groups
}

// TestRulesParseAndUseCheckedNames loads every lab's rules with rulefmt and
// checks each expression's metric names.
func TestRulesParseAndUseCheckedNames(t *testing.T) {
	t.Parallel()
	known := checkedNames()
	recorded := map[string]bool{}
	for _, n := range monitoring.RecordedNames() {
		recorded[n] = true
	}
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rec, err := monitoring.RecordingRules(c.lab)
			if err != nil {
				t.Fatal(err)
			}
			alerts, err := monitoring.AlertRules(c.lab)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range parseRules(t, rec).Groups {
				for _, r := range g.Rules {
					if r.Record == "" {
						t.Errorf("group %s: recording file holds alert %q", g.Name, r.Alert)
					}
					if !recorded[r.Record] {
						t.Errorf("record %q is not in RecordedNames()", r.Record)
					}
					checkExpr(t, known, "record "+r.Record, r.Expr)
				}
			}
			for _, g := range parseRules(t, alerts).Groups {
				for _, r := range g.Rules {
					if !slices.Contains(monitoring.AlertNames(), r.Alert) {
						t.Errorf("alert %q is not in AlertNames()", r.Alert)
					}
					if s := r.Labels["severity"]; s != "critical" && s != "warning" {
						t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
					}
					for _, a := range []string{"summary", "description"} {
						if r.Annotations[a] == "" {
							t.Errorf("alert %s: no %s annotation", r.Alert, a)
						}
					}
					if r.For == 0 {
						t.Errorf("alert %s: no for duration", r.Alert)
					}
					checkExpr(t, known, "alert "+r.Alert, r.Expr)
				}
			}
		})
	}
}

// ruleSet loads a lab's recording and alert rules as name → expression.
func ruleSet(t *testing.T, lab monitoring.Lab) (records, alerts map[string]rulefmt.Rule) {
	t.Helper()
	records, alerts = map[string]rulefmt.Rule{}, map[string]rulefmt.Rule{}
	rec, err := monitoring.RecordingRules(lab)
	if err != nil {
		t.Fatal(err)
	}
	al, err := monitoring.AlertRules(lab)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range parseRules(t, rec).Groups {
		for _, r := range g.Rules {
			if _, dup := records[r.Record]; dup {
				t.Errorf("record %s defined twice", r.Record)
			}
			records[r.Record] = r
		}
	}
	for _, g := range parseRules(t, al).Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = r
		}
	}
	return records, alerts
}

// TestRulesFollowTheLab checks which rules each kind of lab gets: only the
// signals its engines (and its gateway, for their gaps) can feed.
func TestRulesFollowTheLab(t *testing.T) {
	t.Parallel()
	gw := &monitoring.Target{Host: "h", Address: "gw:8080"}
	fw := func(name string, k engine.Kind) monitoring.Framework {
		return monitoring.Framework{Name: name, Engine: k, Host: "h", Address: name + ":1"}
	}
	gatewayRecords := []string{
		monitoring.GatewayRequestsRate, monitoring.GatewayLatencyP50, monitoring.GatewayLatencyP99,
		monitoring.GatewayOverheadP50, monitoring.GatewayOverheadP99, monitoring.Gateway5xxRatio,
		monitoring.GatewayCacheHitRatio, monitoring.GatewayUpstreamErrorsRate,
	}
	tests := []struct {
		name        string
		lab         monitoring.Lab
		wantRecords []string
		wantAlerts  []string
	}{
		{
			name: "ollama alone, no gateway: nothing to record, nothing to scrape",
			lab:  monitoring.Lab{Stack: "s", Frameworks: []monitoring.Framework{fw("o", engine.Ollama)}},
		},
		{
			name: "ollama behind the gateway: the gateway fills ttft, e2e, tokens, requests, running",
			lab:  monitoring.Lab{Stack: "s", Gateway: gw, Frameworks: []monitoring.Framework{fw("o", engine.Ollama)}},
			wantRecords: append([]string{
				monitoring.EngineTTFTP50, monitoring.EngineTTFTP99, monitoring.EngineE2EP50, monitoring.EngineE2EP99,
				monitoring.EngineOutputTokens, monitoring.EngineRequests, monitoring.EngineRequestsRunning,
			}, gatewayRecords...),
			wantAlerts: []string{monitoring.AlertGatewayDown, monitoring.AlertBackendNotReady, monitoring.AlertNoReadyBackend,
				monitoring.AlertGateway5xxRatioHigh, monitoring.AlertTTFTP99High},
		},
		{
			name: "llama.cpp without gateway: its own tokens and queue, no latency, no kv",
			lab:  monitoring.Lab{Stack: "s", Frameworks: []monitoring.Framework{fw("l", engine.LlamaCpp)}},
			wantRecords: []string{monitoring.EngineOutputTokens, monitoring.EnginePromptTokens,
				monitoring.EngineRequestsRunning, monitoring.EngineRequestsWaiting},
			wantAlerts: []string{monitoring.AlertFrameworkDown},
		},
		{
			name: "vllm with DCGM, no gateway: every engine signal, gpu rules",
			lab: monitoring.Lab{Stack: "s", Frameworks: []monitoring.Framework{fw("v", engine.VLLM)},
				DCGM: []monitoring.Target{{Host: "h", Address: "dcgm:9400"}}},
			wantRecords: []string{
				monitoring.EngineTTFTP50, monitoring.EngineTTFTP99, monitoring.EngineITLP50, monitoring.EngineITLP99,
				monitoring.EngineE2EP50, monitoring.EngineE2EP99, monitoring.EngineOutputTokens, monitoring.EnginePromptTokens,
				monitoring.EngineRequests, monitoring.EngineRequestsRunning, monitoring.EngineRequestsWaiting,
				monitoring.EngineKVCacheUsage, monitoring.GPUMemoryUsedRatio, monitoring.GPUUtilizationRatio,
			},
			wantAlerts: []string{monitoring.AlertFrameworkDown, monitoring.AlertDCGMExporterDown,
				monitoring.AlertTTFTP99High, monitoring.AlertGPUMemoryHigh},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			records, alerts := ruleSet(t, tt.lab)
			gotRecords := slices.Sorted(maps.Keys(records))
			gotAlerts := slices.Sorted(maps.Keys(alerts))
			slices.Sort(tt.wantRecords)
			slices.Sort(tt.wantAlerts)
			if !slices.Equal(gotRecords, tt.wantRecords) {
				t.Errorf("records = %v\nwant %v", gotRecords, tt.wantRecords)
			}
			if !slices.Equal(gotAlerts, tt.wantAlerts) {
				t.Errorf("alerts = %v\nwant %v", gotAlerts, tt.wantAlerts)
			}
		})
	}
}

// TestGatewayFillsOnlyTheGaps checks the source of each signal per engine
// in a lab with every engine: the gateway term selects exactly the engines
// that lack the signal, and no engine metric of an absent engine appears.
func TestGatewayFillsOnlyTheGaps(t *testing.T) {
	t.Parallel()
	lab := monitoring.Lab{
		Stack:   "s",
		Gateway: &monitoring.Target{Host: "h", Address: "gw:8080"},
		Frameworks: []monitoring.Framework{
			{Name: "v", Engine: engine.VLLM, Host: "h", Address: "v:8000"},
			{Name: "o", Engine: engine.Ollama, Host: "h"},
			{Name: "l", Engine: engine.Sim, Flavour: engine.LlamaCpp, Host: "h", Address: "l:8080"},
		},
	}
	records, _ := ruleSet(t, lab)
	tests := []struct {
		record string
		// substrings the expression must hold, and must not
		want, notWant []string
	}{
		{monitoring.EngineTTFTP99,
			[]string{"vllm:time_to_first_token_seconds_bucket", `servelab_gateway_ttft_seconds_bucket{engine=~"ollama|llamacpp"}`},
			[]string{"sglang:"}},
		{monitoring.EngineOutputTokens,
			[]string{"vllm:generation_tokens_total", "llamacpp:tokens_predicted_total", `servelab_gateway_output_tokens_total{engine="ollama"}`},
			[]string{"sglang:"}},
		{monitoring.EngineRequestsRunning,
			[]string{"vllm:num_requests_running", "llamacpp:requests_processing", `servelab_gateway_in_flight_requests{engine="ollama"}`},
			nil},
		{monitoring.EngineRequestsWaiting,
			[]string{"vllm:num_requests_waiting", "llamacpp:requests_deferred"},
			[]string{"servelab_gateway"}},
		{monitoring.EngineKVCacheUsage,
			[]string{"vllm:kv_cache_usage_perc"},
			[]string{"servelab_gateway", "llamacpp"}},
		{monitoring.EngineRequests,
			[]string{"vllm:e2e_request_latency_seconds_count", `servelab_gateway_requests_total{engine=~"ollama|llamacpp"}`},
			nil},
	}
	for _, tt := range tests {
		r, ok := records[tt.record]
		if !ok {
			t.Errorf("%s not recorded", tt.record)
			continue
		}
		for _, s := range tt.want {
			if !strings.Contains(r.Expr, s) {
				t.Errorf("%s: expression lacks %q:\n%s", tt.record, s, r.Expr)
			}
		}
		for _, s := range tt.notWant {
			if strings.Contains(r.Expr, s) {
				t.Errorf("%s: expression holds %q:\n%s", tt.record, s, r.Expr)
			}
		}
		if !strings.Contains(r.Expr, "sum by (framework, engine") && !strings.Contains(r.Expr, "max by (framework, engine") {
			t.Errorf("%s: not aggregated by framework and engine:\n%s", tt.record, r.Expr)
		}
	}
}

// TestAlertThresholdsAndDurationsAreInputs checks that SLO thresholds and
// "for" durations come from the lab.
func TestAlertThresholdsAndDurationsAreInputs(t *testing.T) {
	t.Parallel()
	lab := monitoring.Lab{
		Stack:      "s",
		Gateway:    &monitoring.Target{Host: "h", Address: "gw:8080"},
		Frameworks: []monitoring.Framework{{Name: "v", Engine: engine.VLLM, Host: "h", Address: "v:8000"}},
		DCGM:       []monitoring.Target{{Host: "h", Address: "dcgm:9400"}},
		Models:     []string{"org/model-a", "model:b"},
		SLO:        monitoring.SLO{TTFTP99: 750e6, Gateway5xxRatio: 0.2, GPUMemoryRatio: 0.5},
		Alerting:   monitoring.Alerting{TargetDownFor: 1e9, NoReadyBackendFor: 2e9, SLOFor: 3e9, GPUMemoryFor: 4e9},
	}
	_, alerts := ruleSet(t, lab)
	tests := []struct {
		alert    string
		exprHas  string
		forDur   model.Duration
		severity string
	}{
		{monitoring.AlertFrameworkDown, `up{framework!=""} == 0`, model.Duration(1e9), "critical"},
		{monitoring.AlertGatewayDown, `up{job="gateway"} == 0`, model.Duration(1e9), "critical"},
		{monitoring.AlertDCGMExporterDown, `up{job=~"dcgm-.+"} == 0`, model.Duration(1e9), "warning"},
		{monitoring.AlertBackendNotReady, `servelab_gateway_backend_ready == 0`, model.Duration(1e9), "warning"},
		{monitoring.AlertNoReadyBackend, `label_replace(vector(0), "model", "model:b", "", "")`, model.Duration(2e9), "critical"},
		{monitoring.AlertGateway5xxRatioHigh, monitoring.Gateway5xxRatio + " > 0.2", model.Duration(3e9), "warning"},
		{monitoring.AlertTTFTP99High, monitoring.EngineTTFTP99 + " > 0.75", model.Duration(3e9), "warning"},
		{monitoring.AlertGPUMemoryHigh, monitoring.GPUMemoryUsedRatio + " > 0.5", model.Duration(4e9), "warning"},
	}
	for _, tt := range tests {
		r, ok := alerts[tt.alert]
		if !ok {
			t.Errorf("alert %s missing", tt.alert)
			continue
		}
		if !strings.Contains(r.Expr, tt.exprHas) {
			t.Errorf("%s: expression lacks %q:\n%s", tt.alert, tt.exprHas, r.Expr)
		}
		if r.For != tt.forDur {
			t.Errorf("%s: for = %s, want %s", tt.alert, r.For, tt.forDur)
		}
		if r.Labels["severity"] != tt.severity {
			t.Errorf("%s: severity = %q, want %q", tt.alert, r.Labels["severity"], tt.severity)
		}
	}
	if !strings.Contains(alerts[monitoring.AlertNoReadyBackend].Expr, `"org/model-a"`) {
		t.Errorf("NoReadyBackend lacks the first model:\n%s", alerts[monitoring.AlertNoReadyBackend].Expr)
	}
}

// TestRecordedNamesCoverTheSchema checks RecordedNames: sorted, unique and
// all in the servelab: namespace.
func TestRecordedNamesCoverTheSchema(t *testing.T) {
	t.Parallel()
	names := monitoring.RecordedNames()
	if !slices.IsSorted(names) {
		t.Errorf("RecordedNames not sorted: %v", names)
	}
	if len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("RecordedNames has duplicates: %v", names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "servelab:") {
			t.Errorf("recorded name %q is outside the servelab: namespace", n)
		}
	}
}
