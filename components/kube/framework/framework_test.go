package framework_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/kube/cluster"
	kframework "github.com/servelab/servelab/components/kube/framework"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/kubetypes"
	"github.com/servelab/servelab/internal/pulumitest"
)

func newCluster(ctx *pulumi.Context, mode string, token bool) (*cluster.Cluster, error) {
	a := &cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: "servelab:x", RuntimeClassName: "nvidia",
		ModelCache: cluster.ModelCache{SizeGiB: 10, AccessMode: mode}}
	if token {
		a.HFToken = pulumi.ToSecret(pulumi.String("hf_secret_token")).(pulumi.StringOutput)
	}
	return cluster.NewCluster(ctx, "lab", a)
}

var vllm = frameworkspec.Instance{Name: "vllm", Engine: engine.VLLM, Model: "Qwen/Qwen3-8B", ServedModelName: "vllm",
	Devices: []int{0, 1}, MemoryFraction: 0.9, DemandGiB: 40, DevicesByScheduler: true,
	Args: frameworkspec.EngineArgs{VLLM: &frameworkspec.VLLMArgs{}}}

func run(t *testing.T, mode string, token bool, args kframework.FrameworkArgs) (*pulumitest.Mocks, error) {
	t.Helper()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		c, err := newCluster(ctx, mode, token)
		if err != nil {
			return err
		}
		args.Cluster = c
		_, err = kframework.NewFramework(ctx, args.Instance.Name, &args)
		return err
	})
	return m, err
}

func TestNewFrameworkArgs(t *testing.T) {
	t.Parallel()
	noSched := vllm
	noSched.DevicesByScheduler = false
	digit := vllm
	digit.Name = "8b"
	for _, tt := range []struct {
		name string
		args kframework.FrameworkArgs
		want string
	}{
		{"no image", kframework.FrameworkArgs{Instance: vllm, GPUs: 2}, "image is required"},
		{"name starting with a digit", kframework.FrameworkArgs{Instance: digit, Image: "v:1", GPUs: 2}, `"8b" must be a DNS label starting with a letter`},
		{"devices without the scheduler", kframework.FrameworkArgs{Instance: noSched, Image: "v:1", GPUs: 2}, "the device plugin assigns GPUs"},
		{"GPUs and tensor parallelism differ", kframework.FrameworkArgs{Instance: vllm, Image: "v:1", GPUs: 1}, "1 GPUs requested but tensor parallelism over 2"},
		{"negative replicas", kframework.FrameworkArgs{Instance: vllm, Image: "v:1", GPUs: 2, Replicas: -1}, "replicas -1"},
		{"engine args missing", kframework.FrameworkArgs{Instance: frameworkspec.Instance{Name: "s", Engine: engine.Sim, Flavour: engine.VLLM, ServedModelName: "s"}, Image: "x:1"}, "engine arguments missing"},
		{"valid", kframework.FrameworkArgs{Instance: vllm, Image: "v:1", GPUs: 2}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t, "", false, tt.args)
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
	err := pulumitest.New(nil).Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := kframework.NewFramework(ctx, "x", nil)
		return err
	})
	pulumitest.CheckErr(t, err, "args are required")
}

// TestGPUEngine: the Docker target's argv and healthcheck, the GPU
// resource, the runtime class, memory-backed /dev/shm, a retained cache
// claim, the HF token as a file from its Secret and never a value.
func TestGPUEngine(t *testing.T) {
	t.Parallel()
	m, err := run(t, cluster.ReadWriteOnce, true, kframework.FrameworkArgs{
		Instance: vllm, Image: "vllm/vllm-openai:v0.32.1", GPUs: 2, Replicas: 1,
		NodeSelector: map[string]string{"pool": "h100"}, Tolerations: []kubetypes.Toleration{{Key: "nvidia.com/gpu", Operator: "Exists"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := m.Get("kubernetes:apps/v1:Deployment", "vllm-deployment")
	if !ok {
		t.Fatal("no deployment")
	}
	in := vllm
	in.HasHFToken = true
	spec, err := frameworkspec.BuildSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	pod := d.Plain("spec").(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
	c := pod["containers"].([]any)[0].(map[string]any)
	b, _ := json.Marshal(pod)
	text := string(b)
	if got := strs(c["args"]); !slices.Equal(got, spec.Command) {
		t.Errorf("args %v, want %v", got, spec.Command)
	}
	if !slices.Contains(spec.Command, "--tensor-parallel-size") || spec.Command[slices.Index(spec.Command, "--tensor-parallel-size")+1] != "2" {
		t.Errorf("tensor parallelism not from the GPU count: %v", spec.Command)
	}
	if got := strs(c["readinessProbe"].(map[string]any)["exec"].(map[string]any)["command"]); !slices.Equal(append([]string{"CMD"}, got...), spec.Health) {
		t.Errorf("readiness %v, want %v", got, spec.Health)
	}
	for _, want := range []string{`"nvidia.com/gpu":"2"`, `"runtimeClassName":"nvidia"`, `"medium":"Memory"`, `"claimName":"vllm-model-cache"`,
		`{"secret":{"items":[{"key":"token","path":"hf_token"}],"name":"hf-token"}}`,
		`{"secret":{"items":[{"key":"engine","path":"engine-auth.yaml"}],"name":"vllm-api-key"}}`, `"defaultMode":256`,
		`"mountPath":"/run/servelab"`, `"HF_TOKEN_PATH"`, `"pool":"h100"`, `"operator":"Exists"`, `"enableServiceLinks":false`} {
		if !strings.Contains(text, want) {
			t.Errorf("pod spec lacks %s:\n%s", want, text)
		}
	}
	for _, leak := range []string{"hf_secret_token", "NVIDIA_VISIBLE_DEVICES"} {
		if strings.Contains(text, leak) {
			t.Errorf("pod spec holds %s", leak)
		}
	}
	if len(d.Secrets()) > 0 {
		t.Errorf("the Deployment holds secrets at %v", d.Secrets())
	}
	// The engine's own key: generated, in its Secret (the key alone and
	// the engine's key file), secret; a new key replaces the Deployment.
	if _, ok := m.Get("random:index/randomPassword:RandomPassword", "vllm-api-key"); !ok {
		t.Error("no generated API key")
	}
	ks, _ := m.Get("kubernetes:core/v1:Secret", "vllm-api-key-secret")
	if ks.String("metadata.name") != kframework.KeySecret("vllm") || !slices.Equal(ks.Secrets(), []string{"stringData"}) {
		t.Errorf("key Secret %q, secret inputs %v", ks.String("metadata.name"), ks.Secrets())
	}
	if !slices.ContainsFunc(d.ReplaceWith, func(u string) bool { return strings.HasSuffix(u, "::vllm-api-key") }) {
		t.Errorf("a new key does not restart the engine (replaceWith %v)", d.ReplaceWith)
	}
	if len(m.ByType("kubernetes:networking.k8s.io/v1:NetworkPolicy")) != 0 {
		t.Error("a keyed engine behind a NetworkPolicy")
	}
	pvc, ok := m.Get("kubernetes:core/v1:PersistentVolumeClaim", "vllm-model-cache")
	if !ok || !pvc.RetainOnDelete || pvc.ProviderName() != "lab-k8s-retained" {
		t.Errorf("model cache claim missing, deleted on destroy or not adoptable: %+v", pvc)
	}
	svc, _ := m.Get("kubernetes:core/v1:Service", "vllm-service")
	if ann, _ := svc.Plain("metadata").(map[string]any)["annotations"].(map[string]any); ann["pulumi.com/skipAwait"] != "true" {
		t.Errorf("the Service waits for endpoints (the Deployment already waits for readiness): %v", svc.Plain("metadata"))
	}
	if d.CreateTimeout == "" || !strings.HasSuffix(d.CreateTimeout, "m0s") {
		t.Errorf("deployment create timeout %q", d.CreateTimeout)
	}
}

// TestSharedCache: with ReadWriteMany every HF-cache engine mounts the
// cluster's one claim; a sim mounts nothing and runs restricted.
func TestSharedCacheAndSim(t *testing.T) {
	t.Parallel()
	m, err := run(t, cluster.ReadWriteMany, false, kframework.FrameworkArgs{Instance: vllm, Image: "v:1", GPUs: 2, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	if _, own := m.Get("kubernetes:core/v1:PersistentVolumeClaim", "vllm-model-cache"); own {
		t.Error("a framework claim next to the shared one")
	}
	d, _ := m.Get("kubernetes:apps/v1:Deployment", "vllm-deployment")
	b, _ := json.Marshal(d.Plain("spec"))
	if !strings.Contains(string(b), `"claimName":"hf-cache"`) || !strings.Contains(string(b), `"replicas":3`) || strings.Contains(string(b), "hf-token") {
		t.Errorf("deployment spec %s", b)
	}

	sim := frameworkspec.Instance{Name: "sim", Engine: engine.Sim, Flavour: engine.SGLang, Model: "m", ServedModelName: "sim",
		Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{StartupDelay: "5s"}}, DevicesByScheduler: true}
	m, err = run(t, "", false, kframework.FrameworkArgs{Instance: sim, Image: "servelab:x", ServicePort: 8000})
	if err != nil {
		t.Fatal(err)
	}
	d, _ = m.Get("kubernetes:apps/v1:Deployment", "sim-deployment")
	b, _ = json.Marshal(d.Plain("spec"))
	// The sim runs as non-root: its key file is 0440, group-owned by the
	// pod's fsGroup.
	for _, want := range []string{`"runAsNonRoot":true`, `"readOnlyRootFilesystem":true`, `"/servelab","probe","http://127.0.0.1:30000/health_generate"`, `"containerPort":30000`,
		`"--api-key-file","/run/servelab/engine-api-key"`, `"fsGroup":65532`, `"defaultMode":288`,
		`{"secret":{"items":[{"key":"engine","path":"engine-api-key"}],"name":"sim-api-key"}}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("sim deployment lacks %s: %s", want, b)
		}
	}
	if len(m.ByType("kubernetes:core/v1:PersistentVolumeClaim")) != 0 {
		t.Errorf("a sim with a claim: %s", b)
	}
	svc, _ := m.Get("kubernetes:core/v1:Service", "sim-service")
	if p := svc.Plain("spec").(map[string]any)["ports"].([]any)[0].(map[string]any); p["port"] != 8000.0 || p["targetPort"] != "http" {
		t.Errorf("service port %v", p)
	}
}

// TestOllamaReadyAndLlamaCppToken: Ollama's ready steps (pull, show,
// load the model) run in order as a Job through the Service once the
// server is ready; Ollama takes no key, so only the stack's pods may reach
// it; llama.cpp gets the HF token from the Secret as HF_TOKEN.
func TestOllamaReadyAndLlamaCppToken(t *testing.T) {
	t.Parallel()
	ollama := frameworkspec.Instance{Name: "ollama", Engine: engine.Ollama, Model: "qwen2.5:0.5b", ServedModelName: "qwen2.5:0.5b",
		Args: frameworkspec.EngineArgs{Ollama: &frameworkspec.OllamaArgs{}}, DevicesByScheduler: true}
	m, err := run(t, "", true, kframework.FrameworkArgs{Instance: ollama, Image: "ollama/ollama:0.32.2"})
	if err != nil {
		t.Fatal(err)
	}
	jobs := m.ByType("kubernetes:batch/v1:Job")
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	job := jobs[0]
	if name := job.String("metadata.name"); !strings.HasPrefix(name, "ollama-ready-") {
		t.Errorf("ready job %q", name)
	}
	b, _ := json.Marshal(job.Plain("spec"))
	for _, want := range []string{`"command":["ollama","pull","qwen2.5:0.5b"]`, `"command":["ollama","show","--modelfile","qwen2.5:0.5b"]`,
		`"containers":[{"command":["ollama","run","qwen2.5:0.5b"]`, `"value":"http://ollama:11434"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ready job spec lacks %s: %s", want, b)
		}
	}
	if i, j := strings.Index(string(b), `"pull"`), strings.Index(string(b), `"show"`); i < 0 || j < i {
		t.Errorf("steps out of order: %s", b)
	}
	for _, dep := range []string{"ollama-deployment", "ollama-service"} {
		if !slices.ContainsFunc(job.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::"+dep) }) {
			t.Errorf("the ready steps do not wait for %s (deps %v)", dep, job.Dependencies)
		}
	}
	if _, ok := m.Get("random:index/randomPassword:RandomPassword", "ollama-api-key"); ok {
		t.Error("a key for Ollama, which checks none")
	}
	np, ok := m.Get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "ollama-ingress")
	if b, _ := json.Marshal(np.Plain("spec")); !ok || string(b) != `{"ingress":[{"from":[{"podSelector":{"matchLabels":{"servelab.dev/stack":"s"}}}]}],"podSelector":{"matchLabels":{"app.kubernetes.io/name":"ollama"}},"policyTypes":["Ingress"]}` {
		t.Errorf("Ollama's NetworkPolicy: %s", b)
	}

	// A sim of Ollama loads its model the same way, with the servelab
	// image's probe, at the Service instead of the container's loopback.
	sim := frameworkspec.Instance{Name: "sim-ollama", Engine: engine.Sim, Flavour: engine.Ollama, Model: "m", ServedModelName: "m",
		Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}}, DevicesByScheduler: true}
	m, err = run(t, "", false, kframework.FrameworkArgs{Instance: sim, Image: "servelab:x"})
	if err != nil {
		t.Fatal(err)
	}
	job, _ = m.Get("kubernetes:batch/v1:Job", "sim-ollama-ready")
	b, _ = json.Marshal(job.Plain("spec"))
	if !strings.Contains(string(b), `"command":["/servelab","probe","--body","{\"model\":\"m\"}","http://sim-ollama:11434/api/generate"]`) ||
		!strings.Contains(string(b), `"runAsNonRoot":true`) {
		t.Errorf("sim ready job %s", b)
	}

	llama := frameworkspec.Instance{Name: "llama", Engine: engine.LlamaCpp, Model: "o/r-GGUF:Q4_K_M", ServedModelName: "llama",
		Args: frameworkspec.EngineArgs{LlamaCpp: &frameworkspec.LlamaCppArgs{}}, DevicesByScheduler: true}
	m, err = run(t, "", true, kframework.FrameworkArgs{Instance: llama, Image: "ghcr.io/ggml-org/llama.cpp:server-b7100"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := m.Get("kubernetes:apps/v1:Deployment", "llama-deployment")
	b, _ = json.Marshal(d.Plain("spec"))
	if !strings.Contains(string(b), `{"secret":{"items":[{"key":"engine","path":"engine-api-key"}],"name":"llama-api-key"}}`) {
		t.Errorf("llama.cpp's key file is not mounted: %s", b)
	}
	if !strings.Contains(string(b), `{"name":"HF_TOKEN","valueFrom":{"secretKeyRef":{"key":"token","name":"hf-token"}}}`) {
		t.Errorf("llama.cpp's HF_TOKEN is not from the Secret: %s", b)
	}
}

func strs(v any) []string {
	var out []string
	for _, e := range v.([]any) {
		out = append(out, e.(string))
	}
	return out
}
