package stackconfig

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/planner"
)

// RunOnCluster runs the benchmark as a Job in the stack's cluster.
const RunOnCluster = "cluster"

var (
	// rfc1123Label is a Kubernetes namespace (and most object names).
	rfc1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	// rfc1123Subdomain is a node name, a storage or runtime class.
	rfc1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	// labelName is the name part of a label key, and a label value.
	labelName = regexp.MustCompile(`^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`)
	// migResource is a MIG slice resource of NVIDIA's device plugin
	// (mixed strategy), e.g. nvidia.com/mig-1g.10gb.
	migResource = regexp.MustCompile(`^nvidia\.com/mig-[1-7]g\.[0-9]+gb$`)
)

// gpuResources are the GPU resource names the NVIDIA device plugin
// advertises (time-slicing with renameByDefault gives the .shared one).
var gpuResources = []string{DefaultGPUResource, "nvidia.com/gpu.shared"}

// clusterList checks clusters[] and keeps the stack's one valid cluster in
// v.cluster, defaults applied.
func (v *validator) clusterList() {
	cs := v.cfg.Clusters
	if len(cs) == 0 {
		return
	}
	if len(v.cfg.Hosts) > 0 {
		v.errorf("clusters", "a stack deploys to Docker hosts or to one Kubernetes cluster, not both (hosts: %s; clusters: %s); split it into two stacks",
			strings.Join(v.hostNames(), ", "), strings.Join(clusterNames(cs), ", "))
		return
	}
	if v.cfg.Program == Bench {
		v.errorf("clusters", "program bench deploys nothing; remove clusters and list the endpoints under targets")
		return
	}
	if len(cs) > 1 {
		v.errorf("clusters", "one cluster per stack, got %d (%s): the gateway reaches engines by in-cluster Service names", len(cs), strings.Join(clusterNames(cs), ", "))
		return
	}
	c := &cs[0]
	n := len(v.errs)
	p := "clusters[0]"
	switch {
	case c.Name == "":
		v.errorf(p+".name", "is required")
	case !dnsLabel.MatchString(c.Name):
		v.errorf(p+".name", "%q must be lower-case letters, digits and dashes", c.Name)
	}
	if len(c.Kubeconfig) > 0 {
		v.errorf(p+".kubeconfig", "a kubeconfig holds credentials and never goes in the stack file: remove it, then `make secret STACK=<env> KEY=kubeconfig < ~/.kube/config` (and rotate the credentials: they are in the file's history)")
	}
	if c.Context != "" && strings.ContainsAny(c.Context, "\n\r") {
		v.errorf(p+".context", "%q is not a kubeconfig context name", c.Context)
	}
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	switch {
	case !rfc1123Label.MatchString(c.Namespace):
		v.errorf(p+".namespace", "%q is not a DNS label (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)", c.Namespace)
	case strings.HasPrefix(c.Namespace, "kube-"):
		v.errorf(p+".namespace", "%q is reserved for Kubernetes itself", c.Namespace)
	}
	if c.GPUResource == "" {
		c.GPUResource = DefaultGPUResource
	}
	if !slices.Contains(gpuResources, c.GPUResource) && !migResource.MatchString(c.GPUResource) {
		v.errorf(p+".gpuResource", "unknown GPU resource %q (want %s, or a MIG slice nvidia.com/mig-<g>g.<m>gb)", c.GPUResource, strings.Join(gpuResources, ", "))
	}
	if c.RuntimeClassName != "" && !rfc1123Subdomain.MatchString(c.RuntimeClassName) {
		v.errorf(p+".runtimeClassName", "%q is not a RuntimeClass name", c.RuntimeClassName)
	}
	if c.Image == "" {
		c.Image = DefaultClusterImage
	}
	switch err := imageref.CheckRepository(c.Image); {
	case errors.Is(err, imageref.ErrVersioned):
		v.errorf(p+".image", "%q must be an image repository without tag or digest (the program adds the tag it builds), e.g. ghcr.io/acme/servelab", c.Image)
	case err != nil:
		v.errorf(p+".image", "%q is not an image repository: %v", c.Image, err)
	}
	mc := &c.ModelCache
	if mc.SizeGiB == 0 {
		mc.SizeGiB = DefaultModelCacheGiB
	}
	if mc.SizeGiB < 1 {
		v.errorf(p+".modelCache.sizeGiB", "must be at least 1, got %d", mc.SizeGiB)
	}
	if mc.AccessMode == "" {
		mc.AccessMode = AccessReadWriteOnce
	}
	if !slices.Contains([]string{AccessReadWriteOnce, AccessReadWriteMany, AccessReadWriteOncePod}, mc.AccessMode) {
		v.errorf(p+".modelCache.accessMode", "unknown %q (want ReadWriteOnce, ReadWriteMany or ReadWriteOncePod)", mc.AccessMode)
	}
	if mc.StorageClass != "" && !rfc1123Subdomain.MatchString(mc.StorageClass) {
		v.errorf(p+".modelCache.storageClass", "%q is not a StorageClass name", mc.StorageClass)
	}
	pools := map[string]bool{}
	for i := range c.NodePools {
		np := &c.NodePools[i]
		pp := fmt.Sprintf("%s.nodePools[%d]", p, i)
		switch {
		case np.Name == "":
			v.errorf(pp+".name", "is required")
		case !dnsLabel.MatchString(np.Name):
			v.errorf(pp+".name", "%q must be lower-case letters, digits and dashes", np.Name)
		case pools[np.Name]:
			v.errorf(pp+".name", "duplicate node pool %q", np.Name)
		}
		pools[np.Name] = true
		v.nodeSelector(pp+".nodeSelector", np.NodeSelector)
		v.tolerations(pp+".tolerations", np.Tolerations)
		if np.GPUs != nil {
			v.gpuGroup(pp+".gpus", np.GPUs)
		}
		if np.Nodes < 0 {
			v.errorf(pp+".nodes", "must not be negative, got %d", np.Nodes)
		}
		switch {
		case np.TimeSlicing < 0:
			v.errorf(pp+".timeSlicing", "must not be negative, got %d", np.TimeSlicing)
		case np.TimeSlicing == 1:
			v.errorf(pp+".timeSlicing", "1 replica per GPU is no sharing; use 0 (off) or the device plugin's replicas (2 or more)")
		case np.TimeSlicing > 1 && np.GPUs == nil:
			v.errorf(pp+".timeSlicing", "a pool without gpus has nothing to time-slice")
		case np.TimeSlicing > 1 && np.GPUs.Count > 1:
			v.errorf(pp+".timeSlicing", "needs one GPU per node (gpus.count: 1): on a node with %d GPUs the device plugin, not servelab, picks which GPU a time-sliced pod gets", np.GPUs.Count)
		}
	}
	if len(v.errs) == n {
		v.cluster = c
	}
}

func clusterNames(cs []Cluster) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func (v *validator) pool(name string) *NodePool {
	if v.cluster == nil {
		return nil
	}
	for i := range v.cluster.NodePools {
		if v.cluster.NodePools[i].Name == name {
			return &v.cluster.NodePools[i]
		}
	}
	return nil
}

func (v *validator) poolNames() []string {
	var out []string
	if v.cluster != nil {
		for _, np := range v.cluster.NodePools {
			out = append(out, np.Name)
		}
	}
	return out
}

// nodeSelector checks label keys ([prefix/]name) and values.
func (v *validator) nodeSelector(path string, sel map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(sel)) {
		if !validLabelKey(k) {
			v.errorf(path+"."+k, "%q is not a label key ([prefix/]name, name at most 63 characters)", k)
		}
		if val := sel[k]; val != "" && (len(val) > 63 || !labelName.MatchString(val)) {
			v.errorf(path+"."+k, "%q is not a label value (at most 63 letters, digits, '-', '_', '.')", val)
		}
	}
}

func validLabelKey(k string) bool {
	name := k
	if prefix, n, ok := strings.Cut(k, "/"); ok {
		if len(prefix) > 253 || !rfc1123Subdomain.MatchString(prefix) {
			return false
		}
		name = n
	}
	return len(name) <= 63 && labelName.MatchString(name)
}

func (v *validator) tolerations(path string, ts []Toleration) {
	for i, t := range ts {
		tp := fmt.Sprintf("%s[%d]", path, i)
		if t.Key != "" && !validLabelKey(t.Key) {
			v.errorf(tp+".key", "%q is not a taint key", t.Key)
		}
		switch t.Operator {
		case "", "Equal":
		case "Exists":
			if t.Value != "" {
				v.errorf(tp+".value", "must be empty with operator Exists")
			}
		default:
			v.errorf(tp+".operator", "unknown %q (want Equal or Exists)", t.Operator)
		}
		if t.Key == "" && t.Operator != "Exists" {
			v.errorf(tp+".operator", "an empty key matches every taint only with operator Exists")
		}
		if !slices.Contains([]string{"", "NoSchedule", "PreferNoSchedule", "NoExecute"}, t.Effect) {
			v.errorf(tp+".effect", "unknown %q (want NoSchedule, PreferNoSchedule or NoExecute)", t.Effect)
		}
		if t.TolerationSeconds != nil && t.Effect != "NoExecute" {
			v.errorf(tp+".tolerationSeconds", "applies only to effect NoExecute")
		}
	}
}

// noKubePlacement refuses the cluster-only keys of a framework on a Docker
// stack.
func (v *validator) noKubePlacement(p string, f *Framework) bool {
	ok := true
	for key, set := range map[string]bool{
		"nodePool": f.NodePool != "", "node": f.Node != "",
		"nodeSelector": len(f.NodeSelector) > 0, "tolerations": len(f.Tolerations) > 0,
	} {
		if set {
			v.errorf(p+"."+key, "places pods in a Kubernetes cluster; this stack has Docker hosts (use host)")
			ok = false
		}
	}
	return ok
}

// clusterFramework checks a framework's placement keys in a cluster stack.
func (v *validator) clusterFramework(p string, f *Framework) bool {
	n := len(v.errs)
	if f.Host != "" {
		v.errorf(p+".host", "a cluster stack places frameworks with nodePool (and node), not host")
	}
	if f.Name != "" && (f.Name[0] < 'a' || f.Name[0] > 'z') {
		v.errorf(p+".name", "%q names a Kubernetes Service, which must start with a letter", f.Name)
	}
	if f.NodePool != "" && v.cluster != nil && v.pool(f.NodePool) == nil {
		v.errorf(p+".nodePool", "no node pool named %q (node pools: %s)", f.NodePool, strings.Join(v.poolNames(), ", "))
	}
	if f.Node != "" && (len(f.Node) > 253 || !rfc1123Subdomain.MatchString(f.Node)) {
		v.errorf(p+".node", "%q is not a Kubernetes node name", f.Node)
	}
	if f.GPUs != nil && len(f.GPUs.Devices) > 0 {
		v.errorf(p+".gpus", "device indices are for Docker hosts; in a cluster the device plugin assigns GPUs: give a count")
	}
	v.nodeSelector(p+".nodeSelector", f.NodeSelector)
	v.tolerations(p+".tolerations", f.Tolerations)
	return len(v.errs) == n
}

// clusterInstance checks a framework against its node pool and returns its
// one instance (a Deployment of f.Replicas pods); the planner sizes it in
// planCluster.
func (v *validator) clusterInstance(p string, f *Framework, args frameworkspec.EngineArgs) (InstancePlan, bool) {
	c := v.cluster
	if c == nil {
		return InstancePlan{}, false // reported by clusterList
	}
	n := len(v.errs)
	pool := v.pool(f.NodePool)
	perNode := 0
	if pool != nil && pool.GPUs != nil {
		perNode = pool.GPUs.Count
	}
	wants := f.GPUs != nil && f.GPUs.Count > 0
	needsGPU := f.Engine == engine.VLLM || f.Engine == engine.SGLang
	where := "no node pool"
	if pool != nil {
		where = "node pool " + pool.Name
	}
	switch {
	case perNode == 0 && needsGPU:
		v.errorf(p+".nodePool", "%s needs a GPU; %s has none (name a nodePools entry with gpus)", f.Engine, where)
	case perNode == 0 && wants:
		v.errorf(p+".gpus", "GPUs requested on %s, which has none", where)
	case f.Engine == engine.Sim && wants:
		v.errorf(p+".gpus", "a sim engine uses no GPU")
	case wants && f.GPUs.Count > perNode:
		v.errorf(p+".gpus", "wants %d GPUs, node pool %s offers %d per node (a pod runs on one node)", f.GPUs.Count, pool.Name, perNode)
	}
	onGPU := perNode > 0 && f.Engine != engine.Sim && (f.GPUs == nil || f.GPUs.Count > 0)
	v.gpuSizing(p, f, onGPU)
	if onGPU && pool.TimeSlicing > 1 {
		if f.Node == "" {
			v.errorf(p+".node", "node pool %s is time-sliced: pin each GPU engine to a node so the planner knows which engines share a GPU (the scheduler would stack them anywhere)", pool.Name)
		}
		if wants && f.GPUs.Count > 1 {
			v.errorf(p+".gpus", "a time-sliced pool hands out slices, not GPUs: %d slices may all be one GPU; use a pool without timeSlicing for tensor parallelism", f.GPUs.Count)
		}
	}
	if f.Replicas > 1 && f.Engine != engine.Sim && c.ModelCache.AccessMode != AccessReadWriteMany {
		v.errorf(p+".replicas", "%d pods would share the framework's model-cache claim, which needs clusters[0].modelCache.accessMode: ReadWriteMany (a %s volume mounts on one node)", f.Replicas, c.ModelCache.AccessMode)
	}
	if len(v.errs) > n {
		return InstancePlan{}, false
	}

	public, upstream := modelNames(v.cfg.Program, f)
	port := f.Port
	if port == 0 {
		port = defaultPort(f)
	}
	kp := &KubePlacement{Node: f.Node, NodeSelector: map[string]string{}, Replicas: f.Replicas}
	if pool != nil {
		kp.Pool = pool.Name
		maps.Copy(kp.NodeSelector, pool.NodeSelector)
		kp.Tolerations = append(kp.Tolerations, pool.Tolerations...)
	}
	maps.Copy(kp.NodeSelector, f.NodeSelector)
	kp.Tolerations = append(kp.Tolerations, f.Tolerations...)
	if f.Node != "" {
		kp.NodeSelector["kubernetes.io/hostname"] = f.Node
	}
	return InstancePlan{
		Framework: f,
		Host:      c.Name,
		Instance: frameworkspec.Instance{
			Name:            f.Name,
			Engine:          f.Engine,
			Flavour:         f.Flavour,
			Model:           f.Model,
			ServedModelName: upstream,
			Args:            args,
			ExtraArgs:       f.ExtraArgs,
			Env:             f.Env,
			// The device plugin allocates the GPUs and sets
			// NVIDIA_VISIBLE_DEVICES itself.
			DevicesByScheduler: true,
		},
		PublishedPort: port,
		PublicModel:   public,
		Kube:          kp,
	}, true
}

// planCluster places GPU engines the way the Docker planner places them on
// a host: engines pinned to one node are planned together on that node's
// GPUs (sharing one needs time-slicing), every other engine alone on the
// GPUs it asks for; and checks the pool has the GPUs the stack asks for.
func (v *validator) planCluster(ins []InstancePlan) {
	c := v.cluster
	if c == nil {
		return
	}
	type group struct {
		pool    *NodePool
		node    string
		demands []planner.Demand
		owners  []*InstancePlan
	}
	var order []string
	groups := map[string]*group{}
	asked := map[string][]string{} // pool -> "name replicas×gpus"
	physical := map[string]int{}   // pool -> GPUs used
	for i := range ins {
		in := &ins[i]
		pool := v.pool(in.Kube.Pool)
		if pool == nil || pool.GPUs == nil {
			continue
		}
		d, err := demand(in.Framework, pool.GPUs.Count)
		if err != nil || d.Count == 0 {
			continue // CPU on a GPU pool (gpus: 0), or reported by clusterInstance
		}
		in.Instance.DemandGiB = d.GiB
		d.Engine = in.Framework.Engine
		key := pool.Name + "/" + in.Kube.Node
		if in.Kube.Node == "" {
			key = pool.Name + "/#" + in.Instance.Name
		}
		g, ok := groups[key]
		if !ok {
			g = &group{pool: pool, node: in.Kube.Node}
			groups[key] = g
			order = append(order, key)
		}
		for r := range in.Kube.Replicas {
			d.Name = in.Instance.Name
			if in.Kube.Replicas > 1 {
				d.Name += "#" + strconv.Itoa(r)
			}
			g.demands = append(g.demands, d)
			g.owners = append(g.owners, in)
		}
		asked[pool.Name] = append(asked[pool.Name], fmt.Sprintf("%s %d×%d", in.Instance.Name, in.Kube.Replicas, d.Count))
	}
	for _, key := range order {
		g := groups[key]
		var gpus []planner.GPU
		for j := range g.pool.GPUs.Count {
			gpus = append(gpus, planner.GPU{Index: j, Model: g.pool.GPUs.Model, MemoryGiB: g.pool.GPUs.MemoryGiB})
		}
		label := c.Name + "/" + g.pool.Name
		if g.node != "" {
			label += "/" + g.node
		}
		placements, err := planner.Plan(label, gpus, g.demands)
		if err != nil {
			v.errs = append(v.errs, fmt.Errorf("frameworks: %w", err))
			continue
		}
		sharing := map[int][]string{}
		used := map[int]bool{}
		for j, pl := range placements {
			in := g.owners[j]
			for _, dev := range pl.Devices {
				sharing[dev] = append(sharing[dev], pl.Name)
				used[dev] = true
			}
			for _, a := range pl.After {
				// The planner names replicas name#r; a Deployment starts
				// its replicas together, so only other frameworks order.
				if name, _, _ := strings.Cut(a, "#"); name != in.Instance.Name && !slices.Contains(in.StartAfter, name) {
					in.StartAfter = append(in.StartAfter, name)
				}
			}
			if in.Instance.Devices != nil {
				continue // replica 0 decided it; replicas are alike
			}
			in.Instance.Devices = make([]int, len(pl.Devices))
			for k := range pl.Devices {
				in.Instance.Devices[k] = k // logical: tensor parallelism only
			}
			in.Instance.MemoryFraction = pl.Fraction
			in.Kube.GPUs = len(pl.Devices)
		}
		for _, dev := range slices.Sorted(maps.Keys(sharing)) {
			names := sharing[dev]
			if len(names) < 2 {
				continue
			}
			for j, pl := range placements {
				if slices.Contains(pl.Devices, dev) {
					g.owners[j].Kube.Shared = true
				}
			}
			switch ts := g.pool.TimeSlicing; {
			case ts == 0:
				v.errorf("frameworks", "%s: %s share GPU %d, but node pool %s has no timeSlicing: the device plugin gives each pod whole GPUs. Set timeSlicing on the pool (NVIDIA device plugin time-slicing, docs/kubernetes.md) or pin them to different nodes",
					label, strings.Join(names, ", "), dev, g.pool.Name)
			case len(names) > ts:
				v.errorf("frameworks", "%s: %d engines (%s) share GPU %d, but node pool %s's time-slicing advertises %d replicas per GPU",
					label, len(names), strings.Join(names, ", "), dev, g.pool.Name, ts)
			}
		}
		physical[g.pool.Name] += len(used)
	}
	v.poolCapacity(ins, asked, physical)
}

// poolCapacity checks that each pool with a known node count has the GPUs
// (and, for pinned engines, the nodes) the stack asks for.
func (v *validator) poolCapacity(ins []InstancePlan, asked map[string][]string, physical map[string]int) {
	for i, np := range v.cluster.NodePools {
		if np.Nodes == 0 || np.GPUs == nil {
			continue
		}
		if offer := np.Nodes * np.GPUs.Count; physical[np.Name] > offer {
			v.errorf(fmt.Sprintf("clusters[0].nodePools[%d]", i), "node pool %s offers %d GPUs (%d nodes × %d); the frameworks ask for %d (%s as replicas×GPUs)",
				np.Name, offer, np.Nodes, np.GPUs.Count, physical[np.Name], strings.Join(asked[np.Name], ", "))
		}
		nodes := map[string]bool{}
		for _, in := range ins {
			if in.Kube.Pool == np.Name && in.Kube.Node != "" {
				nodes[in.Kube.Node] = true
			}
		}
		if len(nodes) > np.Nodes {
			v.errorf(fmt.Sprintf("clusters[0].nodePools[%d].nodes", i), "frameworks pin %d nodes (%s) of node pool %s, which has %d",
				len(nodes), strings.Join(slices.Sorted(maps.Keys(nodes)), ", "), np.Name, np.Nodes)
		}
	}
}

// clusterGateway: the gateway runs in the cluster's namespace.
func (v *validator) clusterGateway() {
	g := v.cfg.Gateway
	if g.Host != "" {
		v.errorf("gateway.host", "a cluster stack runs the gateway in the cluster's namespace; remove host")
	}
	if g.BindAddress != "" {
		v.errorf("gateway.bindAddress", "a cluster stack exposes the gateway as a ClusterIP Service (kubectl port-forward, docs/kubernetes.md); remove bindAddress")
	}
}

// clusterMonitoring: Prometheus and Grafana run in the cluster's namespace.
func (v *validator) clusterMonitoring() {
	m := v.cfg.Monitoring
	if m.Host != "" {
		v.errorf("monitoring.host", "a cluster stack runs monitoring in the cluster's namespace; remove host")
	}
	if m.BindAddress != "" {
		v.errorf("monitoring.bindAddress", "a cluster stack exposes Prometheus and Grafana as ClusterIP Services (kubectl port-forward); remove bindAddress")
	}
	if m.DCGM {
		v.errorf("monitoring.dcgm", "on Kubernetes NVIDIA's GPU Operator runs dcgm-exporter; servelab does not deploy it (docs/kubernetes.md)")
	}
}

// prometheusOperator checks monitoring.prometheusOperator: cluster stacks
// only, with valid labels.
func (v *validator) prometheusOperator() {
	po := v.cfg.Monitoring.PrometheusOperator
	switch {
	case po == nil:
	case !v.cfg.ClusterStack():
		v.errorf("monitoring.prometheusOperator", "hands monitoring to a cluster's Prometheus Operator; this stack has Docker hosts")
	default:
		v.nodeSelector("monitoring.prometheusOperator.labels", po.Labels)
		if po.DashboardLabels == nil {
			po.DashboardLabels = maps.Clone(DefaultDashboardLabels)
		}
		if po.DashboardsEnabled() && len(po.DashboardLabels) == 0 {
			v.errorf("monitoring.prometheusOperator.dashboardLabels", "is empty: Grafana's sidecar finds dashboards by label (kube-prometheus-stack: grafana_dashboard: \"1\"); or set dashboards: false")
		}
		v.nodeSelector("monitoring.prometheusOperator.dashboardLabels", po.DashboardLabels)
		if po.DatasourceUID == "" {
			po.DatasourceUID = DefaultDatasourceUID
		}
		if !grafanaUID.MatchString(po.DatasourceUID) {
			v.errorf("monitoring.prometheusOperator.datasourceUid", "%q is not a Grafana uid (at most 40 letters, digits, '-' or '_')", po.DatasourceUID)
		}
	}
}

// grafanaUID is a Grafana uid.
var grafanaUID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`)

// clusterBenchmark: the benchmark runs as a Job inside the cluster.
func (v *validator) clusterBenchmark() {
	b := v.cfg.Benchmark
	if b.RunOn != RunOnCluster {
		v.errorf("benchmark.runOn", "%q: a cluster stack benchmarks from inside the cluster (runOn: cluster), where the Services are", b.RunOn)
	}
	if b.DatasetPath != "" {
		v.errorf("benchmark.datasetPath", "the benchmark Job cannot read files from this machine; use dataset random or multilingual")
	}
}
