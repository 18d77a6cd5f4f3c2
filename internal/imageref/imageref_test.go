package imageref_test

import (
	"strings"
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

func TestCheck(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, ok := range []string{"nginx", "nginx:1.27", "prom/prometheus:v3.7.3", "docker.io/library/nginx:1.27",
		"ghcr.io/ggml-org/llama.cpp:server-cuda-b7100", "nvcr.io/nvidia/k8s/dcgm-exporter:4.5.3-4.8.2-distroless",
		"registry.lan:5000/team/img:1", "localhost/servelab:0.1.0-abc", "ollama/ollama@" + digest, "vllm/vllm-openai:v0.32.1@" + digest,
		"a__b/c-d--e:T_1.x"} {
		if err := imageref.Check(ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
	for ref, want := range map[string]string{
		"":                                      `repository path ""`,
		"ghcr.io/org/img:server b7100":          `tag "server b7100"`,
		"Ollama/Ollama:0.32.2":                  `repository path "Ollama"`,
		"ollama/Ollama:1":                       `repository path "ollama/Ollama"`,
		"img:":                                  `tag ""`,
		"img@sha256:abc":                        `digest "sha256:abc"`,
		"img@sha256:" + strings.Repeat("Z", 64): "digest",
		"bad_host.io/img:1":                     `registry "bad_host.io"`,
		"host.io:port/img:1":                    `registry "host.io:port"`,
		"img:1 ":                                `tag "1 "`,
		"a//b:1":                                `repository path "a//b"`,
		"-img:1":                                `repository path "-img"`,
	} {
		err := imageref.Check(ref)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%q) = %v, want an error naming %s", ref, err, want)
		}
	}
}

func TestCheckRepository(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"servelab", "ghcr.io/acme/servelab", "localhost:5001/servelab", "registry.lan:5000/team/img"} {
		if err := imageref.CheckRepository(ok); err != nil {
			t.Errorf("CheckRepository(%q) = %v", ok, err)
		}
	}
	for ref, want := range map[string]string{
		"ghcr.io/acme/servelab:v1":                    "has a tag or digest",
		"servelab@sha256:" + strings.Repeat("ab", 32): "has a tag or digest",
		"localhost:5001/servelab:1":                   "has a tag or digest",
		"ghcr.io/Acme/servelab":                       `repository path "Acme/servelab"`,
		"":                                            `repository path ""`,
	} {
		err := imageref.CheckRepository(ref)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckRepository(%q) = %v, want an error naming %s", ref, err, want)
		}
	}
}
