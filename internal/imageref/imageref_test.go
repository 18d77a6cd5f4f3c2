package imageref_test

import (
	"testing"

	"github.com/servelab/servelab/internal/imageref"
)

func TestQualify(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"nginx", "docker.io/library/nginx"},
		{"nginx:1.27", "docker.io/library/nginx:1.27"},
		{"prom/prometheus:v3.7.3", "docker.io/prom/prometheus:v3.7.3"},
		{"vllm/vllm-openai:v0.32.1", "docker.io/vllm/vllm-openai:v0.32.1"},
		{"docker.io/prom/prometheus:v3.7.3", "docker.io/prom/prometheus:v3.7.3"},
		{"ghcr.io/ggml-org/llama.cpp:server", "ghcr.io/ggml-org/llama.cpp:server"},
		{"nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-distroless", "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-distroless"},
		{"registry.local:5000/team/img@sha256:abcd", "registry.local:5000/team/img@sha256:abcd"},
		{"localhost/servelab:0.1.0-abc", "localhost/servelab:0.1.0-abc"},
		{"ollama/ollama@sha256:abcd", "docker.io/ollama/ollama@sha256:abcd"},
		{"", ""},
	} {
		if got := imageref.Qualify(tt.in); got != tt.want {
			t.Errorf("Qualify(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in != "" && !imageref.Qualified(imageref.Qualify(tt.in)) {
			t.Errorf("Qualify(%q) is not qualified", tt.in)
		}
	}
	if imageref.Qualified("prom/prometheus:v3.7.3") || imageref.Qualified("") {
		t.Error("a short name counts as qualified")
	}
	if got := imageref.Local("servelab:1"); got != "localhost/servelab:1" {
		t.Errorf("Local = %q", got)
	}
	if got := imageref.Local("localhost/servelab:1"); got != "localhost/servelab:1" {
		t.Errorf("Local twice = %q", got)
	}
}
