package gateway

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

// TestMetricNames gathers the registry after traffic and compares the
// names with metricnames.Gateway.
func TestMetricNames(t *testing.T) {
	t.Parallel()
	up := newFakeUpstream(t, "a", engine.VLLM, "m")
	cfg := testConfig(Model{Name: "m", Backends: []Backend{up.backend()}})
	cfg.Cache.Enabled = true
	gw := startGateway(t, cfg, Options{}, true)
	post(t, gw.URL+"/v1/chat/completions", `{"model":"m","temperature":0}`)
	// The handler records after the client has its answer.
	waitFor(t, 5*time.Second, "the request to be recorded", func() bool {
		return metricValue(t, gw, metricnames.GatewayRequests, map[string]string{"backend": "a", "code": "200"}) == 1
	})
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		got = append(got, mf.GetName())
	}
	want := slices.Clone(metricnames.Gateway)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("registered metrics\n got %v\nwant %v", got, want)
	}
	labels := map[string][]string{
		metricnames.GatewayRequests:           {"code", "engine", "backend", "model"},
		metricnames.GatewayUpstreamErrors:     {"engine", "backend", "model", "reason"},
		metricnames.GatewayCacheRequests:      {"model", "result"},
		metricnames.GatewayOverhead:           {"model"},
		metricnames.GatewayBackendReady:       {"backend", "engine", "model"},
		metricnames.GatewayInFlight:           {"backend", "engine", "model"},
		metricnames.GatewayTTFT:               {"backend", "engine", "model"},
		metricnames.GatewayRequestDuration:    {"backend", "engine", "model"},
		metricnames.GatewayOutputTokens:       {"backend", "engine", "model"},
		metricnames.GatewayConnections:        {"listener"},
		metricnames.GatewayConnectionsRefused: {"listener"},
	}
	for _, mf := range mfs {
		var names []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			names = append(names, l.GetName())
		}
		w := slices.Clone(labels[mf.GetName()])
		slices.Sort(w)
		if !slices.Equal(names, w) {
			t.Errorf("%s labels %v, want %v", mf.GetName(), names, w)
		}
	}
	if v := metricValue(t, gw, metricnames.GatewayOutputTokens, map[string]string{"backend": "a"}); v != 4 {
		t.Errorf("output tokens = %v, want 4", v)
	}
}

// TestRequestsCounterExportedBeforeTraffic checks that every backend's
// requests_total{code="200"} series exists at 0 before any request, as the
// other backend series do. A counter that first appears already incremented
// hides those requests from rate(): a short benchmark through the gateway
// then showed no request rate for Ollama and llama.cpp, whose rate comes
// from this counter (found by internal/e2e).
func TestRequestsCounterExportedBeforeTraffic(t *testing.T) {
	t.Parallel()
	a := newFakeUpstream(t, "a", engine.Ollama, "m")
	b := newFakeUpstream(t, "b", engine.LlamaCpp, "n")
	cfg := testConfig(
		Model{Name: "m", Backends: []Backend{a.backend()}},
		Model{Name: "n", Backends: []Backend{b.backend()}},
	)
	gw := startGateway(t, cfg, Options{}, false)
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		if mf.GetName() != metricnames.GatewayRequests {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			got = append(got, fmt.Sprintf("%s/%s/%s/%s=%v", labels["model"], labels["backend"], labels["engine"], labels["code"], m.GetCounter().GetValue()))
		}
	}
	slices.Sort(got)
	want := []string{"m/a/ollama/200=0", "n/b/llamacpp/200=0"}
	if !slices.Equal(got, want) {
		t.Errorf("%s before any request:\n got %v\nwant %v", metricnames.GatewayRequests, got, want)
	}
}
