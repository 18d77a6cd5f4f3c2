package stackconfig_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/programs/stackconfig"
)

// hostKey is a syntactically valid placeholder host key (its private half
// was discarded): it parses, and matches no real machine.
const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAjEw4katTaNXI+dVg57d8ZvPsdzWwwoFoI2eXZsx6TN"

// base is a valid compare stack: one 32 GiB GPU box reached over SSH and
// one CPU box publishing on its private address.
var base = map[string]string{
	"program": `compare`,
	"hosts": `
- name: gpu1
  ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `"}
  gpus: [{model: RTX 5090, memoryGiB: 32}]
- name: cpu1
  bindAddress: 10.0.0.5`,
	"frameworks": `
- {name: vllm, engine: vllm, host: gpu1, model: Qwen/Qwen2.5-3B-Instruct, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 10}
- {name: sglang, engine: sglang, host: gpu1, model: Qwen/Qwen2.5-3B-Instruct, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 10}
- {name: llamacpp, engine: llamacpp, host: cpu1, model: "Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M", image: ghcr.io/ggml-org/llama.cpp:server-b7100}`,
}

// getter turns YAML values into what Pulumi hands a program: scalars as
// text, structured values as JSON.
func getter(t *testing.T, doc map[string]string) stackconfig.Getter {
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

func load(t *testing.T, overrides map[string]string) (*stackconfig.Lab, error) {
	t.Helper()
	doc := maps.Clone(base)
	maps.Copy(doc, overrides)
	for k, v := range doc {
		if v == "-" {
			delete(doc, k)
		}
	}
	return stackconfig.Check(getter(t, doc))
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
	if l := lab.Instances[2]; len(l.Instance.Devices) != 0 || l.PublicModel != "llamacpp" || l.Instance.ServedModelName != "llamacpp" {
		t.Errorf("llamacpp: devices %v public %q upstream %q", l.Instance.Devices, l.PublicModel, l.Instance.ServedModelName)
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
		{"gateway port collides with an engine", map[string]string{"gateway": `{host: cpu1, port: 8080}`},
			[]string{"gateway.port: port 8080 on host cpu1 is already taken by frameworks[2].port"}},
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
		{"image references Docker cannot parse", map[string]string{"frameworks": `
- {name: l, engine: llamacpp, host: cpu1, model: a/b, image: "ghcr.io/ggml-org/llama.cpp:server b7100"}
- {name: o, engine: ollama, host: gpu1, gpus: 0, model: m, image: "Ollama/Ollama:0.32.2"}
- {name: v, engine: vllm, host: gpu1, model: m, gpuMemoryGiB: 8, image: "vllm/vllm-openai@sha256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}`,
			"monitoring": `{prometheus: {image: "prom/prometheus:v3.7.3 "}}`},
			[]string{`frameworks[0].image: "ghcr.io/ggml-org/llama.cpp:server b7100" is not an image reference: tag "server b7100"`,
				`frameworks[1].image: "Ollama/Ollama:0.32.2" is not an image reference: repository path "Ollama"`,
				`frameworks[2].image: "vllm/vllm-openai@sha256:zzzz`, `has a malformed digest`,
				`monitoring.prometheus.image: "prom/prometheus:v3.7.3 " is not an image reference`}},
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
			[]string{`frameworks[0].extraArgs[0]: "--port=9000" is --port, which servelab sets`}},
		{"managed flag spelt with underscores and =", map[string]string{"frameworks": `[{name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8,
		  extraArgs: ["--enforce-eager", "--gpu_memory_utilization=0.99", "--served_model_name", "x"]}]`},
			[]string{`frameworks[0].extraArgs[1]: "--gpu_memory_utilization=0.99" is --gpu-memory-utilization, which servelab sets`,
				`frameworks[0].extraArgs[2]: "--served_model_name" is --served-model-name, which servelab sets`}},
		{"managed flag abbreviated (argparse prefixes)", map[string]string{"frameworks": `
- {name: v, engine: vllm, host: gpu1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8, extraArgs: ["--gpu-memory-util", "0.9"]}
- {name: s, engine: sglang, host: gpu1, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 8, extraArgs: ["--mem-frac=0.9"]}`},
			[]string{`frameworks[0].extraArgs[0]: "--gpu-memory-util" abbreviates --gpu-memory-utilization, which servelab sets`,
				`frameworks[1].extraArgs[0]: "--mem-frac=0.9" abbreviates --mem-fraction-static, which servelab sets`}},
		{"managed flag under an alias", map[string]string{"frameworks": `
- {name: s, engine: sglang, host: gpu1, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 8, extraArgs: ["--tensor-parallel-size", "2"]}
- {name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100, extraArgs: ["-a", "other", "--n-gpu-layers", "10"]}`},
			[]string{`frameworks[0].extraArgs[0]: "--tensor-parallel-size" is --tp-size, which servelab sets`,
				`frameworks[1].extraArgs[0]: "-a" is --alias, which servelab sets`,
				`frameworks[1].extraArgs[2]: "--n-gpu-layers" is --gpu-layers, which servelab sets`}},
		{"extraArgs on Ollama", map[string]string{"frameworks": `[{name: o, engine: ollama, host: gpu1, model: m, image: ollama/ollama:0.32.2, gpus: 0, extraArgs: ["--verbose"]}]`},
			[]string{"frameworks[0].extraArgs: Ollama takes no flags (they would replace the image's serve command); use args (OLLAMA_* settings)"}},
		{"model that would be read as a flag", map[string]string{"frameworks": `
- {name: v, engine: vllm, host: gpu1, model: "--help", image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 8}
- {name: o, engine: ollama, host: gpu1, model: "-h", image: ollama/ollama:0.32.2, gpus: 0, servedModelName: "-x"}`},
			[]string{`frameworks[0].model: "--help" starts with "-"`, `frameworks[1].model: "-h" starts with "-"`, `frameworks[1].servedModelName: "-x" starts with "-"`}},
		{"host address with a path", map[string]string{"hosts": `[{name: gpu1, address: "evil.example/#", ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `"}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].address: "evil.example/#" is not a host name or IP address`}},
		{"ssh host with a fragment", map[string]string{"hosts": `[{name: gpu1, ssh: {host: "gpu1#x", user: lab, hostKey: "` + hostKey + `"}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].ssh.host: "gpu1#x" is not a host name or IP address`}},
		{"ssh user with a fragment", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: "lab#x", hostKey: "` + hostKey + `"}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].ssh.user: "lab#x" is not a user name`}},
		{"unbounded replicas", map[string]string{"frameworks": `[{name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100, replicas: 2000000}]`},
			[]string{"frameworks[0].replicas: 2000000 is more than 64"}},
		{"derived port past 65535", map[string]string{"frameworks": `[{name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100, port: 65530, replicas: 10}]`},
			[]string{"frameworks[0].port: replica 6 would publish port 65536, past 65535"}},
		{"host bench with a dataset file", map[string]string{"hosts": `[{name: cpu1, bindAddress: 10.0.0.5}]`,
			"frameworks": `[{name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100}]`,
			"benchmark":  `{enabled: true, runOn: host, dataset: jsonl, datasetPath: /home/me/prompts.jsonl}`},
			[]string{`benchmark.datasetPath: runOn: host runs the bench in a container on cpu1 that cannot read "/home/me/prompts.jsonl"; use runOn: local, or a built-in dataset (random, multilingual)`}},
		{"credentials in env under other names", map[string]string{"frameworks": `[{name: l, engine: llamacpp, host: cpu1, model: a/b, image: ghcr.io/ggml-org/llama.cpp:server-b7100,
		  env: {MY_API_KEY: a, GITHUB_TOKEN: b, AWS_SECRET_ACCESS_KEY: c, DB_PASSWORD: d, TOKENIZERS_PARALLELISM: "false"}}]`},
			[]string{"frameworks[0].env.MY_API_KEY: is named like a credential", "frameworks[0].env.GITHUB_TOKEN: is named like a credential",
				"frameworks[0].env.AWS_SECRET_ACCESS_KEY: is named like a credential", "frameworks[0].env.DB_PASSWORD: is named like a credential"}},
		{"ssh host without a host key", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{"hosts[0].ssh.hostKey: is required: the probe, pull and bench commands send secrets to gpu1.lan and must know its key (ssh-keyscan -t ed25519 gpu1.lan), or set ssh.insecureIgnoreHostKey: true"}},
		{"malformed host key", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "ssh-ed25519 not-base64"}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].ssh.hostKey: is not one public key in authorized_keys form ("ssh-ed25519 AAAA...")`}},
		{"host key and insecure flag together", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `", insecureIgnoreHostKey: true}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{"hosts[0].ssh.insecureIgnoreHostKey: contradicts ssh.hostKey; keep one"}},
		{"proxy jump without a host key", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `", proxyJump: {host: bastion.lan, user: jump}}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{"hosts[0].ssh.proxyJump.hostKey: is required"}},
		{"ssh opts that bypass the pinned host key", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `", opts: ["-o", "StrictHostKeyChecking=accept-new", "-oUserKnownHostsFile=/dev/null", "-J", "x"]}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].ssh.opts[1]: "StrictHostKeyChecking=accept-new" sets StrictHostKeyChecking, which servelab sets from ssh.hostKey`,
				`hosts[0].ssh.opts[2]: "-oUserKnownHostsFile=/dev/null" sets UserKnownHostsFile, which servelab sets from ssh.hostKey`,
				`hosts[0].ssh.opts[3]: "-J" is ProxyJump, which servelab sets from ssh.proxyJump`}},
		{"ssh opts that bypass the pinned host key, tab-separated", map[string]string{"hosts": `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `", opts: ["-oKnownHostsCommand\t/bin/echo gpu1.lan ssh-ed25519 AAAA", "-o", "HostKeyAlias\tother"]}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].ssh.opts[0]: "-oKnownHostsCommand\t/bin/echo gpu1.lan ssh-ed25519 AAAA" sets KnownHostsCommand`,
				`hosts[0].ssh.opts[2]: "HostKeyAlias\tother" sets HostKeyAlias`}},
		{"dockerHost that is not a local Docker endpoint", map[string]string{"hosts": `
- {name: gpu1, dockerHost: "ssh://lab@gpu1.lan", gpus: [{model: RTX 5090, memoryGiB: 32}]}
- {name: cpu1, dockerHost: "evil junk", bindAddress: 10.0.0.5}
- {name: cpu2, dockerHost: "unix://run/docker.sock"}
- {name: cpu3, dockerHost: "unix:///run/user/1000/docker.sock"}
- {name: cpu4, dockerHost: "tcp://127.0.0.1:2375"}`},
			[]string{`hosts[0].dockerHost: "ssh://lab@gpu1.lan" reaches Docker over SSH without a pinned host key; declare the host with ssh: {host, user, hostKey} instead`,
				`hosts[1].dockerHost: "evil junk" is not a Docker endpoint (unix:///path/to/docker.sock or tcp://host:port)`,
				`hosts[2].dockerHost: "unix://run/docker.sock" is not a Docker endpoint`}},
		{"relative model cache", map[string]string{"hosts": `[{name: gpu1, modelCache: data/hf, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `"}, gpus: [{model: RTX 5090, memoryGiB: 32}]}, {name: cpu1, bindAddress: 10.0.0.5}]`},
			[]string{`hosts[0].modelCache: "data/hf" must be an absolute, clean directory path on the host`}},
		{"ollama away from the gateway", map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{"frameworks[0].host: Ollama has no API key, so servelab publishes it on 127.0.0.1 only: the gateway on gpu1 cannot reach it on cpu1; run it on gpu1"}},

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
		{"weights without weighted routing", map[string]string{"gateway": `{routing: round-robin, weights: {vllm: 3, sglang: 1}}`},
			[]string{"gateway.weights: only weighted routing uses weights, and routing is round-robin: set gateway.routing: weighted, or remove the weights"}},
		{"weights with the default routing", map[string]string{"gateway": `{weights: {vllm: 3}}`},
			[]string{"gateway.weights: only weighted routing uses weights, and routing is least-outstanding"}},
		{"unknown upstream client", map[string]string{"gateway": `{upstreamClient: fasthttp}`},
			[]string{`gateway.upstreamClient: unknown client "fasthttp" (want http or direct)`}},
		{"body limit above the gateway's bound", map[string]string{"gateway": `{maxBodyBytes: 1000000000000000}`},
			[]string{"gateway.maxBodyBytes: must be in [0, 67108864] (64 MiB; 0 = the default), got 1000000000000000"}},
		{"gateway connection cap out of range", map[string]string{"gateway": `{maxConnections: -1}`},
			[]string{"gateway.maxConnections: must be in [0, 1048576] (0 = the default, 4096), got -1"}},
		{"request read timeout shorter than the header timeout", map[string]string{"gateway": `{requestReadTimeout: 2s}`},
			[]string{`gateway.requestReadTimeout: "2s" is shorter than the gateway's 10s for request headers`}},
		{"bench concurrency over the gateway's connection cap", map[string]string{"gateway": `{maxConnections: 100}`,
			"benchmark": `{enabled: true, maxConcurrency: [64, 128]}`},
			[]string{"benchmark.maxConcurrency[1]: 128 requests in flight through the gateway exceed gateway.maxConnections (100): raise gateway.maxConnections or lower the concurrency"}},
		{"unlimited bench concurrency over the gateway's connection cap", map[string]string{"gateway": `{maxConnections: 100}`,
			"benchmark": `{enabled: true, numPrompts: 500}`},
			[]string{"benchmark.maxConcurrency: 500 requests in flight through the gateway exceed gateway.maxConnections (100): raise gateway.maxConnections or lower the concurrency"}},
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
		{"target URL with credentials", map[string]string{"program": "bench", "hosts": "-", "frameworks": "-",
			"targets": `[{name: a, url: "https://user:sk-secret@api.example/v1", model: m}, {name: b, url: "http://h x:8000", model: m}, {name: c, url: "http://", model: m}]`},
			[]string{`targets[0].url: carries credentials (a user part before "@"): it would sit in plain text in the stack's state; put the key in a secret and name it in apiKeySecret`,
				`targets[1].url: is not a URL: invalid character " " in host name`, `targets[2].url: "http://" has no host`}},
		{"bad benchmark sweep", map[string]string{"benchmark": `{enabled: true, maxConcurrency: [1, 0], requestRate: [2, -1], goodput: {latency: 3}}`},
			[]string{"benchmark.maxConcurrency[1]: must be at least 1, got 0", "benchmark.requestRate[1]: must be positive", "benchmark.goodput.latency: unknown SLO"}},
		{"local bench cannot reach a remote loopback gateway", map[string]string{"gateway": `{host: gpu1}`, "benchmark": `{enabled: true, runOn: local}`},
			[]string{"benchmark.runOn: local cannot reach the gateway on gpu1, which listens on its loopback; use runOn: host"}},
		{"repeats out of range", map[string]string{"benchmark": `{enabled: true, repeats: 0}`},
			[]string{"benchmark.repeats: must be 1-100, got 0"}},
		{"too many repeats", map[string]string{"benchmark": `{enabled: true, repeats: 101}`},
			[]string{"benchmark.repeats: must be 1-100, got 101"}},
		{"timeout shorter than the bench's margin", map[string]string{"benchmark": `{enabled: true, timeout: 30s}`},
			[]string{`benchmark.timeout: "30s" is too short: at least 1m0s`}},
		{"bad baseline and threshold", map[string]string{"benchmark": `{enabled: true, baseline: "a/b/c/d", failOnRegression: -3}`},
			[]string{`benchmark.baseline: "a/b/c/d" is not a stack name or org/project/stack`, "benchmark.failOnRegression: must be a positive percentage, got -3"}},
		{"threshold without a baseline", map[string]string{"benchmark": `{enabled: true, failOnRegression: 5}`},
			[]string{"benchmark.failOnRegression: needs benchmark.baseline"}},
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

// TestConfigErrorsInEverySectionAtOnce: a decoding problem in one section
// (an unknown key) does not hide the problems of the others.
func TestConfigErrorsInEverySectionAtOnce(t *testing.T) {
	t.Parallel()
	_, err := load(t, map[string]string{
		"hosts":      `[{name: gpu1, ssh: {host: gpu1.lan, user: lab, hostKey: "` + hostKey + `"}, gpus: [{model: RTX 5090, memoryGB: 32}]}]`,
		"frameworks": `[{name: X, engine: tgi, host: gpu9, image: foo}]`,
		"gateway":    `{routing: random}`,
		"benchmark":  `{enabled: true, maxConcurency: [1, 8]}`,
	})
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range []string{
		`hosts[0].gpus[0].memoryGB: unknown key "memoryGB" (did you mean "memoryGiB"?)`,
		`benchmark.maxConcurency: unknown key "maxConcurency" (did you mean "maxConcurrency"?)`,
		"frameworks[0].name", "frameworks[0].engine", `frameworks[0].host: no host named "gpu9"`, "frameworks[0].model", "frameworks[0].image",
		"gateway.routing",
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %s; got:\n%v", w, err)
		}
	}
}

// TestUndecodableSectionIsNotReportedTwice: a section that is not even the
// right shape is one problem, not also every reference to it.
func TestUndecodableSectionIsNotReportedTwice(t *testing.T) {
	t.Parallel()
	_, err := load(t, map[string]string{"hosts": `gpu1`, "gateway": `{routing: random}`})
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, `hosts: want structured YAML (a list), got "gpu1"`) || !strings.Contains(msg, "gateway.routing") {
		t.Errorf("err = %v", err)
	}
	for _, noise := range []string{"no host named", "hosts: at least one host is required"} {
		if strings.Contains(msg, noise) {
			t.Errorf("error repeats the broken hosts section as %q:\n%v", noise, err)
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
	if cfg.Gateway.Port != stackconfig.DefaultGatewayPort || cfg.Gateway.Routing != "least-outstanding" || cfg.Gateway.Host != "gpu1" {
		t.Errorf("gateway defaults: %+v", cfg.Gateway)
	}
}

// benchmark.repeats defaults to 3 when an engine runs on a GPU (its
// numbers vary run to run), else 1.
func TestRepeatsDefault(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		overrides map[string]string
		want      int
	}{
		{"GPU engines", map[string]string{"benchmark": `{enabled: true, runOn: host}`}, 3},
		{"CPU only", map[string]string{"hosts": `[{name: cpu1}]`, "benchmark": `{enabled: true}`,
			"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2}]`}, 1},
		{"set", map[string]string{"benchmark": `{enabled: true, runOn: host, repeats: 5, baseline: org/servelab/h100, failOnRegression: 10}`}, 5},
	} {
		lab, err := load(t, tt.overrides)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := *lab.Config.Benchmark.Repeats; got != tt.want {
			t.Errorf("%s: repeats %d, want %d", tt.name, got, tt.want)
		}
	}
}

// A target URL holding credentials is refused without echoing them: the
// error reaches the terminal and Pulumi's logs.
func TestTargetURLErrorsDoNotEchoCredentials(t *testing.T) {
	t.Parallel()
	_, err := load(t, map[string]string{"program": "bench", "hosts": "-", "frameworks": "-",
		"targets": `[{name: a, url: "https://sk-secret@api.example/v1", model: m}, {name: b, url: "http://u:sk-other@h x/", model: m}]`})
	if err == nil {
		t.Fatal("accepted")
	}
	if strings.Contains(err.Error(), "sk-") {
		t.Errorf("the error echoes a credential:\n%v", err)
	}
}

// A servelab: key the program does not read is a typo that would silently
// drop a whole section (`servelab:benchmrk` = no benchmark): reported with
// the other problems, with a suggestion. Secrets the stack names are known
// keys; other namespaces are not servelab's.
func TestUnknownTopLevelKeys(t *testing.T) {
	t.Parallel()
	doc := maps.Clone(base)
	doc["gateway"] = `{routing: random}`
	keys := []string{"servelab:program", "servelab:hosts", "servelab:frameworks", "servelab:gateway",
		"servelab:benchmrk", "servelab:hfToken", "servelab:sshPrivateKey", "servelab:monitorin", "servelab:zzz", "docker:host"}
	_, err := stackconfig.CheckStack(getter(t, doc), keys)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{`benchmrk: unknown key "benchmrk" (did you mean "benchmark"?)`,
		`monitorin: unknown key "monitorin" (did you mean "monitoring"?)`, `zzz: unknown key "zzz" (known keys: `,
		`gateway.routing: unknown routing "random"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, known := range []string{"hfToken", "sshPrivateKey", "docker"} {
		if strings.Contains(err.Error(), `"`+known) {
			t.Errorf("%s reported:\n%v", known, err)
		}
	}

	bench := map[string]string{"program": "bench", "targets": `[{name: api, url: "https://api.example/v1", model: m, apiKeySecret: openaiKey}]`}
	if _, err := stackconfig.CheckStack(getter(t, bench), []string{"servelab:program", "servelab:targets", "servelab:openaiKey"}); err != nil {
		t.Errorf("a target's apiKeySecret is reported: %v", err)
	}
}

// The same stack gives the same error, problems in the same order (some
// come from maps: weights, goodput SLOs, monitoring images).
func TestProblemsComeInAFixedOrder(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"gateway":    `{routing: weighted, weights: {a: 1, b: 2, c: 3, d: 0, e: 1, f: 1}}`,
		"benchmark":  `{enabled: true, runOn: host, goodput: {x: 1, y: 2, z: 3, ttft: -1, tpot: -2, e2el: -3}}`,
		"monitoring": `{prometheus: {image: "a b"}, grafana: {image: "c d"}, dcgmImage: "e f"}`,
	}
	_, first := load(t, bad)
	if first == nil {
		t.Fatal("accepted")
	}
	for range 20 {
		if _, err := load(t, bad); err == nil || err.Error() != first.Error() {
			t.Fatalf("the error changed between runs:\n%v\n---\n%v", first, err)
		}
	}
}
