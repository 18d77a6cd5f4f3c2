package gateway

import (
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
		metricnames.GatewayRequests:        {"code", "engine", "backend", "model"},
		metricnames.GatewayUpstreamErrors:  {"engine", "backend", "model", "reason"},
		metricnames.GatewayCacheRequests:   {"model", "result"},
		metricnames.GatewayOverhead:        {"model"},
		metricnames.GatewayBackendReady:    {"backend", "engine", "model"},
		metricnames.GatewayInFlight:        {"backend", "engine", "model"},
		metricnames.GatewayTTFT:            {"backend", "engine", "model"},
		metricnames.GatewayRequestDuration: {"backend", "engine", "model"},
		metricnames.GatewayOutputTokens:    {"backend", "engine", "model"},
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
