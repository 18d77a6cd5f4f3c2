package framework_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/pulumitest"
)

func TestNewFramework(t *testing.T) {
	t.Parallel()
	token := pulumi.ToSecret(pulumi.String("hf_secret")).(pulumi.StringOutput)
	ollama := frameworkspec.Instance{Name: "ollama", Engine: engine.Ollama, Model: "qwen2.5:0.5b", ServedModelName: "qwen2.5:0.5b",
		Args: frameworkspec.EngineArgs{Ollama: &frameworkspec.OllamaArgs{}}}
	llama := frameworkspec.Instance{Name: "llama", Engine: engine.LlamaCpp, Model: "a/b-GGUF:Q4_K_M", ServedModelName: "llama",
		Args: frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{}}}
	sim := frameworkspec.Instance{Name: "sim", Engine: engine.Sim, Flavour: engine.VLLM, Model: "sim", ServedModelName: "sim",
		Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}}}

	tests := []struct {
		name    string
		args    func(h *gpuhost.GpuHost) *framework.FrameworkArgs
		wantErr string
		check   func(t *testing.T, m *pulumitest.Mocks)
	}{
		{name: "nil args", args: func(*gpuhost.GpuHost) *framework.FrameworkArgs { return nil }, wantErr: "framework f: args are required"},
		{name: "empty args", args: func(*gpuhost.GpuHost) *framework.FrameworkArgs { return &framework.FrameworkArgs{} },
			wantErr: "framework f: host is required"},
		{
			name: "ollama pulls its model after the container is healthy",
			args: func(h *gpuhost.GpuHost) *framework.FrameworkArgs {
				return &framework.FrameworkArgs{Host: h, Instance: ollama, Image: pulumi.String("ollama/ollama:0.32.2"), PublishedPort: 11434}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				pull, ok := m.Get("command:local:Command", "f-pull")
				if !ok {
					t.Fatal("no pull command")
				}
				if pull.ParentName() != "f" || !slices.ContainsFunc(pull.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::f-container") }) {
					t.Errorf("pull parent %q deps %v", pull.ParentName(), pull.Dependencies)
				}
				want := "docker exec servelab-test-ollama ollama pull qwen2.5:0.5b && docker exec servelab-test-ollama ollama show --modelfile qwen2.5:0.5b" +
					" && docker exec servelab-test-ollama ollama run qwen2.5:0.5b"
				if pull.String("create") != want {
					t.Errorf("pull runs %q, want the pull, a check and a load", pull.String("create"))
				}
				vol, ok := m.Get("docker:index/volume:Volume", "f-models")
				if !ok || !vol.RetainOnDelete || vol.ProviderName() != "h-docker" {
					t.Errorf("ollama volume %+v: models must survive a destroy", vol)
				}
				c, _ := m.Get("docker:index/container:Container", "f-container")
				if v := c.Plain("volumes").([]any)[0].(map[string]any); v["containerPath"] != "/root/.ollama" || v["volumeName"] != "servelab-test-ollama-models" {
					t.Errorf("volume mount %v", v)
				}
				// No API key: published on loopback whatever the host's
				// bind address.
				if ip := c.Plain("ports").([]any)[0].(map[string]any)["ip"]; ip != "127.0.0.1" {
					t.Errorf("ollama published on %v, want 127.0.0.1", ip)
				}
				if len(m.ByType("random:index/randomPassword:RandomPassword")) != 0 {
					t.Error("an API key for Ollama, which has none")
				}
			},
		},
		{
			name: "llama.cpp gets its own API key as a 0400 file, and the host's model cache",
			args: func(h *gpuhost.GpuHost) *framework.FrameworkArgs {
				return &framework.FrameworkArgs{Host: h, Instance: llama, Image: pulumi.String("ghcr.io/ggml-org/llama.cpp:server-b7100"), PublishedPort: 8081}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				key, ok := m.Get("random:index/randomPassword:RandomPassword", "f-api-key")
				if !ok || key.ParentName() != "f" || key.Plain("special") != false {
					t.Fatalf("no generated key (%+v)", key)
				}
				c, _ := m.Get("docker:index/container:Container", "f-container")
				uploads := c.Plain("uploads").([]any)
				u := uploads[len(uploads)-1].(map[string]any)
				if u["file"] != "/run/servelab/engine-api-key" || u["permissions"] != "0400" || !strings.HasSuffix(u["content"].(string), "\n") {
					t.Errorf("key upload %v", u)
				}
				if !slices.Contains(c.Secrets(), fmt.Sprintf("uploads[%d].content", len(uploads)-1)) && !slices.Contains(c.Secrets(), "uploads") {
					t.Errorf("the key upload is not secret (secrets %v)", c.Secrets())
				}
				if ip := c.Plain("ports").([]any)[0].(map[string]any)["ip"]; ip != "10.0.0.5" {
					t.Errorf("llama.cpp published on %v, want the host's bind address", ip)
				}
				vols := c.Plain("volumes").([]any)
				if len(vols) != 1 || vols[0].(map[string]any)["volumeName"] != "servelab-model-cache" || vols[0].(map[string]any)["containerPath"] != "/root/.cache" {
					t.Errorf("volumes %v, want the host's model cache at /root/.cache", vols)
				}
			},
		},
		{
			name: "llama.cpp gets the HF token as a secret env var",
			args: func(h *gpuhost.GpuHost) *framework.FrameworkArgs {
				return &framework.FrameworkArgs{Host: h, Instance: llama, Image: pulumi.String("ghcr.io/ggml-org/llama.cpp:server-b7100"), PublishedPort: 8081, HFToken: token}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				c, _ := m.Get("docker:index/container:Container", "f-container")
				secret := false
				for _, s := range c.Secrets() {
					if strings.HasPrefix(s, "envs") {
						secret = true
					}
				}
				if !secret || !slices.Contains(c.Strings("envs"), "HF_TOKEN=hf_secret") {
					t.Errorf("envs %v secrets %v", c.Strings("envs"), c.Secrets())
				}
				if slices.ContainsFunc(c.Strings("command"), func(a string) bool { return strings.Contains(a, "hf_secret") }) {
					t.Error("token in argv")
				}
				ports := c.Plain("ports").([]any)[0].(map[string]any)
				if ports["external"] != 8081.0 || ports["internal"] != 8080.0 || ports["ip"] != "10.0.0.5" {
					t.Errorf("ports %v", ports)
				}
			},
		},
		{
			name: "sim uses the locally built servelab image",
			args: func(h *gpuhost.GpuHost) *framework.FrameworkArgs {
				return &framework.FrameworkArgs{Host: h, Instance: sim, Image: pulumi.String("servelab:0.1.0"), ImageIsLocal: true, PublishedPort: 8000}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				if imgs := m.ByType("docker:index/remoteImage:RemoteImage"); len(imgs) != 0 {
					t.Errorf("pulled %v", imgs)
				}
				c, _ := m.Get("docker:index/container:Container", "f-container")
				if c.String("image") != "servelab:0.1.0" {
					t.Errorf("image %q", c.String("image"))
				}
			},
		},
		{
			name: "bad published port",
			args: func(h *gpuhost.GpuHost) *framework.FrameworkArgs {
				return &framework.FrameworkArgs{Host: h, Instance: ollama, Image: pulumi.String("ollama/ollama:0.32.2"), PublishedPort: 0}
			},
			wantErr: "published port 0 out of range",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(nil)
			var f *framework.Framework
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				h, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{BindAddress: "10.0.0.5", ModelCache: gpuhost.ModelCacheArgs{Needed: true}})
				if err != nil {
					return err
				}
				f, err = framework.NewFramework(ctx, "f", tt.args(h))
				return err
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			comp, ok := m.Get(framework.TypeToken, "f")
			if !ok {
				t.Fatal("component not registered")
			}
			c, ok := m.Get("docker:index/container:Container", "f-container")
			if !ok || c.ParentName() != comp.Name || c.ProviderName() != "h-docker" {
				t.Fatalf("container %+v", c)
			}
			if f.PublishedPort == 0 || f.Name == "" {
				t.Errorf("framework fields %+v", f)
			}
			tt.check(t, m)
		})
	}
}
