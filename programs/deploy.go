package programs

import (
	"fmt"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/programs/stackconfig"
)

// Options are what Deploy needs beyond the stack: where the servelab
// sources are and the tag to build them as.
type Options struct {
	// ImageTag is the servelab image reference (see ImageTag).
	ImageTag string
	// SourceDir is the image's build context: a directory holding only
	// what the binary is built from, and its Dockerfile (ImageSource).
	SourceDir string
	// BenchBinary is the servelab binary benchmarks run with on this
	// machine (benchmark.runOn: local), relative to the project directory
	// the command runs in, and BenchBinarySHA256 its content's hash.
	BenchBinary       string
	BenchBinarySHA256 string
}

// Deploy creates the resources of a validated lab and returns the stack
// outputs. Each program composes components; none inlines them.
func Deploy(ctx *pulumi.Context, lab *stackconfig.Lab, secrets Secrets, opts Options) (pulumi.Map, error) {
	return newDeployment(ctx, lab, secrets, opts).deploy()
}

func newDeployment(ctx *pulumi.Context, lab *stackconfig.Lab, secrets Secrets, opts Options) *deployment {
	return &deployment{ctx: ctx, lab: lab, secrets: secrets, opts: opts, engineKey: frameworkKey,
		hosts: map[string]*gpuhost.GpuHost{}, images: map[string]pulumi.StringInput{}}
}

func (d *deployment) deploy() (pulumi.Map, error) {
	if d.lab.Cluster != nil {
		return d.deployCluster() // kube.go
	}
	switch d.lab.Config.Program {
	case stackconfig.Compare:
		return d.compare()
	case stackconfig.Serve:
		return d.serve()
	case stackconfig.Bench:
		return d.bench()
	}
	return nil, fmt.Errorf("program %q has no deployment", d.lab.Config.Program)
}

// deployment carries what the programs share while they build a stack.
type deployment struct {
	ctx     *pulumi.Context
	lab     *stackconfig.Lab
	secrets Secrets
	opts    Options

	hosts      map[string]*gpuhost.GpuHost
	images     map[string]pulumi.StringInput
	frameworks []*framework.Framework
	gateway    *gateway.Gateway
	// engineKey gives a direct benchmark target its engine's API key.
	engineKey engineKeyFunc
}

// declaredGPUs are a host's GPU groups as the GpuHost component checks
// them.
func declaredGPUs(gs []stackconfig.GPUGroup) []gpuhost.DeclaredGPU {
	var out []gpuhost.DeclaredGPU
	for _, g := range gs {
		out = append(out, gpuhost.DeclaredGPU{Model: g.Model, MemoryGiB: g.MemoryGiB, Count: g.Count})
	}
	return out
}

// deployHosts creates every declared host.
func (d *deployment) deployHosts() error {
	for _, hp := range d.lab.Hosts {
		h := hp.Host
		args := &gpuhost.GpuHostArgs{
			Stack:             d.ctx.Stack(),
			DockerHost:        h.DockerHost,
			GPUs:              declaredGPUs(hp.Declared),
			NeedNvidiaRuntime: hp.NeedNvidiaRuntime,
			BindAddress:       h.BindAddress,
			Address:           h.Address,
		}
		if h.SSH != nil {
			args.SSH = sshArgs(d.ctx.Stack(), h.Name, h.SSH)
			args.SSH.PrivateKey = d.secrets.SSHPrivateKey
		}
		needed, err := d.needsModelCache(h.Name)
		if err != nil {
			return err
		}
		args.ModelCache = gpuhost.ModelCacheArgs{Needed: needed, HostPath: h.ModelCache}
		host, err := gpuhost.NewGpuHost(d.ctx, h.Name, args)
		if err != nil {
			return err
		}
		d.hosts[h.Name] = host
	}
	return nil
}

// needsModelCache reports whether an engine on host mounts the host's
// model cache: only then is it created.
func (d *deployment) needsModelCache(host string) (bool, error) {
	for _, in := range d.lab.Instances {
		if in.Host != host {
			continue
		}
		spec, err := frameworkspec.BuildSpec(in.Instance)
		if err != nil {
			return false, err
		}
		if spec.UsesModelCache() {
			return true, nil
		}
	}
	return false, nil
}

// deployFrameworks creates one Framework per planned instance, each after
// the instances the planner starts before it on its GPUs and replaced
// with their containers.
func (d *deployment) deployFrameworks() error {
	fs, err := inStartOrder(d.lab.Instances, d.deployFramework, (*framework.Framework).Waits, (*framework.Framework).Containers)
	d.frameworks = fs
	return err
}

// inStartOrder creates every instance of ins with create, first creating
// (once) the ones it starts after (StartAfter), and returns them in ins's
// order. An instance waits for those to be ready (after: their waits),
// and is replaced whenever one of them is (replaceWith: what replaces
// each of them, itself included), so that it never runs while one of
// them starts again. Both targets start their frameworks so.
func inStartOrder[F any](ins []stackconfig.InstancePlan, create func(in stackconfig.InstancePlan, after, replaceWith []pulumi.Resource) (F, error), waits, replaces func(F) []pulumi.Resource) ([]F, error) {
	made := map[string]F{}
	var start func(in stackconfig.InstancePlan) (F, error)
	start = func(in stackconfig.InstancePlan) (F, error) {
		if f, ok := made[in.Instance.Name]; ok {
			return f, nil
		}
		var zero F
		var after, replaceWith []pulumi.Resource
		for _, name := range in.StartAfter {
			i := slices.IndexFunc(ins, func(x stackconfig.InstancePlan) bool { return x.Instance.Name == name })
			if i < 0 {
				return zero, fmt.Errorf("instance %s starts after unknown instance %s", in.Instance.Name, name)
			}
			prev, err := start(ins[i])
			if err != nil {
				return zero, err
			}
			after = append(after, waits(prev)...)
			for _, r := range replaces(prev) {
				if !slices.Contains(replaceWith, r) {
					replaceWith = append(replaceWith, r)
				}
			}
		}
		f, err := create(in, after, replaceWith)
		if err != nil {
			return zero, err
		}
		made[in.Instance.Name] = f
		return f, nil
	}
	out := make([]F, 0, len(ins))
	for _, in := range ins {
		f, err := start(in)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// deployFramework creates instance in, after the resources after and
// replaced with replaceWith.
func (d *deployment) deployFramework(in stackconfig.InstancePlan, after, replaceWith []pulumi.Resource) (*framework.Framework, error) {
	host := d.hosts[in.Host]
	args := &framework.FrameworkArgs{
		Host:          host,
		Instance:      in.Instance,
		PublishedPort: in.PublishedPort,
		HFToken:       d.secrets.HFToken,
		After:         after,
		ReplaceWith:   replaceWith,
	}
	if in.Instance.Engine == engine.Sim {
		img, err := d.servelabImage(in.Host)
		if err != nil {
			return nil, err
		}
		args.Image, args.ImageIsLocal = img, true
	} else {
		args.Image = pulumi.String(in.Framework.Image)
	}
	return framework.NewFramework(d.ctx, in.Instance.Name, args)
}

// frameworkOutputs describes every framework instance for the stack
// outputs.
func (d *deployment) frameworkOutputs() pulumi.Map {
	out := pulumi.Map{}
	for i, f := range d.frameworks {
		in := d.lab.Instances[i]
		out[in.Instance.Name] = pulumi.Map{
			"engine":          f.EngineKind,
			"api":             pulumi.String(string(f.API)),
			"host":            pulumi.String(in.Host),
			"model":           pulumi.String(in.Instance.Model),
			"publicModel":     pulumi.String(in.PublicModel),
			"servedModelName": f.ServedModelName,
			"internalUrl":     f.InternalURL,
			"publishedUrl":    f.PublishedURL,
			"metricsPath":     f.MetricsPath,
			"gpus":            pulumi.ToIntArray(orEmpty(in.Instance.Devices)),
			"memoryFraction":  pulumi.Float64(in.Instance.MemoryFraction),
			"demandGiB":       pulumi.Float64(in.Instance.DemandGiB),
		}
	}
	return out
}

// engineKeyOutputs is the stack output engineKeys: each keyed engine's own
// API key, by instance (a secret: `pulumi stack output --show-secrets
// engineKeys`), for reaching an engine directly. It is its own output so
// that frameworks stays readable without --show-secrets.
func (d *deployment) engineKeyOutputs() pulumi.Map {
	out := pulumi.Map{}
	for _, f := range d.frameworks {
		if f.HasAPIKey {
			out[f.Name] = f.APIKey
		}
	}
	return out
}

func (d *deployment) hostOutputs() pulumi.Map {
	out := pulumi.Map{}
	for name, h := range d.hosts {
		out[name] = pulumi.Map{
			"address":   pulumi.String(h.Address()),
			"remote":    pulumi.Bool(h.Remote()),
			"inventory": h.Inventory,
		}
	}
	return out
}

func orEmpty(xs []int) []int {
	if xs == nil {
		return []int{}
	}
	return xs
}
