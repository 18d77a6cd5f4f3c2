package monitoring_test

import (
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/kubernetes"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// TestKubernetesDiscovery loads a cluster lab's prometheus.yml with
// Prometheus's loader and Kubernetes discovery plugin, and runs each
// framework job's relabelling (Prometheus's own relabel.Process) over the
// labels discovery gives a pod: the metrics port of a running pod becomes a
// target labelled like a static one, with host = the pod's node; other
// ports and finished pods are dropped.
func TestKubernetesDiscovery(t *testing.T) {
	t.Parallel()
	sd := monitoring.KubernetesSD{Namespace: "lab", PodLabel: "servelab.dev/framework", PortName: "http"}
	lab := monitoring.Lab{
		Stack:   "k8s",
		Gateway: &monitoring.Target{Host: "c1", Address: "gateway:9091"},
		Frameworks: []monitoring.Framework{
			{Name: "vllm", Engine: engine.VLLM, Host: "c1"},
			{Name: "sim-sglang", Engine: engine.Sim, Flavour: engine.SGLang, Host: "c1"},
			{Name: "ollama", Engine: engine.Ollama, Host: "c1"},
		},
		Kubernetes: &sd,
	}
	cfg := loadConfig(t, lab)
	jobs := map[string]bool{}
	for _, sc := range cfg.ScrapeConfigs {
		jobs[sc.JobName] = true
		if sc.JobName == monitoring.GatewayJob {
			continue
		}
		if len(sc.ServiceDiscoveryConfigs) != 1 {
			t.Fatalf("%s: %d discovery configs, want one", sc.JobName, len(sc.ServiceDiscoveryConfigs))
		}
		k, ok := sc.ServiceDiscoveryConfigs[0].(*kubernetes.SDConfig)
		if !ok {
			t.Fatalf("%s: discovery %T, want kubernetes", sc.JobName, sc.ServiceDiscoveryConfigs[0])
		}
		name := sc.JobName[len("framework-"):]
		if k.Role != kubernetes.RolePod || len(k.NamespaceDiscovery.Names) != 1 || k.NamespaceDiscovery.Names[0] != "lab" ||
			len(k.Selectors) != 1 || k.Selectors[0].Label != "servelab.dev/framework="+name {
			t.Errorf("%s: discovery %+v", sc.JobName, k)
		}
		pod := func(port, phase string) labels.Labels {
			return labels.FromMap(map[string]string{
				model.AddressLabel: "10.1.2.3:8000", model.JobLabel: sc.JobName,
				"__meta_kubernetes_pod_container_port_name": port,
				"__meta_kubernetes_pod_phase":               phase,
				"__meta_kubernetes_pod_node_name":           "gpu-node-7",
				"__meta_kubernetes_pod_name":                name + "-5d9c7-abcde",
			})
		}
		process := func(l labels.Labels) (labels.Labels, bool) {
			b := labels.NewBuilder(l)
			keep := relabel.ProcessBuilder(b, sc.RelabelConfigs...)
			return b.Labels(), keep
		}
		got, keep := process(pod("http", "Running"))
		if !keep {
			t.Fatalf("%s: the running pod's metrics port was dropped", sc.JobName)
		}
		want := map[string]string{"framework": name, "host": "gpu-node-7", "pod": name + "-5d9c7-abcde", "engine": "vllm"}
		if name == "sim-sglang" {
			want["engine"], want["sim"] = "sglang", "true"
		}
		for k, v := range want {
			if got.Get(k) != v {
				t.Errorf("%s: label %s = %q, want %q (labels %s)", sc.JobName, k, got.Get(k), v, got)
			}
		}
		if _, keep := process(pod("grpc", "Running")); keep {
			t.Errorf("%s: a port other than http is scraped", sc.JobName)
		}
		if _, keep := process(pod("http", "Succeeded")); keep {
			t.Errorf("%s: a finished pod is scraped", sc.JobName)
		}
	}
	for _, want := range []string{"gateway", "framework-vllm", "framework-sim-sglang"} {
		if !jobs[want] {
			t.Errorf("no job %s (jobs %v)", want, jobs)
		}
	}
	if jobs["framework-ollama"] {
		t.Error("Ollama has no /metrics but is scraped")
	}
}

func TestKubernetesSDIsValidated(t *testing.T) {
	t.Parallel()
	lab := monitoring.Lab{
		Stack:      "k8s",
		Frameworks: []monitoring.Framework{{Name: "vllm", Engine: engine.VLLM, Host: "c1"}},
		Kubernetes: &monitoring.KubernetesSD{Namespace: "Not_A_Namespace", PodLabel: "bad label", PortName: "http-metrics-port-too-long"},
	}
	_, err := monitoring.PrometheusConfig(lab)
	for _, want := range []string{"kubernetes.namespace", "kubernetes.podLabel", "kubernetes.portName"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want one naming %s", err, want)
		}
	}
	lab.Kubernetes = nil
	if _, err := monitoring.PrometheusConfig(lab); err == nil || !strings.Contains(err.Error(), "frameworks[0].address") {
		t.Errorf("without discovery a framework needs its address: err = %v", err)
	}
}
