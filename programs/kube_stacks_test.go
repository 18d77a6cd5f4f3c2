package programs_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/kubernetes" // the cluster stacks' kubernetes_sd_configs
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	kbench "github.com/servelab/servelab/components/kube/benchmark"
	kframework "github.com/servelab/servelab/components/kube/framework"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/kube"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
	"github.com/servelab/servelab/programs/stackconfig"
)

const (
	typeKubeProvider  = "pulumi:providers:kubernetes"
	typeNamespace     = "kubernetes:core/v1:Namespace"
	typeDeployment    = "kubernetes:apps/v1:Deployment"
	typeService       = "kubernetes:core/v1:Service"
	typeConfigMap     = "kubernetes:core/v1:ConfigMap"
	typeSecret        = "kubernetes:core/v1:Secret"
	typePVC           = "kubernetes:core/v1:PersistentVolumeClaim"
	typeJob           = "kubernetes:batch/v1:Job"
	typeRole          = "kubernetes:rbac.authorization.k8s.io/v1:Role"
	typeNetworkPolicy = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
)

// fakeKubeResults answers the read of the benchmark's results ConfigMap
// the way the Job's publish container would have filled it: fakeRuns for
// the targets and concurrency levels the Job was given, under the Job's
// run name.
func fakeKubeResults(m **pulumitest.Mocks) pulumitest.OutputsFunc {
	return func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if args.ReadRPC == nil || args.Name != "benchmark-results-read" {
			return nil
		}
		job, _ := (*m).Get(typeJob, "benchmark-run")
		targets, _ := (*m).Get(typeConfigMap, "benchmark-targets")
		pod := podSpec(job)
		bench := stringsAt(pod, "initContainers", 0, "args")
		levels := []int{0}
		if i := slices.Index(bench, "--max-concurrency"); i >= 0 {
			levels = nil
			for _, f := range strings.Split(bench[i+1], ",") {
				var n int
				_ = json.Unmarshal([]byte(f), &n)
				levels = append(levels, n)
			}
		}
		run := ""
		for _, a := range stringsAt(pod, "containers", 0, "args") {
			if v, ok := strings.CutPrefix(a, kbench.RunKey+"="); ok {
				run = v
			}
		}
		if run == "" || run != job.String("metadata.name") {
			panic(fmt.Sprintf("the Job %q publishes as run %q", job.String("metadata.name"), run))
		}
		return resource.PropertyMap{"data": resource.NewProperty(resource.PropertyMap{
			kbench.ResultsKey: resource.NewProperty(fakeRuns(fmt.Sprint(at(targets.Plain("data"), kbench.TargetsFile)), levels)),
			kbench.RunKey:     resource.NewProperty(run),
		})}
	}
}

// podSpec is a Deployment's or Job's pod spec as plain data.
func podSpec(r pulumitest.Resource) map[string]any {
	spec, _ := r.Plain("spec").(map[string]any)
	tmpl, _ := spec["template"].(map[string]any)
	pod, _ := tmpl["spec"].(map[string]any)
	return pod
}

// at walks plain data by map keys and slice indices.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			s, _ := v.([]any)
			if k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

func stringsAt(v any, path ...any) []string {
	var out []string
	s, _ := at(v, path...).([]any)
	for _, e := range s {
		str, _ := e.(string)
		out = append(out, str)
	}
	return out
}

func number(v any) int {
	f, _ := v.(float64)
	return int(f)
}

// checkKubeStack checks a cluster stack's graph and compares its plan,
// gateway config, monitoring files and every Kubernetes object with their
// golden files.
func checkKubeStack(t *testing.T, stack string, run *stackRun) {
	t.Helper()
	checkKubeGraph(t, run)
	checkKubeEngineKeys(t, run)
	plan, err := run.mocks.Plan()
	if err != nil {
		t.Fatal(err)
	}
	pulumitest.Golden(t, filepath.Join("testdata", "plans", stack+".json"), plan, *update)
	for path, content := range kubeMonitoringFiles(t, run) {
		pulumitest.Golden(t, filepath.Join("testdata", "monitoring", stack, path), content, *update)
	}
	if run.lab.Config.GatewayEnabled() {
		pulumitest.Golden(t, filepath.Join("testdata", "gateway", stack+".json"), kubeGatewayConfig(t, run), *update)
	}
	kubeManifests(t, stack, run)
}

// kubeManifests writes (with -update) or compares every Kubernetes object
// of the stack as testdata/k8s/<stack>/<NN>-<kind>-<name>.json: what a
// real API server is given (contract C3, checked by a dry-run apply).
func kubeManifests(t *testing.T, stack string, run *stackRun) {
	t.Helper()
	objs, err := run.mocks.KubeObjects()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "k8s", stack)
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]bool{}
	for i, o := range objs {
		b, err := o.JSON()
		if err != nil {
			t.Fatal(err)
		}
		if o.Kind != "Secret" && strings.Contains(string(b), pulumitest.Redacted) {
			t.Errorf("%s %s holds a secret value; secrets belong in Secrets", o.Kind, o.Name)
		}
		if o.Kind != "Namespace" && o.Namespace != run.lab.Cluster.Namespace {
			t.Errorf("%s %s is in namespace %q, want %q", o.Kind, o.Name, o.Namespace, run.lab.Cluster.Namespace)
		}
		name := o.FileName(i)
		want[name] = true
		pulumitest.Golden(t, filepath.Join(dir, name), b, *update)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !want[d.Name()] {
			t.Errorf("stale manifest %s: no longer rendered (go test ./programs -update)", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkKubeGraph: providers, retained objects, one Deployment and Service
// per framework running the Docker target's container, the gateway, the
// monitoring's RBAC and the benchmark Job and its outputs.
func checkKubeGraph(t *testing.T, run *stackRun) {
	t.Helper()
	m, lab := run.mocks, run.lab
	c := lab.Cluster
	main, ok := m.Get(typeKubeProvider, c.Name+"-k8s")
	retained, ok2 := m.Get(typeKubeProvider, c.Name+"-k8s-retained")
	if !ok || !ok2 {
		t.Fatalf("cluster %s lacks its providers", c.Name)
	}
	if main.String("context") != c.Context || main.String("namespace") != c.Namespace || main.Plain("upsertExistingObjects") != nil {
		t.Errorf("main provider inputs %v", main.Inputs)
	}
	if retained.Plain("upsertExistingObjects") != true {
		t.Error("the retained provider does not adopt existing objects")
	}
	byProvider := func(r pulumitest.Resource, want string) {
		if r.ProviderName() != want {
			t.Errorf("%s %s: provider %q, want %q", r.Type, r.Name, r.ProviderName(), want)
		}
	}
	ns, ok := m.Get(typeNamespace, c.Name+"-namespace")
	if !ok || !ns.RetainOnDelete {
		t.Errorf("namespace missing or not retained")
	}
	byProvider(ns, c.Name+"-k8s-retained")
	for _, pvc := range m.ByType(typePVC) {
		byProvider(pvc, c.Name+"-k8s-retained")
		if !pvc.RetainOnDelete {
			t.Errorf("claim %s is deleted by destroy", pvc.Name)
		}
	}
	for _, typ := range []string{typeDeployment, typeService, typeConfigMap, typeSecret, typeJob, typeRole} {
		for _, r := range m.ByType(typ) {
			if !r.Read {
				byProvider(r, c.Name+"-k8s")
			}
		}
	}

	for _, in := range lab.Instances {
		name := in.Instance.Name
		d, ok := m.Get(typeDeployment, name+"-deployment")
		if !ok {
			t.Errorf("no Deployment for %s", name)
			continue
		}
		if d.ParentName() != name {
			t.Errorf("%s: parent %q", d.Name, d.ParentName())
		}
		spec := in.Instance
		spec.HasHFToken = true // secretConfig sets servelab:hfToken
		want, err := frameworkspec.BuildSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		pod := podSpec(d)
		if got := number(at(d.Plain("spec"), "replicas")); got != in.Kube.Replicas {
			t.Errorf("%s: %d replicas, want %d", name, got, in.Kube.Replicas)
		}
		if got := stringsAt(pod, "containers", 0, "args"); !slices.Equal(got, want.Command) {
			t.Errorf("%s: args %v, want the Docker target's %v", name, got, want.Command)
		}
		ready := stringsAt(pod, "containers", 0, "readinessProbe", "exec", "command")
		if !slices.Equal(append([]string{"CMD"}, ready...), want.Health) {
			t.Errorf("%s: readiness %v, want the healthcheck %v", name, ready, want.Health)
		}
		startup := at(pod, "containers", 0, "startupProbe").(map[string]any)
		window := time.Duration(number(startup["failureThreshold"])*number(startup["periodSeconds"])) * time.Second
		if window < want.WaitTimeout {
			t.Errorf("%s: startup window %s, want at least the Docker wait %s", name, window, want.WaitTimeout)
		}
		gpus := at(pod, "containers", 0, "resources", "limits", c.GPUResource)
		if in.Kube.GPUs > 0 && gpus != fmt.Sprint(in.Kube.GPUs) || in.Kube.GPUs == 0 && gpus != nil {
			t.Errorf("%s: %s limit %v, want %d", name, c.GPUResource, gpus, in.Kube.GPUs)
		}
		for k, v := range in.Kube.NodeSelector {
			if at(pod, "nodeSelector", k) != v {
				t.Errorf("%s: nodeSelector %v lacks %s=%s", name, pod["nodeSelector"], k, v)
			}
		}
		if pod["enableServiceLinks"] != false {
			t.Errorf("%s: service links on (a Service named vllm sets VLLM_PORT)", name)
		}
		b, _ := json.Marshal(d.Plain("spec"))
		for _, leak := range []string{"NVIDIA_VISIBLE_DEVICES", "hf_test_token"} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s: the Deployment holds %s", name, leak)
			}
		}
		if want.UploadHFToken && !strings.Contains(string(b), `{"secret":{"items":[{"key":"token","path":"hf_token"}],"name":"hf-token"}}`) {
			t.Errorf("%s: the HF token Secret is not mounted", name)
		}
		svc, ok := m.Get(typeService, name+"-service")
		if !ok || at(svc.Plain("spec"), "selector", kube.LabelName) != name || number(at(svc.Plain("spec"), "ports", 0, "port")) != in.PublishedPort {
			t.Errorf("%s: Service missing or wrong: %v", name, svc.Plain("spec"))
		}
	}

	if lab.Config.MonitoringEnabled() {
		role, ok := m.Get(typeRole, "monitoring-prometheus-role")
		if !ok || fmt.Sprint(role.Plain("rules")) != "[map[apiGroups:[] resources:[pods] verbs:[get list watch]]]" {
			t.Errorf("Prometheus's Role: %v", role.Plain("rules"))
		}
		monOut, _ := run.outputs["monitoring"].(map[string]any)
		if monOut["prometheusPassword"] == nil || lab.Config.GrafanaEnabled() && monOut["grafanaAdminPassword"] == nil {
			t.Errorf("monitoring outputs %v", monOut)
		}
	}

	if lab.Config.Benchmark.Enabled {
		job, ok := m.Get(typeJob, "benchmark-run")
		if !ok {
			t.Fatal("no benchmark Job")
		}
		for _, in := range lab.Instances {
			if !dependsOnName(job, in.Instance.Name+"-deployment") {
				t.Errorf("the benchmark does not wait for %s", in.Instance.Name)
			}
		}
		if lab.Config.GatewayEnabled() && !dependsOnName(job, "gateway-deployment") {
			t.Error("the benchmark does not wait for the gateway")
		}
		role, _ := m.Get(typeRole, "benchmark-role")
		if fmt.Sprint(role.Plain("rules")) != "[map[apiGroups:[] resourceNames:[benchmark-results] resources:[configmaps] verbs:[patch]]]" {
			t.Errorf("the benchmark's Role grants %v", role.Plain("rules"))
		}
		results, _ := run.outputs["benchmark"].(map[string]any)
		targets, _ := results["targets"].(map[string]any)
		for _, in := range lab.Instances {
			label := in.Instance.Name
			if lab.Config.Program == stackconfig.Serve {
				label = "gateway"
			}
			if _, ok := targets[label]; !ok {
				t.Errorf("benchmark outputs lack %s (have %v)", label, targets)
			}
			if _, ok := targets[in.Instance.Name+"-direct"]; lab.Config.Benchmark.Direct && !ok {
				t.Errorf("benchmark outputs lack %s-direct", in.Instance.Name)
			}
		}
	}
	frameworks, _ := run.outputs["frameworks"].(map[string]any)
	if len(frameworks) != len(lab.Instances) {
		t.Errorf("stack outputs describe %d frameworks, want %d", len(frameworks), len(lab.Instances))
	}
}

// kubeGatewayConfig is the gateway config in its ConfigMap, checked by the
// gateway's own parser: every framework a backend at its Service.
func kubeGatewayConfig(t *testing.T, run *stackRun) []byte {
	t.Helper()
	cm, ok := run.mocks.Get(typeConfigMap, "gateway-config")
	if !ok {
		t.Fatal("no gateway ConfigMap")
	}
	cfg, _ := at(cm.Plain("data"), "gateway.json").(string)
	parsed, err := gw.ParseConfig([]byte(cfg))
	if err != nil {
		t.Fatalf("the gateway rejects its rendered config: %v", err)
	}
	urls := map[string]string{}
	for _, mdl := range parsed.Models {
		for _, b := range mdl.Backends {
			urls[b.Name] = b.URL
		}
	}
	for _, in := range run.lab.Instances {
		if want := fmt.Sprintf("http://%s:%d", in.Instance.Name, in.PublishedPort); urls[in.Instance.Name] != want {
			t.Errorf("backend %s at %q, want its Service %s", in.Instance.Name, urls[in.Instance.Name], want)
		}
	}
	if !parsed.Auth.Enabled() {
		t.Error("gateway config has auth off")
	}
	key, ok := run.mocks.Get(typeSecret, "gateway-api-key-secret")
	if !ok || !secretAt(key, "stringData") {
		t.Errorf("the API key Secret is missing or its data not secret (secrets %v)", key.Secrets())
	}
	return []byte(cfg)
}

// kubeMonitoringFiles are the files of the Prometheus and Grafana
// ConfigMaps by container path, each loaded by its consumer's parser.
func kubeMonitoringFiles(t *testing.T, run *stackRun) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	roots := map[string]string{"monitoring-prometheus-config": "etc/prometheus/", "monitoring-grafana-config": "etc/grafana/"}
	for res, root := range roots {
		cm, ok := run.mocks.Get(typeConfigMap, res)
		if !ok {
			continue
		}
		data, _ := cm.Plain("data").(map[string]any)
		items := map[string]string{} // key -> path, from the Deployment's projected volume
		dep, _ := run.mocks.Get(typeDeployment, strings.TrimSuffix(res, "-config"))
		for _, src := range at(podSpec(dep), "volumes", 0, "projected", "sources").([]any) {
			for _, it := range stringsAtItems(src) {
				items[it[0]] = it[1]
			}
		}
		for key, v := range data {
			content := v.(string)
			p, ok := items[key]
			if !ok {
				t.Errorf("%s: key %s is not mounted", res, key)
				continue
			}
			file := root + p
			switch {
			case file == "etc/prometheus/prometheus.yml":
				if _, err := promconfig.Load(content, slog.New(slog.DiscardHandler)); err != nil {
					t.Errorf("prometheus.yml does not load: %v", err)
				}
			case strings.HasPrefix(file, "etc/prometheus/rules/"):
				if _, errs := rulefmt.Parse([]byte(content), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) > 0 {
					t.Errorf("%s: %v", file, errs)
				}
			case strings.HasSuffix(file, ".json") && !json.Valid([]byte(content)):
				t.Errorf("%s is not JSON", file)
			}
			out[file] = []byte(content)
		}
	}
	return out
}

// stringsAtItems lists the [key, path] items of a projected source.
func stringsAtItems(src any) [][2]string {
	var out [][2]string
	for _, kind := range []string{"configMap", "secret"} {
		list, _ := at(src, kind, "items").([]any)
		if kind == "secret" {
			continue // secret files are not golden
		}
		for _, it := range list {
			k, _ := at(it, "key").(string)
			p, _ := at(it, "path").(string)
			out = append(out, [2]string{k, p})
		}
	}
	return out
}

// TestKubeStackRefusesMixing: a stack with Docker hosts and a cluster gets
// one error naming both.
func TestKubeBadConfigAtPreview(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.k8s.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:kubeconfig"] = "apiVersion: v1\nkind: Config\n"
	err = pulumitest.New(nil).Run("servelab", "k8s", cfg, nil, programs.Run)
	if err == nil || !strings.Contains(err.Error(), "servelab:kubeconfig: is stored in plain text; set it with `pulumi config set --secret servelab:kubeconfig`") {
		t.Fatalf("a plain-text kubeconfig: err = %v", err)
	}
	if strings.Contains(err.Error(), "kind: Config") {
		t.Error("the error repeats the kubeconfig")
	}
}

// TestKubeServe: program serve in a cluster is one Deployment of the
// replicas behind the gateway, benchmarked through it.
func TestKubeServe(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:program"] = "serve"
	cfg["servelab:frameworks"] = `[{"name":"sim","engine":"sim","flavour":"vllm","model":"org/model-8b","replicas":3}]`
	cfg["servelab:benchmark"] = `{"enabled":true,"numPrompts":10,"maxConcurrency":[4]}`
	m, outputs := deployKind(t, cfg)
	if outputs["model"] != "org/model-8b" || fmt.Sprint(outputs["replicas"]) != "[sim]" {
		t.Errorf("outputs model %v replicas %v", outputs["model"], outputs["replicas"])
	}
	d, _ := m.Get(typeDeployment, "sim-deployment")
	if number(at(d.Plain("spec"), "replicas")) != 3 {
		t.Errorf("deployment spec %v", d.Plain("spec"))
	}
	cm, _ := m.Get(typeConfigMap, "gateway-config")
	cfgJSON, _ := at(cm.Plain("data"), "gateway.json").(string)
	if !strings.Contains(cfgJSON, `"name": "org/model-8b"`) || !strings.Contains(cfgJSON, `"url": "http://sim:8000"`) {
		t.Errorf("gateway config:\n%s", cfgJSON)
	}
	targets, _ := at(outputs, "benchmark", "targets").(map[string]any)
	if _, ok := targets["gateway"]; !ok || len(targets) != 1 {
		t.Errorf("benchmark targets %v, want only the gateway", targets)
	}
	if _, ok := m.Get(typeSecret, "kind-hf-token"); ok {
		t.Error("an HF token Secret without a token")
	}
}

// TestKubePrometheusOperator: with monitoring.prometheusOperator the stack
// deploys no Prometheus or Grafana but ServiceMonitors and a
// PrometheusRule for the cluster's operator.
func TestKubePrometheusOperator(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:monitoring"] = `{"prometheusOperator":{"labels":{"release":"kube-prometheus-stack"}}}`
	m, outputs := deployKind(t, cfg)
	if _, ok := m.Get(typeDeployment, "monitoring-prometheus"); ok {
		t.Error("Prometheus deployed next to the operator's")
	}
	if got := fmt.Sprint(at(outputs, "monitoring", "serviceMonitors")); got != "[gateway sim-vllm sim-sglang sim-llamacpp]" {
		t.Errorf("ServiceMonitors %s", got)
	}
	if len(m.ByType("kubernetes:monitoring.coreos.com/v1:PrometheusRule")) != 1 {
		t.Error("no PrometheusRule")
	}
	// The dashboards, for kube-prometheus-stack's Grafana by default: its
	// sidecar's label, its datasource.
	dash, ok := m.Get(typeConfigMap, "monitoring-dashboards")
	if !ok || dash.String("metadata.labels.grafana_dashboard") != "1" || at(outputs, "monitoring", "dashboards") != "servelab-dashboards" {
		t.Errorf("dashboards ConfigMap %v, outputs %v", dash.Plain("metadata"), outputs["monitoring"])
	}
	if b, _ := json.Marshal(dash.Plain("data")); !strings.Contains(string(b), `\"uid\": \"prometheus\"`) || strings.Contains(string(b), mon.DatasourceUID) {
		t.Error("the dashboards do not query the cluster Grafana's Prometheus datasource")
	}
}

// checkKubeEngineKeys is checkEngineKeys for a cluster: every engine that
// takes an API key runs with a generated one of its own, in its Secret,
// mounted as the Docker target's key file (0400; 0440 with the non-root
// sim's fsGroup) and named in its argv; the gateway's config points each
// such backend at a file mounted from that Secret; Prometheus scrapes a
// keyed /metrics with the key; direct bench targets send it, read from the
// benchmark's keys Secret, never from the Job; engines without keys are
// reachable only from the stack's pods.
func checkKubeEngineKeys(t *testing.T, run *stackRun) {
	t.Helper()
	m := run.mocks
	keys, _ := run.outputs["engineKeys"].(map[string]any)
	var gwCfg gw.Config
	gwPod := map[string]any{}
	if cm, ok := m.Get(typeConfigMap, "gateway-config"); ok {
		parsed, err := gw.ParseConfig([]byte(at(cm.Plain("data"), "gateway.json").(string)))
		if err != nil {
			t.Fatal(err)
		}
		gwCfg = parsed
		d, _ := m.Get(typeDeployment, "gateway-deployment")
		gwPod = podSpec(d)
	}
	backends := map[string]gw.Backend{}
	for _, mdl := range gwCfg.Models {
		for _, b := range mdl.Backends {
			backends[b.Name] = b
		}
	}
	promPod := map[string]any{}
	if d, ok := m.Get(typeDeployment, "monitoring-prometheus"); ok {
		promPod = podSpec(d)
	}
	promCfg := ""
	if cm, ok := m.Get(typeConfigMap, "monitoring-prometheus-config"); ok {
		promCfg, _ = at(cm.Plain("data"), "prometheus.yml").(string)
	}
	for _, in := range run.lab.Instances {
		name := in.Instance.Name
		api := engine.MustSpec(in.Instance.API())
		spec, err := frameworkspec.BuildSpec(in.Instance)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := m.Get(typeDeployment, name+"-deployment")
		pod := podSpec(d)
		_, generated := m.Get(typePassword, name+"-api-key")
		_, inOutputs := keys[name]
		if generated != api.Auth.Supported || inOutputs != api.Auth.Supported {
			t.Errorf("%s: generated key %v, in engineKeys %v; %s takes keys: %v", name, generated, inOutputs, api.Kind, api.Auth.Supported)
		}
		if inOutputs && !run.engineKeysSecret {
			t.Error("the engineKeys output is not secret")
		}
		_, restricted := m.Get(typeNetworkPolicy, name+"-ingress")
		if restricted == api.Auth.Supported {
			t.Errorf("%s: NetworkPolicy %v, but it takes keys: %v", name, restricted, api.Auth.Supported)
		}
		if !api.Auth.Supported {
			if b, ok := backends[name]; ok && b.APIKeyFile != "" {
				t.Errorf("%s: gateway sends a key to an engine without one", name)
			}
			continue
		}
		secret, ok := m.Get(typeSecret, name+"-api-key-secret")
		if !ok || secret.String("metadata.name") != kframework.KeySecret(name) || !secretAt(secret, "stringData") {
			t.Errorf("%s: key Secret missing, misnamed or not secret (secrets %v)", name, secret.Secrets())
		}
		if !slices.Contains(stringsAt(pod, "containers", 0, "args"), spec.APIKeyFile) {
			t.Errorf("%s: key file %s not in argv", name, spec.APIKeyFile)
		}
		mode := 0o400
		if in.Instance.Engine == engine.Sim {
			mode = 0o440 // non-root: group-readable by the fsGroup only
		}
		if !mountsSecretItem(pod, kframework.KeySecret(name), kframework.KeySecretFile, spec.APIKeyFile, mode) {
			t.Errorf("%s: its key Secret is not mounted at %s (mode %o): %v", name, spec.APIKeyFile, mode, pod["volumes"])
		}
		if len(d.Secrets()) > 0 {
			t.Errorf("%s: the Deployment holds secrets at %v", name, d.Secrets())
		}
		if len(gwCfg.Models) > 0 {
			b := backends[name]
			if b.APIKeyFile != gatewayconfig.BackendKeyFile(name) || !mountsSecretItem(gwPod, kframework.KeySecret(name), kframework.KeySecretKey, b.APIKeyFile, 0o440) {
				t.Errorf("%s: gateway backend %+v: key not mounted from its Secret", name, b)
			}
		}
		if promCfg != "" && api.HasMetrics() && api.Auth.Protects(api.MetricsPath) {
			file := mon.EngineKeyFile(name)
			if !strings.Contains(promCfg, "credentials_file: "+file) || !mountsSecretItem(promPod, kframework.KeySecret(name), kframework.KeySecretKey, file, 0o440) {
				t.Errorf("%s: Prometheus does not scrape its keyed /metrics with the key at %s", name, file)
			}
		}
	}
	if !run.lab.Config.Benchmark.Enabled {
		return
	}
	job, _ := m.Get(typeJob, "benchmark-run")
	if len(job.Secrets()) > 0 {
		t.Errorf("the benchmark Job holds secrets at %v", job.Secrets())
	}
	targets, _ := m.Get(typeConfigMap, "benchmark-targets")
	var doc struct {
		Targets []struct {
			Label     string `json:"label"`
			APIKeyEnv string `json:"api_key_env"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(at(targets.Plain("data"), kbench.TargetsFile).(string)), &doc); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{} // variable -> key in the keys Secret
	for _, e := range at(podSpec(job), "initContainers", 0, "env").([]any) {
		if at(e, "valueFrom", "secretKeyRef", "name") != kbench.KeysSecret {
			t.Errorf("bench variable %v is not read from %s", e, kbench.KeysSecret)
		}
		env[at(e, "name").(string)] = at(e, "valueFrom", "secretKeyRef", "key").(string)
	}
	keySecret, _ := m.Get(typeSecret, "benchmark-keys")
	stored, _ := keySecret.Plain("stringData").(map[string]any)
	if !secretAt(keySecret, "stringData") {
		t.Error("the benchmark's keys Secret is not secret")
	}
	for _, tg := range doc.Targets {
		fw := strings.TrimSuffix(tg.Label, "-direct")
		keyed := tg.Label == fw || engine.MustSpec(instanceAPI(run.lab, fw)).Auth.Supported
		if keyed != (tg.APIKeyEnv != "") {
			t.Errorf("bench target %s: key variable %q", tg.Label, tg.APIKeyEnv)
			continue
		}
		if tg.APIKeyEnv != "" {
			if _, ok := stored[env[tg.APIKeyEnv]]; !ok {
				t.Errorf("bench target %s: %s is not in the keys Secret (%v)", tg.Label, tg.APIKeyEnv, env)
			}
		}
	}
}

// instanceAPI is the API of framework instance name.
func instanceAPI(lab *stackconfig.Lab, name string) engine.Kind {
	for _, in := range lab.Instances {
		if in.Instance.Name == name {
			return in.Instance.API()
		}
	}
	return ""
}

// mountsSecretItem reports whether a pod mounts key of Secret secret as
// file, read-only, with mode.
func mountsSecretItem(pod map[string]any, secret, key, file string, mode int) bool {
	vols, _ := pod["volumes"].([]any)
	mounts, _ := at(pod, "containers", 0, "volumeMounts").([]any)
	for _, v := range vols {
		proj, _ := at(v, "projected").(map[string]any)
		if proj == nil {
			continue
		}
		for _, mt := range mounts {
			if at(mt, "name") != at(v, "name") || at(mt, "readOnly") != true {
				continue
			}
			dir, _ := at(mt, "mountPath").(string)
			srcs, _ := proj["sources"].([]any)
			for _, src := range srcs {
				if at(src, "secret", "name") != secret {
					continue
				}
				items, _ := at(src, "secret", "items").([]any)
				for _, it := range items {
					if at(it, "key") == key && dir+"/"+at(it, "path").(string) == file && number(proj["defaultMode"]) == mode {
						return true
					}
				}
			}
		}
	}
	return false
}

// TestKubeOperatorDashboardSettings: the sidecar's label and the
// datasource are the stack's to name; dashboards: false installs none.
func TestKubeOperatorDashboardSettings(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		monitoring, label, uid string
	}{
		{`{"prometheusOperator":{"dashboardLabels":{"grafana.io/dashboard":"servelab"},"datasourceUid":"mimir"}}`, "grafana.io/dashboard", "mimir"},
		{`{"prometheusOperator":{"dashboards":false}}`, "", ""},
	} {
		cfg["servelab:monitoring"] = c.monitoring
		m, _ := deployKind(t, cfg)
		dash, ok := m.Get(typeConfigMap, "monitoring-dashboards")
		if ok != (c.label != "") {
			t.Fatalf("%s: dashboards ConfigMap %v", c.monitoring, ok)
		}
		if !ok {
			continue
		}
		labels, _ := dash.Plain("metadata").(map[string]any)["labels"].(map[string]any)
		b, _ := json.Marshal(dash.Plain("data"))
		if labels[c.label] != "servelab" || labels["grafana_dashboard"] != nil || !strings.Contains(string(b), `\"uid\": \"`+c.uid+`\"`) {
			t.Errorf("%s: labels %v", c.monitoring, labels)
		}
	}
}

// The origin box (docs/kubernetes.md) in a cluster starts its engines in
// the Docker target's order (stackconfig's TestClusterOriginBox checks the
// fractions).
func TestClusterOriginBoxStartOrder(t *testing.T) {
	t.Parallel()
	lab := planStack(t, map[string]string{
		"servelab:program":  "compare",
		"servelab:clusters": `[{"name":"lab","context":"c","nodePools":[{"name":"rtx","gpus":{"model":"RTX 5090","memoryGiB":32},"nodes":1,"timeSlicing":4}]}]`,
		"servelab:frameworks": `[{"name":"vllm","engine":"vllm","nodePool":"rtx","node":"box1","model":"Qwen/Qwen2.5-3B-Instruct","image":"vllm/vllm-openai:v0.32.1","modelParamsB":3.09,"dtype":"bf16","kvCacheGiB":3},` +
			`{"name":"sglang","engine":"sglang","nodePool":"rtx","node":"box1","model":"Qwen/Qwen2.5-3B-Instruct","image":"lmsysorg/sglang:v0.5.21","modelParamsB":3.09,"dtype":"bf16","kvCacheGiB":3},` +
			`{"name":"ollama","engine":"ollama","nodePool":"rtx","node":"box1","model":"qwen2.5:3b","image":"ollama/ollama:0.32.2","gpuMemoryGiB":4}]`,
	})
	// The start order as on Docker: SGLang first, vLLM once SGLang is
	// ready, Ollama once vLLM is (its Deployment waits for theirs).
	var m *pulumitest.Mocks
	m = pulumitest.New(fakeKubeResults(&m))
	err := m.Run("servelab", "box", nil, nil, func(ctx *pulumi.Context) error {
		_, err := programs.Deploy(ctx, lab, programs.Secrets{}, programs.Options{ImageTag: "localhost/servelab:test"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, after string }{{"vllm", "sglang"}, {"ollama", "vllm"}} {
		d, _ := m.Get(typeDeployment, c.name+"-deployment")
		if !dependsOnName(d, c.after+"-deployment") {
			t.Errorf("%s does not wait for %s: %v", c.name, c.after, d.Dependencies)
		}
	}
	sg, _ := m.Get(typeDeployment, "sglang-deployment")
	if slices.ContainsFunc(sg.Dependencies, func(d string) bool { return strings.HasSuffix(d, "-deployment") }) {
		t.Errorf("sglang waits for %v; it starts first", sg.Dependencies)
	}

	// And when one is created again (its Deployment replaced, e.g. with a
	// new key), so are those started after it, as containers on Docker
	// (checkStartOrder): each Deployment is replaced with every Deployment
	// started before it, and with its own engine's key.
	for _, c := range []struct {
		name string
		want []string
	}{
		{"sglang", []string{"sglang-api-key"}},
		{"vllm", []string{"sglang-deployment", "vllm-api-key"}},
		{"ollama", []string{"sglang-deployment", "vllm-deployment"}}, // no key of its own
	} {
		d, _ := m.Get(typeDeployment, c.name+"-deployment")
		if got := d.ReplaceWithNames(); !slices.Equal(got, c.want) {
			t.Errorf("%s's Deployment is replaced with %v, want %v", c.name, got, c.want)
		}
	}
}

// TestClusterNeedsAContextOrKubeconfig: servelab never deploys to
// whatever cluster kubectl happens to point at.
func TestClusterNeedsAContextOrKubeconfig(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.kind.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:clusters"] = strings.Replace(cfg["servelab:clusters"], `"context":"kind-servelab",`, "", 1)
	m := pulumitest.New(nil)
	err = m.Run("servelab", "kind", cfg, nil, programs.Run)
	if err == nil || !strings.Contains(err.Error(), "servelab:clusters[0].context: set a kubeconfig context, or store a kubeconfig with `make secret STACK=kind KEY=kubeconfig < ~/.kube/config`") {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered", n)
	}
	// With the kubeconfig as a secret instead, the stack deploys and the
	// providers get it as a secret.
	cfg["servelab:kubeconfig"] = "apiVersion: v1\nkind: Config\n"
	m = pulumitest.New(fakeKubeResults(&m))
	if err := m.Run("servelab", "kind", cfg, []string{"servelab:kubeconfig"}, programs.RunWith(testPaths(t))); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.ByType(typeKubeProvider) {
		if !secretAt(p, "kubeconfig") {
			t.Errorf("provider %s: kubeconfig not secret (secrets %v)", p.Name, p.Secrets())
		}
	}
}

// deployKind deploys cfg, a kind stack's config, under the mocks with a
// cluster's answers faked, and returns the mocks and the stack's outputs.
func deployKind(t *testing.T, cfg map[string]string) (*pulumitest.Mocks, map[string]any) {
	t.Helper()
	var m *pulumitest.Mocks
	m = pulumitest.New(fakeKubeResults(&m))
	var outputs map[string]any
	err := m.Run("servelab", "kind", cfg, nil, func(ctx *pulumi.Context) error {
		lab, err := stackconfig.Validate(mustLoad(t, cfg))
		if err != nil {
			return err
		}
		out, err := programs.Deploy(ctx, lab, programs.Secrets{}, programs.Options{ImageTag: "servelab:test"})
		if err != nil {
			return err
		}
		outputs, err = awaitMap(out)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m, outputs
}
