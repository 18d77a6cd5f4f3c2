package monitoring_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// Test fixtures: a password and its bcrypt hash (cost 10). Neither guards
// anything.
const (
	testUser     = "grafana"
	testPassword = "not-a-real-password"
	testHash     = "$2a$10$c./WuSPqyV9Cx3dYCRGBwOUAR1foUfE.6yfLixKugM.2J.ISHBDRy"
)

var testDatasource = monitoring.Datasource{URL: "http://prometheus:9090", User: testUser}

// labCase is a representative lab with a golden directory.
type labCase struct {
	name string
	lab  monitoring.Lab
}

// labs returns fresh copies of the representative labs: the CPU laptop
// (Ollama + llama.cpp), the one-GPU box (vLLM + SGLang + Ollama + DCGM), a
// two-host fleet, and a sim lab with every flavour.
func labs() []labCase {
	return []labCase{
		{"cpu", monitoring.Lab{
			Stack:   "local",
			Gateway: &monitoring.Target{Host: "laptop", Address: "gateway:8080"},
			Frameworks: []monitoring.Framework{
				{Name: "ollama", Engine: engine.Ollama, Host: "laptop", Address: "ollama:11434"},
				{Name: "llamacpp", Engine: engine.LlamaCpp, Host: "laptop", Address: "llamacpp:8080"},
			},
			Models: []string{"llama3.2:1b", "qwen2.5-0.5b-instruct"},
		}},
		{"gpu", monitoring.Lab{
			Stack:   "rtx5090",
			Gateway: &monitoring.Target{Host: "rtx5090", Address: "gateway:8080"},
			Frameworks: []monitoring.Framework{
				{Name: "vllm", Engine: engine.VLLM, Host: "rtx5090", Address: "vllm:8000"},
				{Name: "sglang", Engine: engine.SGLang, Host: "rtx5090", Address: "sglang:30000"},
				{Name: "ollama", Engine: engine.Ollama, Host: "rtx5090", Address: "ollama:11434"},
			},
			DCGM:   []monitoring.Target{{Host: "rtx5090", Address: "dcgm-exporter:9400"}},
			Models: []string{"Qwen/Qwen3-8B"},
		}},
		{"fleet", monitoring.Lab{
			Stack:          "fleet",
			ScrapeInterval: 10e9,
			Gateway:        &monitoring.Target{Host: "gpu-a", Address: "10.0.0.1:8080"},
			Frameworks: []monitoring.Framework{
				{Name: "vllm-a", Engine: engine.VLLM, Host: "gpu-a", Address: "10.0.0.1:8000"},
				{Name: "vllm-b", Engine: engine.VLLM, Host: "gpu-b", Address: "10.0.0.2:8000"},
			},
			DCGM: []monitoring.Target{
				{Host: "gpu-a", Address: "10.0.0.1:9400"},
				{Host: "gpu-b", Address: "10.0.0.2:9400"},
			},
			Models: []string{"meta-llama/Llama-3.1-70B-Instruct"},
			SLO:    monitoring.SLO{TTFTP99: 1500e6, Gateway5xxRatio: 0.01},
		}},
		{"sim", monitoring.Lab{
			Stack:   "sim",
			Gateway: &monitoring.Target{Host: "local", Address: "gateway:8080"},
			Frameworks: []monitoring.Framework{
				{Name: "sim-vllm", Engine: engine.Sim, Flavour: engine.VLLM, Host: "local", Address: "sim-vllm:8000"},
				{Name: "sim-sglang", Engine: engine.Sim, Flavour: engine.SGLang, Host: "local", Address: "sim-sglang:30000"},
				{Name: "sim-ollama", Engine: engine.Sim, Flavour: engine.Ollama, Host: "local", Address: "sim-ollama:11434"},
				{Name: "sim-llamacpp", Engine: engine.Sim, Flavour: engine.LlamaCpp, Host: "local", Address: "sim-llamacpp:8080"},
			},
			Models:   []string{"sim-model"},
			Alerting: monitoring.Alerting{TargetDownFor: 5e9, NoReadyBackendFor: 5e9},
		}},
		// A cluster: framework pods found through the Kubernetes API (every
		// replica scraped, host = its node), the gateway by Service name.
		{"k8s", monitoring.Lab{
			Stack:   "k8s",
			Gateway: &monitoring.Target{Host: "gpu-cluster", Address: "gateway:9091"},
			Frameworks: []monitoring.Framework{
				{Name: "vllm", Engine: engine.VLLM, Host: "gpu-cluster"},
				{Name: "sglang", Engine: engine.SGLang, Host: "gpu-cluster"},
				{Name: "sim-ollama", Engine: engine.Sim, Flavour: engine.Ollama, Host: "gpu-cluster"},
			},
			Models:     []string{"Qwen/Qwen3-8B"},
			Kubernetes: &monitoring.KubernetesSD{Namespace: "servelab", PodLabel: "servelab.dev/framework", PortName: "http"},
		}},
	}
}

// labFiles renders every file of a lab, keyed by container path.
func labFiles(t *testing.T, lab monitoring.Lab) map[string][]byte {
	t.Helper()
	files, err := monitoring.PrometheusFiles(lab)
	if err != nil {
		t.Fatalf("PrometheusFiles: %v", err)
	}
	web, err := monitoring.WebConfig(testUser, testHash)
	if err != nil {
		t.Fatalf("WebConfig: %v", err)
	}
	files[monitoring.PrometheusWebConfigPath] = web
	grafana, err := monitoring.GrafanaFiles(lab, testDatasource)
	if err != nil {
		t.Fatalf("GrafanaFiles: %v", err)
	}
	maps.Copy(files, grafana)
	return files
}

// writeFiles writes files under dir, container paths made relative to it.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "/")))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, files[p], 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
