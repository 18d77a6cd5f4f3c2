package gateway_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/pulumitest"
)

// lab registers two hosts and three frameworks: an Ollama and a sim on the
// gateway's host, a llama.cpp on another host published on its private IP.
func lab(ctx *pulumi.Context) (*gpuhost.GpuHost, []gateway.Backend, error) {
	a, err := gpuhost.NewGpuHost(ctx, "a", nil)
	if err != nil {
		return nil, nil, err
	}
	b, err := gpuhost.NewGpuHost(ctx, "b", &gpuhost.GpuHostArgs{BindAddress: "10.0.0.2", Address: "10.0.0.2", ModelCache: gpuhost.ModelCacheArgs{Needed: true}})
	if err != nil {
		return nil, nil, err
	}
	mk := func(h *gpuhost.GpuHost, in frameworkspec.Instance, img string, port int) (*framework.Framework, error) {
		return framework.NewFramework(ctx, in.Name, &framework.FrameworkArgs{Host: h, Instance: in, Image: pulumi.String(img), PublishedPort: port})
	}
	ollama, err := mk(a, frameworkspec.Instance{Name: "ollama", Engine: engine.Ollama, Model: "qwen2.5:0.5b", ServedModelName: "qwen2.5:0.5b",
		Args: frameworkspec.EngineArgs{Ollama: &frameworkspec.OllamaArgs{}}}, "ollama/ollama:0.32.2", 11434)
	if err != nil {
		return nil, nil, err
	}
	sim, err := mk(a, frameworkspec.Instance{Name: "sim", Engine: engine.Sim, Flavour: engine.SGLang, Model: "m", ServedModelName: "shared",
		Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}}}, "servelab:x", 30000)
	if err != nil {
		return nil, nil, err
	}
	llama, err := mk(b, frameworkspec.Instance{Name: "llama", Engine: engine.LlamaCpp, Model: "o/r-GGUF:Q4_K_M", ServedModelName: "shared",
		Args: frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{}}}, "ghcr.io/ggml-org/llama.cpp:server-b7100", 8081)
	if err != nil {
		return nil, nil, err
	}
	return a, []gateway.Backend{
		{Framework: ollama, PublicModel: "ollama"},
		{Framework: sim, PublicModel: "shared", Weight: 3},
		{Framework: llama, PublicModel: "shared"},
	}, nil
}

func TestRenderConfig(t *testing.T) {
	t.Parallel()
	var cfg gw.Config
	err := pulumitest.New(nil).Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		host, backends, err := lab(ctx)
		if err != nil {
			return err
		}
		cfg, err = gateway.RenderConfig(host, nil, backends)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Models) != 2 || cfg.Models[0].Name != "ollama" || cfg.Models[1].Name != "shared" {
		t.Fatalf("models %+v", cfg.Models)
	}
	// Engines with a key of their own get it from a file the gateway reads
	// (C1: apiKeyFile per backend); Ollama has none.
	want := []gw.Backend{
		{Name: "sim", Engine: engine.SGLang, URL: "http://sim:30000", Weight: 3, APIKeyFile: "/run/servelab/backend-keys/sim"},
		{Name: "llama", Engine: engine.LlamaCpp, URL: "http://10.0.0.2:8081", APIKeyFile: "/run/servelab/backend-keys/llama"},
	}
	if !slices.Equal(cfg.Models[1].Backends, want) {
		t.Errorf("shared backends %+v, want %+v", cfg.Models[1].Backends, want)
	}
	// Ollama serves its tag: the gateway rewrites the public name to it.
	if b := cfg.Models[0].Backends[0]; b.Model != "qwen2.5:0.5b" || b.URL != "http://ollama:11434" || b.Engine != engine.Ollama || b.APIKeyFile != "" {
		t.Errorf("ollama backend %+v", b)
	}
	// The container listens on every interface (the gateway's own default
	// is loopback); the published port's bind address decides exposure.
	if cfg.Auth.KeysFile != gatewayconfig.KeysPath || cfg.MetricsListen != "0.0.0.0:9091" || cfg.Listen != "0.0.0.0:8080" {
		t.Errorf("auth %+v metrics %q listen %q", cfg.Auth, cfg.MetricsListen, cfg.Listen)
	}
}

func TestNewGateway(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    func(*gpuhost.GpuHost, []gateway.Backend) *gateway.GatewayArgs
		wantErr string
	}{
		{name: "nil args", args: func(*gpuhost.GpuHost, []gateway.Backend) *gateway.GatewayArgs { return nil }, wantErr: "gateway gw: args are required"},
		{name: "empty args", args: func(*gpuhost.GpuHost, []gateway.Backend) *gateway.GatewayArgs { return &gateway.GatewayArgs{} },
			wantErr: "gateway gw: host is required"},
		{name: "bad routing", args: func(h *gpuhost.GpuHost, b []gateway.Backend) *gateway.GatewayArgs {
			s := gw.DefaultConfig()
			s.Routing = "random"
			return &gateway.GatewayArgs{Host: h, Image: pulumi.String("servelab:x"), Port: 8088, Backends: b, Settings: &s}
		}, wantErr: "routing"},
		{name: "ok", args: func(h *gpuhost.GpuHost, b []gateway.Backend) *gateway.GatewayArgs {
			return &gateway.GatewayArgs{Host: h, Image: pulumi.String("servelab:x"), Port: 8088, Backends: b}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(nil)
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				host, backends, err := lab(ctx)
				if err != nil {
					return err
				}
				_, err = gateway.NewGateway(ctx, "gw", tt.args(host, backends))
				return err
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			key, ok := m.Get("random:index/randomPassword:RandomPassword", "gw-api-key")
			if !ok || key.ParentName() != "gw" || key.Plain("length") != 48.0 {
				t.Errorf("api key %+v", key)
			}
			c, ok := m.Get("docker:index/container:Container", "gw-container")
			if !ok || c.ProviderName() != "a-docker" || c.ParentName() != "gw" {
				t.Fatalf("container %+v", c)
			}
			for _, fw := range []string{"ollama-ready", "ollama-pull", "sim-ready", "llama-ready"} {
				if !slices.ContainsFunc(c.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::"+fw) }) {
					t.Errorf("gateway does not wait for %s: %v", fw, c.Dependencies)
				}
			}
			if got := c.Strings("command"); !slices.Equal(got, []string{"gateway", "--config", gatewayconfig.ConfigPath}) {
				t.Errorf("command %v", got)
			}
			for _, e := range c.Strings("envs") {
				t.Errorf("env %q: the gateway takes its key from a file", e)
			}
			if !slices.Contains(c.Secrets(), "uploads[1].content") && !slices.Contains(c.Secrets(), "uploads") {
				t.Errorf("key upload not secret: %v", c.Secrets())
			}
			if caps := c.Strings("capabilities.drops"); !slices.Equal(caps, []string{"ALL"}) {
				t.Errorf("capabilities %v", caps)
			}
			// Each keyed backend's key is uploaded 0400 at its apiKeyFile,
			// as a secret.
			keyFiles := map[string]bool{}
			for i, u := range c.Plain("uploads").([]any) {
				u := u.(map[string]any)
				file := u["file"].(string)
				if !strings.HasPrefix(file, gatewayconfig.BackendKeysDir+"/") {
					continue
				}
				keyFiles[file] = true
				if u["permissions"] != "0400" || !strings.HasSuffix(u["content"].(string), "\n") {
					t.Errorf("backend key %s: %v", file, u)
				}
				if !slices.Contains(c.Secrets(), fmt.Sprintf("uploads[%d].content", i)) && !slices.Contains(c.Secrets(), "uploads") {
					t.Errorf("backend key %s is not secret: %v", file, c.Secrets())
				}
			}
			if !keyFiles[gatewayconfig.BackendKeyFile("sim")] || !keyFiles[gatewayconfig.BackendKeyFile("llama")] || len(keyFiles) != 2 {
				t.Errorf("backend key files %v, want sim's and llama's", keyFiles)
			}
		})
	}
}
