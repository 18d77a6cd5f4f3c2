package monitoring_test

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	promconfig "github.com/prometheus/prometheus/config"
	_ "github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/kube/cluster"
	kmonitoring "github.com/servelab/servelab/components/kube/monitoring"
	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/pulumitest"
)

var lab = mon.Lab{
	Stack:   "s",
	Gateway: &mon.Target{Host: "c", Address: "gateway:9091"},
	Frameworks: []mon.Framework{
		{Name: "vllm", Engine: engine.VLLM, Host: "c"},
		{Name: "ollama", Engine: engine.Ollama, Host: "c"},
		{Name: "llama", Engine: engine.LlamaCpp, Host: "c", CredentialsFile: mon.EngineKeyFile("llama")},
	},
	Models: []string{"m"},
}

func run(t *testing.T, args func(*cluster.Cluster) *kmonitoring.MonitoringArgs) (*pulumitest.Mocks, error) {
	t.Helper()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		c, err := cluster.NewCluster(ctx, "c", &cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: "servelab:x",
			ModelCache: cluster.ModelCache{SizeGiB: 10, StorageClass: "fast"}})
		if err != nil {
			return err
		}
		_, err = kmonitoring.NewMonitoring(ctx, "monitoring", args(c))
		return err
	})
	return m, err
}

func TestNewMonitoringArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args func(*cluster.Cluster) *kmonitoring.MonitoringArgs
		want string
	}{
		{"nil", func(*cluster.Cluster) *kmonitoring.MonitoringArgs { return nil }, "args are required"},
		{"no cluster", func(*cluster.Cluster) *kmonitoring.MonitoringArgs { return &kmonitoring.MonitoringArgs{Lab: lab} }, "cluster is required"},
		{"bad port", func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
			return &kmonitoring.MonitoringArgs{Cluster: c, Lab: lab, GrafanaPort: 70000}
		}, "port 70000 out of range"},
		{"invalid lab", func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
			return &kmonitoring.MonitoringArgs{Cluster: c, Lab: mon.Lab{Stack: "s"}}
		}, "frameworks: at least one framework is required"},
		{"credentials outside the config volume", func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
			l := lab
			l.Frameworks = []mon.Framework{{Name: "llama", Engine: engine.LlamaCpp, Host: "c", CredentialsFile: "/run/llama"}}
			return &kmonitoring.MonitoringArgs{Cluster: c, Lab: l}
		}, "llama's credentials file /run/llama is not under /etc/prometheus"},
		{"valid", func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
			return &kmonitoring.MonitoringArgs{Cluster: c, Lab: lab}
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t, tt.args)
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
}

// TestMonitoring: Prometheus discovers the framework pods with a
// ServiceAccount that may only read pods; passwords are in Secrets only;
// both data claims are retained; without Grafana there is none.
func TestMonitoring(t *testing.T) {
	t.Parallel()
	m, err := run(t, func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
		return &kmonitoring.MonitoringArgs{Cluster: c, Lab: lab, GrafanaEnabled: true, PrometheusPort: 9095}
	})
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := m.Get("kubernetes:core/v1:ConfigMap", "monitoring-prometheus-config")
	data := cm.Plain("data").(map[string]any)
	cfg, err := promconfig.Load(data["prometheus.yml"].(string), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	var jobs []string
	for _, sc := range cfg.ScrapeConfigs {
		jobs = append(jobs, sc.JobName)
	}
	if strings.Join(jobs, ",") != "gateway,framework-vllm,framework-llama" {
		t.Errorf("jobs %v", jobs)
	}
	if !strings.Contains(data["prometheus.yml"].(string), "label: servelab.dev/framework=vllm") {
		t.Errorf("vllm's pods are not selected by their label:\n%s", data["prometheus.yml"])
	}
	// llama.cpp checks its key on /metrics: Prometheus sends it from the
	// file its engine's key Secret is mounted at.
	if a := cfg.ScrapeConfigs[2].HTTPClientConfig.Authorization; a == nil || a.Type != "Bearer" || a.CredentialsFile != "/etc/prometheus/secrets/engine-keys/llama" {
		t.Errorf("llama's scrape authorization %+v", a)
	}
	prom, _ := m.Get("kubernetes:apps/v1:Deployment", "monitoring-prometheus")
	if pb, _ := json.Marshal(prom.Plain("spec")); !strings.Contains(string(pb), `{"secret":{"items":[{"key":"key","path":"secrets/engine-keys/llama"}],"name":"llama-api-key"}}`) {
		t.Errorf("llama's key is not mounted for Prometheus: %s", pb)
	}
	for _, k := range []string{"rules_alerts.yml", "rules_recording.yml", "healthcheck-http.yml"} {
		if data[k] == nil {
			t.Errorf("ConfigMap lacks %s (has %v)", k, data)
		}
	}
	role, _ := m.Get("kubernetes:rbac.authorization.k8s.io/v1:Role", "monitoring-prometheus-role")
	if b, _ := json.Marshal(role.Plain("rules")); string(b) != `[{"apiGroups":[""],"resources":["pods"],"verbs":["get","list","watch"]}]` {
		t.Errorf("Prometheus may %s", b)
	}
	grafana, _ := m.Get("kubernetes:core/v1:ConfigMap", "monitoring-grafana-config")
	gdata, _ := json.Marshal(grafana.Plain("data"))
	if !strings.Contains(string(gdata), "http://prometheus:9095") || !strings.Contains(string(gdata), "$__file{/etc/grafana/secrets/prometheus-password}") {
		t.Errorf("grafana datasource: %s", gdata)
	}
	for _, c := range []pulumitest.Resource{cm, grafana} {
		b, _ := json.Marshal(c.Plain("data"))
		if strings.Contains(string(b), "-password-password") || len(c.Secrets()) > 0 {
			t.Errorf("%s holds a password", c.Name)
		}
	}
	for _, s := range []string{"monitoring-prometheus-auth", "monitoring-grafana-secrets"} {
		if r, ok := m.Get("kubernetes:core/v1:Secret", s); !ok || len(r.Secrets()) == 0 {
			t.Errorf("%s missing or not secret", s)
		}
	}
	for _, c := range []string{"monitoring-prometheus-data", "monitoring-grafana-data"} {
		pvc, ok := m.Get("kubernetes:core/v1:PersistentVolumeClaim", c)
		if !ok || !pvc.RetainOnDelete || pvc.String("spec.storageClassName") != "fast" {
			t.Errorf("claim %s: %+v", c, pvc)
		}
	}
	d, _ := m.Get("kubernetes:apps/v1:Deployment", "monitoring-grafana")
	b, _ := json.Marshal(d.Plain("spec"))
	for _, want := range []string{`"mountPath":"/etc/grafana/provisioning/datasources/servelab.yml","name":"config","readOnly":true,"subPath":"provisioning/datasources/servelab.yml"`,
		`"mountPath":"/etc/grafana/secrets/admin-password"`, `"GF_SECURITY_ADMIN_PASSWORD__FILE"`, `"fsGroup":472`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("grafana lacks %s: %s", want, b)
		}
	}

	m, err = run(t, func(c *cluster.Cluster) *kmonitoring.MonitoringArgs {
		return &kmonitoring.MonitoringArgs{Cluster: c, Lab: lab}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Get("kubernetes:apps/v1:Deployment", "monitoring-grafana"); ok {
		t.Error("Grafana deployed though disabled")
	}
}
