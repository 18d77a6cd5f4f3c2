package demo

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/servelab/servelab/components/benchmark/benchspec"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/stackfile"
	"github.com/servelab/servelab/programs/stackconfig"
)

// Plan is a stack's lab laid out on loopback: what the stack's containers
// run, as processes. Everything in it comes from the stack file through
// programs' own Load and Validate and the functions the components render
// with; only addresses and file paths differ from the containers'.
type Plan struct {
	// Stack is the stack's name (stacks/Pulumi.<stack>.yaml).
	Stack string
	Lab   *stackconfig.Lab
	// Engines are the simulated engines, one per framework instance.
	Engines []Engine
	// Gateway is the gateway's config: the stack's, listening on loopback,
	// its backends at the engines' addresses, its key in a file of ours.
	Gateway gw.Config
	// GatewayAddr and GatewayMetricsAddr are its API and metrics
	// listeners.
	GatewayAddr, GatewayMetricsAddr string
	// Monitoring is what Prometheus's files are generated from (its rules
	// in RulesDir of the work directory).
	Monitoring mon.Lab
	// PrometheusAddr is where Prometheus listens.
	PrometheusAddr string
	// Targets and Workload are the stack's benchmark.
	Targets  []benchspec.Target
	Workload benchspec.Workload
}

// Engine is one simulated engine process.
type Engine struct {
	// Name is the framework instance's name: the gateway's backend, the
	// metrics' "framework" label.
	Name string
	// Flavour is the engine it imitates.
	Flavour engine.Kind
	// Addr is where it listens (127.0.0.1:port).
	Addr string
	// Args are the container's command (after the servelab image's
	// entrypoint), listening on Addr and reading its key from KeyFile.
	Args []string
	// KeyFile is where the engine reads its API key — a file of the work
	// directory, which the gateway and Prometheus read too — and KeyFormat
	// how it is written; "" for an engine that takes no key (Ollama).
	KeyFile   string
	KeyFormat frameworkspec.KeyFormat
	// ReadySteps are the servelab commands (argv after the binary) that
	// make the engine ready once it answers, as the stack runs them in
	// its container, against Addr: an Ollama-flavoured sim's model load.
	ReadySteps [][]string
}

// Files are where the plan's processes find the files the demo writes.
type Files struct {
	// GatewayKey is the gateway's key file.
	GatewayKey string
	// Rules is Prometheus's rules directory.
	Rules string
	// EngineKeys is the directory of the engines' key files, one per
	// engine that checks a key, named after it.
	EngineKeys string
}

// Ports are the loopback ports of a plan.
type Ports struct {
	// Engines are the engines' addresses, by instance.
	Engines []string
	// Gateway, GatewayMetrics and Prometheus are those listeners'.
	Gateway, GatewayMetrics, Prometheus string
}

// ErrNotSimulated is returned for a stack with an engine that is not
// servelab's simulator: only simulated engines run without containers.
var ErrNotSimulated = errors.New("make demo runs simulated engines (engine: sim) only")

// LoadStack reads and validates a stack file with programs' own Load and
// Validate, as `pulumi up` would (a user's salt and secure values are left
// out: the demo needs no secret).
func LoadStack(path string) (string, *stackconfig.Lab, error) {
	base := filepath.Base(path)
	stack := strings.TrimSuffix(strings.TrimPrefix(base, "Pulumi."), ".yaml")
	if !strings.HasPrefix(base, "Pulumi.") || !strings.HasSuffix(base, ".yaml") || stack == "" {
		return "", nil, fmt.Errorf("%s: a stack file is named Pulumi.<stack>.yaml", path)
	}
	cfg, err := stackfile.Read(path)
	if err != nil {
		return "", nil, err
	}
	c, err := stackconfig.Load(func(key string) (string, bool) {
		v, ok := cfg[stackconfig.Namespace+":"+key]
		return v, ok
	})
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	lab, err := stackconfig.Validate(c)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", path, err)
	}
	if lab.Config.Program == stackconfig.Bench {
		return "", nil, fmt.Errorf("%s: program bench deploys nothing to run: %w", path, ErrNotSimulated)
	}
	var errs []error
	for _, in := range lab.Instances {
		if in.Instance.Engine != engine.Sim {
			errs = append(errs, fmt.Errorf("%s: %s is %s: %w", path, in.Instance.Name, in.Instance.Engine, ErrNotSimulated))
		}
	}
	if !lab.Config.GatewayEnabled() {
		errs = append(errs, fmt.Errorf("%s: the demo runs the gateway, which the stack disables (gateway.enabled: false)", path))
	}
	if err := errors.Join(errs...); err != nil {
		return "", nil, err
	}
	return stack, lab, nil
}

// StackPorts are the ports the stack publishes its engines, gateway and
// Prometheus on (the gateway's metrics port is the container's, which the
// stack does not publish).
func StackPorts(lab *stackconfig.Lab) Ports {
	p := Ports{
		Gateway:        loopback(lab.Config.Gateway.Port),
		GatewayMetrics: loopback(gatewayconfig.MetricsPort),
		Prometheus:     loopback(lab.Config.Monitoring.Prometheus.Port),
	}
	for _, in := range lab.Instances {
		p.Engines = append(p.Engines, loopback(in.PublishedPort))
	}
	return p
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// NewPlan lays lab out on ports, its files at files.
func NewPlan(stack string, lab *stackconfig.Lab, ports Ports, files Files) (*Plan, error) {
	if len(ports.Engines) != len(lab.Instances) {
		return nil, fmt.Errorf("%d engine addresses for %d instances", len(ports.Engines), len(lab.Instances))
	}
	p := &Plan{
		Stack: stack, Lab: lab,
		GatewayAddr: ports.Gateway, GatewayMetricsAddr: ports.GatewayMetrics, PrometheusAddr: ports.Prometheus,
	}
	upstreams := make([]gatewayconfig.Upstream, len(lab.Instances))
	for i, in := range lab.Instances {
		spec, err := frameworkspec.BuildSpec(in.Instance)
		if err != nil {
			return nil, err
		}
		e := Engine{Name: in.Instance.Name, Flavour: in.Instance.API(), Addr: ports.Engines[i]}
		if spec.APIKeyFile != "" {
			e.KeyFile, e.KeyFormat = filepath.Join(files.EngineKeys, e.Name), spec.APIKeyFormat
		}
		if e.Args, err = simArgs(spec, e.Addr, e.KeyFile); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		if e.ReadySteps, err = readySteps(spec, e.Addr); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
		p.Engines = append(p.Engines, e)
		upstreams[i] = gatewayconfig.Upstream{
			Name: e.Name, Engine: e.Flavour, URL: "http://" + e.Addr,
			PublicModel: in.PublicModel, UpstreamModel: in.Instance.ServedModelName,
			Weight: lab.Config.Gateway.Weights[in.Framework.Name], APIKeyFile: e.KeyFile,
		}
	}
	var err error
	p.Gateway, err = gatewayconfig.Render(stackconfig.GatewaySettings(lab.Config.Gateway),
		gatewayconfig.Listeners{Listen: ports.Gateway, MetricsListen: ports.GatewayMetrics, KeysFile: files.GatewayKey}, upstreams)
	if err != nil {
		return nil, err
	}
	p.Monitoring = stackconfig.MonitoringLab(stack, lab, ports.GatewayMetrics,
		func(i int) string { return p.Engines[i].Addr }, func(i int) string { return p.Engines[i].KeyFile })
	p.Monitoring.RulesDir = files.Rules
	p.Targets = stackconfig.ServingTargets(lab, "http://"+ports.Gateway, func(i int) string { return "http://" + ports.Engines[i] })
	p.Workload = stackconfig.Workload(lab.Config.Benchmark)
	return p, nil
}

// simArgs is a sim container's argv listening on addr and, for an engine
// that checks a key, reading it from keyFile; nothing else changes.
func simArgs(spec frameworkspec.Spec, addr, keyFile string) ([]string, error) {
	if len(spec.Command) == 0 || spec.Command[0] != "sim" {
		return nil, fmt.Errorf("not a sim command: %q", spec.Command)
	}
	args := slices.Clone(spec.Command)
	// set replaces flag's value (which must be was, unless was is "").
	set := func(flag, was, value string) error {
		i := slices.Index(args, flag)
		if i < 0 || i+1 >= len(args) || (was != "" && args[i+1] != was) {
			return fmt.Errorf("the sim command %q has no %s %s", spec.Command, flag, was)
		}
		args[i+1] = value
		return nil
	}
	if err := set("--listen", "", addr); err != nil {
		return nil, err
	}
	if spec.APIKeyFile != "" {
		if err := set("--api-key-file", spec.APIKeyFile, keyFile); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// readySteps are a container's ready steps run by the servelab binary
// outside it: the servelab commands, their URLs on the container's port
// moved to addr.
func readySteps(spec frameworkspec.Spec, addr string) ([][]string, error) {
	inside := "http://127.0.0.1:" + strconv.Itoa(spec.Port)
	var out [][]string
	for _, step := range spec.ReadySteps {
		if len(step) < 2 || step[0] != frameworkspec.ServelabBinary {
			return nil, fmt.Errorf("ready step %q is not a servelab command", step)
		}
		args := slices.Clone(step[1:])
		for i, a := range args {
			if rest, ok := strings.CutPrefix(a, inside); ok && (rest == "" || rest[0] == '/') {
				args[i] = "http://" + addr + rest
			}
		}
		out = append(out, args)
	}
	return out, nil
}
