// Package frameworkspec is what a framework instance runs as, without
// Pulumi: the engines' typed arguments (EngineArgs), an Instance as the
// stack and the planner decide it, and BuildSpec, which turns it into the
// container's argv, environment, volumes, healthcheck and ready steps.
// The Framework component (components/framework), the Kubernetes target
// and `make demo` all run what BuildSpec gives.
package frameworkspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// Paths inside engine containers.
const (
	// ModelCachePath is where the host's model cache (a volume shared by the
	// stacks on the host, or hosts[].modelCache) is mounted, in engines that
	// download models or compile kernels: vLLM, SGLang, llama.cpp.
	ModelCachePath = "/root/.cache"
	// HFCachePath is where vLLM and SGLang keep Hugging Face downloads
	// (HF_HOME), in the model cache.
	HFCachePath = ModelCachePath + "/huggingface"
	// VLLMCachePath is vLLM's cache root (VLLM_CACHE_ROOT): its
	// torch.compile artefacts, kept so a restart does not recompile.
	VLLMCachePath = ModelCachePath + "/vllm"
	// LlamaCppCachePath is where llama.cpp keeps -hf downloads
	// (LLAMA_CACHE), in the model cache.
	LlamaCppCachePath = ModelCachePath + "/llama.cpp"
	// HFTokenPath is where the Hugging Face token is uploaded (mode 0400);
	// huggingface_hub reads it through HF_TOKEN_PATH, so the token is never
	// in the container's environment or argv.
	HFTokenPath = "/run/servelab/hf_token"
	// OllamaPath holds Ollama's models and its identity key: always a named
	// volume, never a host folder.
	OllamaPath = "/root/.ollama"
	// LlamaCppModelsPath is a volume of the instance's own for GGUF files
	// given by path (model: /models/<file>.gguf).
	LlamaCppModelsPath = "/models"
	// EngineAuthPath is the YAML config file (mode 0400) that gives vLLM and
	// SGLang their API key (`--config`; `api-key: KEY`), so the key is
	// never in argv or the environment.
	EngineAuthPath = "/run/servelab/engine-auth.yaml"
	// EngineKeyPath is the key file (mode 0400, one line) llama.cpp and the
	// sim read with --api-key-file.
	EngineKeyPath = "/run/servelab/engine-api-key"
	// OllamaDefaultKeepAlive keeps an Ollama model loaded once the
	// framework's readiness step has loaded it (servelab measures warm
	// engines); args.keepAlive overrides it.
	OllamaDefaultKeepAlive = "-1"
	// ServelabBinary is the servelab binary in the servelab image.
	ServelabBinary = "/servelab"
)

// Instance is one container of a framework, with everything the stack and
// the planner decided about it. It is plain data: BuildSpec turns it into
// the container's argv, environment and checks without touching Pulumi.
type Instance struct {
	// Name is the instance name: the framework name, suffixed -<i> for
	// replicas. It is also the container's alias on the lab network.
	Name            string
	Engine          engine.Kind
	Flavour         engine.Kind // the API a sim imitates; empty otherwise
	Model           string
	ServedModelName string
	// Devices are the GPU indices the planner gave the instance.
	Devices []int
	// MemoryFraction is the planner's share of each GPU (vLLM, SGLang).
	MemoryFraction float64
	// DemandGiB is the planner's total memory demand (sizes timeouts).
	DemandGiB  float64
	Args       EngineArgs
	ExtraArgs  []string
	Env        map[string]string
	HasHFToken bool
	// DevicesByScheduler: a scheduler (Kubernetes' device plugin) gives
	// the instance its GPUs and sets NVIDIA_VISIBLE_DEVICES itself; Devices
	// then only count them (tensor parallelism) and BuildSpec sets no
	// runtime or device environment.
	DevicesByScheduler bool
}

// Volume says which volume a container mounts where.
type Volume struct {
	// Shared is true for the host's model cache, false for a volume of the
	// instance's own.
	Shared bool
	Path   string
}

// KeyFormat is how an engine's API key file is written.
type KeyFormat string

const (
	// KeyLine: the key alone on one line (--api-key-file).
	KeyLine KeyFormat = "line"
	// KeyYAML: an engine config file holding `api-key: KEY` (--config).
	KeyYAML KeyFormat = "yaml"
)

// KeyFileContent renders an engine's key file.
func KeyFileContent(f KeyFormat, key string) string {
	if f == KeyYAML {
		return "api-key: \"" + key + "\"\n"
	}
	return key + "\n"
}

// Spec is the container an Instance runs as.
type Spec struct {
	// Command is the container's argv after the image's entrypoint.
	Command []string
	// Env is "KEY=value", sorted; no secrets (they are files or added by
	// the component as secret outputs).
	Env []string
	// SecretEnv names environment variables the component fills with the
	// Hugging Face token (llama.cpp reads only HF_TOKEN).
	SecretEnv []string
	// Port is the port the engine listens on inside the container.
	Port int
	// Health is the Docker healthcheck test; it runs a binary present in
	// the image.
	Health []string
	// Volumes to mount.
	Volumes []Volume
	// IPCHost shares the host's IPC namespace (PyTorch's shared memory).
	IPCHost bool
	// Runtime is "nvidia" when the instance has GPUs.
	Runtime string
	// UploadHFToken uploads the token to HFTokenPath.
	UploadHFToken bool
	// APIKeyFile is where the engine reads its API key (mode 0400), written
	// as APIKeyFormat; "" for engines without API keys (Ollama), which
	// are published on loopback only.
	APIKeyFile   string
	APIKeyFormat KeyFormat
	// ReadySteps run in the container (docker exec), in order, once it is
	// healthy; the instance is ready only when they have finished (Ollama:
	// pull the model, then load it into memory).
	ReadySteps [][]string
	// WaitTimeout bounds how long `up` waits for the container to become
	// healthy; sized from the model.
	WaitTimeout time.Duration
	// ReadyTimeout bounds the ReadySteps.
	ReadyTimeout time.Duration
}

// LoopbackOnly reports whether the engine takes no API key, so that its
// port is published on 127.0.0.1 only.
func (s Spec) LoopbackOnly() bool { return s.APIKeyFile == "" }

// UsesModelCache reports whether the spec mounts the host's model cache.
func (s Spec) UsesModelCache() bool {
	for _, v := range s.Volumes {
		if v.Shared {
			return true
		}
	}
	return false
}

// API returns the engine whose API and probes the instance speaks: its
// flavour for a sim, else its engine.
func (in Instance) API() engine.Kind {
	if in.Engine == engine.Sim {
		return in.Flavour
	}
	return in.Engine
}

// ErrNoArgs is returned when Args does not hold the instance's engine.
var ErrNoArgs = errors.New("engine arguments missing")

// BuildSpec derives the container of an instance.
func BuildSpec(in Instance) (Spec, error) {
	api, err := engine.SpecOf(in.API())
	if err != nil {
		return Spec{}, fmt.Errorf("instance %s: %w", in.Name, err)
	}
	if in.ServedModelName == "" {
		return Spec{}, fmt.Errorf("instance %s: served model name is empty", in.Name)
	}
	s := Spec{Port: api.DefaultPort}
	env := maps.Clone(in.Env)
	if env == nil {
		env = map[string]string{}
	}
	if len(in.Devices) > 0 && !in.DevicesByScheduler {
		s.Runtime = "nvidia"
		env["NVIDIA_VISIBLE_DEVICES"] = joinInts(in.Devices)
		env["NVIDIA_DRIVER_CAPABILITIES"] = "compute,utility"
	}

	switch in.Engine {
	case engine.VLLM:
		err = vllm(in, &s, env)
	case engine.SGLang:
		err = sglang(in, &s, env)
	case engine.Ollama:
		err = ollama(in, &s, env)
	case engine.LlamaCpp:
		err = llamacpp(in, &s, env)
	case engine.Sim:
		err = sim(in, &s, api)
	default:
		err = fmt.Errorf("unknown engine %q", in.Engine)
	}
	if err != nil {
		return Spec{}, fmt.Errorf("instance %s: %w", in.Name, err)
	}
	s.Command = append(s.Command, in.ExtraArgs...)
	s.Env = envList(env)
	return s, nil
}

func vllm(in Instance, s *Spec, env map[string]string) error {
	a := in.Args.VLLM
	if a == nil {
		return fmt.Errorf("vllm: %w", ErrNoArgs)
	}
	if len(in.Devices) == 0 || in.MemoryFraction <= 0 {
		return errors.New("vllm needs GPUs and a memory fraction")
	}
	// The image's entrypoint is `vllm serve`: the command starts with the
	// model, never with "serve" again. The API key comes in a config file
	// (vLLM checks it on /v1 paths only: /health stays open).
	s.APIKeyFile, s.APIKeyFormat = EngineAuthPath, KeyYAML
	s.Command = []string{
		in.Model,
		"--config", EngineAuthPath,
		"--served-model-name", in.ServedModelName,
		"--host", "0.0.0.0",
		"--port", strconv.Itoa(s.Port),
		"--gpu-memory-utilization", fraction(in.MemoryFraction),
		"--tensor-parallel-size", strconv.Itoa(len(in.Devices)),
	}
	s.Command = appendInt(s.Command, "--max-model-len", a.MaxModelLen)
	s.Command = appendInt(s.Command, "--max-num-seqs", a.MaxNumSeqs)
	s.Command = appendStr(s.Command, "--dtype", a.Dtype)
	s.Command = appendStr(s.Command, "--quantization", a.Quantization)
	s.Command = appendStr(s.Command, "--kv-cache-dtype", a.KVCacheDtype)
	if a.EnablePrefixCaching != nil {
		if *a.EnablePrefixCaching {
			s.Command = append(s.Command, "--enable-prefix-caching")
		} else {
			s.Command = append(s.Command, "--no-enable-prefix-caching")
		}
	}
	env["VLLM_NO_USAGE_STATS"] = "1"
	env["VLLM_CACHE_ROOT"] = VLLMCachePath
	hfEnv(in, s, env)
	s.Health = []string{"CMD", "curl", "-fsS", "-o", "/dev/null", localURL(s.Port, "/health")}
	s.IPCHost = true
	s.WaitTimeout = loadTimeout(in.DemandGiB)
	return nil
}

func sglang(in Instance, s *Spec, env map[string]string) error {
	a := in.Args.SGLang
	if a == nil {
		return fmt.Errorf("sglang: %w", ErrNoArgs)
	}
	if len(in.Devices) == 0 || in.MemoryFraction <= 0 {
		return errors.New("sglang needs GPUs and a memory fraction")
	}
	// The SGLang image has no serving entrypoint. --host 0.0.0.0 is
	// mandatory: it binds 127.0.0.1 by default. The API key comes in a
	// config file (SGLang leaves /health* and /metrics open).
	s.APIKeyFile, s.APIKeyFormat = EngineAuthPath, KeyYAML
	s.Command = []string{
		"python3", "-m", "sglang.launch_server",
		"--config", EngineAuthPath,
		"--model-path", in.Model,
		"--host", "0.0.0.0",
		"--port", strconv.Itoa(s.Port),
		"--mem-fraction-static", fraction(in.MemoryFraction),
		"--tp", strconv.Itoa(len(in.Devices)),
		"--served-model-name", in.ServedModelName,
		"--enable-metrics",
	}
	s.Command = appendInt(s.Command, "--context-length", a.ContextLength)
	s.Command = appendInt(s.Command, "--max-running-requests", a.MaxRunningRequests)
	s.Command = appendInt(s.Command, "--chunked-prefill-size", a.ChunkedPrefillSize)
	s.Command = appendStr(s.Command, "--dtype", a.Dtype)
	s.Command = appendStr(s.Command, "--quantization", a.Quantization)
	if a.DisableRadixCache {
		s.Command = append(s.Command, "--disable-radix-cache")
	}
	hfEnv(in, s, env)
	// /health_generate answers 200 only once a generation succeeds;
	// /v1/models answers during warm-up and is no readiness signal.
	// python3 is in the image (curl is not guaranteed).
	s.Health = []string{"CMD", "python3", "-c",
		"import urllib.request; urllib.request.urlopen('" + localURL(s.Port, "/health_generate") + "', timeout=20)"}
	s.IPCHost = true
	s.WaitTimeout = loadTimeout(in.DemandGiB)
	return nil
}

func ollama(in Instance, s *Spec, env map[string]string) error {
	a := in.Args.Ollama
	if a == nil {
		return fmt.Errorf("ollama: %w", ErrNoArgs)
	}
	env["OLLAMA_HOST"] = "0.0.0.0:" + strconv.Itoa(s.Port)
	setInt(env, "OLLAMA_NUM_PARALLEL", a.NumParallel)
	env["OLLAMA_KEEP_ALIVE"] = OllamaDefaultKeepAlive
	setStr(env, "OLLAMA_KEEP_ALIVE", a.KeepAlive)
	setInt(env, "OLLAMA_MAX_LOADED_MODELS", a.MaxLoadedModels)
	setInt(env, "OLLAMA_MAX_QUEUE", a.MaxQueue)
	setInt(env, "OLLAMA_CONTEXT_LENGTH", a.ContextLength)
	if a.FlashAttention != nil {
		env["OLLAMA_FLASH_ATTENTION"] = strconv.FormatBool(*a.FlashAttention)
	}
	setStr(env, "OLLAMA_KV_CACHE_TYPE", a.KVCacheType)
	// The image has no curl, and `ollama --version` exits 0 with the server
	// down; `ollama list` needs the server.
	s.Health = []string{"CMD", "ollama", "list"}
	s.Volumes = []Volume{{Shared: false, Path: OllamaPath}}
	// Ollama loads a model lazily, on first use, and a pull does not load
	// it: the framework is ready once the model is pulled and loaded.
	// `ollama run M` with no prompt and no terminal sends a generate with
	// an empty prompt, Ollama's "load this model" request; the model then
	// stays loaded for OLLAMA_KEEP_ALIVE.
	s.ReadySteps = [][]string{
		{"ollama", "pull", in.Model},
		{"ollama", "show", "--modelfile", in.Model},
		{"ollama", "run", in.Model},
	}
	s.WaitTimeout = 2 * time.Minute
	s.ReadyTimeout = loadTimeout(in.DemandGiB)
	return nil
}

func llamacpp(in Instance, s *Spec, env map[string]string) error {
	a := in.Args.LlamaCpp
	if a == nil {
		return fmt.Errorf("llamacpp: %w", ErrNoArgs)
	}
	s.APIKeyFile, s.APIKeyFormat = EngineKeyPath, KeyLine
	s.Volumes = []Volume{{Shared: true, Path: ModelCachePath}}
	if strings.HasPrefix(in.Model, "/") {
		s.Command = []string{"-m", in.Model}
		s.Volumes = append(s.Volumes, Volume{Shared: false, Path: LlamaCppModelsPath})
	} else {
		s.Command = []string{"-hf", in.Model}
	}
	layers := 0
	if len(in.Devices) > 0 {
		layers = 999 // all of them
	}
	if a.GPULayers != nil {
		layers = *a.GPULayers
	}
	s.Command = append(s.Command,
		"--host", "0.0.0.0",
		"--port", strconv.Itoa(s.Port),
		"--metrics",
		"--api-key-file", EngineKeyPath,
		"-ngl", strconv.Itoa(layers),
		"--alias", in.ServedModelName,
	)
	s.Command = appendInt(s.Command, "-c", a.CtxSize)
	s.Command = appendInt(s.Command, "-np", a.Parallel)
	s.Command = appendInt(s.Command, "-t", a.Threads)
	s.Command = appendStr(s.Command, "--flash-attn", a.FlashAttn)
	env["LLAMA_CACHE"] = LlamaCppCachePath
	if in.HasHFToken {
		s.SecretEnv = []string{"HF_TOKEN"} // llama.cpp reads no token file
	}
	// /health is open with a key; /metrics is not (Prometheus sends it).
	s.Health = []string{"CMD", "curl", "-fsS", "-o", "/dev/null", localURL(s.Port, "/health")}
	s.WaitTimeout = loadTimeout(in.DemandGiB)
	return nil
}

func sim(in Instance, s *Spec, api engine.Spec) error {
	a := in.Args.Sim
	if a == nil {
		return fmt.Errorf("sim: %w", ErrNoArgs)
	}
	s.Command = []string{
		"sim",
		"--flavour", string(in.Flavour),
		"--listen", "0.0.0.0:" + strconv.Itoa(s.Port),
		"--model", in.ServedModelName,
	}
	s.Command = appendStr(s.Command, "--ttft", a.TTFT)
	s.Command = appendStr(s.Command, "--itl", a.ITL)
	if a.Jitter != 0 {
		s.Command = append(s.Command, "--jitter", strconv.FormatFloat(a.Jitter, 'g', -1, 64))
	}
	s.Command = appendInt(s.Command, "--capacity", a.Capacity)
	s.Command = appendStr(s.Command, "--startup-delay", a.StartupDelay)
	if a.FailureRate != 0 {
		s.Command = append(s.Command, "--failure-rate", strconv.FormatFloat(a.FailureRate, 'g', -1, 64))
	}
	s.Command = appendInt(s.Command, "--max-output-tokens", a.MaxOutputTokens)
	if a.Seed != 0 {
		s.Command = append(s.Command, "--seed", strconv.FormatInt(a.Seed, 10))
	}
	startup, err := parseDuration("startupDelay", a.StartupDelay)
	if err != nil {
		return err
	}
	load, err := parseDuration("loadDelay", a.LoadDelay)
	if err != nil {
		return err
	}
	s.WaitTimeout = 2*time.Minute + startup
	if api.Auth.Supported {
		// As its flavour: the key where the engine checks one.
		s.APIKeyFile, s.APIKeyFormat = EngineKeyPath, KeyLine
		s.Command = append(s.Command, "--api-key-file", EngineKeyPath)
	}
	probePath := api.Ready.Path
	if s.APIKeyFile != "" && api.Auth.Protects(probePath) {
		probePath = api.Live.Path // the healthcheck sends no key (vLLM: /health)
	}
	s.Health = []string{"CMD", ServelabBinary, "probe", localURL(s.Port, probePath)}
	if in.Flavour == engine.Ollama {
		// As Ollama: the model loads lazily; load it before counting the
		// framework as ready (a generate with no prompt).
		s.Command = appendStr(s.Command, "--load-delay", a.LoadDelay)
		body, err := json.Marshal(map[string]string{"model": in.ServedModelName})
		if err != nil {
			return err
		}
		s.ReadySteps = [][]string{{ServelabBinary, "probe", "--body", string(body), localURL(s.Port, "/api/generate")}}
		s.ReadyTimeout = 2*time.Minute + startup + load
	}
	return nil
}

// hfEnv points huggingface_hub at the host's model cache and, when a token
// is configured, at the uploaded token file.
func hfEnv(in Instance, s *Spec, env map[string]string) {
	env["HF_HOME"] = HFCachePath
	s.Volumes = []Volume{{Shared: true, Path: ModelCachePath}}
	if in.HasHFToken {
		env["HF_TOKEN_PATH"] = HFTokenPath
		s.UploadHFToken = true
	}
}

// loadTimeout sizes how long a model may take to download and load: five
// minutes, plus 45 s per GiB of demand (≈ 23 MB/s of download plus
// loading), capped at two hours.
func loadTimeout(gib float64) time.Duration {
	d := 5*time.Minute + time.Duration(gib*45)*time.Second
	return min(d, 2*time.Hour)
}

func parseDuration(key, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q is not a non-negative duration like 50ms or 2s", key, s)
	}
	return d, nil
}

func localURL(port int, path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + path
}

func fraction(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

func appendInt(cmd []string, flag string, v int) []string {
	if v == 0 {
		return cmd
	}
	return append(cmd, flag, strconv.Itoa(v))
}

func appendStr(cmd []string, flag, v string) []string {
	if v == "" {
		return cmd
	}
	return append(cmd, flag, v)
}

func setInt(env map[string]string, k string, v int) {
	if v != 0 {
		env[k] = strconv.Itoa(v)
	}
}

func setStr(env map[string]string, k, v string) {
	if v != "" {
		env[k] = v
	}
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}
