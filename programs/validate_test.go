package programs_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/programs"
)

// base is a valid compare stack: one 32 GiB GPU box and one CPU box.
var base = map[string]string{
	"program": `compare`,
	"hosts": `
- name: gpu1
  ssh: {host: gpu1.lan, user: lab}
  gpus: [{model: RTX 5090, memoryGiB: 32}]
- name: cpu1
  bindAddress: 10.0.0.5`,
	"frameworks": `
- {name: vllm, engine: vllm, host: gpu1, model: Qwen/Qwen2.5-3B-Instruct, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 10}
- {name: sglang, engine: sglang, host: gpu1, model: Qwen/Qwen2.5-3B-Instruct, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 10}
- {name: ollama, engine: ollama, host: cpu1, model: "qwen2.5:0.5b", image: ollama/ollama:0.32.2}`,
}

// getter turns YAML values into what Pulumi hands a program: scalars as
// text, structured values as JSON.
func getter(t *testing.T, doc map[string]string) programs.Getter {
	t.Helper()
	vals := map[string]string{}
	for k, src := range doc {
		var v any
		if err := yaml.Unmarshal([]byte(src), &v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if s, ok := v.(string); ok {
			vals[k] = s
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		vals[k] = string(b)
	}
	return func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
}

func load(t *testing.T, overrides map[string]string) (*programs.Lab, error) {
	t.Helper()
	doc := maps.Clone(base)
	maps.Copy(doc, overrides)
	for k, v := range doc {
		if v == "-" {
			delete(doc, k)
		}
	}
	cfg, err := programs.Load(getter(t, doc))
	if err != nil {
		return nil, err
	}
	return programs.Validate(cfg)
}

func TestBaseIsValid(t *testing.T) {
	t.Parallel()
	lab, err := load(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lab.Instances) != 3 {
		t.Fatalf("%d instances, want 3", len(lab.Instances))
	}
	v := lab.Instances[0].Instance
	if v.MemoryFraction != 0.31 || len(v.Devices) != 1 || v.Devices[0] != 0 {
		t.Errorf("vllm placed on %v with fraction %v, want [0] and 10/32 = 0.31", v.Devices, v.MemoryFraction)
	}
	if o := lab.Instances[2]; len(o.Instance.Devices) != 0 || o.PublicModel != "ollama" || o.Instance.ServedModelName != "qwen2.5:0.5b" {
		t.Errorf("ollama: devices %v public %q upstream %q", o.Instance.Devices, o.PublicModel, o.Instance.ServedModelName)
	}
}

func TestValidateReportsEveryProblemWithItsPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		overrides map[string]string
		want      []string
	}{
		{"unknown program", map[string]string{"program": "benchmark"},
			[]string{`program: unknown program "benchmark" (want compare, serve or bench)`}},
		{"no hosts", map[string]string{"hosts": "-"},
			[]string{"hosts: at least one host is required", `frameworks[0].host: no host named "gpu1"`}},
		{"hosts not a list", map[string]string{"hosts": `gpu1`},
			[]string{`hosts: want structured YAML (a list), got "gpu1"`}},
		{"unknown engine", map[string]string{"frameworks": `[{name: tgi, engine: tgi, host: gpu1, model: m, image: ghcr.io/huggingface/tgi:3.0.1}]`},
			[]string{`frameworks[0].engine: unknown engine "tgi" (want one of vllm, sglang, ollama, llamacpp, sim)`}},
		{"unknown host", map[string]string{"frameworks": `[{name: a, engine: ollama, host: gpu9, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`frameworks[0].host: no host named "gpu9" (hosts: gpu1, cpu1)`}},
		{"duplicate framework names", map[string]string{"frameworks": `
- {name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}
- {name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2, port: 11435}`},
			[]string{`frameworks[1].name: duplicate framework name "o"`}},
		{"duplicate host names", map[string]string{"hosts": `[{name: a}, {name: a}]`, "frameworks": `[{name: o, engine: ollama, host: a, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`hosts[1].name: duplicate host name "a"`}},
		{"port collision on a host", map[string]string{"frameworks": `
- {name: o1, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}
- {name: o2, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}`},
			[]string{"frameworks[1].port: port 11434 on host cpu1 is already taken by frameworks[0].port"}},
		{"gateway port collides with an engine", map[string]string{"gateway": `{host: cpu1, port: 11434}`},
			[]string{"gateway.port: port 11434 on host cpu1 is already taken by frameworks[2].port"}},
		{"GPUs on a CPU-only host", map[string]string{"frameworks": `[{name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100, gpus: 1}]`},
			[]string{"frameworks[0].gpus: GPUs requested on CPU-only host cpu1"}},
		{"vLLM on a CPU-only host", map[string]string{"frameworks": `[{name: v, engine: vllm, host: cpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8}]`},
			[]string{"frameworks[0].engine: vllm needs a GPU; host cpu1 is CPU-only"}},
		{"more GPUs than declared", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, gpus: 2}]`},
			[]string{"frameworks[0].gpus: wants 2 GPUs, host gpu1 declares 1"}},
		{"undeclared device index", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, gpus: [1]}]`},
			[]string{"frameworks[0].gpus: device 1 is not declared on host gpu1 (devices 0-0)"}},
		{"over-committed GPU memory", map[string]string{"frameworks": `
- {name: vllm, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 14}
- {name: sglang, engine: sglang, host: gpu1, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 14}
- {name: ollama, engine: ollama, host: gpu1, model: m, image: ollama/ollama:0.32.2, gpuMemoryGiB: 4}`},
			[]string{"frameworks: host gpu1: GPU 0 (RTX 5090, 32.0 GiB): GPU memory over-committed: vllm (vllm) 14.0 GiB + sglang (sglang) 14.0 GiB + ollama (ollama) 4.0 GiB = 32.0 GiB > 30.4 GiB (95 %)"}},
		{"missing model", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, image: ollama/ollama:0.32.2}]`},
			[]string{"frameworks[0].model: is required"}},
		{"image without tag", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama}]`},
			[]string{`frameworks[0].image: "ollama/ollama" has no tag or digest; pin a version (e.g. ollama/ollama:0.32.2)`}},
		{"image tagged latest", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: "ollama/ollama:latest"}]`},
			[]string{`frameworks[0].image: "ollama/ollama:latest" floats; pin a version`}},
		{"registry port is not a tag", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: "registry.lan:5000/ollama"}]`},
			[]string{`frameworks[0].image: "registry.lan:5000/ollama" has no tag or digest`}},
		{"malformed digest", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: "ollama/ollama@sha256:abc"}]`},
			[]string{`frameworks[0].image: "ollama/ollama@sha256:abc" has a malformed digest`}},
		{"negative sizes", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: -4, kvCacheGiB: -1}]`},
			[]string{"frameworks[0].gpuMemoryGiB: must not be negative, got -4", "frameworks[0].kvCacheGiB: must not be negative, got -1"}},
		{"negative GPU memory on a host", map[string]string{"hosts": `[{name: gpu1, gpus: [{model: H100, memoryGiB: -80}]}, {name: cpu1}]`},
			[]string{"hosts[0].gpus[0].memoryGiB: must be positive, got -80"}},
		{"ssh host without user", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1}]`},
			[]string{"hosts[0].ssh.user: is required"}},
		{"ssh port out of range", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, port: 70000}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1}]`},
			[]string{"hosts[0].ssh.port: 70000 is out of range 1-65535"}},
		{"wrong type with path", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, port: twenty-two}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1}]`},
			[]string{`hosts[0].ssh.port: want a whole number, got the string "twenty-two"`}},
		{"unknown key with suggestion", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2, replcas: 2}]`},
			[]string{`frameworks[0].replcas: unknown key "replcas" (did you mean "replicas"?)`}},
		{"engine arg of another engine", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2, args: {maxModelLen: 4096}}]`},
			[]string{`frameworks[0].args.maxModelLen: unknown key "maxModelLen"`}},
		{"managed flag in extraArgs", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, extraArgs: ["--port=9000"]}]`},
			[]string{`frameworks[0].extraArgs: "--port=9000" is set by servelab from typed config`}},
		{"credential in env", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, env: {HF_TOKEN: hf_abc}}]`},
			[]string{"frameworks[0].env.HF_TOKEN: is a credential: set it with `pulumi config set --secret servelab:hfToken` instead"}},
		{"GPU engine without a memory demand", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1}]`},
			[]string{"frameworks[0]: set gpuMemoryGiB, or modelParamsB and dtype"}},
		{"unknown dtype", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, modelParamsB: 7, dtype: fp12}]`},
			[]string{`frameworks[0].dtype: unknown dtype "fp12"`}},
		{"sim without flavour", map[string]string{"frameworks": `[{name: s, engine: sim, host: cpu1, model: m}]`},
			[]string{"frameworks[0].flavour: a sim engine needs the API it imitates"}},
		{"bad sim duration", map[string]string{"frameworks": `[{name: s, engine: sim, flavour: vllm, host: cpu1, model: m, args: {ttft: fast}}]`},
			[]string{`frameworks[0].args.ttft: "fast" is not a duration like 50ms`}},
		{"llama.cpp on GPU without CUDA image", map[string]string{"frameworks": `[{name: l, engine: llamacpp, host: gpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100, gpuMemoryGiB: 4}]`},
			[]string{"frameworks[0].image: llama.cpp on a GPU needs a CUDA build"}},
		{"unknown routing", map[string]string{"gateway": `{routing: random}`},
			[]string{`gateway.routing: unknown routing "random"`}},
		{"unknown upstream client", map[string]string{"gateway": `{upstreamClient: fasthttp}`},
			[]string{`gateway.upstreamClient: unknown client "fasthttp" (want http or direct)`}},
		{"body limit above the gateway's bound", map[string]string{"gateway": `{maxBodyBytes: 1000000000000000}`},
			[]string{"gateway.maxBodyBytes: must be in [0, 67108864] (64 MiB; 0 = the default), got 1000000000000000"}},
		{"bad cache ttl", map[string]string{"gateway": `{cache: {enabled: true, ttl: forever}}`},
			[]string{`gateway.cache.ttl: "forever" is not a positive duration`}},
		{"replicas below one", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2, replicas: -1}]`},
			[]string{"frameworks[0].replicas: must be at least 1, got -1"}},
		{"bad bind address", map[string]string{"hosts": `[{name: gpu1, bindAddress: everywhere, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1}]`},
			[]string{`hosts[0].bindAddress: "everywhere" is not an IP address`}},
		{"remote engines on loopback", map[string]string{"gateway": `{host: cpu1}`},
			[]string{"hosts[0].bindAddress: the gateway on host cpu1 cannot reach gpu1's engines on loopback"}},
		{"serve with two models", map[string]string{"program": "serve", "frameworks": `
- {name: a, engine: ollama, host: cpu1, model: m1, image: ollama/ollama:0.32.2}
- {name: b, engine: ollama, host: cpu1, model: m2, image: ollama/ollama:0.32.2, port: 11435}`},
			[]string{"frameworks: program serve runs replicas of one model, but frameworks serve m1, m2"}},
		{"bench with frameworks and no targets", map[string]string{"program": "bench"},
			[]string{"frameworks: program bench deploys nothing", "targets: program bench needs at least one target"}},
		{"bad benchmark sweep", map[string]string{"benchmark": `{enabled: true, maxConcurrency: [1, 0], requestRate: [2, -1], goodput: {latency: 3}}`},
			[]string{"benchmark.maxConcurrency[1]: must be at least 1, got 0", "benchmark.requestRate[1]: must be positive", "benchmark.goodput.latency: unknown SLO"}},
		{"local bench cannot reach a remote loopback gateway", map[string]string{"gateway": `{host: gpu1}`, "benchmark": `{enabled: true, runOn: local}`},
			[]string{"benchmark.runOn: local cannot reach the gateway on gpu1, which listens on its loopback; use runOn: host"}},
		{"gpus of the wrong type", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, gpus: "two"}]`},
			[]string{`frameworks[0].gpus: want a GPU count or a list of device indices, got "two"`}},
		{"dcgm without GPUs", map[string]string{"hosts": `[{name: cpu1}, {name: gpu1}]`, "frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}]`, "monitoring": `{dcgm: true}`},
			[]string{"monitoring.dcgm: no host declares GPUs to export"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tt.overrides)
			if err == nil {
				t.Fatalf("accepted; want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestValidateReportsAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := load(t, map[string]string{
		"program":    "serve",
		"frameworks": `[{name: X, engine: tgi, host: gpu9, image: foo}]`,
		"gateway":    `{routing: random}`,
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{"frameworks[0].name", "frameworks[0].engine", "frameworks[0].host", "frameworks[0].model", "frameworks[0].image", "gateway.routing"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s; got:\n%v", w, err)
		}
	}
}

func TestDefaultsAndReplicas(t *testing.T) {
	t.Parallel()
	lab, err := load(t, map[string]string{
		"program": "serve",
		"hosts":   `[{name: gpu1, gpus: [{model: L40S, memoryGiB: 48, count: 2}]}]`,
		"frameworks": `[{name: v, engine: vllm, host: gpu1, model: Qwen/Qwen2.5-14B-Instruct, image: vllm/vllm-openai:v0.32.1,
		  modelParamsB: 14.7, dtype: bf16, kvCacheGiB: 8, replicas: 2}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(lab.Instances) != 2 {
		t.Fatalf("%d instances", len(lab.Instances))
	}
	for i, in := range lab.Instances {
		wantName := []string{"v-0", "v-1"}[i]
		if in.Instance.Name != wantName || in.PublishedPort != 8000+i || in.Instance.Devices[0] != i {
			t.Errorf("replica %d: name %s port %d devices %v", i, in.Instance.Name, in.PublishedPort, in.Instance.Devices)
		}
		if in.PublicModel != "Qwen/Qwen2.5-14B-Instruct" {
			t.Errorf("serve public model %q, want the model id", in.PublicModel)
		}
	}
	cfg := lab.Config
	if cfg.Gateway.Port != programs.DefaultGatewayPort || cfg.Gateway.Routing != "least-outstanding" || cfg.Gateway.Host != "gpu1" {
		t.Errorf("gateway defaults: %+v", cfg.Gateway)
	}
}
