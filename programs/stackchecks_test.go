package programs_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
	"github.com/servelab/servelab/programs/stackconfig"
)

const typePassword = "random:index/randomPassword:RandomPassword"

// checkEngineKeys: every engine that takes an API key runs with a generated
// one of its own, delivered as a 0400 secret file (never argv or env); the
// gateway's config points each such backend at a copy of it in the gateway
// container; engines without keys are published on loopback only.
func checkEngineKeys(t *testing.T, run *stackRun) {
	t.Helper()
	var gwCfg *gw.Config
	var gwUploads map[string]bool
	if c, ok := run.mocks.Get(typeContainer, "gateway-container"); ok {
		gwUploads = map[string]bool{}
		for i, u := range c.Plain("uploads").([]any) {
			u := u.(map[string]any)
			file := u["file"].(string)
			if file == gatewayconfig.ConfigPath {
				var cfg gw.Config
				if err := json.Unmarshal([]byte(u["content"].(string)), &cfg); err != nil {
					t.Fatal(err)
				}
				gwCfg = &cfg
			}
			if strings.HasPrefix(file, gatewayconfig.BackendKeysDir+"/") {
				gwUploads[file] = u["permissions"] == "0400" && secretAt(c, fmt.Sprintf("uploads[%d].content", i))
			}
		}
	}
	backends := map[string]gw.Backend{}
	if gwCfg != nil {
		for _, m := range gwCfg.Models {
			for _, b := range m.Backends {
				backends[b.Name] = b
			}
		}
	}
	keys, _ := run.outputs["engineKeys"].(map[string]any)
	for _, in := range run.lab.Instances {
		name := in.Instance.Name
		c, _ := run.mocks.Get(typeContainer, name+"-container")
		api := engine.MustSpec(in.Instance.API())
		if _, ok := keys[name]; ok != api.Auth.Supported {
			t.Errorf("%s: in the engineKeys output = %v, want %v", name, ok, api.Auth.Supported)
		} else if ok && !run.engineKeysSecret {
			t.Error("the engineKeys output is not secret")
		}
		_, hasKey := run.mocks.Get(typePassword, name+"-api-key")
		if hasKey != api.Auth.Supported {
			t.Errorf("%s: generated key = %v, but %s takes keys = %v", name, hasKey, api.Kind, api.Auth.Supported)
		}
		ip := c.Plain("ports").([]any)[0].(map[string]any)["ip"]
		if !api.Auth.Supported {
			if ip != "127.0.0.1" {
				t.Errorf("%s: %s has no API key but is published on %v", name, api.Kind, ip)
			}
			if b, ok := backends[name]; ok && b.APIKeyFile != "" {
				t.Errorf("%s: gateway sends a key to an engine without one", name)
			}
			continue
		}
		keyFile := ""
		for i, u := range c.Plain("uploads").([]any) {
			u := u.(map[string]any)
			if f := u["file"].(string); f == frameworkspec.EngineAuthPath || f == frameworkspec.EngineKeyPath {
				keyFile = f
				if u["permissions"] != "0400" || !secretAt(c, fmt.Sprintf("uploads[%d].content", i)) {
					t.Errorf("%s: key file %s mode %v secret %v", name, f, u["permissions"], c.Secrets())
				}
			}
		}
		if keyFile == "" || !slices.Contains(c.Strings("command"), keyFile) {
			t.Errorf("%s: key file %q not uploaded or not in argv %v", name, keyFile, c.Strings("command"))
		}
		if gwCfg == nil {
			continue
		}
		b, ok := backends[name]
		if !ok || b.APIKeyFile != gatewayconfig.BackendKeyFile(name) || !gwUploads[b.APIKeyFile] {
			t.Errorf("%s: gateway backend %+v, key file uploaded 0400 and secret: %v", name, b, gwUploads[b.APIKeyFile])
		}
	}
}

// checkSSH: every SSH host's commands pin its host key, and Docker's
// transport reads it from the stack's known_hosts file with strict checking.
func checkSSH(t *testing.T, run *stackRun) {
	t.Helper()
	for _, hp := range run.lab.Hosts {
		s := hp.Host.SSH
		if s == nil {
			continue
		}
		p, _ := run.mocks.Get(typeProvider, hp.Host.Name+"-docker")
		opts := strings.Join(p.Strings("sshOpts"), " ")
		if s.InsecureIgnoreHostKey {
			continue
		}
		want := "-o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + programs.KnownHostsFile(run.stack, hp.Host.Name)
		if !strings.Contains(opts, want) {
			t.Errorf("host %s: docker sshOpts %q lack %q", hp.Host.Name, opts, want)
		}
		for _, typ := range []string{typeRemoteCmd} {
			for _, c := range run.mocks.ByType(typ) {
				if c.String("connection.host") != s.Host {
					continue
				}
				if c.String("connection.hostKey") != s.HostKey {
					t.Errorf("%s: connection to %s without its host key (%q)", c.Name, s.Host, c.String("connection.hostKey"))
				}
			}
		}
	}
}

// checkModelCache: a host gets the shared model cache — retained on
// destroy, named without the stack — exactly when an engine on it uses it.
func checkModelCache(t *testing.T, run *stackRun) {
	t.Helper()
	for _, hp := range run.lab.Hosts {
		name := hp.Host.Name
		uses := slices.ContainsFunc(run.lab.Instances, func(in stackconfig.InstancePlan) bool {
			if in.Host != name {
				return false
			}
			s, err := frameworkspec.BuildSpec(in.Instance)
			return err == nil && s.UsesModelCache()
		})
		v, ok := run.mocks.Get(typeVolume, name+"-model-cache")
		if want := uses && hp.Host.ModelCache == ""; ok != want {
			t.Errorf("host %s: model cache volume = %v, want %v", name, ok, want)
		}
		if ok && (!v.RetainOnDelete || v.String("name") != gpuhost.ModelCacheVolume) {
			t.Errorf("host %s: model cache %+v: retained %v", name, v.String("name"), v.RetainOnDelete)
		}
	}
}

// TestSecurityOfSSHStackVariants runs the rtx5090 stack with a bastion and
// a bind-mounted model cache.
func TestSecurityOfSSHStackVariants(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.rtx5090.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []map[string]any
	if err := json.Unmarshal([]byte(cfg["servelab:hosts"]), &hosts); err != nil {
		t.Fatal(err)
	}
	ssh := hosts[0]["ssh"].(map[string]any)
	ssh["proxyJump"] = map[string]any{"host": "bastion.lan", "user": "jump", "port": 2222, "hostKey": ssh["hostKey"]}
	hosts[0]["modelCache"] = "/data/servelab-cache"
	b, _ := json.Marshal(hosts)
	cfg["servelab:hosts"] = string(b)
	run, err := runConfig(t, "rtx5090", cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := run.mocks.Get(typeProvider, "rtx5090-docker")
	opts := p.Strings("sshOpts")
	i := slices.IndexFunc(opts, func(o string) bool { return strings.HasPrefix(o, "ProxyCommand=") })
	if i < 0 || !strings.Contains(opts[i], "-p 2222 -W %h:%p jump@bastion.lan") || !strings.Contains(opts[i], "UserKnownHostsFile=") {
		t.Errorf("docker transport reaches the bastion with %q", opts)
	}
	probe, _ := run.mocks.Get(typeRemoteCmd, "rtx5090-probe")
	if probe.String("connection.proxy.host") != "bastion.lan" || probe.String("connection.proxy.hostKey") == "" {
		t.Errorf("probe connection %v", probe.Plain("connection"))
	}
	if _, ok := run.mocks.Get(typeVolume, "rtx5090-model-cache"); ok {
		t.Error("a model cache volume next to hosts[].modelCache")
	}
	c, _ := run.mocks.Get(typeContainer, "vllm-container")
	vols := c.Plain("volumes").([]any)
	if v := vols[0].(map[string]any); v["hostPath"] != "/data/servelab-cache" || v["containerPath"] != frameworkspec.ModelCachePath {
		t.Errorf("vllm volumes %v, want the bind-mounted model cache", vols)
	}
}

// checkStartOrder: an engine that shares a GPU starts only when the one the
// planner puts before it is ready (its readiness command, which watched the
// container become healthy, and for Ollama its model load), so memory
// fractions mean the same in every run.
//
// The order must also hold when an engine is created again: a container
// replaced alone would start while the engines planned after it still hold
// their memory (SGLang, sized from what is free, would get less, or fail).
// So each container is replaced with every container the planner starts
// before it, directly or through others (Pulumi's replaceWith; the engine
// then deletes them before the replaced one, as containers are deleted
// before they are replaced).
func checkStartOrder(t *testing.T, run *stackRun) {
	t.Helper()
	before := map[string][]string{}
	for _, in := range run.lab.Instances {
		before[in.Instance.Name] = in.StartAfter
	}
	var earlier func(name string, seen map[string]bool)
	earlier = func(name string, seen map[string]bool) {
		for _, a := range before[name] {
			if !seen[a] {
				seen[a] = true
				earlier(a, seen)
			}
		}
	}
	for _, in := range run.lab.Instances {
		c, _ := run.mocks.Get(typeContainer, in.Instance.Name+"-container")
		for _, a := range in.StartAfter {
			if !dependsOnName(c, a+"-ready") {
				t.Errorf("%s starts without waiting for %s (deps %v)", in.Instance.Name, a, c.Dependencies)
			}
		}
		seen := map[string]bool{}
		earlier(in.Instance.Name, seen)
		var want []string
		for a := range seen {
			want = append(want, a+"-container")
		}
		slices.Sort(want)
		if got := c.ReplaceWithNames(); !slices.Equal(got, want) {
			t.Errorf("%s is replaced with %v, want %v (every engine started before it)", in.Instance.Name, got, want)
		}
	}
}

// TestOriginBoxStartOrder: on the rtx5090 stack SGLang starts first, vLLM
// once SGLang is ready, Ollama once vLLM is.
func TestOriginBoxStartOrder(t *testing.T) {
	t.Parallel()
	run, err := runStack(t, "rtx5090", "../stacks/Pulumi.rtx5090.yaml", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, after string }{{"vllm", "sglang"}, {"ollama", "vllm"}} {
		ct, _ := run.mocks.Get(typeContainer, c.name+"-container")
		if !dependsOnName(ct, c.after+"-ready") {
			t.Errorf("%s does not wait for %s: %v", c.name, c.after, ct.Dependencies)
		}
	}
	sg, _ := run.mocks.Get(typeContainer, "sglang-container")
	for _, d := range sg.Dependencies {
		if strings.HasSuffix(d, "-container") {
			t.Errorf("sglang waits for %s; it starts first", d)
		}
	}
}
