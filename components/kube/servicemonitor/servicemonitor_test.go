package servicemonitor_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/components/kube/servicemonitor"
	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/pulumitest"
)

var lab = mon.Lab{
	Stack:   "s",
	Gateway: &mon.Target{Host: "c", Address: "gateway:9091"},
	Frameworks: []mon.Framework{
		{Name: "vllm", Engine: engine.VLLM, Host: "c"},
		{Name: "sim", Engine: engine.Sim, Flavour: engine.SGLang, Host: "c"},
		{Name: "ollama", Engine: engine.Ollama, Host: "c"},
		{Name: "llama", Engine: engine.LlamaCpp, Host: "c", CredentialsFile: mon.EngineKeyFile("llama")},
	},
	Models: []string{"m"},
}

func run(t *testing.T, args *servicemonitor.ServiceMonitorsArgs) (*pulumitest.Mocks, error) {
	t.Helper()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		c, err := cluster.NewCluster(ctx, "c", &cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: "servelab:x",
			ModelCache: cluster.ModelCache{SizeGiB: 10}})
		if err != nil {
			return err
		}
		if args != nil {
			a := *args
			a.Cluster = c
			args = &a
		}
		_, err = servicemonitor.NewServiceMonitors(ctx, "monitoring", args)
		return err
	})
	return m, err
}

func TestNewServiceMonitorsArgs(t *testing.T) {
	t.Parallel()
	_, err := run(t, nil)
	pulumitest.CheckErr(t, err, "args are required")
	_, err = run(t, &servicemonitor.ServiceMonitorsArgs{Lab: mon.Lab{Stack: "s"}})
	pulumitest.CheckErr(t, err, "at least one framework is required")
	err = pulumitest.New(nil).Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := servicemonitor.NewServiceMonitors(ctx, "m", &servicemonitor.ServiceMonitorsArgs{Lab: lab})
		return err
	})
	pulumitest.CheckErr(t, err, "cluster is required")
}

// TestServiceMonitors: one per scraped Service, relabelled to servelab's
// target labels, and one PrometheusRule whose groups are servelab's rule
// files, loadable by Prometheus's rule parser.
func TestServiceMonitors(t *testing.T) {
	t.Parallel()
	m, err := run(t, &servicemonitor.ServiceMonitorsArgs{Lab: lab, Labels: map[string]string{"release": "kube-prometheus-stack"}})
	if err != nil {
		t.Fatal(err)
	}
	monitors := m.ByType("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
	var names []string
	for _, sm := range monitors {
		names = append(names, sm.String("metadata.name"))
		if sm.String("metadata.labels.release") != "kube-prometheus-stack" {
			t.Errorf("%s: labels %v", sm.Name, sm.Plain("metadata.labels"))
		}
	}
	if strings.Join(names, ",") != "gateway,llama,sim,vllm" {
		t.Errorf("ServiceMonitors for %v, want the gateway and the engines with metrics", names)
	}
	sim, _ := m.Get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-sim")
	b, _ := json.Marshal(sim.Plain("spec"))
	for _, want := range []string{`"matchLabels":{"app.kubernetes.io/name":"sim"}`, `"port":"http"`, `"path":"/metrics"`, `"interval":"5s"`,
		`{"sourceLabels":["__meta_kubernetes_pod_node_name"],"targetLabel":"host"}`, `{"replacement":"sglang","targetLabel":"engine"}`,
		`{"replacement":"sim","targetLabel":"framework"}`, `{"replacement":"true","targetLabel":"sim"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("sim ServiceMonitor lacks %s: %s", want, b)
		}
	}
	if strings.Contains(string(b), "authorization") {
		t.Errorf("sim's open /metrics scraped with a key: %s", b)
	}
	// llama.cpp checks its key on /metrics: the operator reads it from the
	// engine's key Secret.
	llama, _ := m.Get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-llama")
	if b, _ := json.Marshal(llama.Plain("spec")); !strings.Contains(string(b), `"authorization":{"credentials":{"key":"key","name":"llama-api-key"},"type":"Bearer"}`) {
		t.Errorf("llama ServiceMonitor %s", b)
	}
	gw, _ := m.Get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-gateway")
	if b, _ := json.Marshal(gw.Plain("spec")); !strings.Contains(string(b), `"port":"metrics"`) {
		t.Errorf("gateway ServiceMonitor %s", b)
	}
	rule, ok := m.Get("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules")
	if !ok {
		t.Fatal("no PrometheusRule")
	}
	spec, _ := yaml.Marshal(rule.Plain("spec"))
	if _, errs := rulefmt.Parse(spec, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) > 0 {
		t.Fatalf("the PrometheusRule's groups do not load: %v\n%s", errs, spec)
	}
	for _, want := range []string{mon.AlertFrameworkDown, "servelab:engine_ttft_seconds:p99"} {
		if !strings.Contains(string(spec), want) {
			t.Errorf("PrometheusRule lacks %s", want)
		}
	}
}

// TestDashboards: with dashboard labels the dashboards go into one
// ConfigMap so labelled, querying the lab's datasource; without, none.
func TestDashboards(t *testing.T) {
	t.Parallel()
	l := lab
	l.DatasourceUID = "prometheus"
	m, err := run(t, &servicemonitor.ServiceMonitorsArgs{Lab: l, DashboardLabels: map[string]string{"grafana_dashboard": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := m.Get("kubernetes:core/v1:ConfigMap", "monitoring-dashboards")
	if !ok {
		t.Fatal("no dashboards ConfigMap")
	}
	if cm.String("metadata.name") != servicemonitor.DashboardsConfigMap || cm.String("metadata.labels.grafana_dashboard") != "1" {
		t.Errorf("ConfigMap %s labels %v", cm.String("metadata.name"), cm.Plain("metadata.labels"))
	}
	data, _ := cm.Plain("data").(map[string]any)
	l.Kubernetes = &mon.KubernetesSD{Namespace: "lab", PodLabel: "servelab.dev/framework", PortName: "http"} // as the component sets it
	want, err := mon.Dashboards(l)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != len(want) {
		t.Errorf("ConfigMap holds %d dashboards, want %d", len(data), len(want))
	}
	for file, content := range want {
		if data[file] != string(content) {
			t.Errorf("%s is not the lab's dashboard", file)
		}
		if !strings.Contains(string(content), `"uid": "prometheus"`) || strings.Contains(string(content), mon.DatasourceUID) {
			t.Errorf("%s does not query the cluster Grafana's datasource", file)
		}
	}
	m, err = run(t, &servicemonitor.ServiceMonitorsArgs{Lab: lab})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("kubernetes:core/v1:ConfigMap", "monitoring-dashboards"); ok {
		t.Error("dashboards without dashboard labels")
	}
}
