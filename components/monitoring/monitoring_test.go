package monitoring_test

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/components/monitoring"
	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/pulumitest"
)

func probe(args pulumi.MockResourceArgs) resource.PropertyMap {
	if strings.HasSuffix(args.Name, "-probe") {
		return resource.PropertyMap{"stdout": resource.NewProperty("### servelab:gpus\n0, NVIDIA H100 80GB HBM3, 81559, 550.54.15\n### servelab:runtimes\n{\"nvidia\":{}}\n" + pulumitest.ProbeDocker)}
	}
	return nil
}

var lab = mon.Lab{
	Stack:   "test",
	Gateway: &mon.Target{Host: "a", Address: "gateway:9091"},
	Frameworks: []mon.Framework{
		{Name: "vllm", Engine: engine.VLLM, Host: "a", Address: "vllm:8000"},
		{Name: "remote", Engine: engine.SGLang, Host: "b", Address: "10.0.0.2:30000"},
	},
	Models: []string{"vllm", "remote"},
}

func TestNewMonitoring(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs
		wantErr string
		check   func(t *testing.T, m *pulumitest.Mocks)
	}{
		{name: "nil", args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs { return nil }, wantErr: "args are required"},
		{name: "empty", args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs { return &monitoring.MonitoringArgs{} }, wantErr: "host is required"},
		{name: "bad lab", args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs {
			bad := lab
			bad.Frameworks = append(slices.Clone(lab.Frameworks), lab.Frameworks[0])
			return &monitoring.MonitoringArgs{Host: a, Lab: bad}
		}, wantErr: `frameworks[2].name: duplicate "vllm"`},
		{
			name: "prometheus only, DCGM on both GPU hosts",
			args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs {
				return &monitoring.MonitoringArgs{Host: a, Lab: lab, DCGMHosts: []*gpuhost.GpuHost{a, b}}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				if _, ok := m.Get("docker:index/container:Container", "mon-grafana"); ok {
					t.Error("grafana created while disabled")
				}
				local, _ := m.Get("docker:index/container:Container", "mon-dcgm-a")
				remote, _ := m.Get("docker:index/container:Container", "mon-dcgm-b")
				if local.ProviderName() != "a-docker" || remote.ProviderName() != "b-docker" {
					t.Errorf("DCGM providers %q %q", local.ProviderName(), remote.ProviderName())
				}
				if local.Plain("ports") != nil {
					t.Error("the local exporter is published; Prometheus reaches it on the lab network")
				}
				// DCGM has no credentials: on another host it is published
				// on loopback only (for a tunnel) and not scraped.
				if p := remote.Plain("ports").([]any)[0].(map[string]any); p["ip"] != "127.0.0.1" || p["external"] != 9400.0 {
					t.Errorf("remote exporter ports %v, want 127.0.0.1:9400", p)
				}
				prom, _ := m.Get("docker:index/container:Container", "mon-prometheus")
				for _, u := range prom.Plain("uploads").([]any) {
					u := u.(map[string]any)
					if u["file"] != "/etc/prometheus/prometheus.yml" {
						continue
					}
					content := u["content"].(string)
					if strings.Contains(content, "dcgm-b") || strings.Contains(content, "9400") && !strings.Contains(content, "dcgm-exporter:9400") {
						t.Errorf("prometheus.yml scrapes the remote exporter it cannot reach:\n%s", content)
					}
					if !strings.Contains(content, "dcgm-exporter:9400") {
						t.Error("prometheus.yml does not scrape the local exporter")
					}
				}
			},
		},
		{
			name: "an engine key for a metrics path that needs one",
			args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs {
				return &monitoring.MonitoringArgs{Host: a, Lab: lab, EngineKeys: map[string]pulumi.StringInput{
					"llama": pulumi.ToSecret(pulumi.String("engine-key")).(pulumi.StringOutput),
				}}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				prom, _ := m.Get("docker:index/container:Container", "mon-prometheus")
				found := false
				for i, u := range prom.Plain("uploads").([]any) {
					u := u.(map[string]any)
					if u["file"] != mon.EngineKeyFile("llama") {
						continue
					}
					found = true
					if u["content"] != "engine-key\n" {
						t.Errorf("key file content %q", u["content"])
					}
					if !slices.Contains(prom.Secrets(), fmt.Sprintf("uploads[%d].content", i)) && !slices.Contains(prom.Secrets(), "uploads") {
						t.Errorf("the engine key upload is not secret: %v", prom.Secrets())
					}
				}
				if !found {
					t.Error("no engine key file in the Prometheus container")
				}
			},
		},
		{
			name: "with grafana",
			args: func(a, b *gpuhost.GpuHost) *monitoring.MonitoringArgs {
				return &monitoring.MonitoringArgs{Host: a, Lab: lab, GrafanaEnabled: true, PrometheusPort: 19090, GrafanaPort: 13000}
			},
			check: func(t *testing.T, m *pulumitest.Mocks) {
				g, ok := m.Get("docker:index/container:Container", "mon-grafana")
				if !ok {
					t.Fatal("no grafana")
				}
				if !slices.ContainsFunc(g.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::mon-prometheus-ready") }) {
					t.Error("grafana does not wait for prometheus to be ready")
				}
				if p := g.Plain("ports").([]any)[0].(map[string]any); p["external"] != 13000.0 || p["ip"] != "127.0.0.1" {
					t.Errorf("grafana ports %v", p)
				}
				admin, ok := m.Get("random:index/randomPassword:RandomPassword", "mon-grafana-admin-password")
				if !ok || admin.Plain("special") != false {
					t.Errorf("admin password %+v", admin)
				}
				for i, u := range g.Plain("uploads").([]any) {
					file := u.(map[string]any)["file"].(string)
					secret := slices.ContainsFunc(g.Secrets(), func(s string) bool {
						return s == "uploads" || strings.HasPrefix(s, "uploads["+strconv.Itoa(i)+"]")
					})
					if strings.HasPrefix(file, "/etc/grafana/secrets/") != secret {
						t.Errorf("grafana upload %s: secret = %v", file, secret)
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(probe)
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				gpus := []gpuhost.DeclaredGPU{{Model: "H100", MemoryGiB: 80, Count: 1}}
				a, err := gpuhost.NewGpuHost(ctx, "a", &gpuhost.GpuHostArgs{GPUs: gpus})
				if err != nil {
					return err
				}
				b, err := gpuhost.NewGpuHost(ctx, "b", &gpuhost.GpuHostArgs{GPUs: gpus, BindAddress: "10.0.0.2", Address: "10.0.0.2"})
				if err != nil {
					return err
				}
				_, err = monitoring.NewMonitoring(ctx, "mon", tt.args(a, b))
				return err
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			prom, ok := m.Get("docker:index/container:Container", "mon-prometheus")
			if !ok || prom.ProviderName() != "a-docker" || prom.ParentName() != "mon" {
				t.Fatalf("prometheus %+v", prom)
			}
			hc := prom.Strings("healthcheck.tests")
			if !slices.Equal(hc[:4], []string{"CMD", "promtool", "check", "healthy"}) {
				t.Errorf("healthcheck %v", hc)
			}
			if vol, ok := m.Get("docker:index/volume:Volume", "mon-prometheus-data"); !ok || !vol.RetainOnDelete {
				t.Error("prometheus data volume missing or not retained")
			}
			tt.check(t, m)
		})
	}
}
