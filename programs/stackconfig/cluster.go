package stackconfig

import (
	"encoding/json"

	"github.com/servelab/servelab/internal/kubetypes"
)

// Cluster is a Kubernetes cluster a stack deploys to instead of Docker
// hosts: every framework becomes a Deployment and a Service in Namespace,
// the gateway, monitoring and the benchmark run there too
// (docs/kubernetes.md). A stack has Docker hosts or one cluster, never both.
type Cluster struct {
	// Name is a DNS label; it is the "host" of the cluster's frameworks in
	// outputs and metric labels.
	Name string `json:"name"`
	// Context is the kubeconfig context to use: of the secret
	// servelab:kubeconfig when it is set, else of your own kubeconfig
	// ($KUBECONFIG or ~/.kube/config).
	Context string `json:"context,omitempty"`
	// Kubeconfig is refused: a kubeconfig holds credentials and belongs in
	// the secret servelab:kubeconfig, never in the stack file. The field
	// exists to say so instead of "unknown key".
	Kubeconfig json.RawMessage `json:"kubeconfig,omitempty"`
	// Namespace holds everything the stack creates (default "servelab").
	Namespace string `json:"namespace,omitempty"`
	// GPUResource is the extended resource GPU engines request (default
	// nvidia.com/gpu; nvidia.com/gpu.shared with time-slicing renamed,
	// nvidia.com/mig-<g>g.<m>gb for MIG slices).
	GPUResource string `json:"gpuResource,omitempty"`
	// RuntimeClassName is set on GPU engine pods when the cluster's NVIDIA
	// runtime is not the default one (e.g. "nvidia" with the GPU Operator
	// on some distributions).
	RuntimeClassName string `json:"runtimeClassName,omitempty"`
	// Image is the repository the servelab image is pushed to (or loaded
	// into kind as); the program adds the tag it computes from the sources
	// (default "servelab", pulled IfNotPresent: `kind load docker-image`).
	Image string `json:"image,omitempty"`
	// ModelCache sizes the PersistentVolumeClaims that hold model weights.
	ModelCache ModelCache `json:"modelCache"`
	// NodePools are the groups of identical nodes engines are placed on.
	NodePools []NodePool `json:"nodePools,omitempty"`
}

// ModelCache configures the model-cache claims (retained on destroy).
type ModelCache struct {
	// StorageClass is the claims' class; empty = the cluster's default.
	StorageClass string `json:"storageClass,omitempty"`
	// SizeGiB is each claim's size (default 100).
	SizeGiB int `json:"sizeGiB,omitempty"`
	// AccessMode is ReadWriteOnce (default: one claim per framework) or
	// ReadWriteMany (one Hugging Face cache shared by every vLLM and
	// SGLang framework, and replicas > 1 allowed).
	AccessMode string `json:"accessMode,omitempty"`
}

// NodePool is a group of identical nodes, selected by labels.
type NodePool struct {
	Name string `json:"name"`
	// NodeSelector selects the pool's nodes (e.g. the GPU product label of
	// NVIDIA's GPU feature discovery).
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let engines onto the pool's tainted nodes.
	Tolerations []Toleration `json:"tolerations,omitempty"`
	// GPUs are the GPUs of ONE node (count per node); absent = CPU nodes.
	GPUs *GPUGroup `json:"gpus,omitempty"`
	// Nodes is how many nodes the pool has; 0 = unknown (no total check).
	Nodes int `json:"nodes,omitempty"`
	// TimeSlicing is the replicas per GPU the NVIDIA device plugin's
	// time-slicing advertises (0 = off): engines pinned to one node then
	// share its GPU, each with the planner's memory fraction.
	TimeSlicing int `json:"timeSlicing,omitempty"`
}

// PrometheusOperator makes a cluster stack describe its scrape targets as
// ServiceMonitors and its recording rules and alerts as a PrometheusRule,
// for the cluster's Prometheus Operator, instead of deploying Prometheus
// and Grafana; its dashboards go to the cluster's Grafana as ConfigMaps
// its dashboard sidecar loads.
type PrometheusOperator struct {
	// Labels go on the ServiceMonitors and the PrometheusRule, so that the
	// operator's Prometheus selects them (kube-prometheus-stack: its
	// release label).
	Labels map[string]string `json:"labels,omitempty"`
	// Dashboards installs servelab's dashboards (default true): a
	// ConfigMap labelled DashboardLabels, querying the datasource
	// DatasourceUID.
	Dashboards *bool `json:"dashboards,omitempty"`
	// DashboardLabels select the ConfigMap for Grafana's dashboard
	// sidecar (default DefaultDashboardLabels, kube-prometheus-stack's).
	DashboardLabels map[string]string `json:"dashboardLabels,omitempty"`
	// DatasourceUID is the uid of the cluster Grafana's Prometheus
	// datasource (default DefaultDatasourceUID, kube-prometheus-stack's).
	DatasourceUID string `json:"datasourceUid,omitempty"`
}

// Defaults of monitoring.prometheusOperator: kube-prometheus-stack's
// Grafana sidecar label and Prometheus datasource uid.
var DefaultDashboardLabels = map[string]string{"grafana_dashboard": "1"}

const DefaultDatasourceUID = "prometheus"

// DashboardsEnabled reports whether the stack installs its dashboards in
// the cluster's Grafana.
func (p *PrometheusOperator) DashboardsEnabled() bool { return p.Dashboards == nil || *p.Dashboards }

// Toleration is a Kubernetes toleration.
type Toleration = kubetypes.Toleration

// Defaults of a cluster.
const (
	DefaultNamespace       = "servelab"
	DefaultGPUResource     = "nvidia.com/gpu"
	DefaultModelCacheGiB   = 100
	DefaultClusterImage    = "servelab"
	AccessReadWriteOnce    = "ReadWriteOnce"
	AccessReadWriteMany    = "ReadWriteMany"
	AccessReadWriteOncePod = "ReadWriteOncePod"
)

// ClusterStack reports whether the stack deploys to a Kubernetes cluster.
func (c *Config) ClusterStack() bool { return len(c.Clusters) > 0 }

// KubePlacement is where a framework's pods go in a cluster, as validated
// and planned.
type KubePlacement struct {
	Pool string
	// Node pins the pods to one node (kubernetes.io/hostname).
	Node string
	// NodeSelector and Tolerations merge the pool's, the framework's and
	// the node pin.
	NodeSelector map[string]string
	Tolerations  []Toleration
	// GPUs is the count of GPUResource each pod requests (time-sliced
	// pools: slices).
	GPUs int
	// Shared: the planner put this engine on a GPU with others
	// (time-slicing).
	Shared bool
	// Replicas of the Deployment.
	Replicas int
}
