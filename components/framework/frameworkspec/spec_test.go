package frameworkspec_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/internal/engine"
)

func ptr[T any](v T) *T { return &v }

func TestBuildSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      frameworkspec.Instance
		command []string
		env     []string
		health  []string
		port    int
		check   func(t *testing.T, s frameworkspec.Spec)
	}{
		{
			name: "vllm on two GPUs",
			in: frameworkspec.Instance{
				Name: "vllm", Engine: engine.VLLM, Model: "Qwen/Qwen2.5-7B-Instruct", ServedModelName: "qwen",
				Devices: []int{0, 1}, MemoryFraction: 0.4, DemandGiB: 40, HasHFToken: true,
				Args:      frameworkspec.EngineArgs{VLLM: &frameworkspec.VLLMArgs{MaxModelLen: 8192, EnablePrefixCaching: ptr(false)}},
				ExtraArgs: []string{"--enforce-eager"},
			},
			command: []string{"Qwen/Qwen2.5-7B-Instruct", "--config", "/run/servelab/engine-auth.yaml", "--served-model-name", "qwen",
				"--host", "0.0.0.0", "--port", "8000",
				"--gpu-memory-utilization", "0.40", "--tensor-parallel-size", "2", "--max-model-len", "8192",
				"--no-enable-prefix-caching", "--enforce-eager"},
			env: []string{"HF_HOME=/root/.cache/huggingface", "HF_TOKEN_PATH=/run/servelab/hf_token",
				"NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_VISIBLE_DEVICES=0,1", "VLLM_CACHE_ROOT=/root/.cache/vllm", "VLLM_NO_USAGE_STATS=1"},
			health: []string{"CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8000/health"},
			port:   8000,
			check: func(t *testing.T, s frameworkspec.Spec) {
				if !s.IPCHost || s.Runtime != "nvidia" || !s.UploadHFToken || len(s.ReadySteps) != 0 {
					t.Errorf("spec %+v", s)
				}
				if s.APIKeyFile != "/run/servelab/engine-auth.yaml" || s.APIKeyFormat != frameworkspec.KeyYAML || s.LoopbackOnly() {
					t.Errorf("api key file %q format %q", s.APIKeyFile, s.APIKeyFormat)
				}
				if !s.UsesModelCache() || s.Volumes[0].Path != "/root/.cache" {
					t.Errorf("volumes %+v: the model cache (HF downloads and vLLM's compile cache) is not mounted", s.Volumes)
				}
				if s.WaitTimeout != 5*time.Minute+40*45*time.Second {
					t.Errorf("wait timeout %v, want 5m + 40 GiB × 45 s", s.WaitTimeout)
				}
			},
		},
		{
			name: "sglang",
			in: frameworkspec.Instance{
				Name: "sglang", Engine: engine.SGLang, Model: "m/m", ServedModelName: "sg", Devices: []int{0}, MemoryFraction: 0.35,
				Args: frameworkspec.EngineArgs{SGLang: &frameworkspec.SGLangArgs{ContextLength: 4096, DisableRadixCache: true}},
			},
			command: []string{"python3", "-m", "sglang.launch_server", "--config", "/run/servelab/engine-auth.yaml", "--model-path", "m/m", "--host", "0.0.0.0", "--port", "30000",
				"--mem-fraction-static", "0.35", "--tp", "1", "--served-model-name", "sg", "--enable-metrics",
				"--context-length", "4096", "--disable-radix-cache"},
			env: []string{"HF_HOME=/root/.cache/huggingface", "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_VISIBLE_DEVICES=0"},
			health: []string{"CMD", "python3", "-c",
				"import urllib.request; urllib.request.urlopen('http://127.0.0.1:30000/health_generate', timeout=20)"},
			port: 30000,
			check: func(t *testing.T, s frameworkspec.Spec) {
				if s.UploadHFToken {
					t.Error("token upload without a token")
				}
			},
		},
		{
			name: "ollama on CPU",
			in: frameworkspec.Instance{
				Name: "ollama", Engine: engine.Ollama, Model: "qwen2.5:0.5b", ServedModelName: "qwen2.5:0.5b",
				Args: frameworkspec.EngineArgs{Ollama: &frameworkspec.OllamaArgs{NumParallel: 4, KeepAlive: "24h", FlashAttention: ptr(true)}},
			},
			command: nil,
			env:     []string{"OLLAMA_FLASH_ATTENTION=true", "OLLAMA_HOST=0.0.0.0:11434", "OLLAMA_KEEP_ALIVE=24h", "OLLAMA_NUM_PARALLEL=4"},
			health:  []string{"CMD", "ollama", "list"},
			port:    11434,
			check: func(t *testing.T, s frameworkspec.Spec) {
				if s.Runtime != "" || len(s.Volumes) != 1 || s.Volumes[0].Shared || s.Volumes[0].Path != "/root/.ollama" {
					t.Errorf("spec %+v", s)
				}
				// Ready only once the model is pulled and loaded: a pull
				// does not load it, and Ollama loads lazily.
				want := [][]string{{"ollama", "pull", "qwen2.5:0.5b"}, {"ollama", "show", "--modelfile", "qwen2.5:0.5b"}, {"ollama", "run", "qwen2.5:0.5b"}}
				if !slices.EqualFunc(s.ReadySteps, want, slices.Equal) {
					t.Errorf("ready steps %q, want %q", s.ReadySteps, want)
				}
				if s.APIKeyFile != "" || !s.LoopbackOnly() {
					t.Errorf("Ollama has no API key: key file %q loopback %v", s.APIKeyFile, s.LoopbackOnly())
				}
			},
		},
		{
			name: "llama.cpp from the hub on CPU",
			in: frameworkspec.Instance{
				Name: "llamacpp", Engine: engine.LlamaCpp, Model: "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", ServedModelName: "llamacpp",
				HasHFToken: true,
				Args:       frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{CtxSize: 16384, Parallel: 4}},
			},
			command: []string{"-hf", "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", "--host", "0.0.0.0", "--port", "8080", "--metrics",
				"--api-key-file", "/run/servelab/engine-api-key", "-ngl", "0", "--alias", "llamacpp", "-c", "16384", "-np", "4"},
			env:    []string{"LLAMA_CACHE=/root/.cache/llama.cpp"},
			health: []string{"CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"},
			port:   8080,
			check: func(t *testing.T, s frameworkspec.Spec) {
				if !slices.Equal(s.SecretEnv, []string{"HF_TOKEN"}) {
					t.Errorf("secret env %v", s.SecretEnv)
				}
				if s.APIKeyFile != "/run/servelab/engine-api-key" || s.APIKeyFormat != frameworkspec.KeyLine {
					t.Errorf("api key file %q format %q", s.APIKeyFile, s.APIKeyFormat)
				}
				if len(s.Volumes) != 1 || !s.Volumes[0].Shared {
					t.Errorf("volumes %+v: downloads go to the host's model cache", s.Volumes)
				}
			},
		},
		{
			name: "llama.cpp file on GPU offloads every layer",
			in: frameworkspec.Instance{
				Name: "l", Engine: engine.LlamaCpp, Model: "/models/m.gguf", ServedModelName: "l", Devices: []int{1},
				Args: frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{}},
			},
			command: []string{"-m", "/models/m.gguf", "--host", "0.0.0.0", "--port", "8080", "--metrics",
				"--api-key-file", "/run/servelab/engine-api-key", "-ngl", "999", "--alias", "l"},
			env:    []string{"LLAMA_CACHE=/root/.cache/llama.cpp", "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_VISIBLE_DEVICES=1"},
			health: []string{"CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"},
			port:   8080,
		},
		{
			name: "sim with the sglang flavour",
			in: frameworkspec.Instance{
				Name: "sim-sglang", Engine: engine.Sim, Flavour: engine.SGLang, Model: "sim", ServedModelName: "sim-sglang",
				Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{TTFT: "50ms", ITL: "10ms", Jitter: 0.1, Capacity: 64, StartupDelay: "3s", Seed: 7}},
			},
			command: []string{"sim", "--flavour", "sglang", "--listen", "0.0.0.0:30000", "--model", "sim-sglang",
				"--ttft", "50ms", "--itl", "10ms", "--jitter", "0.1", "--capacity", "64", "--startup-delay", "3s", "--seed", "7",
				"--api-key-file", "/run/servelab/engine-api-key"},
			env:    []string{},
			health: []string{"CMD", "/servelab", "probe", "http://127.0.0.1:30000/health_generate"},
			port:   30000,
			check: func(t *testing.T, s frameworkspec.Spec) {
				if s.WaitTimeout != 2*time.Minute+3*time.Second {
					t.Errorf("wait %v", s.WaitTimeout)
				}
			},
		},
		{
			name: "sim with the vllm flavour probes /health, open with a key",
			in: frameworkspec.Instance{
				Name: "sim-vllm", Engine: engine.Sim, Flavour: engine.VLLM, Model: "sim", ServedModelName: "sim-vllm",
				Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}},
			},
			command: []string{"sim", "--flavour", "vllm", "--listen", "0.0.0.0:8000", "--model", "sim-vllm",
				"--api-key-file", "/run/servelab/engine-api-key"},
			env:    []string{},
			health: []string{"CMD", "/servelab", "probe", "http://127.0.0.1:8000/health"},
			port:   8000,
		},
		{
			name: "sim with the ollama flavour loads its model lazily, as Ollama",
			in: frameworkspec.Instance{
				Name: "sim-ollama", Engine: engine.Sim, Flavour: engine.Ollama, Model: "sim", ServedModelName: "sim:latest",
				Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{LoadDelay: "2s"}},
			},
			command: []string{"sim", "--flavour", "ollama", "--listen", "0.0.0.0:11434", "--model", "sim:latest", "--load-delay", "2s"},
			env:     []string{},
			health:  []string{"CMD", "/servelab", "probe", "http://127.0.0.1:11434/api/tags"},
			port:    11434,
			check: func(t *testing.T, s frameworkspec.Spec) {
				want := [][]string{{"/servelab", "probe", "--body", `{"model":"sim:latest"}`, "http://127.0.0.1:11434/api/generate"}}
				if !slices.EqualFunc(s.ReadySteps, want, slices.Equal) || !s.LoopbackOnly() {
					t.Errorf("ready steps %q loopback %v", s.ReadySteps, s.LoopbackOnly())
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := frameworkspec.BuildSpec(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.Command, tt.command) {
				t.Errorf("command\n got %q\nwant %q", s.Command, tt.command)
			}
			if !slices.Equal(s.Env, tt.env) {
				t.Errorf("env\n got %q\nwant %q", s.Env, tt.env)
			}
			if !slices.Equal(s.Health, tt.health) {
				t.Errorf("health\n got %q\nwant %q", s.Health, tt.health)
			}
			if s.Port != tt.port {
				t.Errorf("port %d, want %d", s.Port, tt.port)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

// TestHealthchecksNeedNoKey: every engine that runs with an API key has a
// Docker healthcheck on a path its engine leaves open (the healthcheck
// sends no key), and the key file is where the argv points.
func TestHealthchecksNeedNoKey(t *testing.T) {
	t.Parallel()
	ins := []frameworkspec.Instance{
		{Name: "v", Engine: engine.VLLM, Model: "m", ServedModelName: "v", Devices: []int{0}, MemoryFraction: 0.5, Args: frameworkspec.EngineArgs{VLLM: &frameworkspec.VLLMArgs{}}},
		{Name: "s", Engine: engine.SGLang, Model: "m", ServedModelName: "s", Devices: []int{0}, MemoryFraction: 0.5, Args: frameworkspec.EngineArgs{SGLang: &frameworkspec.SGLangArgs{}}},
		{Name: "l", Engine: engine.LlamaCpp, Model: "a/b", ServedModelName: "l", Args: frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{}}},
	}
	for _, k := range engine.Flavours {
		ins = append(ins, frameworkspec.Instance{Name: "sim-" + string(k), Engine: engine.Sim, Flavour: k, Model: "m", ServedModelName: "m", Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}}})
	}
	for _, in := range ins {
		s, err := frameworkspec.BuildSpec(in)
		if err != nil {
			t.Fatal(err)
		}
		api := engine.MustSpec(in.API())
		if (s.APIKeyFile != "") != api.Auth.Supported {
			t.Errorf("%s: key file %q, but the engine supports keys = %v", in.Name, s.APIKeyFile, api.Auth.Supported)
		}
		url := s.Health[len(s.Health)-1]
		if i := strings.Index(url, "http://127.0.0.1:"); i >= 0 {
			url = url[i:]
		}
		path := url[strings.Index(url[len("http://"):], "/")+len("http://"):]
		path = strings.TrimSuffix(path, "', timeout=20)")
		if s.APIKeyFile != "" && api.Auth.Protects(path) {
			t.Errorf("%s: healthcheck %v probes %s, which needs the key", in.Name, s.Health, path)
		}
		if s.APIKeyFile != "" && !slices.Contains(s.Command, s.APIKeyFile) {
			t.Errorf("%s: argv %v does not point at the key file %s", in.Name, s.Command, s.APIKeyFile)
		}
	}
}

func TestKeyFileContent(t *testing.T) {
	t.Parallel()
	if got := frameworkspec.KeyFileContent(frameworkspec.KeyYAML, "abc"); got != "api-key: \"abc\"\n" {
		t.Errorf("yaml key file %q", got)
	}
	if got := frameworkspec.KeyFileContent(frameworkspec.KeyLine, "abc"); got != "abc\n" {
		t.Errorf("line key file %q", got)
	}
}

func TestBuildSpecErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   frameworkspec.Instance
		want string
	}{
		{"empty instance", frameworkspec.Instance{}, `instance : no engine spec for ""`},
		{"no served name", frameworkspec.Instance{Name: "o", Engine: engine.Ollama}, "served model name is empty"},
		{"args of another engine", frameworkspec.Instance{Name: "o", Engine: engine.Ollama, ServedModelName: "o", Args: frameworkspec.EngineArgs{VLLM: &frameworkspec.VLLMArgs{}}}, "ollama: engine arguments missing"},
		{"vllm without GPUs", frameworkspec.Instance{Name: "v", Engine: engine.VLLM, ServedModelName: "v", Args: frameworkspec.EngineArgs{VLLM: &frameworkspec.VLLMArgs{}}}, "vllm needs GPUs and a memory fraction"},
		{"sim bad delay", frameworkspec.Instance{Name: "s", Engine: engine.Sim, Flavour: engine.VLLM, ServedModelName: "s", Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{StartupDelay: "soon"}}}, `startupDelay: "soon" is not a non-negative duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := frameworkspec.BuildSpec(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	_, err := frameworkspec.BuildSpec(frameworkspec.Instance{Name: "o", Engine: engine.Ollama, ServedModelName: "o"})
	if !errors.Is(err, frameworkspec.ErrNoArgs) {
		t.Errorf("err = %v, want ErrNoArgs", err)
	}
}
