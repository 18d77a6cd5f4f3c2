package monitoring_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

func validLab() monitoring.Lab {
	return monitoring.Lab{
		Stack:   "local",
		Gateway: &monitoring.Target{Host: "laptop", Address: "gateway:8080"},
		Frameworks: []monitoring.Framework{
			{Name: "vllm", Engine: engine.VLLM, Host: "gpu", Address: "vllm:8000"},
			{Name: "ollama", Engine: engine.Ollama, Host: "gpu"},
		},
		DCGM:   []monitoring.Target{{Host: "gpu", Address: "dcgm:9400"}},
		Models: []string{"Qwen/Qwen3-0.6B", "llama3.2:1b"},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(*monitoring.Lab)
		fields []string
	}{
		{name: "valid", mutate: func(*monitoring.Lab) {}},
		{name: "every representative lab is valid", mutate: func(l *monitoring.Lab) { *l = labs()[3].lab }},
		{name: "empty lab", mutate: func(l *monitoring.Lab) { *l = monitoring.Lab{} }, fields: []string{"stack", "frameworks"}},
		{name: "bad stack name", mutate: func(l *monitoring.Lab) { l.Stack = "my stack" }, fields: []string{"stack"}},
		{name: "empty framework name", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Name = "" }, fields: []string{"frameworks[0].name"}},
		{name: "framework name with a quote", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Name = `v"llm` }, fields: []string{"frameworks[0].name"}},
		{name: "duplicate framework names", mutate: func(l *monitoring.Lab) { l.Frameworks[1].Name = "vllm" }, fields: []string{"frameworks[1].name"}},
		{name: "unknown engine", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Engine = "tgi" }, fields: []string{"frameworks[0].engine"}},
		{name: "sim without flavour", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Engine = engine.Sim }, fields: []string{"frameworks[0].flavour"}},
		{name: "sim flavoured sim", mutate: func(l *monitoring.Lab) {
			l.Frameworks[0].Engine, l.Frameworks[0].Flavour = engine.Sim, engine.Sim
		}, fields: []string{"frameworks[0].flavour"}},
		{name: "flavour on a real engine", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Flavour = engine.SGLang }, fields: []string{"frameworks[0].flavour"}},
		{name: "missing host", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Host = "" }, fields: []string{"frameworks[0].host"}},
		{name: "scraped framework without address", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = "" }, fields: []string{"frameworks[0].address"}},
		{name: "sim vllm without address", mutate: func(l *monitoring.Lab) {
			l.Frameworks[0].Engine, l.Frameworks[0].Flavour, l.Frameworks[0].Address = engine.Sim, engine.VLLM, ""
		}, fields: []string{"frameworks[0].address"}},
		{name: "address without port", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = "vllm" }, fields: []string{"frameworks[0].address"}},
		{name: "address with a URL", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = "http://vllm:8000" }, fields: []string{"frameworks[0].address"}},
		{name: "port out of range", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = "vllm:70000" }, fields: []string{"frameworks[0].address"}},
		{name: "empty host in address", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = ":8000" }, fields: []string{"frameworks[0].address"}},
		{name: "bad address on unscraped ollama", mutate: func(l *monitoring.Lab) { l.Frameworks[1].Address = "ollama" }, fields: []string{"frameworks[1].address"}},
		{name: "ipv6 address", mutate: func(l *monitoring.Lab) { l.Frameworks[0].Address = "[::1]:8000" }},
		{name: "no frameworks", mutate: func(l *monitoring.Lab) { l.Frameworks = nil }, fields: []string{"frameworks"}},
		{name: "bad gateway", mutate: func(l *monitoring.Lab) { l.Gateway = &monitoring.Target{} }, fields: []string{"gateway.host", "gateway.address"}},
		{name: "duplicate dcgm host", mutate: func(l *monitoring.Lab) {
			l.DCGM = append(l.DCGM, monitoring.Target{Host: "gpu", Address: "other:9400"})
		}, fields: []string{"dcgm[1].host"}},
		{name: "bad dcgm address", mutate: func(l *monitoring.Lab) { l.DCGM[0].Address = "dcgm:x" }, fields: []string{"dcgm[0].address"}},
		{name: "bad model", mutate: func(l *monitoring.Lab) { l.Models[1] = `a"b` }, fields: []string{"models[1]"}},
		{name: "model with $", mutate: func(l *monitoring.Lab) { l.Models[1] = "$1" }, fields: []string{"models[1]"}},
		{name: "duplicate model", mutate: func(l *monitoring.Lab) { l.Models[1] = l.Models[0] }, fields: []string{"models[1]"}},
		{name: "models without gateway", mutate: func(l *monitoring.Lab) { l.Gateway = nil }, fields: []string{"models"}},
		{name: "scrape interval too short", mutate: func(l *monitoring.Lab) { l.ScrapeInterval = 100 * time.Millisecond }, fields: []string{"scrapeInterval"}},
		{name: "scrape interval too long", mutate: func(l *monitoring.Lab) { l.ScrapeInterval = time.Minute }, fields: []string{"scrapeInterval"}},
		{name: "negative scrape interval", mutate: func(l *monitoring.Lab) { l.ScrapeInterval = -time.Second }, fields: []string{"scrapeInterval"}},
		{name: "bad SLOs", mutate: func(l *monitoring.Lab) {
			l.SLO = monitoring.SLO{TTFTP99: -1, Gateway5xxRatio: 1.5, GPUMemoryRatio: math.NaN()}
		}, fields: []string{"slo.ttftP99", "slo.gateway5xxRatio", "slo.gpuMemoryRatio"}},
		{name: "bad alert durations", mutate: func(l *monitoring.Lab) {
			l.Alerting = monitoring.Alerting{TargetDownFor: -time.Second, NoReadyBackendFor: time.Microsecond, SLOFor: -1, GPUMemoryFor: -1}
		}, fields: []string{"alerting.targetDownFor", "alerting.noReadyBackendFor", "alerting.sloFor", "alerting.gpuMemoryFor"}},
		{name: "relative rules dir", mutate: func(l *monitoring.Lab) { l.RulesDir = "rules" }, fields: []string{"rulesDir"}},
		{name: "a cluster Grafana's datasource", mutate: func(l *monitoring.Lab) { l.DatasourceUID = "prometheus" }},
		{name: "bad datasource uid", mutate: func(l *monitoring.Lab) { l.DatasourceUID = "prom etheus" }, fields: []string{"datasourceUid"}},
		{name: "several problems at once", mutate: func(l *monitoring.Lab) {
			l.Stack = ""
			l.Frameworks[0].Engine = "tgi"
			l.Frameworks[1].Name = "vllm"
			l.DCGM[0].Host = ""
		}, fields: []string{"stack", "frameworks[0].engine", "frameworks[1].name", "dcgm[0].host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lab := validLab()
			tt.mutate(&lab)
			err := lab.Validate()
			if len(tt.fields) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			assertProblems(t, err, tt.fields)
		})
	}
}

// TestGeneratorsValidate checks that every generator refuses an invalid lab
// with the same validation error, before rendering anything.
func TestGeneratorsValidate(t *testing.T) {
	t.Parallel()
	bad := validLab()
	bad.Frameworks[1].Name = "vllm"
	generators := map[string]func(monitoring.Lab) error{
		"PrometheusConfig": func(l monitoring.Lab) error { _, err := monitoring.PrometheusConfig(l); return err },
		"RecordingRules":   func(l monitoring.Lab) error { _, err := monitoring.RecordingRules(l); return err },
		"AlertRules":       func(l monitoring.Lab) error { _, err := monitoring.AlertRules(l); return err },
		"Dashboards":       func(l monitoring.Lab) error { _, err := monitoring.Dashboards(l); return err },
		"PrometheusFiles":  func(l monitoring.Lab) error { _, err := monitoring.PrometheusFiles(l); return err },
		"GrafanaFiles": func(l monitoring.Lab) error {
			_, err := monitoring.GrafanaFiles(l, testDatasource)
			return err
		},
	}
	for name, gen := range generators {
		err := gen(bad)
		var ve *monitoring.ValidationError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), `frameworks[1].name: duplicate "vllm" (also frameworks[0])`) {
			t.Errorf("%s(invalid lab) error = %v, want the duplicate framework named", name, err)
		}
	}
}
