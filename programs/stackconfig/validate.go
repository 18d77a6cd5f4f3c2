package stackconfig

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/planner"
)

// Defaults for ports and sizes a stack does not set.
const (
	DefaultGatewayPort    = 8088
	DefaultPrometheusPort = 9090
	DefaultGrafanaPort    = 3000
	DefaultKVCacheGiB     = 2.0
)

// Lab is a validated Config with every decision made: defaults applied,
// engines placed on GPUs, ports assigned. Programs deploy a Lab.
type Lab struct {
	Config    *Config
	Hosts     []HostPlan
	Instances []InstancePlan
	// Cluster is the stack's Kubernetes cluster (defaults applied), nil
	// for a Docker stack; it then has no Hosts and one instance per
	// framework (validate_cluster.go).
	Cluster *Cluster
}

// HostPlan is a host and what the stack needs of it.
type HostPlan struct {
	Host     Host
	Declared []GPUGroup
	// NeedNvidiaRuntime: an engine here is pinned to GPUs.
	NeedNvidiaRuntime bool
}

// InstancePlan is one container of a framework.
type InstancePlan struct {
	// Framework is the stack entry it comes from; Replica its index.
	Framework *Framework
	Replica   int
	Instance  frameworkspec.Instance
	Host      string
	// PublishedPort is its port on the host.
	PublishedPort int
	// PublicModel is the model name clients send to the gateway.
	PublicModel string
	// Kube is the placement in a cluster stack (nil on Docker hosts).
	Kube *KubePlacement
	// StartAfter names the instances that must be ready before this one
	// starts: the planner's start order on shared GPUs.
	StartAfter []string
}

// GatewayEnabled reports whether the stack runs a gateway.
func (c *Config) GatewayEnabled() bool {
	if c.Program == Bench {
		return false
	}
	return c.Gateway.Enabled == nil || *c.Gateway.Enabled
}

// MonitoringEnabled reports whether the stack runs Prometheus (and Grafana).
func (c *Config) MonitoringEnabled() bool {
	if c.Program == Bench {
		return false
	}
	return c.Monitoring.Enabled == nil || *c.Monitoring.Enabled
}

// GrafanaEnabled reports whether the stack runs Grafana.
func (c *Config) GrafanaEnabled() bool {
	return c.MonitoringEnabled() && (c.Monitoring.Grafana.Enabled == nil || *c.Monitoring.Grafana.Enabled)
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,40}[a-z0-9])?$`)

// MaxReplicas bounds a framework's replicas: the gateway routes one model
// to at most 64 backends.
const MaxReplicas = 64

// Validate checks a Config and plans it. It reports every problem at once,
// each with its key path.
func Validate(cfg *Config) (*Lab, error) {
	v := &validator{cfg: cfg, hosts: map[string]*Host{}}
	v.program()
	v.hostList()
	v.clusterList()
	lab := &Lab{Config: cfg}
	if cfg.Program == Bench {
		v.targets()
	} else {
		lab.Instances = v.frameworks()
		v.gateway()
		v.monitoring()
		if cfg.ClusterStack() {
			v.planCluster(lab.Instances)
		} else {
			lab.Hosts = v.plan(lab.Instances)
			v.ports(lab.Instances)
			v.reachability(lab.Instances)
		}
	}
	v.benchmark(lab.Instances)
	if cfg.Program != Bench {
		v.benchReachability(lab.Instances)
		v.loopbackOnly(lab.Instances)
		v.hostDataset(lab.Instances)
	}
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	lab.Cluster = v.cluster
	return lab, nil
}

type validator struct {
	cfg   *Config
	hosts map[string]*Host
	errs  []error
	// cluster is the stack's valid cluster (validate_cluster.go).
	cluster *Cluster
}

func (v *validator) errorf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (v *validator) program() {
	if v.cfg.Program == "" {
		v.cfg.Program = Compare
	}
	if !slices.Contains(Programs, v.cfg.Program) {
		v.errorf("program", "unknown program %q (want compare, serve or bench)", v.cfg.Program)
	}
}

func (v *validator) hostList() {
	if len(v.cfg.Hosts) == 0 && v.cfg.Program != Bench && !v.cfg.ClusterStack() && !v.cfg.undecoded["hosts"] {
		v.errorf("hosts", "at least one host is required")
	}
	for i := range v.cfg.Hosts {
		h := &v.cfg.Hosts[i]
		p := fmt.Sprintf("hosts[%d]", i)
		if h.Name == "" {
			v.errorf(p+".name", "is required")
		} else if !dnsLabel.MatchString(h.Name) {
			v.errorf(p+".name", "%q must be lower-case letters, digits and dashes", h.Name)
		} else if _, dup := v.hosts[h.Name]; dup {
			v.errorf(p+".name", "duplicate host name %q", h.Name)
		} else {
			v.hosts[h.Name] = h
		}
		if h.SSH != nil {
			if h.SSH.Host == "" {
				v.errorf(p+".ssh.host", "is required")
			}
			if h.SSH.User == "" {
				v.errorf(p+".ssh.user", "is required (Docker's ssh transport needs ssh://user@host)")
			}
			if h.SSH.Port == 0 {
				h.SSH.Port = 22
			}
			if h.SSH.Port < 1 || h.SSH.Port > 65535 {
				v.errorf(p+".ssh.port", "%d is out of range 1-65535", h.SSH.Port)
			}
			if strings.ContainsAny(h.SSH.Host+h.SSH.User, "@:/ ") {
				v.errorf(p+".ssh", "host and user must be bare names, not %q and %q", h.SSH.Host, h.SSH.User)
			}
			if h.DockerHost != "" {
				v.errorf(p+".dockerHost", "is for local hosts; an SSH host's Docker is reached at ssh://user@host")
			}
			v.sshHost(p+".ssh", h.SSH)
		}
		if h.DockerHost != "" && h.SSH == nil {
			v.dockerHost(p+".dockerHost", h.DockerHost)
		}
		if h.Address != "" && !isHostOrIP(h.Address) {
			v.errorf(p+".address", "%q is not a host name or IP address", h.Address)
		}
		v.modelCache(p, h)
		if h.BindAddress != "" && net.ParseIP(h.BindAddress) == nil {
			v.errorf(p+".bindAddress", "%q is not an IP address", h.BindAddress)
		}
		for j := range h.GPUs {
			v.gpuGroup(fmt.Sprintf("%s.gpus[%d]", p, j), &h.GPUs[j])
		}
	}
}

// gpuGroup checks a GPU group at path and defaults its count to 1.
func (v *validator) gpuGroup(path string, g *GPUGroup) {
	if g.Model == "" {
		v.errorf(path+".model", "is required")
	}
	if g.MemoryGiB <= 0 {
		v.errorf(path+".memoryGiB", "must be positive, got %v", g.MemoryGiB)
	}
	if g.Count == 0 {
		g.Count = 1
	}
	if g.Count < 0 {
		v.errorf(path+".count", "must be positive, got %d", g.Count)
	}
}

func (v *validator) frameworks() []InstancePlan {
	if len(v.cfg.Frameworks) == 0 {
		v.errorf("frameworks", "at least one framework is required for program %s", v.cfg.Program)
	}
	names := map[string]bool{}
	var out []InstancePlan
	for i := range v.cfg.Frameworks {
		f := &v.cfg.Frameworks[i]
		p := fmt.Sprintf("frameworks[%d]", i)
		ok := true
		fail := func(key, format string, args ...any) {
			v.errorf(p+key, format, args...)
			ok = false
		}
		switch {
		case f.Name == "":
			fail(".name", "is required")
		case !dnsLabel.MatchString(f.Name):
			fail(".name", "%q must be lower-case letters, digits and dashes (it becomes a DNS name)", f.Name)
		case names[f.Name]:
			fail(".name", "duplicate framework name %q", f.Name)
		}
		names[f.Name] = true
		if _, err := engine.Parse(string(f.Engine)); err != nil {
			fail(".engine", "%v", err)
		}
		if f.Engine == engine.Sim {
			if _, err := engine.ParseFlavour(string(f.Flavour)); err != nil {
				fail(".flavour", "a sim engine needs the API it imitates: %v", err)
			}
		} else if f.Flavour != "" {
			fail(".flavour", "only a sim engine has a flavour")
		}
		host, known := v.hosts[f.Host]
		switch {
		case v.cfg.ClusterStack():
			ok = v.clusterFramework(p, f) && ok
		case f.Host == "":
			fail(".host", "is required")
		case !known && v.cfg.undecoded["hosts"]:
			ok = false // reported as the hosts section's problem
		case !known:
			fail(".host", "no host named %q (hosts: %s)", f.Host, strings.Join(v.hostNames(), ", "))
		}
		if !v.cfg.ClusterStack() {
			ok = v.noKubePlacement(p, f) && ok
		}
		if f.Model == "" {
			fail(".model", "is required")
		} else if !v.modelName(p+".model", f.Model) {
			ok = false
		}
		if f.ServedModelName != "" && !v.modelName(p+".servedModelName", f.ServedModelName) {
			ok = false
		}
		v.image(p+".image", f)
		if f.GPUMemoryGiB < 0 {
			fail(".gpuMemoryGiB", "must not be negative, got %v", f.GPUMemoryGiB)
		}
		if f.ModelParamsB < 0 {
			fail(".modelParamsB", "must not be negative, got %v", f.ModelParamsB)
		}
		if f.KVCacheGiB != nil && *f.KVCacheGiB < 0 {
			fail(".kvCacheGiB", "must not be negative, got %v", *f.KVCacheGiB)
		}
		if f.GPUMemoryGiB > 0 && f.ModelParamsB > 0 {
			fail(".gpuMemoryGiB", "set gpuMemoryGiB or modelParamsB, not both")
		}
		if f.Replicas == 0 {
			f.Replicas = 1
		}
		switch {
		case f.Replicas < 1:
			fail(".replicas", "must be at least 1, got %d", f.Replicas)
		case f.Replicas > MaxReplicas && v.cfg.ClusterStack():
			// One Service in front of the pods: no gateway limit, the
			// same bound.
			fail(".replicas", "%d is more than %d (servelab's bound on a framework's pods)", f.Replicas, MaxReplicas)
		case f.Replicas > MaxReplicas:
			fail(".replicas", "%d is more than %d (the gateway routes a model to at most %d backends)", f.Replicas, MaxReplicas, MaxReplicas)
		}
		port := f.Port
		if port == 0 {
			port = defaultPort(f)
		}
		if f.Port < 0 || f.Port > 65535 {
			fail(".port", "%d is out of range 1-65535", f.Port)
		} else if !v.cfg.ClusterStack() && f.Replicas <= MaxReplicas && port > 0 && port+f.Replicas-1 > 65535 {
			// (In a cluster the replicas share their Service's port.)
			fail(".port", "replica %d would publish port %d, past 65535", 65536-port, 65536)
		}
		if f.GPUs != nil && f.GPUs.Count < 0 {
			fail(".gpus", "must not be negative, got %d", f.GPUs.Count)
		}
		if f.GPUs != nil && len(f.GPUs.Devices) > 0 && f.Replicas > 1 {
			fail(".gpus", "device indices pin one instance; with replicas use a count")
		}
		if !v.env(p, f) {
			ok = false
		}
		if !v.extraArgs(p, f) {
			ok = false
		}
		args, err := engineArgs(p+".args", f)
		if err != nil {
			v.errs = append(v.errs, err)
			ok = false
		}
		if !ok {
			continue
		}
		if v.cfg.ClusterStack() {
			if in, placed := v.clusterInstance(p, f, args); placed {
				out = append(out, in)
			}
			continue
		}
		v.gpuEngineOnHost(p, f, host)
		for r := range f.Replicas {
			out = append(out, v.instance(f, r, args, host))
		}
	}
	if v.cfg.Program == Serve {
		v.serveModel(out)
	}
	return out
}

func (v *validator) image(path string, f *Framework) {
	if f.Image == "" {
		if f.Engine == engine.Sim {
			return // the servelab image, built on the host
		}
		v.errorf(path, "is required (pin a tag or digest, e.g. %s)", exampleImage(f.Engine))
		return
	}
	if f.Engine == engine.Sim {
		v.errorf(path, "a sim runs the servelab image built from this repository; remove image")
		return
	}
	v.pinned(path, f.Image, exampleImage(f.Engine))
}

// pinned checks that an image reference parses as Docker parses it and
// names a version: a tag other than latest, or a digest.
func (v *validator) pinned(path, ref, example string) {
	_, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !imageref.ValidDigest(digest) {
		v.errorf(path, "%q has a malformed digest (want @sha256:<64 hex>)", ref)
		return
	}
	if err := imageref.Check(ref); err != nil {
		v.errorf(path, "%q is not an image reference: %v", ref, err)
		return
	}
	if hasDigest {
		return
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	_, tag, ok := strings.Cut(last, ":")
	switch {
	case !ok || tag == "":
		v.errorf(path, "%q has no tag or digest; pin a version (e.g. %s) so re-runs are comparable", ref, example)
	case tag == "latest":
		v.errorf(path, "%q floats; pin a version (e.g. %s) so re-runs are comparable", ref, example)
	}
}

func exampleImage(k engine.Kind) string {
	switch k {
	case engine.VLLM:
		return "vllm/vllm-openai:v0.32.1"
	case engine.SGLang:
		return "lmsysorg/sglang:v0.5.21"
	case engine.Ollama:
		return "ollama/ollama:0.32.2"
	case engine.LlamaCpp:
		return "ghcr.io/ggml-org/llama.cpp:server-b7100"
	}
	return "repo/image:1.2.3"
}

func engineArgs(path string, f *Framework) (frameworkspec.EngineArgs, error) {
	var a frameworkspec.EngineArgs
	var err error
	switch f.Engine {
	case engine.VLLM:
		a.VLLM = &frameworkspec.VLLMArgs{}
		err = Strict(path, f.Args, a.VLLM)
	case engine.SGLang:
		a.SGLang = &frameworkspec.SGLangArgs{}
		err = Strict(path, f.Args, a.SGLang)
	case engine.Ollama:
		a.Ollama = &frameworkspec.OllamaArgs{}
		err = Strict(path, f.Args, a.Ollama)
	case engine.LlamaCpp:
		a.LlamaCpp = &frameworkspec.LlamaCppArgs{}
		err = Strict(path, f.Args, a.LlamaCpp)
		if err == nil && a.LlamaCpp.FlashAttn != "" && !slices.Contains([]string{"on", "off", "auto"}, a.LlamaCpp.FlashAttn) {
			err = fmt.Errorf("%s.flashAttn: %q is not on, off or auto", path, a.LlamaCpp.FlashAttn)
		}
	case engine.Sim:
		a.Sim = &frameworkspec.SimArgs{}
		err = Strict(path, f.Args, a.Sim)
		if err == nil {
			err = simArgs(path, f.Flavour, a.Sim)
		}
	}
	return a, err
}

func simArgs(path string, flavour engine.Kind, a *frameworkspec.SimArgs) error {
	var errs []error
	if a.LoadDelay != "" && flavour != engine.Ollama {
		errs = append(errs, fmt.Errorf("%s.loadDelay: is Ollama's lazy model load; a %s sim loads at start (startupDelay)", path, flavour))
	}
	for key, d := range map[string]string{"ttft": a.TTFT, "itl": a.ITL, "startupDelay": a.StartupDelay, "loadDelay": a.LoadDelay} {
		if d == "" {
			continue
		}
		if x, err := time.ParseDuration(d); err != nil || x < 0 {
			errs = append(errs, fmt.Errorf("%s.%s: %q is not a duration like 50ms", path, key, d))
		}
	}
	if a.Jitter < 0 || a.Jitter >= 1 {
		errs = append(errs, fmt.Errorf("%s.jitter: %v must be in [0, 1)", path, a.Jitter))
	}
	if a.FailureRate < 0 || a.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("%s.failureRate: %v must be in [0, 1]", path, a.FailureRate))
	}
	if a.Capacity < 0 || a.MaxOutputTokens < 0 {
		errs = append(errs, fmt.Errorf("%s: capacity and maxOutputTokens must not be negative", path))
	}
	slices.SortFunc(errs, func(x, y error) int { return strings.Compare(x.Error(), y.Error()) })
	return errors.Join(errs...)
}

// gpuEngineOnHost checks GPU wishes against the host.
func (v *validator) gpuEngineOnHost(p string, f *Framework, h *Host) {
	gpus := hostGPUCount(h)
	wants := f.GPUs != nil && (f.GPUs.Count > 0 || len(f.GPUs.Devices) > 0)
	needsGPU := f.Engine == engine.VLLM || f.Engine == engine.SGLang
	switch {
	case gpus == 0 && needsGPU:
		v.errorf(p+".engine", "%s needs a GPU; host %s is CPU-only (declare hosts[].gpus, or use ollama or llamacpp)", f.Engine, h.Name)
	case gpus == 0 && wants:
		v.errorf(p+".gpus", "GPUs requested on CPU-only host %s", h.Name)
	case f.Engine == engine.Sim && wants:
		v.errorf(p+".gpus", "a sim engine uses no GPU")
	case f.GPUs != nil && f.GPUs.Count > gpus:
		v.errorf(p+".gpus", "wants %d GPUs, host %s declares %d", f.GPUs.Count, h.Name, gpus)
	}
	if f.GPUs != nil {
		for _, d := range f.GPUs.Devices {
			if d < 0 || d >= gpus {
				v.errorf(p+".gpus", "device %d is not declared on host %s (devices 0-%d)", d, h.Name, gpus-1)
			}
		}
	}
	onGPU := gpus > 0 && f.Engine != engine.Sim && (f.GPUs == nil || f.GPUs.Count > 0 || len(f.GPUs.Devices) > 0)
	v.gpuSizing(p, f, onGPU)
}

// gpuSizing checks what the planner needs of an engine on a GPU (onGPU),
// on a host or in a cluster: its memory demand, a known dtype, and a CUDA
// build of llama.cpp.
func (v *validator) gpuSizing(p string, f *Framework, onGPU bool) {
	if onGPU && f.GPUMemoryGiB == 0 && f.ModelParamsB == 0 {
		v.errorf(p, "set gpuMemoryGiB, or modelParamsB and dtype, so the planner can size %s's share of the GPU", f.Name)
	}
	if f.ModelParamsB > 0 {
		if _, err := planner.EstimateGiB(f.ModelParamsB, f.Dtype, DefaultKVCacheGiB); err != nil {
			v.errorf(p+".dtype", "%v", err)
		}
	}
	if onGPU && f.Engine == engine.LlamaCpp && f.Image != "" && !strings.Contains(f.Image, "cuda") {
		v.errorf(p+".image", "llama.cpp on a GPU needs a CUDA build (e.g. ghcr.io/ggml-org/llama.cpp:server-cuda-b7100), got %q", f.Image)
	}
}

func hostGPUCount(h *Host) int {
	if h == nil {
		return 0
	}
	n := 0
	for _, g := range h.GPUs {
		n += max(g.Count, 0)
	}
	return n
}

// modelNames are the model name clients send for framework f (its
// servedModelName, else its name, or under serve the model itself) and
// the one its engine serves (the same, but for Ollama: the model's tag),
// on a host or in a cluster.
func modelNames(program Program, f *Framework) (public, upstream string) {
	public = f.ServedModelName
	if public == "" {
		public = f.Name
		if program == Serve {
			public = f.Model
		}
	}
	upstream = public
	if f.Engine == engine.Ollama {
		upstream = engine.OllamaTag(f.Model) // Ollama serves models under their tag
	}
	return public, upstream
}

func (v *validator) instance(f *Framework, replica int, args frameworkspec.EngineArgs, h *Host) InstancePlan {
	name := f.Name
	if f.Replicas > 1 {
		name = f.Name + "-" + strconv.Itoa(replica)
	}
	public, upstream := modelNames(v.cfg.Program, f)
	port := f.Port
	if port == 0 {
		port = defaultPort(f)
	}
	return InstancePlan{
		Framework: f,
		Replica:   replica,
		Host:      h.Name,
		Instance: frameworkspec.Instance{
			Name:            name,
			Engine:          f.Engine,
			Flavour:         f.Flavour,
			Model:           f.Model,
			ServedModelName: upstream,
			Args:            args,
			ExtraArgs:       f.ExtraArgs,
			Env:             f.Env,
		},
		PublishedPort: port + replica,
		PublicModel:   public,
	}
}

func defaultPort(f *Framework) int {
	k := f.Engine
	if k == engine.Sim {
		k = f.Flavour
	}
	s, err := engine.SpecOf(k)
	if err != nil {
		return 0
	}
	return s.DefaultPort
}

// serveModel checks that a serve stack serves one model.
func (v *validator) serveModel(ins []InstancePlan) {
	models := map[string]bool{}
	for _, in := range ins {
		models[in.PublicModel] = true
	}
	if len(models) > 1 {
		names := make([]string, 0, len(models))
		for m := range models {
			names = append(names, m)
		}
		slices.Sort(names)
		v.errorf("frameworks", "program serve runs replicas of one model, but frameworks serve %s (use program compare, or one servedModelName)", strings.Join(names, ", "))
	}
}

func (v *validator) gateway() {
	g := &v.cfg.Gateway
	if !v.cfg.GatewayEnabled() {
		return
	}
	if v.cfg.ClusterStack() {
		v.clusterGateway()
	} else if g.Host == "" && len(v.cfg.Hosts) > 0 {
		g.Host = v.cfg.Hosts[0].Name
	} else if _, ok := v.hosts[g.Host]; !ok && g.Host != "" {
		v.errorf("gateway.host", "no host named %q (hosts: %s)", g.Host, strings.Join(v.hostNames(), ", "))
	}
	if g.Port == 0 {
		g.Port = DefaultGatewayPort
	}
	if g.Port < 1 || g.Port > 65535 {
		v.errorf("gateway.port", "%d is out of range 1-65535", g.Port)
	}
	if g.BindAddress != "" && net.ParseIP(g.BindAddress) == nil {
		v.errorf("gateway.bindAddress", "%q is not an IP address", g.BindAddress)
	}
	if g.Routing == "" {
		g.Routing = "least-outstanding"
	}
	if !slices.Contains([]string{"least-outstanding", "round-robin", "weighted"}, g.Routing) {
		v.errorf("gateway.routing", "unknown routing %q (want least-outstanding, round-robin or weighted)", g.Routing)
	}
	if g.UpstreamClient != "" && g.UpstreamClient != "http" && g.UpstreamClient != "direct" {
		v.errorf("gateway.upstreamClient", "unknown client %q (want http or direct)", g.UpstreamClient)
	}
	if g.Retries != nil && *g.Retries < 0 {
		v.errorf("gateway.retries", "must not be negative, got %d", *g.Retries)
	}
	if g.MaxBodyBytes < 0 || g.MaxBodyBytes > gw.MaxBodyBytesLimit {
		v.errorf("gateway.maxBodyBytes", "must be in [0, %d] (64 MiB; 0 = the default), got %d", gw.MaxBodyBytesLimit, g.MaxBodyBytes)
	}
	v.duration("gateway.streamIdleTimeout", g.StreamIdleTimeout)
	if g.MaxConnections < 0 || g.MaxConnections > maxGatewayConnections {
		v.errorf("gateway.maxConnections", "must be in [0, %d] (0 = the default, %d), got %d", maxGatewayConnections, gw.DefaultConfig().MaxConnections, g.MaxConnections)
	}
	v.duration("gateway.requestReadTimeout", g.RequestReadTimeout)
	if d, err := time.ParseDuration(g.RequestReadTimeout); err == nil && d > 0 && d < gw.DefaultConfig().Timeouts.RequestHeader.D() {
		v.errorf("gateway.requestReadTimeout", "%q is shorter than the gateway's %v for request headers", g.RequestReadTimeout, gw.DefaultConfig().Timeouts.RequestHeader.D())
	}
	v.duration("gateway.cache.ttl", g.Cache.TTL)
	if g.Cache.MaxEntries < 0 || g.Cache.MaxBytes < 0 {
		v.errorf("gateway.cache", "maxEntries and maxBytes must not be negative")
	}
	if len(g.Weights) > 0 && g.Routing != "weighted" {
		v.errorf("gateway.weights", "only weighted routing uses weights, and routing is %s: set gateway.routing: weighted, or remove the weights", g.Routing)
	}
	for _, name := range slices.Sorted(maps.Keys(g.Weights)) {
		w := g.Weights[name]
		if !slices.ContainsFunc(v.cfg.Frameworks, func(f Framework) bool { return f.Name == name }) {
			v.errorf("gateway.weights."+name, "no framework named %q", name)
		}
		if w < 1 {
			v.errorf("gateway.weights."+name, "must be at least 1, got %d", w)
		}
	}
}

func (v *validator) monitoring() {
	m := &v.cfg.Monitoring
	v.prometheusOperator()
	if !v.cfg.MonitoringEnabled() {
		return
	}
	if v.cfg.ClusterStack() {
		v.clusterMonitoring()
	} else if m.Host == "" {
		m.Host = v.cfg.Gateway.Host
		if m.Host == "" && len(v.cfg.Hosts) > 0 {
			m.Host = v.cfg.Hosts[0].Name
		}
	} else if _, ok := v.hosts[m.Host]; !ok {
		v.errorf("monitoring.host", "no host named %q (hosts: %s)", m.Host, strings.Join(v.hostNames(), ", "))
	}
	if m.BindAddress != "" && net.ParseIP(m.BindAddress) == nil {
		v.errorf("monitoring.bindAddress", "%q is not an IP address", m.BindAddress)
	}
	if m.Prometheus.Port == 0 {
		m.Prometheus.Port = DefaultPrometheusPort
	}
	if m.Grafana.Port == 0 {
		m.Grafana.Port = DefaultGrafanaPort
	}
	for key, port := range map[string]int{"monitoring.prometheus.port": m.Prometheus.Port, "monitoring.grafana.port": m.Grafana.Port} {
		if port < 1 || port > 65535 {
			v.errorf(key, "%d is out of range 1-65535", port)
		}
	}
	if m.Prometheus.Retention == "" {
		m.Prometheus.Retention = "15d"
	} else if !regexp.MustCompile(`^([0-9]+(y|w|d|h|m|s|ms))+$`).MatchString(m.Prometheus.Retention) {
		v.errorf("monitoring.prometheus.retention", "%q is not a Prometheus duration like 15d", m.Prometheus.Retention)
	}
	if si := m.Prometheus.ScrapeInterval; si != "" {
		if d, err := time.ParseDuration(si); err != nil || d < time.Second || d > 15*time.Second {
			v.errorf("monitoring.prometheus.scrapeInterval", "%q must be a duration from 1s to 15s (the rules' 1m rate windows need four samples)", si)
		}
	}
	for _, img := range [][2]string{{"monitoring.prometheus.image", m.Prometheus.Image}, {"monitoring.grafana.image", m.Grafana.Image}, {"monitoring.dcgmImage", m.DCGMImage}} {
		if img[1] != "" {
			v.pinned(img[0], img[1], "prom/prometheus:v3.7.3")
		}
	}
	if v.cfg.GatewayEnabled() && m.Host != v.cfg.Gateway.Host && !v.cfg.ClusterStack() {
		v.errorf("monitoring.host", "Prometheus scrapes the gateway on its lab network: run monitoring on the gateway's host %s, not %s", v.cfg.Gateway.Host, m.Host)
	}
	v.duration("monitoring.ttftSlo", m.TTFTSLO)
	if m.DCGM && !v.cfg.ClusterStack() && !slices.ContainsFunc(v.cfg.Hosts, func(h Host) bool { return len(h.GPUs) > 0 }) {
		v.errorf("monitoring.dcgm", "no host declares GPUs to export")
	}
}

func (v *validator) benchmark(ins []InstancePlan) {
	b := &v.cfg.Benchmark
	if v.cfg.Program == Bench && !b.Enabled {
		b.Enabled = true // benchmarking is all a bench stack does
	}
	if !b.Enabled {
		return
	}
	if b.RunOn == "" {
		b.RunOn = "local"
		if v.cfg.ClusterStack() {
			b.RunOn = RunOnCluster
		}
	}
	if v.cfg.ClusterStack() {
		v.clusterBenchmark()
	} else if !slices.Contains([]string{"local", "host"}, b.RunOn) {
		v.errorf("benchmark.runOn", "unknown %q (want local or host)", b.RunOn)
	}
	if b.RunOn == "host" && v.cfg.Program == Bench {
		v.errorf("benchmark.runOn", "a bench stack has no host of its own; use local")
	}
	if b.Dataset == "" {
		b.Dataset = "random"
	}
	if !slices.Contains([]string{"random", "multilingual", "sharegpt", "jsonl"}, b.Dataset) {
		v.errorf("benchmark.dataset", "unknown dataset %q (want random, multilingual, sharegpt or jsonl)", b.Dataset)
	}
	if (b.Dataset == "sharegpt" || b.Dataset == "jsonl") && b.DatasetPath == "" {
		v.errorf("benchmark.datasetPath", "dataset %s needs a file path", b.Dataset)
	}
	if b.NumPrompts == 0 {
		b.NumPrompts = 200
	}
	if b.NumPrompts < 0 {
		v.errorf("benchmark.numPrompts", "must be positive, got %d", b.NumPrompts)
	}
	for i, c := range b.MaxConcurrency {
		if c < 1 {
			v.errorf(fmt.Sprintf("benchmark.maxConcurrency[%d]", i), "must be at least 1, got %d", c)
		}
	}
	for i, r := range b.RequestRate {
		if r <= 0 || math.IsNaN(r) {
			v.errorf(fmt.Sprintf("benchmark.requestRate[%d]", i), "must be positive or \"inf\", got %v", r)
		}
	}
	if b.Burstiness < 0 {
		v.errorf("benchmark.burstiness", "must be positive, got %v", b.Burstiness)
	}
	if b.InputLen < 0 || b.OutputLen < 0 || (b.Warmup != nil && *b.Warmup < 0) {
		v.errorf("benchmark", "inputLen, outputLen and warmup must not be negative")
	}
	for _, k := range slices.Sorted(maps.Keys(b.Goodput)) {
		ms := b.Goodput[k]
		if !slices.Contains([]string{"ttft", "tpot", "e2el"}, k) {
			v.errorf("benchmark.goodput."+k, "unknown SLO (want ttft, tpot or e2el, in ms)")
		} else if ms <= 0 {
			v.errorf("benchmark.goodput."+k, "must be positive, got %v", ms)
		}
	}
	v.duration("benchmark.timeout", b.Timeout)
	if d, err := time.ParseDuration(b.Timeout); err == nil && d > 0 && d < benchspec.MinTimeout {
		v.errorf("benchmark.timeout", "%q is too short: at least %v (the bench stops 10-30s before it)", b.Timeout, benchspec.MinTimeout)
	}
	v.benchConnections()
	if b.Direct && v.cfg.Program == Bench {
		v.errorf("benchmark.direct", "a bench stack already targets endpoints directly")
	}
	if b.Repeats == nil {
		n := 1
		if slices.ContainsFunc(ins, func(in InstancePlan) bool { return len(in.Instance.Devices) > 0 }) {
			n = 3 // GPU engines vary run to run: give a spread
		}
		b.Repeats = &n
	} else if *b.Repeats < 1 || *b.Repeats > 100 {
		v.errorf("benchmark.repeats", "must be 1-100, got %d", *b.Repeats)
	}
	if b.Baseline != "" && !stackRef.MatchString(b.Baseline) {
		v.errorf("benchmark.baseline", "%q is not a stack name or org/project/stack", b.Baseline)
	}
	if f := b.FailOnRegression; f != nil {
		switch {
		case b.Baseline == "":
			v.errorf("benchmark.failOnRegression", "needs benchmark.baseline: the stack to compare with")
		case *f <= 0 || math.IsInf(*f, 0) || math.IsNaN(*f):
			v.errorf("benchmark.failOnRegression", "must be a positive percentage, got %v", *f)
		}
	}
}

// stackRef is a Pulumi stack reference: stack, project/stack or
// org/project/stack.
var stackRef = regexp.MustCompile(`^([A-Za-z0-9_.-]+/){0,2}[A-Za-z0-9_.-]+$`)

func (v *validator) targets() {
	if len(v.cfg.Frameworks) > 0 {
		v.errorf("frameworks", "program bench deploys nothing; list existing endpoints under targets")
	}
	if len(v.cfg.Targets) == 0 {
		v.errorf("targets", "program bench needs at least one target")
	}
	seen := map[string]bool{}
	for i, t := range v.cfg.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		if t.Name == "" || !dnsLabel.MatchString(t.Name) {
			v.errorf(p+".name", "%q must be lower-case letters, digits and dashes", t.Name)
		} else if seen[t.Name] {
			v.errorf(p+".name", "duplicate target name %q", t.Name)
		}
		seen[t.Name] = true
		v.targetURL(p+".url", t.URL)
		if t.Model == "" {
			v.errorf(p+".model", "is required")
		}
		if t.Engine != "" {
			if _, err := engine.Parse(t.Engine); err != nil {
				v.errorf(p+".engine", "%v", err)
			}
		}
		if t.APIKeySecret != "" && !regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*$`).MatchString(t.APIKeySecret) {
			v.errorf(p+".apiKeySecret", "%q must be a config key name like openaiKey", t.APIKeySecret)
		}
	}
}

// targetURL checks a bench target's base URL: http(s), a host, and no
// credentials — the URL is in the bench command's inputs and the outputs,
// both plain text (the bench would refuse it too, but only at `up`).
func (v *validator) targetURL(path, raw string) {
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		v.errorf(path, "%q is not an http(s) URL", raw)
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// Not echoed: it may hold credentials.
		v.errorf(path, "is not a URL: %v", errors.Unwrap(err))
	case u.User != nil:
		// Not echoed either: the user part may be the key itself.
		v.errorf(path, "carries credentials (a user part before \"@\"): it would sit in plain text in the stack's state; put the key in a secret and name it in apiKeySecret")
	case u.Hostname() == "":
		v.errorf(path, "%q has no host", raw)
	}
}

// plan places every instance on its host's GPUs.
func (v *validator) plan(ins []InstancePlan) []HostPlan {
	var out []HostPlan
	for _, h := range v.cfg.Hosts {
		hp := HostPlan{Host: h}
		var gpus []planner.GPU
		idx := 0
		for _, g := range h.GPUs {
			hp.Declared = append(hp.Declared, g)
			for range max(g.Count, 0) {
				gpus = append(gpus, planner.GPU{Index: idx, Model: g.Model, MemoryGiB: g.MemoryGiB})
				idx++
			}
		}
		var demands []planner.Demand
		var onHost []*InstancePlan
		for i := range ins {
			in := &ins[i]
			if in.Host != h.Name {
				continue
			}
			d, err := demand(in.Framework, len(gpus))
			if err != nil {
				continue // reported by gpuEngineOnHost
			}
			in.Instance.DemandGiB = d.GiB
			d.Name, d.Engine = in.Instance.Name, in.Framework.Engine
			demands = append(demands, d)
			onHost = append(onHost, in)
		}
		placements, err := planner.Plan(h.Name, gpus, demands)
		if err != nil {
			v.errs = append(v.errs, fmt.Errorf("frameworks: %w", err))
		}
		for i, p := range placements {
			onHost[i].Instance.Devices = p.Devices
			onHost[i].Instance.MemoryFraction = p.Fraction
			onHost[i].StartAfter = p.After
			if len(p.Devices) > 0 {
				hp.NeedNvidiaRuntime = true
			}
		}
		out = append(out, hp)
	}
	return out
}

func demand(f *Framework, hostGPUs int) (planner.Demand, error) {
	d := planner.Demand{}
	if hostGPUs == 0 || f.Engine == engine.Sim {
		return d, nil
	}
	switch {
	case f.GPUs == nil:
		d.Count = 1
	case len(f.GPUs.Devices) > 0:
		d.Devices = f.GPUs.Devices
	default:
		d.Count = f.GPUs.Count
	}
	if d.Count == 0 && len(d.Devices) == 0 {
		return d, nil // explicitly CPU
	}
	if d.Count > hostGPUs {
		return d, errors.New("too many GPUs")
	}
	switch {
	case f.GPUMemoryGiB > 0:
		d.GiB = f.GPUMemoryGiB
	case f.ModelParamsB > 0:
		kv := DefaultKVCacheGiB
		if f.KVCacheGiB != nil {
			kv = *f.KVCacheGiB
		}
		gib, err := planner.EstimateGiB(f.ModelParamsB, f.Dtype, kv)
		if err != nil {
			return d, err
		}
		d.GiB = gib
	default:
		return d, errors.New("no demand")
	}
	return d, nil
}

// ports checks that no two published ports collide on a host.
func (v *validator) ports(ins []InstancePlan) {
	byHost := map[string]map[int]string{}
	claim := func(host string, port int, who string) {
		if byHost[host] == nil {
			byHost[host] = map[int]string{}
		}
		if prev, ok := byHost[host][port]; ok {
			v.errorf(who, "port %d on host %s is already taken by %s", port, host, prev)
			return
		}
		byHost[host][port] = who
	}
	for _, in := range ins {
		who := fmt.Sprintf("frameworks[%d]", slices.IndexFunc(v.cfg.Frameworks, func(f Framework) bool { return f.Name == in.Framework.Name }))
		if in.Framework.Replicas > 1 {
			who += fmt.Sprintf(" (replica %d)", in.Replica)
		}
		claim(in.Host, in.PublishedPort, who+".port")
	}
	if v.cfg.GatewayEnabled() && v.cfg.Gateway.Host != "" {
		claim(v.cfg.Gateway.Host, v.cfg.Gateway.Port, "gateway.port")
	}
	if v.cfg.MonitoringEnabled() && v.cfg.Monitoring.Host != "" {
		claim(v.cfg.Monitoring.Host, v.cfg.Monitoring.Prometheus.Port, "monitoring.prometheus.port")
		if v.cfg.GrafanaEnabled() {
			claim(v.cfg.Monitoring.Host, v.cfg.Monitoring.Grafana.Port, "monitoring.grafana.port")
		}
	}
}

// reachability checks that the gateway can reach engines on other hosts:
// their published ports must not be bound to loopback.
func (v *validator) reachability(ins []InstancePlan) {
	if !v.cfg.GatewayEnabled() {
		return
	}
	reported := map[string]bool{}
	for _, in := range ins {
		if in.Host == v.cfg.Gateway.Host || reported[in.Host] {
			continue
		}
		h := v.hosts[in.Host]
		if h == nil {
			continue
		}
		if ip := net.ParseIP(h.BindAddress); h.BindAddress == "" || (ip != nil && ip.IsLoopback()) {
			reported[in.Host] = true
			i := slices.IndexFunc(v.cfg.Hosts, func(x Host) bool { return x.Name == in.Host })
			v.errorf(fmt.Sprintf("hosts[%d].bindAddress", i), "the gateway on host %s cannot reach %s's engines on loopback; set bindAddress to an address %s can reach (e.g. its private IP)", v.cfg.Gateway.Host, in.Host, v.cfg.Gateway.Host)
		}
	}
}

// benchReachability checks that a benchmark run from the machine running
// Pulumi (runOn: local) can reach what it measures.
func (v *validator) benchReachability(ins []InstancePlan) {
	b := v.cfg.Benchmark
	if !b.Enabled || b.RunOn != "local" {
		return
	}
	unreachable := func(name string) bool {
		h := v.hosts[name]
		if h == nil || h.SSH == nil {
			return false
		}
		ip := net.ParseIP(h.BindAddress)
		return h.BindAddress == "" || (ip != nil && ip.IsLoopback())
	}
	if v.cfg.GatewayEnabled() && unreachable(v.cfg.Gateway.Host) && v.cfg.Gateway.BindAddress == "" {
		v.errorf("benchmark.runOn", "local cannot reach the gateway on %s, which listens on its loopback; use runOn: host (bench inside the lab network) or set a bindAddress", v.cfg.Gateway.Host)
		return
	}
	if b.Direct || !v.cfg.GatewayEnabled() {
		for _, in := range ins {
			if unreachable(in.Host) {
				v.errorf("benchmark.runOn", "local cannot reach %s's engines on its loopback (direct: true); use runOn: host or set hosts[].bindAddress", in.Host)
				return
			}
		}
	}
}

func (v *validator) duration(path, s string) {
	if s == "" {
		return
	}
	if d, err := time.ParseDuration(s); err != nil || d <= 0 {
		v.errorf(path, "%q is not a positive duration like 30s or 10m", s)
	}
}

func (v *validator) hostNames() []string {
	names := make([]string, 0, len(v.cfg.Hosts))
	for _, h := range v.cfg.Hosts {
		names = append(names, h.Name)
	}
	return names
}

// maxGatewayConnections bounds gateway.maxConnections: each connection
// holds a file descriptor and buffers.
const maxGatewayConnections = 1 << 20

// benchConnections: a benchmark through the gateway opens one connection
// per request in flight (every prompt at once when concurrency is
// unlimited); the gateway refuses those over its cap, which would show as
// failed requests instead of the engines' numbers.
func (v *validator) benchConnections() {
	b := v.cfg.Benchmark
	if !v.cfg.GatewayEnabled() || v.cfg.Program == Bench {
		return
	}
	limit := v.cfg.Gateway.MaxConnections
	if limit == 0 {
		limit = gw.DefaultConfig().MaxConnections
	}
	levels := []int(b.MaxConcurrency)
	if len(levels) == 0 {
		levels = []int{b.NumPrompts} // unlimited: every prompt at once
	}
	for i, c := range levels {
		if c <= limit {
			continue
		}
		key := "benchmark.maxConcurrency"
		if len(b.MaxConcurrency) > 0 {
			key = fmt.Sprintf("benchmark.maxConcurrency[%d]", i)
		}
		v.errorf(key, "%d requests in flight through the gateway exceed gateway.maxConnections (%d): raise gateway.maxConnections or lower the concurrency", c, limit)
	}
}
