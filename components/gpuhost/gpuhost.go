// Package gpuhost is the GpuHost component: one machine of the lab, reached
// through its local Docker socket or over SSH. It owns the host's Docker
// provider (passed explicitly to every container placed on it), the lab
// network, the shared Hugging Face cache volume and a probe that checks the
// machine against the stack — the Docker Engine API its daemon speaks and,
// where GPUs are declared, the GPUs it really has.
package gpuhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-command/sdk/go/command/local"
	"github.com/pulumi/pulumi-command/sdk/go/command/remote"
	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/internal/shellquote"
)

// SSHArgs reach a remote host (ssh.go says which transport reads what).
// Docker's ssh transport uses the system ssh client, so the Docker provider
// authenticates with the user's agent or key file; PrivateKey, when set, is
// used only by probe, pull and bench commands.
type SSHArgs struct {
	Host string
	User string
	Port int // 22 when zero
	// Opts are extra ssh options for Docker's transport only, e.g.
	// ["-o", "ConnectTimeout=10"].
	Opts []string
	// HostKey is the host's public key, an authorized_keys line
	// ("ssh-ed25519 AAAA..."): both transports refuse any other.
	HostKey string
	// KnownHostsFile is where Docker's ssh client finds HostKey (and the
	// bastion's): a known_hosts file holding KnownHosts(), written by the
	// program before `up` (a "~/" path is expanded by ssh).
	KnownHostsFile string
	// InsecureIgnoreHostKey accepts any host key (HostKey must be empty).
	InsecureIgnoreHostKey bool
	// ProxyJump, when set, is a bastion both transports go through.
	ProxyJump *ProxyArgs
	// PrivateKey is a Pulumi secret (servelab:sshPrivateKey); nil = agent.
	PrivateKey pulumi.StringInput
}

// GpuHostArgs declare a host.
type GpuHostArgs struct {
	// Stack prefixes Docker object names so two stacks share a daemon.
	Stack string
	// SSH is nil for the machine running Pulumi.
	SSH *SSHArgs
	// DockerHost overrides the local Docker endpoint (default: Docker's own
	// default, usually unix:///var/run/docker.sock).
	DockerHost string
	// GPUs the stack declares; empty = CPU-only host.
	GPUs []DeclaredGPU
	// NeedNvidiaRuntime: some engine on this host pins GPUs through
	// Docker's nvidia runtime, so the probe must find it.
	NeedNvidiaRuntime bool
	// BindAddress is where published ports listen; 127.0.0.1 by default.
	BindAddress string
	// Address is how other hosts and the user reach published ports: the
	// SSH host name, or localhost.
	Address string
	// ModelCache is the host's model cache; it is created only when Needed.
	ModelCache ModelCacheArgs
}

// GpuHost is a provisioned host.
type GpuHost struct {
	pulumi.ResourceState

	// Name is the host's name in the stack.
	Name string
	// Provider is the host's Docker provider: pass it to every resource
	// placed on the host.
	Provider *docker.Provider
	// NetworkName is the lab network's Docker name.
	NetworkName pulumi.StringOutput
	// Inventory is the probe's findings as JSON (an Inventory); it fails
	// the deployment when a declared GPU is missing or the Docker endpoint
	// is unreachable or too old (MinDockerAPI).
	Inventory pulumi.StringOutput
	// DockerAPIVersion is the Docker Engine API the host's daemon speaks,
	// from the probe; container inputs that depend on it (Healthcheck)
	// wait for the probe.
	DockerAPIVersion pulumi.StringOutput
	// Probed is true when the host runs a probe: every host does.
	Probed bool

	// waits are the resources that finish when the host is ready.
	waits []pulumi.Resource

	stack       string
	ssh         *SSHArgs
	bindAddress string
	address     string
	dockerHost  string
	modelCache  modelCache
}

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:gpuhost:GpuHost"

// NewGpuHost registers a host and its provider, network, cache volume and
// probe.
func NewGpuHost(ctx *pulumi.Context, name string, args *GpuHostArgs, opts ...pulumi.ResourceOption) (*GpuHost, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	if a.Stack == "" {
		a.Stack = ctx.Stack()
	}
	h := &GpuHost{Name: name, stack: a.Stack, ssh: a.SSH, bindAddress: a.BindAddress, address: a.Address, dockerHost: a.DockerHost}
	if err := ctx.RegisterComponentResource(TypeToken, name, h, opts...); err != nil {
		return nil, err
	}

	providerArgs := &docker.ProviderArgs{}
	if a.SSH != nil {
		providerArgs.Host = pulumi.String(a.SSH.dockerHost())
		if opts := a.SSH.dockerSSHOpts(); len(opts) > 0 {
			providerArgs.SshOpts = pulumi.ToStringArray(opts)
		}
	} else if a.DockerHost != "" {
		providerArgs.Host = pulumi.String(a.DockerHost)
	}
	h.Provider, err = docker.NewProvider(ctx, name+"-docker", providerArgs, pulumi.Parent(h))
	if err != nil {
		return nil, fmt.Errorf("host %s: docker provider: %w", name, err)
	}
	onHost := []pulumi.ResourceOption{pulumi.Parent(h), pulumi.Provider(h.Provider)}

	network, err := docker.NewNetwork(ctx, name+"-network", &docker.NetworkArgs{
		Name:   pulumi.String(h.DockerName("lab")),
		Driver: pulumi.String("bridge"),
		Labels: docker.NetworkLabelArray{
			docker.NetworkLabelArgs{Label: pulumi.String("servelab.stack"), Value: pulumi.String(a.Stack)},
		},
	}, append(onHost, pulumi.IgnoreChanges(EngineFilledNetworkFields()))...)
	if err != nil {
		return nil, fmt.Errorf("host %s: network: %w", name, err)
	}
	h.NetworkName = network.Name

	if h.modelCache, err = newModelCache(ctx, name, a.ModelCache, onHost); err != nil {
		return nil, err
	}

	// Every host is probed: the Docker API version decides container
	// inputs (Healthcheck), and a host that fails the probe gets nothing.
	h.Probed = true
	probe, err := h.probe(ctx)
	if err != nil {
		return nil, err
	}
	h.waits = []pulumi.Resource{network, probe.Resource}
	declared, needNvidia := a.GPUs, a.NeedNvidiaRuntime
	h.Inventory = probe.Stdout.ApplyT(func(out string) (string, error) {
		inv, err := ParseProbe(out)
		if err != nil {
			return "", fmt.Errorf("host %s: %w", name, err)
		}
		if err := Check(name, inv, declared, needNvidia); err != nil {
			return "", err
		}
		b, err := json.Marshal(inv)
		return string(b), err
	}).(pulumi.StringOutput)
	h.DockerAPIVersion = h.Inventory.ApplyT(func(js string) (string, error) {
		var inv Inventory
		err := json.Unmarshal([]byte(js), &inv)
		return inv.Docker.APIVersion, err
	}).(pulumi.StringOutput)

	if err := ctx.RegisterResourceOutputs(h, pulumi.Map{
		"networkName":      h.NetworkName,
		"inventory":        h.Inventory,
		"dockerApiVersion": h.DockerAPIVersion,
	}); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *GpuHost) probe(ctx *pulumi.Context) (*Command, error) {
	c, err := h.Run(ctx, h.Name+"-probe", RunArgs{Script: ProbeScript, Triggers: []string{"v1"}})
	if err != nil {
		return nil, fmt.Errorf("host %s: probe: %w", h.Name, err)
	}
	return c, nil
}

// Waits are the resources that finish when the host is ready for
// containers and commands: its lab network and its probe (which fails on
// a host that does not match the stack). Depend on them, never on the
// GpuHost component itself: a dependency on a component covers only the
// children registered by the time the dependent registers, which races
// the probe's registration.
func (h *GpuHost) Waits() []pulumi.Resource { return h.waits }

// Healthcheck renders a container healthcheck for this host's Docker
// daemon (see Healthcheck.Render). It resolves after the probe, so a
// container using it is created only on a host that passed the probe.
func (h *GpuHost) Healthcheck(hc Healthcheck) docker.ContainerHealthcheckPtrOutput {
	return h.DockerAPIVersion.ApplyT(func(api string) (*docker.ContainerHealthcheck, error) {
		out, err := hc.Render(api)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", h.Name, err)
		}
		return out, nil
	}).(docker.ContainerHealthcheckPtrOutput)
}

// DockerName is a Docker object name unique to this stack: servelab-<stack>-<role>.
func (h *GpuHost) DockerName(role string) string {
	return "servelab-" + h.stack + "-" + role
}

// Remote reports whether the host is reached over SSH.
func (h *GpuHost) Remote() bool { return h.ssh != nil }

// BindAddress is the address published ports listen on.
func (h *GpuHost) BindAddress() string { return h.bindAddress }

// Address is how other hosts and the user reach this host's published ports.
func (h *GpuHost) Address() string { return h.address }

// PublishedURL is the URL of a port published on this host.
func (h *GpuHost) PublishedURL(port int) string {
	return "http://" + net.JoinHostPort(h.address, strconv.Itoa(port))
}

// RunArgs describe a command run on the host by Run.
type RunArgs struct {
	// Argv is run as one command, every word shell-quoted. Exactly one of
	// Argv, ArgvInput, Pipeline and Script is set.
	Argv []string
	// ArgvInput is Argv when some words are outputs of other resources.
	ArgvInput pulumi.StringArrayInput
	// Pipeline runs several commands joined by &&.
	Pipeline [][]string
	// Script is a fixed shell script: it must hold nothing taken from
	// config (use Argv or Pipeline for that).
	Script string
	// StdinEnv names environment variables read, one line each, from the
	// start of Stdin and exported before Argv runs; Argv gets the rest of
	// Stdin. Secrets travel this way: never in argv, and without relying
	// on sshd's AcceptEnv.
	StdinEnv []string
	// Stdin is passed to the command; use it for secrets.
	Stdin pulumi.StringInput
	// Environment for local commands. Remote commands get none (sshd's
	// AcceptEnv rarely allows it); use StdinEnv instead.
	Environment map[string]string
	// Delete is an argv (every word quoted, like Argv) run when the
	// resource is deleted, e.g. to remove a file the command wrote.
	Delete []string
	// Triggers re-run the command when they change.
	Triggers []string
	// TriggerInputs are triggers that are outputs of other resources.
	TriggerInputs []pulumi.Input
	// Quiet keeps stdout and stderr out of Pulumi's logs; StderrOnly keeps
	// stdout (a result document) out but shows stderr (progress, errors).
	Quiet      bool
	StderrOnly bool
}

// ErrRunArgs is returned for RunArgs that do not set exactly one command.
var ErrRunArgs = errors.New("set exactly one of Argv, ArgvInput, Pipeline, Script")

// Command is a command resource Run created.
type Command struct {
	// Resource is the local or remote Command, for dependencies.
	Resource pulumi.Resource
	Stdout   pulumi.StringOutput
}

// Run runs a command on the host — local.Command for the machine running
// Pulumi, remote.Command over SSH otherwise — as a child of the host (or of
// the parent given in opts).
func (h *GpuHost) Run(ctx *pulumi.Context, name string, args RunArgs, opts ...pulumi.ResourceOption) (*Command, error) {
	if h.dockerHost != "" {
		env := map[string]string{"DOCKER_HOST": h.dockerHost}
		for k, v := range args.Environment {
			env[k] = v
		}
		args.Environment = env
	}
	opts = append([]pulumi.ResourceOption{pulumi.Parent(h)}, opts...)
	return run(ctx, name, h.ssh, args, opts...)
}

// RunLocal runs a command on the machine running Pulumi (no host needed).
func RunLocal(ctx *pulumi.Context, name string, args RunArgs, opts ...pulumi.ResourceOption) (*Command, error) {
	return run(ctx, name, nil, args, opts...)
}

func run(ctx *pulumi.Context, name string, ssh *SSHArgs, args RunArgs, opts ...pulumi.ResourceOption) (*Command, error) {
	create, err := args.create()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	triggers := pulumi.Array{}
	for _, t := range args.Triggers {
		triggers = append(triggers, pulumi.String(t))
	}
	for _, t := range args.TriggerInputs {
		triggers = append(triggers, t)
	}
	logging := "stdoutAndStderr"
	switch {
	case args.Quiet:
		logging = "none"
	case args.StderrOnly:
		logging = "stderr"
	}

	if ssh == nil {
		env := pulumi.StringMap{}
		for k, v := range args.Environment {
			env[k] = pulumi.String(v)
		}
		cargs := &local.CommandArgs{
			Create:      create,
			Interpreter: pulumi.ToStringArray([]string{"/bin/sh", "-c"}),
			Triggers:    triggers,
			Logging:     local.Logging(logging),
			// Off: the previous stdout would be passed in the environment
			// (PULUMI_COMMAND_STDOUT), and Linux refuses to exec with one
			// environment string over 128 KiB (a bench result grows past it).
			AddPreviousOutputInEnv: pulumi.Bool(false),
		}
		if len(env) > 0 {
			cargs.Environment = env
		}
		if args.Stdin != nil {
			cargs.Stdin = args.Stdin
		}
		if len(args.Delete) > 0 {
			cargs.Delete = pulumi.String(shellquote.Join(args.Delete...))
		}
		c, err := local.NewCommand(ctx, name, cargs, opts...)
		if err != nil {
			return nil, err
		}
		return &Command{Resource: c, Stdout: c.Stdout}, nil
	}

	cargs := &remote.CommandArgs{
		Connection: ssh.connection(),
		Create:     create,
		Triggers:   triggers,
		Logging:    remote.Logging(logging),
		// Off, as for local commands: the previous stdout in the
		// environment breaks the exec once it passes 128 KiB.
		AddPreviousOutputInEnv: pulumi.Bool(false),
	}
	if args.Stdin != nil {
		cargs.Stdin = args.Stdin
	}
	if len(args.Delete) > 0 {
		cargs.Delete = pulumi.String(shellquote.Join(args.Delete...))
	}
	c, err := remote.NewCommand(ctx, name, cargs, opts...)
	if err != nil {
		return nil, err
	}
	return &Command{Resource: c, Stdout: c.Stdout}, nil
}

// create renders the shell line: the StdinEnv prelude, then the command
// with every word quoted.
func (a RunArgs) create() (pulumi.StringInput, error) {
	set := 0
	for _, ok := range []bool{len(a.Argv) > 0, a.ArgvInput != nil, len(a.Pipeline) > 0, a.Script != ""} {
		if ok {
			set++
		}
	}
	if set != 1 {
		return nil, ErrRunArgs
	}
	var prelude strings.Builder
	for _, name := range a.StdinEnv {
		if !shellquote.ValidName(name) {
			return nil, fmt.Errorf("StdinEnv: %q is not an environment variable name", name)
		}
		fmt.Fprintf(&prelude, "IFS= read -r %s && export %s && ", name, name)
	}
	if len(a.StdinEnv) > 0 && (a.Script != "" || len(a.Pipeline) > 0) {
		return nil, errors.New("StdinEnv needs Argv or ArgvInput")
	}
	if len(a.StdinEnv) > 0 {
		prelude.WriteString("exec ")
	}
	p := prelude.String()
	switch {
	case len(a.Argv) > 0:
		return pulumi.String(p + shellquote.Join(a.Argv...)), nil
	case a.ArgvInput != nil:
		return a.ArgvInput.ToStringArrayOutput().ApplyT(func(argv []string) string {
			return p + shellquote.Join(argv...)
		}).(pulumi.StringOutput), nil
	case len(a.Pipeline) > 0:
		return pulumi.String(shellquote.Pipeline(a.Pipeline...)), nil
	default:
		return pulumi.String(a.Script), nil
	}
}

func validate(name string, args *GpuHostArgs) (GpuHostArgs, error) {
	var a GpuHostArgs
	if args != nil {
		a = *args
	}
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("gpuhost: name is empty"))
	}
	if a.SSH != nil {
		ssh := *a.SSH
		if ssh.ProxyJump != nil {
			j := *ssh.ProxyJump
			ssh.ProxyJump = &j
		}
		if err := ssh.validate(name); err != nil {
			errs = append(errs, err)
		}
		a.SSH = &ssh
		if a.Address == "" {
			a.Address = ssh.Host
		}
	}
	if a.Address == "" {
		a.Address = "localhost"
	}
	if a.BindAddress == "" {
		a.BindAddress = "127.0.0.1"
	}
	for i, g := range a.GPUs {
		if g.Count <= 0 || g.MemoryGiB <= 0 || g.Model == "" {
			errs = append(errs, fmt.Errorf("host %s: gpus[%d]: model, memoryGiB > 0 and count > 0 are required", name, i))
		}
	}
	return a, errors.Join(errs...)
}
