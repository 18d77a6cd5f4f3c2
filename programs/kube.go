package programs

import (
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	kbench "github.com/servelab/servelab/components/kube/benchmark"
	kcluster "github.com/servelab/servelab/components/kube/cluster"
	kframework "github.com/servelab/servelab/components/kube/framework"
	kgateway "github.com/servelab/servelab/components/kube/gateway"
	kmonitoring "github.com/servelab/servelab/components/kube/monitoring"
	kservicemonitor "github.com/servelab/servelab/components/kube/servicemonitor"
	"github.com/servelab/servelab/internal/engine"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/programs/stackconfig"
)

// kubeDeployment deploys a cluster stack: the same programs (compare,
// serve), the same planner, gateway config, monitoring files and
// benchmark as on Docker hosts, as Kubernetes objects (docs/kubernetes.md).
type kubeDeployment struct {
	*deployment

	cluster    *kcluster.Cluster
	frameworks []*kframework.Framework
	gateway    *kgateway.Gateway
}

// deployCluster is Deploy for a stack with a cluster.
func (d *deployment) deployCluster() (pulumi.Map, error) {
	k := &kubeDeployment{deployment: d}
	if err := k.deployClusterComponent(); err != nil {
		return nil, err
	}
	if err := k.deployFrameworks(); err != nil {
		return nil, err
	}
	cfg := d.lab.Config
	out := pulumi.Map{
		"program":    pulumi.String(string(cfg.Program)),
		"cluster":    k.clusterOutputs(),
		"frameworks": k.frameworkOutputs(),
		"engineKeys": k.engineKeyOutputs(),
	}
	if cfg.Program == stackconfig.Serve {
		out["model"] = pulumi.String(d.lab.Instances[0].PublicModel)
		names := pulumi.StringArray{}
		for _, in := range d.lab.Instances {
			names = append(names, pulumi.String(in.Instance.Name))
		}
		out["replicas"] = names
	}
	if cfg.GatewayEnabled() {
		if err := k.deployGateway(out); err != nil {
			return nil, err
		}
	}
	if cfg.MonitoringEnabled() {
		if err := k.deployMonitoring(out); err != nil {
			return nil, err
		}
	}
	if cfg.Benchmark.Enabled {
		if err := k.deployBenchmark(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ClusterImage is the servelab image in a cluster: the cluster's
// repository with the tag the program builds (ImageTag's).
func ClusterImage(repository, imageTag string) string {
	return repository + ":" + imageTag[strings.LastIndex(imageTag, ":")+1:]
}

func (k *kubeDeployment) deployClusterComponent() error {
	c := k.lab.Cluster
	mc := c.ModelCache
	cl, err := kcluster.NewCluster(k.ctx, c.Name, &kcluster.ClusterArgs{
		Stack: k.ctx.Stack(), Context: c.Context, Kubeconfig: k.secrets.Kubeconfig, Namespace: c.Namespace,
		GPUResource: c.GPUResource, RuntimeClassName: c.RuntimeClassName,
		Image:      ClusterImage(c.Image, k.opts.ImageTag),
		ModelCache: kcluster.ModelCache{StorageClass: mc.StorageClass, SizeGiB: mc.SizeGiB, AccessMode: mc.AccessMode},
		HFToken:    k.secrets.HFToken,
	})
	k.cluster = cl
	return err
}

// deployFrameworks creates one Deployment (of its replicas) per framework,
// each after the ones the planner starts before it on a shared GPU and
// replaced with their Deployments.
func (k *kubeDeployment) deployFrameworks() error {
	fs, err := inStartOrder(k.lab.Instances, k.deployFramework, (*kframework.Framework).Waits, (*kframework.Framework).Deployments)
	k.frameworks = fs
	return err
}

// deployFramework creates framework in, after the resources after and
// replaced with replaceWith.
func (k *kubeDeployment) deployFramework(in stackconfig.InstancePlan, after, replaceWith []pulumi.Resource) (*kframework.Framework, error) {
	image := in.Framework.Image
	if in.Instance.Engine == engine.Sim {
		image = k.cluster.Image
	}
	return kframework.NewFramework(k.ctx, in.Instance.Name, &kframework.FrameworkArgs{
		Cluster: k.cluster, Instance: in.Instance, Image: image,
		Replicas: in.Kube.Replicas, ServicePort: in.PublishedPort, GPUs: in.Kube.GPUs,
		NodeSelector: in.Kube.NodeSelector, Tolerations: in.Kube.Tolerations, After: after, ReplaceWith: replaceWith,
	})
}

// engineKeyOutputs are the keyed engines' own API keys (secrets), as on
// Docker hosts.
func (k *kubeDeployment) engineKeyOutputs() pulumi.Map {
	out := pulumi.Map{}
	for _, f := range k.frameworks {
		if f.HasAPIKey {
			out[f.Name] = f.APIKey
		}
	}
	return out
}

func (k *kubeDeployment) clusterOutputs() pulumi.Map {
	c := k.lab.Cluster
	return pulumi.Map{
		"name":        pulumi.String(c.Name),
		"namespace":   k.cluster.NamespaceName,
		"context":     pulumi.String(c.Context),
		"gpuResource": pulumi.String(c.GPUResource),
		"image":       pulumi.String(k.cluster.Image),
	}
}

func (k *kubeDeployment) frameworkOutputs() pulumi.Map {
	out := pulumi.Map{}
	for i, f := range k.frameworks {
		in := k.lab.Instances[i]
		out[in.Instance.Name] = pulumi.Map{
			"engine":          f.EngineKind,
			"api":             pulumi.String(string(f.API)),
			"host":            pulumi.String(in.Host),
			"nodePool":        pulumi.String(in.Kube.Pool),
			"node":            pulumi.String(in.Kube.Node),
			"replicas":        pulumi.Int(in.Kube.Replicas),
			"model":           pulumi.String(in.Instance.Model),
			"publicModel":     pulumi.String(in.PublicModel),
			"servedModelName": f.ServedModelName,
			"internalUrl":     f.InternalURL,
			"serviceUrl":      f.ServiceURL,
			"metricsPath":     f.MetricsPath,
			"gpus":            pulumi.Int(in.Kube.GPUs),
			"sharedGpu":       pulumi.Bool(in.Kube.Shared),
			"memoryFraction":  pulumi.Float64(in.Instance.MemoryFraction),
			"demandGiB":       pulumi.Float64(in.Instance.DemandGiB),
		}
	}
	return out
}

func (k *kubeDeployment) deployGateway(out pulumi.Map) error {
	g := k.lab.Config.Gateway
	var backends []kgateway.Backend
	models := pulumi.StringArray{}
	seen := map[string]bool{}
	for i, f := range k.frameworks {
		in := k.lab.Instances[i]
		backends = append(backends, kgateway.Backend{Framework: f, PublicModel: in.PublicModel, Weight: g.Weights[in.Framework.Name]})
		if !seen[in.PublicModel] {
			seen[in.PublicModel] = true
			models = append(models, pulumi.String(in.PublicModel))
		}
	}
	gwy, err := kgateway.NewGateway(k.ctx, "gateway", &kgateway.GatewayArgs{
		Cluster: k.cluster, Port: g.Port, Backends: backends, Settings: stackconfig.GatewaySettings(g),
	})
	if err != nil {
		return err
	}
	k.gateway = gwy
	out["gateway"] = pulumi.Map{
		"url":        gwy.URL,
		"serviceUrl": gwy.ServiceURL,
		"apiKey":     gwy.APIKey,
		"models":     models,
	}
	return nil
}

func (k *kubeDeployment) deployMonitoring(out pulumi.Map) error {
	cfg := k.lab.Config
	m := cfg.Monitoring
	var gatewayAddr string
	if k.gateway != nil {
		gatewayAddr = kgateway.MetricsAddress()
	}
	// Prometheus finds the pods through the Kubernetes API (the
	// components set the discovery), not at an address.
	lab := stackconfig.MonitoringLab(k.ctx.Stack(), k.lab, gatewayAddr, func(int) string { return "" }, func(i int) string {
		if f := k.frameworks[i]; f.HasAPIKey {
			return mon.EngineKeyFile(f.Name)
		}
		return ""
	})
	var after []pulumi.Resource
	for _, f := range k.frameworks {
		after = append(after, f.Waits()...)
	}
	if k.gateway != nil {
		after = append(after, k.gateway.Waits()...)
	}
	if po := m.PrometheusOperator; po != nil {
		sa := &kservicemonitor.ServiceMonitorsArgs{Cluster: k.cluster, Lab: lab, Labels: po.Labels}
		if po.DashboardsEnabled() {
			sa.DashboardLabels = po.DashboardLabels
			sa.Lab.DatasourceUID = po.DatasourceUID
		}
		sm, err := kservicemonitor.NewServiceMonitors(k.ctx, "monitoring", sa)
		if err != nil {
			return err
		}
		monOut := pulumi.Map{
			"serviceMonitors": pulumi.ToStringArray(sm.Names),
			"prometheusRule":  pulumi.String(sm.Rule),
		}
		if sm.Dashboards != "" {
			monOut["dashboards"] = pulumi.String(sm.Dashboards)
		}
		out["monitoring"] = monOut
		return nil
	}
	args := &kmonitoring.MonitoringArgs{
		Cluster: k.cluster, Lab: lab, PrometheusPort: m.Prometheus.Port, GrafanaPort: m.Grafana.Port,
		GrafanaEnabled: cfg.GrafanaEnabled(), PrometheusImage: m.Prometheus.Image, GrafanaImage: m.Grafana.Image,
		After: after,
	}
	if r, err := model.ParseDuration(m.Prometheus.Retention); err == nil {
		args.Retention = time.Duration(r)
	}
	mo, err := kmonitoring.NewMonitoring(k.ctx, "monitoring", args)
	if err != nil {
		return err
	}
	out["monitoring"] = mo.Outputs(cfg.GrafanaEnabled())
	return nil
}

// deployBenchmark runs the bench as a Job: the Docker target's targets
// (servingTargets), reached by Service name inside the namespace.
func (k *kubeDeployment) deployBenchmark(out pulumi.Map) error {
	args, err := k.benchmarkArgs()
	if err != nil {
		return err
	}
	k.servingTargets(args, k.served())
	b, err := kbench.NewBenchmark(k.ctx, "benchmark", &kbench.BenchmarkArgs{Cluster: k.cluster, Run: *args})
	if err != nil {
		return err
	}
	out["benchmark"] = b.Results
	return nil
}

// served describes the cluster's lab for the bench, which runs in the
// namespace.
func (k *kubeDeployment) served() servedLab {
	var s servedLab
	for i, f := range k.frameworks {
		sf := servedFramework{
			name: f.Name, directURL: f.InternalBaseURL(), spec: k.engineSpec(i), waits: f.Waits(),
		}
		if f.HasAPIKey {
			sf.key = f.APIKey
		}
		s.frameworks = append(s.frameworks, sf)
	}
	if k.gateway != nil {
		s.gateway = &servedGateway{url: k.gateway.InternalBaseURL(), key: k.gateway.APIKey, waits: k.gateway.Waits(), spec: k.gatewaySpec}
	}
	return s
}

// engineSpec is framework i's spec: the Docker target's, with where its
// pods run. The kubelet resolves the image, so no digest is known.
func (k *kubeDeployment) engineSpec(i int) pulumi.StringOutput {
	f, in := k.frameworks[i], k.lab.Instances[i]
	s := specDoc(in, f.Spec.Command, f.Spec.Env, f.Spec.IPCHost, in.Kube.Replicas)
	s.Image = f.Image
	s.GPUResource, s.GPUs, s.SharedGPU = k.cluster.GPUResource, in.Kube.GPUs, in.Kube.Shared
	if in.Kube.GPUs > 0 {
		s.RuntimeClass = k.cluster.RuntimeClassName
	}
	s.NodeSelector, s.Tolerations = in.Kube.NodeSelector, in.Kube.Tolerations
	return s.render(nil)
}

// gatewaySpec is the spec of a target through the gateway to frameworks
// idx.
func (k *kubeDeployment) gatewaySpec(idx ...int) pulumi.StringOutput {
	engines := make([]pulumi.StringOutput, len(idx))
	for j, i := range idx {
		engines[j] = k.engineSpec(i)
	}
	return gatewaySpec(k.gateway.Config, pulumi.String(k.cluster.Image), engines)
}
