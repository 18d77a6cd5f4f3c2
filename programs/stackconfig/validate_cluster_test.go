package stackconfig_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs/stackconfig"
)

// clusterBase is a valid cluster stack: a pool of two one-GPU H100 nodes
// and a CPU pool.
var clusterBase = map[string]string{
	"program": `compare`,
	"clusters": `
- name: lab
  context: lab-admin
  namespace: servelab
  nodePools:
    - {name: h100, gpus: {model: H100, memoryGiB: 80}, nodes: 2, nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3},
       tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]}
    - {name: cpu}`,
	"frameworks": `
- {name: vllm, engine: vllm, nodePool: h100, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36}
- {name: sglang, engine: sglang, nodePool: h100, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 36}
- {name: ollama, engine: ollama, nodePool: cpu, model: "qwen2.5:0.5b", image: ollama/ollama:0.32.2}`,
}

func loadCluster(t *testing.T, overrides map[string]string) (*stackconfig.Lab, error) {
	t.Helper()
	doc := maps.Clone(clusterBase)
	maps.Copy(doc, overrides)
	for k, v := range doc {
		if v == "-" {
			delete(doc, k)
		}
	}
	cfg, err := stackconfig.Load(getter(t, doc))
	if err != nil {
		return nil, err
	}
	return stackconfig.Validate(cfg)
}

func TestClusterBaseIsValid(t *testing.T) {
	t.Parallel()
	lab, err := loadCluster(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lab.Cluster == nil || lab.Cluster.GPUResource != "nvidia.com/gpu" || lab.Cluster.ModelCache.SizeGiB != 100 ||
		lab.Cluster.ModelCache.AccessMode != "ReadWriteOnce" || lab.Cluster.Image != "servelab" {
		t.Fatalf("cluster defaults: %+v", lab.Cluster)
	}
	if len(lab.Hosts) != 0 || len(lab.Instances) != 3 || lab.Config.Benchmark.RunOn != "" && lab.Config.Benchmark.RunOn != stackconfig.RunOnCluster {
		t.Fatalf("hosts %d instances %d", len(lab.Hosts), len(lab.Instances))
	}
	for _, in := range lab.Instances[:2] {
		k := in.Kube
		if in.Host != "lab" || k.Pool != "h100" || k.GPUs != 1 || k.Shared || in.Instance.MemoryFraction != 0.45 ||
			!in.Instance.DevicesByScheduler || k.NodeSelector["nvidia.com/gpu.product"] != "NVIDIA-H100-80GB-HBM3" || len(k.Tolerations) != 1 {
			t.Errorf("%s: %+v fraction %v", in.Instance.Name, *k, in.Instance.MemoryFraction)
		}
	}
	if o := lab.Instances[2]; o.Kube.GPUs != 0 || len(o.Instance.Devices) != 0 || o.PublishedPort != 11434 {
		t.Errorf("ollama on the CPU pool: %+v devices %v", *o.Kube, o.Instance.Devices)
	}
}

// TestClusterOriginBox: the origin box's comparison (vLLM, SGLang, Ollama
// on one 32 GiB GPU) in a cluster — engines pinned to one time-sliced
// node — gets exactly the fractions the Docker target gives it.
func TestClusterOriginBox(t *testing.T) {
	t.Parallel()
	docker, err := pulumitest.LoadStackConfig("../../stacks/Pulumi.rtx5090.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := stackconfig.Check(func(k string) (string, bool) { v, ok := docker[stackconfig.Namespace+":"+k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	lab, err := loadCluster(t, map[string]string{
		"clusters": `[{name: lab, context: c, nodePools: [{name: rtx, gpus: {model: RTX 5090, memoryGiB: 32}, nodes: 1, timeSlicing: 4}]}]`,
		"frameworks": `
- {name: vllm, engine: vllm, nodePool: rtx, node: box1, model: Qwen/Qwen2.5-3B-Instruct, image: vllm/vllm-openai:v0.32.1, modelParamsB: 3.09, dtype: bf16, kvCacheGiB: 3}
- {name: sglang, engine: sglang, nodePool: rtx, node: box1, model: Qwen/Qwen2.5-3B-Instruct, image: lmsysorg/sglang:v0.5.21, modelParamsB: 3.09, dtype: bf16, kvCacheGiB: 3}
- {name: ollama, engine: ollama, nodePool: rtx, node: box1, model: "qwen2.5:3b", image: ollama/ollama:0.32.2, gpuMemoryGiB: 4}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range lab.Instances {
		w := want.Instances[i]
		if in.Instance.MemoryFraction != w.Instance.MemoryFraction || in.Instance.DemandGiB != w.Instance.DemandGiB {
			t.Errorf("%s: fraction %v demand %v, Docker gives %v and %v", in.Instance.Name,
				in.Instance.MemoryFraction, in.Instance.DemandGiB, w.Instance.MemoryFraction, w.Instance.DemandGiB)
		}
		if !in.Kube.Shared || in.Kube.GPUs != 1 || in.Kube.NodeSelector["kubernetes.io/hostname"] != "box1" {
			t.Errorf("%s: %+v, want one shared GPU slice on node box1", in.Instance.Name, *in.Kube)
		}
		if !slices.Equal(in.StartAfter, w.StartAfter) {
			t.Errorf("%s starts after %v, on Docker after %v", in.Instance.Name, in.StartAfter, w.StartAfter)
		}
	}
}

func TestClusterConfigErrors(t *testing.T) {
	t.Parallel()
	pool := func(extra string) string {
		return `[{name: lab, context: c, nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}` + extra + `}, {name: cpu}]}]`
	}
	tests := []struct {
		name      string
		overrides map[string]string
		want      []string
	}{
		{"namespace not a DNS label", map[string]string{"clusters": `[{name: lab, context: c, namespace: Serve_Lab}]`, "frameworks": `[{name: o, engine: ollama, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`clusters[0].namespace: "Serve_Lab" is not a DNS label`}},
		{"namespace reserved", map[string]string{"clusters": `[{name: lab, context: c, namespace: kube-system}]`, "frameworks": `[{name: o, engine: ollama, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`clusters[0].namespace: "kube-system" is reserved`}},
		{"unknown GPU resource", map[string]string{"clusters": `[{name: lab, context: c, gpuResource: nvidia.com/gpus, nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`},
			[]string{`clusters[0].gpuResource: unknown GPU resource "nvidia.com/gpus" (want nvidia.com/gpu, nvidia.com/gpu.shared, or a MIG slice`}},
		{"kubeconfig in the stack file", map[string]string{"clusters": `[{name: lab, kubeconfig: "apiVersion: v1\nclusters: []"}]`, "frameworks": `[{name: o, engine: ollama, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{"clusters[0].kubeconfig: a kubeconfig holds credentials and never goes in the stack file"}},
		{"more GPUs than a node offers", map[string]string{"frameworks": `[{name: v, engine: vllm, nodePool: h100, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36, gpus: 2}]`},
			[]string{"frameworks[0].gpus: wants 2 GPUs, node pool h100 offers 1 per node (a pod runs on one node)"}},
		{"more GPUs than the pool has", map[string]string{"clusters": pool(`, nodes: 1`)},
			[]string{"clusters[0].nodePools[0]: node pool h100 offers 1 GPUs (1 nodes × 1); the frameworks ask for 2 (vllm 1×1, sglang 1×1 as replicas×GPUs)"}},
		{"Docker hosts and a cluster", map[string]string{"hosts": `[{name: gpu1}]`},
			[]string{"clusters: a stack deploys to Docker hosts or to one Kubernetes cluster, not both (hosts: gpu1; clusters: lab); split it into two stacks"}},
		{"two clusters", map[string]string{"clusters": `[{name: a, context: a}, {name: b, context: b}]`},
			[]string{"clusters: one cluster per stack, got 2 (a, b)"}},
		{"host in a cluster stack", map[string]string{"frameworks": `[{name: o, engine: ollama, host: gpu1, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{"frameworks[0].host: a cluster stack places frameworks with nodePool (and node), not host"}},
		{"unknown node pool", map[string]string{"frameworks": `[{name: o, engine: ollama, nodePool: a100, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`frameworks[0].nodePool: no node pool named "a100" (node pools: h100, cpu)`}},
		{"device indices", map[string]string{"frameworks": `[{name: v, engine: vllm, nodePool: h100, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36, gpus: [0]}]`},
			[]string{"frameworks[0].gpus: device indices are for Docker hosts; in a cluster the device plugin assigns GPUs: give a count"}},
		{"vLLM on CPU nodes", map[string]string{"frameworks": `[{name: v, engine: vllm, nodePool: cpu, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36}]`},
			[]string{"frameworks[0].nodePool: vllm needs a GPU; node pool cpu has none"}},
		{"sharing a GPU without time-slicing", map[string]string{"frameworks": `
- {name: vllm, engine: vllm, nodePool: h100, node: n1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36}
- {name: sglang, engine: sglang, nodePool: h100, node: n1, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 36}`},
			[]string{"frameworks: lab/h100/n1: vllm, sglang share GPU 0, but node pool h100 has no timeSlicing"}},
		{"over-committed shared GPU", map[string]string{"clusters": pool(`, timeSlicing: 2`), "frameworks": `
- {name: vllm, engine: vllm, nodePool: h100, node: n1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 40}
- {name: sglang, engine: sglang, nodePool: h100, node: n1, model: m, image: lmsysorg/sglang:v0.5.21, gpuMemoryGiB: 40}`},
			[]string{"frameworks: host lab/h100/n1: GPU 0 (H100, 80.0 GiB): GPU memory over-committed: vllm (vllm) 40.0 GiB + sglang (sglang) 40.0 GiB = 80.0 GiB > 76.0 GiB (95 %)"}},
		{"more engines than time-slices", map[string]string{"clusters": pool(`, timeSlicing: 2`), "frameworks": `
- {name: a, engine: vllm, nodePool: h100, node: n1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 20}
- {name: b, engine: vllm, nodePool: h100, node: n1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 20}
- {name: c, engine: vllm, nodePool: h100, node: n1, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 20}`},
			[]string{"frameworks: lab/h100/n1: 3 engines (a, b, c) share GPU 0, but node pool h100's time-slicing advertises 2 replicas per GPU"}},
		{"unpinned engine in a time-sliced pool", map[string]string{"clusters": pool(`, timeSlicing: 2`)},
			[]string{"frameworks[0].node: node pool h100 is time-sliced: pin each GPU engine to a node"}},
		{"time-slicing a multi-GPU node", map[string]string{"clusters": `[{name: lab, context: c, nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80, count: 8}, timeSlicing: 2}, {name: cpu}]}]`},
			[]string{"clusters[0].nodePools[0].timeSlicing: needs one GPU per node (gpus.count: 1)"}},
		{"replicas on a ReadWriteOnce cache", map[string]string{"clusters": pool(`, nodes: 4`), "frameworks": `[{name: v, engine: vllm, nodePool: h100, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36, replicas: 2}]`},
			[]string{"frameworks[0].replicas: 2 pods would share the framework's model-cache claim, which needs clusters[0].modelCache.accessMode: ReadWriteMany"}},
		{"bench from this machine", map[string]string{"benchmark": `{enabled: true, runOn: local}`},
			[]string{`benchmark.runOn: "local": a cluster stack benchmarks from inside the cluster (runOn: cluster)`}},
		{"gateway and monitoring on a host", map[string]string{"gateway": `{host: gpu1, bindAddress: 0.0.0.0}`, "monitoring": `{host: gpu1, dcgm: true}`},
			[]string{"gateway.host: a cluster stack runs the gateway in the cluster's namespace", "gateway.bindAddress: a cluster stack exposes the gateway as a ClusterIP Service",
				"monitoring.host: a cluster stack runs monitoring in the cluster's namespace", "monitoring.dcgm: on Kubernetes NVIDIA's GPU Operator runs dcgm-exporter"}},
		{"bad node selector and toleration", map[string]string{"clusters": `[{name: lab, context: c, nodePools: [{name: cpu, nodeSelector: {"bad key!": x}, tolerations: [{key: a, operator: Maybe, effect: Never}]}]}]`,
			"frameworks": `[{name: o, engine: ollama, nodePool: cpu, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`clusters[0].nodePools[0].nodeSelector.bad key!: "bad key!" is not a label key`, `clusters[0].nodePools[0].tolerations[0].operator: unknown "Maybe"`, `clusters[0].nodePools[0].tolerations[0].effect: unknown "Never"`}},
		{"image with a tag", map[string]string{"clusters": `[{name: lab, context: c, image: "ghcr.io/acme/servelab:1.0", nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`},
			[]string{`clusters[0].image: "ghcr.io/acme/servelab:1.0" must be an image repository without tag or digest`}},
		{"unknown access mode", map[string]string{"clusters": `[{name: lab, context: c, modelCache: {accessMode: ReadMany}, nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`},
			[]string{`clusters[0].modelCache.accessMode: unknown "ReadMany"`}},
		{"service name starting with a digit", map[string]string{"frameworks": `[{name: 8b-ollama, engine: ollama, nodePool: cpu, model: m, image: ollama/ollama:0.32.2}]`},
			[]string{`frameworks[0].name: "8b-ollama" names a Kubernetes Service, which must start with a letter`}},
		// The cluster's image is a repository as Docker parses one
		// (internal/imageref, main's rule for every image), without the
		// tag the program adds.
		{"image with a tag", map[string]string{"clusters": `[{name: lab, context: c, image: "ghcr.io/acme/servelab:v1", nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`},
			[]string{`clusters[0].image: "ghcr.io/acme/servelab:v1" must be an image repository without tag or digest (the program adds the tag it builds), e.g. ghcr.io/acme/servelab`}},
		{"image not a reference", map[string]string{"clusters": `[{name: lab, context: c, image: "ghcr.io/Acme/servelab", nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`},
			[]string{`clusters[0].image: "ghcr.io/Acme/servelab" is not an image repository: repository path "Acme/servelab" is not lower-case`}},
		{"image registry with a port", map[string]string{"clusters": `[{name: lab, context: c, image: "localhost:5001/servelab", nodePools: [{name: h100, gpus: {model: H100, memoryGiB: 80}}, {name: cpu}]}]`}, nil},
		{"unknown cluster key", map[string]string{"clusters": `[{name: lab, context: c, namspace: x}]`},
			[]string{`clusters[0].namspace: unknown key "namspace" (did you mean "namespace"?)`}},
		{"operator dashboards", map[string]string{"monitoring": `{prometheusOperator: {dashboardLabels: {}, datasourceUid: "my prometheus"}}`},
			[]string{"monitoring.prometheusOperator.dashboardLabels: is empty", `monitoring.prometheusOperator.datasourceUid: "my prometheus" is not a Grafana uid`}},
		// The rules every stack follows hold in a cluster stack too.
		{"managed flag and credential env", map[string]string{"frameworks": `
- {name: v, engine: vllm, nodePool: h100, model: m, image: vllm/vllm-openai:v0.32.1, gpuMemoryGiB: 36, extraArgs: ["--api-key=x"], env: {HF_TOKEN: hf_abc}}`},
			[]string{`frameworks[0].extraArgs[0]: "--api-key=x" is --api-key, which servelab sets`, "frameworks[0].env.HF_TOKEN: is a credential: set it with `pulumi config set --secret servelab:hfToken` instead"}},
		{"too many replicas", map[string]string{"clusters": `[{name: lab, context: c, modelCache: {accessMode: ReadWriteMany}, nodePools: [{name: cpu}]}]`,
			"frameworks": `[{name: s, engine: sim, flavour: vllm, nodePool: cpu, model: m, replicas: 65}]`},
			[]string{"frameworks[0].replicas: 65 is more than 64 (servelab's bound on a framework's pods)"}},
		{"replicas share their Service's port", map[string]string{"clusters": `[{name: lab, context: c, nodePools: [{name: cpu}]}]`,
			"frameworks": `[{name: s, engine: sim, flavour: vllm, nodePool: cpu, model: m, replicas: 3, port: 65535}]`}, nil},
		{"benchmark settings", map[string]string{"benchmark": `{enabled: true, repeats: 0, failOnRegression: 5, timeout: 30s, dataset: jsonl, datasetPath: /data/p.jsonl}`},
			[]string{"benchmark.repeats: must be 1-100, got 0", "benchmark.failOnRegression: needs benchmark.baseline",
				`benchmark.timeout: "30s" is too short`, "benchmark.datasetPath: the benchmark Job cannot read files from this machine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadCluster(t, tt.overrides)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
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

// TestKubePlacementOnDockerStack: the cluster-only framework keys are
// refused on a Docker stack, with their paths.
func TestKubePlacementOnDockerStack(t *testing.T) {
	t.Parallel()
	_, err := load(t, map[string]string{"frameworks": `[{name: o, engine: ollama, host: cpu1, model: m, image: ollama/ollama:0.32.2, nodePool: h100, tolerations: [{operator: Exists}]}]`})
	for _, w := range []string{"frameworks[0].nodePool: places pods in a Kubernetes cluster; this stack has Docker hosts", "frameworks[0].tolerations: places pods"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("err = %v, want %q", err, w)
		}
	}
	if _, err := load(t, map[string]string{"benchmark": `{enabled: true, runOn: cluster}`}); err == nil || !strings.Contains(err.Error(), `benchmark.runOn: unknown "cluster" (want local or host)`) {
		t.Errorf("runOn cluster on Docker hosts: err = %v", err)
	}
}

// The keys a cluster stack sets are keys the program reads: clusters, and
// the secret kubeconfig (main's unknown-key check, which reads the keys
// from PULUMI_CONFIG under a real `pulumi up`).
func TestClusterKeysAreKnown(t *testing.T) {
	t.Parallel()
	keys := []string{"servelab:program", "servelab:clusters", "servelab:frameworks", "servelab:kubeconfig", "servelab:hfToken"}
	if _, err := stackconfig.CheckStack(getter(t, clusterBase), keys); err != nil {
		t.Errorf("a cluster stack's keys are reported: %v", err)
	}
}

// Only a cluster has a Prometheus Operator to hand monitoring to.
func TestPrometheusOperatorNeedsACluster(t *testing.T) {
	t.Parallel()
	if _, err := load(t, map[string]string{"monitoring": `{prometheusOperator: {}}`}); err == nil ||
		!strings.Contains(err.Error(), "monitoring.prometheusOperator: hands monitoring to a cluster's Prometheus Operator; this stack has Docker hosts") {
		t.Errorf("on Docker hosts: err = %v", err)
	}
}
