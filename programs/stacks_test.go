package programs_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/gpuhost"
	gw "github.com/servelab/servelab/internal/gateway"
	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
	"github.com/servelab/servelab/programs/stackconfig"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const (
	typeContainer = "docker:index/container:Container"
	typeNetwork   = "docker:index/network:Network"
	typeVolume    = "docker:index/volume:Volume"
	typeImage     = "docker:index/remoteImage:RemoteImage"
	typeProvider  = "pulumi:providers:docker"
	typeLocalCmd  = "command:local:Command"
	typeRemoteCmd = "command:remote:Command"
	typeHost      = "servelab:gpuhost:GpuHost"
	typeFramework = "servelab:framework:Framework"
)

// stackFiles lists every stack the repository ships.
func stackFiles(t *testing.T) map[string]string {
	t.Helper()
	paths, err := filepath.Glob("../stacks/Pulumi.*.yaml")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no stack files found: %v", err)
	}
	out := map[string]string{}
	for _, p := range paths {
		name := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "Pulumi."), ".yaml")
		out[name] = p
	}
	return out
}

// stackRun is one stack run under Pulumi's mock engine.
type stackRun struct {
	stack string
	// engineKeysSecret: the engineKeys output is secret.
	engineKeysSecret bool
	mocks            *pulumitest.Mocks
	lab              *stackconfig.Lab
	outputs          map[string]any
}

// fakeProbe answers each host's probe with what its declared GPUs would
// print, so the inventory check passes; missing drops GPUs from the answer.
func fakeProbe(lab *stackconfig.Lab, missing int) pulumitest.OutputsFunc {
	return func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if args.Name == "benchmark-run" && (args.TypeToken == typeLocalCmd || args.TypeToken == typeRemoteCmd) {
			return resource.PropertyMap{"stdout": resource.NewProperty(fakeBench(args))}
		}
		if !strings.HasSuffix(args.Name, "-probe") {
			return nil
		}
		host := strings.TrimSuffix(args.Name, "-probe")
		var b strings.Builder
		b.WriteString("### servelab:gpus\n")
		for _, hp := range lab.Hosts {
			if hp.Host.Name != host {
				continue
			}
			i := 0
			for _, g := range hp.Declared {
				for range g.Count {
					if i < countGPUs(hp)-missing {
						fmt.Fprintf(&b, "%d, NVIDIA %s, %.0f, 575.57.08\n", i, g.Model, g.MemoryGiB*1024*0.99)
					}
					i++
				}
			}
		}
		b.WriteString("### servelab:runtimes\n" + `{"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}` + "\n" + pulumitest.ProbeDocker)
		return resource.PropertyMap{"stdout": resource.NewProperty(b.String())}
	}
}

func countGPUs(hp stackconfig.HostPlan) int {
	n := 0
	for _, g := range hp.Declared {
		n += g.Count
	}
	return n
}

// testBinarySHA256 stands for bin/servelab's hash.
const testBinarySHA256 = "5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1ab5e1a"

// secretConfig is what a user sets with `pulumi config set --secret`.
var secretConfig = map[string]string{
	"servelab:hfToken":       "hf_test_token_do_not_use",
	"servelab:sshPrivateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\ntest\n-----END OPENSSH PRIVATE KEY-----\n",
}

func runStack(t *testing.T, stack, path string, missingGPUs int) (*stackRun, error) {
	t.Helper()
	cfg, err := pulumitest.LoadStackConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	return runConfig(t, stack, cfg, missingGPUs)
}

// runConfig runs the program for a stack's config (as LoadStackConfig
// returns it) under the mock engine.
func runConfig(t *testing.T, stack string, cfg map[string]string, missingGPUs int) (*stackRun, error) {
	t.Helper()
	lab := planStack(t, cfg)
	for k, v := range secretConfig {
		cfg[k] = v
	}
	run := &stackRun{stack: stack, lab: lab}
	probe, kubeResults := fakeProbe(lab, missingGPUs), fakeKubeResults(&run.mocks)
	run.mocks = pulumitest.New(func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if out := kubeResults(args); out != nil {
			return out
		}
		return probe(args)
	})
	err := run.mocks.Run("servelab", stack, cfg, slices.Collect(mapsKeys(secretConfig)), program(t, cfg, &run.outputs,
		func(ctx *pulumi.Context, lab *stackconfig.Lab, secrets programs.Secrets) (pulumi.Map, error) {
			out, err := programs.Deploy(ctx, lab, secrets, programs.Options{ImageTag: "localhost/servelab:test", SourceDir: "bin/image-context/test",
				BenchBinary: programs.BenchBinary, BenchBinarySHA256: testBinarySHA256})
			if err != nil {
				return nil, err
			}
			if keys, ok := out["engineKeys"].(pulumi.Map); ok && len(keys) > 0 {
				res, err := internals.UnsafeAwaitOutput(context.Background(), keys.ToMapOutput())
				if err != nil {
					return nil, err
				}
				run.engineKeysSecret = res.Secret
			}
			return out, nil
		}))
	return run, err
}

// program is the servelab program for cfg as Run runs it once the config
// is read, with deploy standing for programs.Deploy; it stores the awaited
// stack outputs in *out.
func program(t *testing.T, cfg map[string]string, out *map[string]any,
	deploy func(*pulumi.Context, *stackconfig.Lab, programs.Secrets) (pulumi.Map, error),
) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		lab, err := stackconfig.Validate(mustLoad(t, cfg))
		if err != nil {
			return err
		}
		secrets, err := programs.ReadSecrets(ctx, lab)
		if err != nil {
			return err
		}
		o, err := deploy(ctx, lab, secrets)
		if err != nil {
			return err
		}
		*out, err = awaitMap(o)
		return err
	}
}

func mapsKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func mustLoad(t *testing.T, cfg map[string]string) *stackconfig.Config {
	c, err := stackconfig.Load(func(k string) (string, bool) { v, ok := cfg[stackconfig.Namespace+":"+k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func planStack(t *testing.T, cfg map[string]string) *stackconfig.Lab {
	t.Helper()
	lab, err := stackconfig.Validate(mustLoad(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	return lab
}

// TestStacks runs the whole program under the mock engine for every stack
// file, checks the resource graph and compares the plan with its golden
// file (go test ./programs -update rewrites them).
func TestStacks(t *testing.T) {
	t.Parallel()
	for stack, path := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			run, err := runStack(t, stack, path, 0)
			if err != nil {
				t.Fatalf("pulumi run: %v", err)
			}
			if run.lab.Cluster != nil {
				checkKubeStack(t, stack, run) // kube_stacks_test.go
				return
			}
			checkGraph(t, run)
			plan, err := run.mocks.Plan()
			if err != nil {
				t.Fatal(err)
			}
			pulumitest.Golden(t, filepath.Join("testdata", "plans", stack+".json"), plan, *update)
			for path, content := range monitoringFiles(t, run) {
				pulumitest.Golden(t, filepath.Join("testdata", "monitoring", stack, path), content, *update)
			}
			if run.lab.Config.GatewayEnabled() {
				pulumitest.Golden(t, filepath.Join("testdata", "gateway", stack+".json"), gatewayConfig(t, run), *update)
			}
		})
	}
}

// TestProgramRunReadsStackConfig runs programs.Run itself — the function
// main.go hands to pulumi.Run — for the local stack.
func TestProgramRunReadsStackConfig(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := pulumitest.New(fakeProbe(planStack(t, cfg), 0))
	if err := m.Run("servelab", "local", cfg, nil, programs.RunWith(testPaths(t))); err != nil {
		t.Fatal(err)
	}
	if got := len(m.ByType(typeFramework)); got != 2 {
		t.Errorf("%d frameworks, want 2", got)
	}
}

// testPaths is the repository with a stand-in bin/servelab and a scratch
// directory for the image's build context.
func testPaths(t *testing.T) programs.Paths {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "servelab")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return programs.Paths{Root: "..", Binary: bin, ContextDir: t.TempDir()}
}

// A plain `pulumi up` without `make build` fails at once, naming `make
// build`, when the benchmark runs bin/servelab on this machine; nothing is
// created.
func TestMissingLocalBinaryFailsFirst(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := testPaths(t)
	p.Binary = filepath.Join(t.TempDir(), "bin", "servelab")
	m := pulumitest.New(nil)
	err = m.Run("servelab", "local", cfg, nil, programs.RunWith(p))
	if err == nil || !strings.Contains(err.Error(), "benchmark.runOn: local runs "+p.Binary+" on this machine, and it does not exist: run `make build` first") {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered before the check", n)
	}

	// runOn: host does not need it.
	cfg["servelab:benchmark"] = strings.Replace(cfg["servelab:benchmark"], "{", `{"runOn":"host",`, 1)
	if err := pulumitest.New(fakeProbe(planStack(t, cfg), 0)).Run("servelab", "local", cfg, nil, programs.RunWith(p)); err != nil {
		t.Errorf("runOn: host: %v", err)
	}
}

func TestPlainTextSecretIsRejected(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:hfToken"] = "hf_plain"
	err = pulumitest.New(nil).Run("servelab", "local", cfg, nil, programs.RunWith(testPaths(t)))
	if err == nil || !strings.Contains(err.Error(), "hfToken: is stored in plain text; set it with `pulumi config set --secret servelab:hfToken`") {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "hf_plain") {
		t.Error("the error repeats the secret")
	}
}

func TestBadStackConfigFailsTheRun(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:frameworks"] = strings.Replace(cfg["servelab:frameworks"], `"engine":"ollama"`, `"engine":"olama"`, 1)
	m := pulumitest.New(nil)
	err = m.Run("servelab", "local", cfg, nil, programs.Run)
	if err == nil || !strings.Contains(err.Error(), `servelab:frameworks[0].engine: unknown engine "olama"`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered despite the bad config", n)
	}
}

func TestMissingGPUFailsUp(t *testing.T) {
	t.Parallel()
	_, err := runStack(t, "rtx5090", "../stacks/Pulumi.rtx5090.yaml", 1)
	if err == nil {
		t.Fatal("a declared GPU the probe did not find was accepted")
	}
	if !strings.Contains(err.Error(), "host rtx5090: declared GPU 0 (RTX 5090, 32 GiB) not found: the probe found 0 GPUs") {
		t.Errorf("err = %v", err)
	}
}

func checkGraph(t *testing.T, run *stackRun) {
	t.Helper()
	m, lab := run.mocks, run.lab

	hosts := m.ByType(typeHost)
	if len(hosts) != len(lab.Hosts) {
		t.Errorf("%d hosts, want %d", len(hosts), len(lab.Hosts))
	}
	for _, hp := range lab.Hosts {
		name := hp.Host.Name
		p, ok := m.Get(typeProvider, name+"-docker")
		if !ok {
			t.Errorf("host %s has no docker provider", name)
			continue
		}
		if p.ParentName() != name {
			t.Errorf("provider %s parented by %q", p.Name, p.ParentName())
		}
		wantHost := ""
		if hp.Host.SSH != nil {
			wantHost = fmt.Sprintf("ssh://%s@%s:%d", hp.Host.SSH.User, hp.Host.SSH.Host, hp.Host.SSH.Port)
		}
		if got := p.String("host"); got != wantHost {
			t.Errorf("provider %s host %q, want %q", p.Name, got, wantHost)
		}
		if net, ok := m.Get(typeNetwork, name+"-network"); !ok || net.ProviderName() != name+"-docker" {
			t.Errorf("host %s network missing or on provider %q", name, net.ProviderName())
		}
		probeType := typeLocalCmd
		if hp.Host.SSH != nil {
			probeType = typeRemoteCmd
		}
		probe, probed := m.Get(probeType, name+"-probe")
		if !probed {
			t.Errorf("host %s is not probed", name)
		}
		if probed && hp.Host.SSH != nil {
			if !secretAt(probe, "connection.privateKey") {
				t.Errorf("probe on %s: private key is not secret (secrets: %v)", name, probe.Secrets())
			}
		}
	}

	containers := map[string]pulumitest.Resource{}
	for _, c := range m.ByType(typeContainer) {
		containers[c.Name] = c
	}
	for _, in := range lab.Instances {
		name := in.Instance.Name
		c, ok := containers[name+"-container"]
		if !ok {
			t.Errorf("no container for %s", name)
			continue
		}
		if c.ParentName() != name || c.ProviderName() != in.Host+"-docker" {
			t.Errorf("%s: parent %q provider %q, want %s and %s-docker", c.Name, c.ParentName(), c.ProviderName(), name, in.Host)
		}
		if ready, ok := readinessOf(m, c); !ok {
			t.Errorf("%s: no readiness command waits for it", c.Name)
		} else if argv := strings.Fields(ready.String("create")); len(argv) == 0 || atoi(argv[len(argv)-1]) <= 60 {
			t.Errorf("%s: readiness limit in %q is not sized above a minute", c.Name, ready.String("create"))
		}
		tests := c.Strings("healthcheck.tests")
		if len(tests) < 2 || tests[0] != "CMD" {
			t.Errorf("%s: healthcheck %v is not an exec-form CMD", c.Name, tests)
		}
		cmd := c.Strings("command")
		for _, a := range cmd {
			if strings.Contains(a, "hf_test_token") {
				t.Errorf("%s: the HF token is in argv", c.Name)
			}
		}
		if strings.HasPrefix(strings.Join(cmd, " "), "serve ") {
			t.Errorf("%s: vLLM's entrypoint already says serve: %v", c.Name, cmd)
		}
		for _, port := range c.Plain("ports").([]any) {
			p := port.(map[string]any)
			if p["ip"] == "0.0.0.0" || p["ip"] == "" {
				t.Errorf("%s: published on all interfaces", c.Name)
			}
		}
		env := c.Strings("envs")
		devices := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(in.Instance.Devices)), ","), "[]")
		if len(in.Instance.Devices) > 0 {
			if c.String("runtime") != "nvidia" || !slices.Contains(env, "NVIDIA_VISIBLE_DEVICES="+devices) {
				t.Errorf("%s: GPU request runtime %q env %v, want nvidia and devices %s", c.Name, c.String("runtime"), env, devices)
			}
		} else if c.String("runtime") != "" {
			t.Errorf("%s: CPU instance with runtime %q", c.Name, c.String("runtime"))
		}
		switch in.Instance.Engine {
		case "vllm":
			want := []string{in.Instance.Model, "--config", frameworkspec.EngineAuthPath, "--served-model-name", in.Instance.ServedModelName}
			if !slices.Equal(cmd[:5], want) || !slices.Contains(cmd, fmt.Sprintf("%.2f", in.Instance.MemoryFraction)) {
				t.Errorf("%s: vllm argv %v", c.Name, cmd)
			}
			if !secretAt(c, "uploads[0].content") {
				t.Errorf("%s: HF token upload is not secret (secrets %v)", c.Name, c.Secrets())
			}
		case "sglang":
			if !slices.Equal(cmd[:3], []string{"python3", "-m", "sglang.launch_server"}) || !slices.Contains(cmd, "--enable-metrics") {
				t.Errorf("%s: sglang argv %v", c.Name, cmd)
			}
		case "ollama":
			pullType := typeLocalCmd
			if h := hostOf(lab, in.Host); h.SSH != nil {
				pullType = typeRemoteCmd
			}
			pull, ok := m.Get(pullType, name+"-pull")
			if !ok {
				t.Errorf("%s: no model pull", name)
				break
			}
			if !dependsOnName(pull, c.Name) {
				t.Errorf("%s: the pull does not wait for the container (deps %v)", name, pull.Dependencies)
			}
			if !strings.Contains(pull.String("create"), "ollama pull "+in.Instance.Model) {
				t.Errorf("%s: pull command %q", name, pull.String("create"))
			}
		case "llamacpp":
			if !slices.Contains(cmd, "--metrics") || !slices.Contains(cmd, "--alias") {
				t.Errorf("%s: llama.cpp argv %v", c.Name, cmd)
			}
		}
	}
	checkBenchmark(t, run)
	checkMonitoring(t, run)
	checkContainers(t, run)
	checkEngineKeys(t, run)
	checkSSH(t, run)
	checkModelCache(t, run)
	checkStartOrder(t, run)
	frameworks, _ := run.outputs["frameworks"].(map[string]any)
	if len(frameworks) != len(lab.Instances) {
		t.Errorf("stack outputs describe %d frameworks, want %d", len(frameworks), len(lab.Instances))
	}
}

// secretAt reports whether the input at path, or an object holding it, is
// secret (the engine may lift a nested secret to its enclosing object).
func secretAt(r pulumitest.Resource, path string) bool {
	for _, s := range r.Secrets() {
		if s == path || strings.HasPrefix(path, s+".") || strings.HasPrefix(path, s+"[") {
			return true
		}
	}
	return false
}

// readinessOf finds the command that runs gpuhost.ReadyScript for container
// c (it depends on c, and c's ID is its trigger).
func readinessOf(m *pulumitest.Mocks, c pulumitest.Resource) (pulumitest.Resource, bool) {
	for _, typ := range []string{typeLocalCmd, typeRemoteCmd} {
		for _, r := range m.ByType(typ) {
			if r.String("stdin") == gpuhost.ReadyScript && dependsOnName(r, c.Name) && slices.Contains(r.Strings("triggers"), c.Name+"-id") {
				return r, true
			}
		}
	}
	return pulumitest.Resource{}, false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func dependsOnName(r pulumitest.Resource, name string) bool {
	for _, d := range r.Dependencies {
		if strings.HasSuffix(d, "::"+name) {
			return true
		}
	}
	return false
}

func hostOf(lab *stackconfig.Lab, name string) stackconfig.Host {
	for _, h := range lab.Hosts {
		if h.Host.Name == name {
			return h.Host
		}
	}
	return stackconfig.Host{}
}

// gatewayConfig is the config the gateway container receives, checked by
// the gateway's own parser.
func gatewayConfig(t *testing.T, run *stackRun) []byte {
	t.Helper()
	c, ok := run.mocks.Get(typeContainer, "gateway-container")
	if !ok {
		t.Fatal("no gateway container")
	}
	var cfg, keys string
	for _, u := range c.Plain("uploads").([]any) {
		u := u.(map[string]any)
		switch u["file"] {
		case gatewayconfig.ConfigPath:
			cfg = u["content"].(string)
			if u["permissions"] != "0444" {
				t.Errorf("config mode %v", u["permissions"])
			}
		case gatewayconfig.KeysPath:
			keys = u["content"].(string)
			if u["permissions"] != "0400" {
				t.Errorf("keys file mode %v, want 0400", u["permissions"])
			}
		}
	}
	if keys == "" || !secretAt(c, "uploads[1].content") {
		t.Errorf("API key upload missing or not secret (secrets %v)", c.Secrets())
	}
	parsed, err := gw.ParseConfig([]byte(cfg))
	if err != nil {
		t.Fatalf("the gateway rejects its rendered config: %v", err)
	}
	var n int
	for _, m := range parsed.Models {
		n += len(m.Backends)
	}
	if n != len(run.lab.Instances) {
		t.Errorf("gateway config routes to %d backends, want %d", n, len(run.lab.Instances))
	}
	if !parsed.Auth.Enabled() {
		t.Error("gateway config has auth off")
	}
	return []byte(cfg)
}

// checkBenchmark: the bench command waits for the gateway and every
// framework, and its parsed results cover every framework.
func checkBenchmark(t *testing.T, run *stackRun) {
	t.Helper()
	cfg := run.lab.Config
	var cmd pulumitest.Resource
	var ok bool
	for _, typ := range []string{typeLocalCmd, typeRemoteCmd} {
		if c, found := run.mocks.Get(typ, "benchmark-run"); found {
			cmd, ok = c, true
		}
	}
	if ok != cfg.Benchmark.Enabled {
		t.Fatalf("benchmark command present = %v, benchmark.enabled = %v", ok, cfg.Benchmark.Enabled)
	}
	if !ok {
		return
	}
	for _, in := range run.lab.Instances {
		if !dependsOnName(cmd, in.Instance.Name+"-ready") {
			t.Errorf("the benchmark does not wait for %s", in.Instance.Name)
		}
	}
	if cfg.GatewayEnabled() && !dependsOnName(cmd, "gateway-ready") {
		t.Error("the benchmark does not wait for the gateway")
	}
	// No key in the bench's inputs (a rotated key must not re-run it):
	// they reach it through the keys command's file.
	for _, in := range []string{"create", "stdin"} {
		if strings.Contains(cmd.String(in), "-password") || strings.Contains(cmd.String(in), "hf_test_token") {
			t.Errorf("the bench command's %s holds a key: %q", in, cmd.String(in))
		}
	}
	if !json.Valid([]byte(cmd.String("stdin"))) {
		t.Errorf("the bench's stdin is not the targets file: %q", cmd.String("stdin"))
	}
	if cfg.GatewayEnabled() || len(cfg.Targets) > 0 {
		keys, ok := run.mocks.Get(cmd.Type, "benchmark-keys")
		if !ok || !secretAt(keys, "stdin") || !dependsOnName(cmd, "benchmark-keys") {
			t.Errorf("keys command missing, its stdin not secret, or not awaited (secrets %v)", keys.Secrets())
		}
	}
	results, _ := run.outputs["benchmark"].(map[string]any)
	targets, _ := results["targets"].(map[string]any)
	for _, in := range run.lab.Instances {
		name := in.Instance.Name
		if cfg.Program == stackconfig.Serve {
			name = "gateway"
		}
		if _, ok := targets[name]; !ok {
			t.Errorf("benchmark outputs lack %s (have %v)", name, maps.Keys(targets))
		}
		if cfg.Benchmark.Direct {
			if _, ok := targets[in.Instance.Name+"-direct"]; !ok {
				t.Errorf("benchmark outputs lack %s-direct", in.Instance.Name)
			}
		}
	}
	if cfg.Benchmark.Direct && cfg.Program == stackconfig.Compare {
		if over, _ := results["gatewayOverhead"].(map[string]any); len(over) != len(run.lab.Instances) {
			t.Errorf("gateway overhead for %d frameworks, want %d", len(over), len(run.lab.Instances))
		}
	}
}

// checkContainers: every container on an SSH host binds its published
// ports to the host's bindAddress (never 0.0.0.0 unless configured), and
// every container but the distroless DCGM exporter has a healthcheck and
// a readiness command that waits for it (gpuhost.AwaitReady).
func checkContainers(t *testing.T, run *stackRun) {
	t.Helper()
	for _, c := range run.mocks.ByType(typeContainer) {
		ports, _ := c.Plain("ports").([]any)
		for _, p := range ports {
			ip, _ := p.(map[string]any)["ip"].(string)
			if ip == "" || ip == "0.0.0.0" || ip == "::" {
				t.Errorf("%s: published on all interfaces (%q)", c.Name, ip)
			}
		}
		if strings.Contains(c.Name, "-dcgm-") {
			continue
		}
		if _, ok := readinessOf(run.mocks, c); !ok {
			t.Errorf("%s: not waited for", c.Name)
		}
		if tests := c.Strings("healthcheck.tests"); len(tests) < 2 || tests[0] != "CMD" {
			t.Errorf("%s: healthcheck %v", c.Name, tests)
		}
	}
}

// checkMonitoring: credentials are generated and secret, Prometheus keeps
// only the hash, the generated files load with Prometheus's own parsers.
func checkMonitoring(t *testing.T, run *stackRun) {
	t.Helper()
	cfg := run.lab.Config
	prom, ok := run.mocks.Get(typeContainer, "monitoring-prometheus")
	if ok != cfg.MonitoringEnabled() {
		t.Fatalf("prometheus present = %v, monitoring enabled = %v", ok, cfg.MonitoringEnabled())
	}
	if !ok {
		return
	}
	for _, name := range []string{"monitoring-prometheus-password", "monitoring-grafana-admin-password"} {
		pw, ok := run.mocks.Get("random:index/randomPassword:RandomPassword", name)
		if !ok {
			t.Errorf("%s is not a generated RandomPassword", name)
			continue
		}
		if pw.Plain("special") != false {
			t.Errorf("%s may contain $ (Grafana expands it)", name)
		}
	}
	for i, u := range prom.Plain("uploads").([]any) {
		file := u.(map[string]any)["file"].(string)
		secret := secretAt(prom, fmt.Sprintf("uploads[%d].content", i))
		wantSecret := file == "/etc/prometheus/web.yml" || file == "/etc/prometheus/secrets/password" ||
			strings.HasPrefix(file, mon.PrometheusEngineKeysDir+"/")
		if secret != wantSecret {
			t.Errorf("prometheus upload %s: secret = %v, want %v", file, secret, wantSecret)
		}
	}
	monOut, _ := run.outputs["monitoring"].(map[string]any)
	if monOut["prometheusPassword"] == nil || (cfg.GrafanaEnabled() && monOut["grafanaAdminPassword"] == nil) {
		t.Errorf("monitoring outputs %v", monOut)
	}
	grafana, ok := run.mocks.Get(typeContainer, "monitoring-grafana")
	if ok != cfg.GrafanaEnabled() {
		t.Fatalf("grafana present = %v", ok)
	}
	if ok {
		env := grafana.Strings("envs")
		for _, want := range []string{"GF_AUTH_ANONYMOUS_ENABLED=false", "GF_USERS_ALLOW_SIGN_UP=false", "GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/secrets/admin-password"} {
			if !slices.Contains(env, want) {
				t.Errorf("grafana env lacks %s: %v", want, env)
			}
		}
		for _, e := range env {
			if strings.Contains(strings.ToLower(e), "password=") {
				t.Errorf("grafana env holds a password: %s", e)
			}
		}
	}
	dcgm := 0
	for _, c := range run.mocks.ByType(typeContainer) {
		if strings.HasPrefix(c.Name, "monitoring-dcgm-") {
			dcgm++
		}
	}
	if want := map[bool]int{true: gpuHosts(run.lab), false: 0}[cfg.Monitoring.DCGM]; dcgm != want {
		t.Errorf("%d DCGM exporters, want %d", dcgm, want)
	}
}

func gpuHosts(lab *stackconfig.Lab) int {
	n := 0
	for _, h := range lab.Hosts {
		if len(h.Declared) > 0 {
			n++
		}
	}
	return n
}

// monitoringFiles returns the non-secret files uploaded into Prometheus and
// Grafana, by container path, after loading each with its consumer's
// parser: prometheus.yml with config.Load, rules with rulefmt, promtool's
// HTTP config with common/config, dashboards and provisioning as JSON/YAML.
func monitoringFiles(t *testing.T, run *stackRun) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{"monitoring-prometheus", "monitoring-grafana"} {
		c, ok := run.mocks.Get(typeContainer, name)
		if !ok {
			continue
		}
		for i, u := range c.Plain("uploads").([]any) {
			if secretAt(c, fmt.Sprintf("uploads[%d].content", i)) {
				continue
			}
			u := u.(map[string]any)
			file, content := u["file"].(string), u["content"].(string)
			switch {
			case file == "/etc/prometheus/prometheus.yml":
				if _, err := promconfig.Load(content, slog.New(slog.DiscardHandler)); err != nil {
					t.Errorf("prometheus.yml does not load: %v", err)
				}
			case strings.HasPrefix(file, "/etc/prometheus/rules/"):
				if _, errs := rulefmt.Parse([]byte(content), false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler)); len(errs) > 0 {
					t.Errorf("%s: %v", file, errs)
				}
			case file == "/etc/prometheus/healthcheck-http.yml":
				if _, err := commonconfig.LoadHTTPConfig(content); err != nil {
					t.Errorf("%s: %v", file, err)
				}
			case strings.HasSuffix(file, ".json"):
				if !json.Valid([]byte(content)) {
					t.Errorf("%s is not JSON", file)
				}
			}
			out[strings.TrimPrefix(file, "/")] = []byte(content)
		}
	}
	return out
}

// TestRunReportsUnknownKeys: under `pulumi up` the language host passes
// every config key in PULUMI_CONFIG, and the program reports a servelab:
// key it does not read with the stack's other problems. (Not parallel:
// it sets the environment.)
func TestRunReportsUnknownKeys(t *testing.T) {
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.local.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg["servelab:benchmrk"] = `{"enabled":true}`
	env, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(pulumi.EnvConfig, string(env))
	m := pulumitest.New(nil)
	err = m.Run("servelab", "local", cfg, nil, programs.RunWith(programs.Paths{Root: "..", Binary: t.TempDir() + "/none"}))
	if err == nil || !strings.Contains(err.Error(), `servelab:benchmrk: unknown key "benchmrk" (did you mean "benchmark"?)`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(m.Resources()); n != 0 {
		t.Errorf("%d resources registered despite the unknown key", n)
	}
}
