package demo_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gateway/gatewayconfig"
	"github.com/servelab/servelab/internal/demo"
	gw "github.com/servelab/servelab/internal/gateway"
	mon "github.com/servelab/servelab/internal/monitoring"
)

const simStack = "../../stacks/Pulumi.sim.yaml"

// golden is a file the sim stack's tests generate from the stack
// (programs/testdata, checked by go test ./programs).
func golden(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../programs/testdata", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func simPlan(t *testing.T) *demo.Plan {
	t.Helper()
	stack, lab, err := demo.LoadStack(simStack)
	if err != nil {
		t.Fatal(err)
	}
	ports := demo.Ports{
		Engines: []string{"127.0.0.1:41000", "127.0.0.1:41001", "127.0.0.1:41002", "127.0.0.1:41003"},
		Gateway: "127.0.0.1:41010", GatewayMetrics: "127.0.0.1:41011", Prometheus: "127.0.0.1:41012",
	}
	p, err := demo.NewPlan(stack, lab, ports, demo.Files{GatewayKey: "/work/gateway-key", Rules: "/work/rules", EngineKeys: "/work/engine-keys"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPlanIsTheSimStack: the demo runs the sim stack's lab — the same
// engines' argv, the same gateway config and the same Prometheus config and
// rules as `make up STACK=sim` deploys (their golden files, which go test
// ./programs checks against the program) — on loopback addresses.
func TestPlanIsTheSimStack(t *testing.T) {
	p := simPlan(t)
	if p.Stack != "sim" || len(p.Engines) != 4 {
		t.Fatalf("stack %q, %d engines", p.Stack, len(p.Engines))
	}

	// Gateway: the stack's config, but for where it listens, where its key
	// is and where its backends are.
	var want gw.Config
	if err := json.Unmarshal(golden(t, "gateway/sim.json"), &want); err != nil {
		t.Fatal(err)
	}
	got := p.Gateway
	if got.Listen != "127.0.0.1:41010" || got.MetricsListen != "127.0.0.1:41011" || got.Auth.KeysFile != "/work/gateway-key" {
		t.Errorf("gateway listeners %q %q, keys %q", got.Listen, got.MetricsListen, got.Auth.KeysFile)
	}
	at := gatewayconfig.ContainerListeners()
	got.Listen, got.MetricsListen, got.Auth.KeysFile = at.Listen, at.MetricsListen, at.KeysFile
	got.Models = slices.Clone(got.Models)
	for i, m := range got.Models {
		m.Backends = slices.Clone(m.Backends)
		for j, b := range m.Backends {
			e := p.Engines[slices.IndexFunc(p.Engines, func(e demo.Engine) bool { return e.Name == b.Name })]
			if b.URL != "http://"+e.Addr {
				t.Errorf("backend %s at %s, want its engine's http://%s", b.Name, b.URL, e.Addr)
			}
			m.Backends[j].URL = "http://" + b.Name + ":" + containerPort(t, e)
			// The engine's key: the file the engine itself reads, which
			// the gateway container holds at BackendKeyFile.
			if b.APIKeyFile != e.KeyFile {
				t.Errorf("backend %s reads its key from %q, its engine from %q", b.Name, b.APIKeyFile, e.KeyFile)
			}
			if b.APIKeyFile != "" {
				m.Backends[j].APIKeyFile = gatewayconfig.BackendKeyFile(b.Name)
			}
		}
		got.Models[i] = m
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Errorf("the demo's gateway config is not the sim stack's (programs/testdata/gateway/sim.json), placed on loopback:\n%s", g)
	}

	// Prometheus: the same rules, byte for byte, and the same config but
	// for the scrape addresses and the rules' directory.
	files, err := mon.PrometheusFiles(p.Monitoring)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range mon.RulesFiles() {
		if g, w := files[filepath.Join("/work/rules", name)], golden(t, "monitoring/sim/etc/prometheus/rules/"+name); string(g) != string(w) {
			t.Errorf("rules %s differ from the sim stack's", name)
		}
	}
	cfg := string(files[mon.PrometheusConfigPath])
	swap := []string{"/work/rules/", mon.PrometheusRulesDir + "/", p.GatewayMetricsAddr, gatewayconfig.Alias + ":9091"}
	for _, e := range p.Engines {
		swap = append(swap, e.Addr, e.Name+":"+containerPort(t, e))
		if e.KeyFile != "" {
			swap = append(swap, e.KeyFile, mon.EngineKeyFile(e.Name))
		}
	}
	if g, w := strings.NewReplacer(swap...).Replace(cfg), string(golden(t, "monitoring/sim/etc/prometheus/prometheus.yml")); g != w {
		t.Errorf("prometheus.yml is not the sim stack's with loopback addresses:\n%s", g)
	}

	// Engines: the containers' argv (the sim stack's plan), listening on
	// loopback and reading their keys from the work directory's files.
	commands := containerCommands(t)
	keyed := 0
	for _, e := range p.Engines {
		args := slices.Clone(e.Args)
		if i := slices.Index(args, "--listen"); i < 0 || args[i+1] != e.Addr {
			t.Errorf("%s: argv %q does not listen on %s", e.Name, e.Args, e.Addr)
		} else {
			args[i+1] = "0.0.0.0:" + containerPort(t, e)
		}
		if e.KeyFile != "" {
			keyed++
			if filepath.Dir(e.KeyFile) != "/work/engine-keys" {
				t.Errorf("%s: key file %s outside the engine keys' directory", e.Name, e.KeyFile)
			}
			if i := slices.Index(args, "--api-key-file"); i < 0 || args[i+1] != e.KeyFile {
				t.Errorf("%s: argv %q does not read the key from %s", e.Name, e.Args, e.KeyFile)
			} else {
				args[i+1] = frameworkspec.EngineKeyPath
			}
		}
		if want := commands[e.Name]; !slices.Equal(args, want) {
			t.Errorf("%s: argv %q, on loopback; the container runs %q", e.Name, e.Args, want)
		}
	}
	if keyed != 3 {
		t.Errorf("%d engines with a key, want 3 (every flavour but Ollama)", keyed)
	}
	// The stack's ready step, against the engine on loopback: the
	// Ollama-flavoured sim loads its model before the benchmark.
	for _, e := range p.Engines {
		var want [][]string
		if e.Flavour == "ollama" {
			want = [][]string{{"probe", "--body", `{"model":"` + e.Name + `"}`, "http://" + e.Addr + "/api/generate"}}
		}
		if !reflect.DeepEqual(e.ReadySteps, want) {
			t.Errorf("%s: ready steps %q, want %q", e.Name, e.ReadySteps, want)
		}
	}
	// Bench: every engine through the gateway, then directly.
	var labels []string
	for _, tg := range p.Targets {
		labels = append(labels, tg.Label)
	}
	wantLabels := []string{"sim-vllm", "sim-sglang", "sim-ollama", "sim-llamacpp", "sim-vllm-direct", "sim-sglang-direct", "sim-ollama-direct", "sim-llamacpp-direct"}
	if !slices.Equal(labels, wantLabels) {
		t.Errorf("targets %v, want %v", labels, wantLabels)
	}
	if p.Workload.Dataset != "multilingual" || p.Workload.Seed != 42 || !slices.Equal(p.Workload.MaxConcurrency, []int{4, 16}) {
		t.Errorf("workload %+v is not the sim stack's", p.Workload)
	}
}

// containerCommands are the sim stack's engine containers' commands, by
// framework instance, from its golden plan (programs/testdata/plans).
func containerCommands(t *testing.T) map[string][]string {
	t.Helper()
	var plan []struct {
		Type   string `json:"type"`
		Name   string `json:"name"`
		Inputs struct {
			Command []string `json:"command"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal(golden(t, "plans/sim.json"), &plan); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range plan {
		if name, ok := strings.CutSuffix(r.Name, "-container"); ok && r.Type == "docker:index/container:Container" && len(r.Inputs.Command) > 0 && r.Inputs.Command[0] == "sim" {
			out[name] = r.Inputs.Command
		}
	}
	if len(out) != 4 {
		t.Fatalf("%d sim containers in the sim stack's plan, want 4", len(out))
	}
	return out
}

// containerPort is the port engine e listens on in its container: its
// flavour's (the sim stack publishes each on it).
func containerPort(t *testing.T, e demo.Engine) string {
	t.Helper()
	return map[string]string{"vllm": "8000", "sglang": "30000", "ollama": "11434", "llamacpp": "8080"}[string(e.Flavour)]
}

func TestLoadStackRefusesRealEngines(t *testing.T) {
	_, _, err := demo.LoadStack("../../stacks/Pulumi.local.yaml")
	if !errors.Is(err, demo.ErrNotSimulated) || !strings.Contains(err.Error(), "ollama") {
		t.Errorf("local stack: %v, want ErrNotSimulated naming the engine", err)
	}
	if _, _, err := demo.LoadStack("../../stacks/sim.yaml"); err == nil || !strings.Contains(err.Error(), "Pulumi.<stack>.yaml") {
		t.Errorf("badly named file: %v", err)
	}
}
