package gateway_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/kube/cluster"
	kframework "github.com/servelab/servelab/components/kube/framework"
	kgateway "github.com/servelab/servelab/components/kube/gateway"
	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/pulumitest"
)

// lab is a cluster with a sim and an Ollama behind one gateway.
func lab(ctx *pulumi.Context) (*cluster.Cluster, []kgateway.Backend, error) {
	c, err := cluster.NewCluster(ctx, "lab", &cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: "servelab:x",
		ModelCache: cluster.ModelCache{SizeGiB: 10}})
	if err != nil {
		return nil, nil, err
	}
	sim, err := kframework.NewFramework(ctx, "sim", &kframework.FrameworkArgs{Cluster: c, Image: "servelab:x", ServicePort: 8001,
		Instance: frameworkspec.Instance{Name: "sim", Engine: engine.Sim, Flavour: engine.VLLM, Model: "m", ServedModelName: "sim",
			Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{}}, DevicesByScheduler: true}})
	if err != nil {
		return nil, nil, err
	}
	ollama, err := kframework.NewFramework(ctx, "ollama", &kframework.FrameworkArgs{Cluster: c, Image: "ollama/ollama:0.32.2",
		Instance: frameworkspec.Instance{Name: "ollama", Engine: engine.Ollama, Model: "qwen2.5:0.5b", ServedModelName: "qwen2.5:0.5b",
			Args: frameworkspec.EngineArgs{Ollama: &frameworkspec.OllamaArgs{}}, DevicesByScheduler: true}})
	if err != nil {
		return nil, nil, err
	}
	return c, []kgateway.Backend{{Framework: sim, PublicModel: "sim", Weight: 2}, {Framework: ollama, PublicModel: "ollama"}}, nil
}

func TestNewGatewayArgs(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		args func(*cluster.Cluster, []kgateway.Backend) *kgateway.GatewayArgs
		want string
	}{
		{"nil", func(*cluster.Cluster, []kgateway.Backend) *kgateway.GatewayArgs { return nil }, "args are required"},
		{"no cluster", func(_ *cluster.Cluster, b []kgateway.Backend) *kgateway.GatewayArgs {
			return &kgateway.GatewayArgs{Backends: b}
		}, "cluster is required"},
		{"no backends", func(c *cluster.Cluster, _ []kgateway.Backend) *kgateway.GatewayArgs {
			return &kgateway.GatewayArgs{Cluster: c}
		}, "no backends"},
		{"port of the metrics", func(c *cluster.Cluster, b []kgateway.Backend) *kgateway.GatewayArgs {
			return &kgateway.GatewayArgs{Cluster: c, Backends: b, Port: 9091}
		}, "is the metrics port"},
		{"bad settings", func(c *cluster.Cluster, b []kgateway.Backend) *kgateway.GatewayArgs {
			s := gw.DefaultConfig()
			s.Retries = -1
			return &kgateway.GatewayArgs{Cluster: c, Backends: b, Settings: &s}
		}, "retries"},
		{"valid", func(c *cluster.Cluster, b []kgateway.Backend) *kgateway.GatewayArgs {
			return &kgateway.GatewayArgs{Cluster: c, Backends: b, Port: 8088}
		}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := pulumitest.New(nil).Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
				c, b, err := lab(ctx)
				if err != nil {
					return err
				}
				_, err = kgateway.NewGateway(ctx, "gateway", tt.args(c, b))
				return err
			})
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
}

// TestGateway: the config reaches backends by Service name, sits in a
// ConfigMap named by its content, the key in a Secret only; each keyed
// backend's engine key is mounted where the config's apiKeyFile says
// (Ollama takes none); the pod waits for every backend, mounts all
// read-only, and is replaced with any key it reads.
func TestGateway(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(nil)
	var cfgJSON string
	err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		c, b, err := lab(ctx)
		if err != nil {
			return err
		}
		g, err := kgateway.NewGateway(ctx, "gateway", &kgateway.GatewayArgs{Cluster: c, Backends: b, Port: 8088})
		if err != nil {
			return err
		}
		cfg, err := kgateway.Render(nil, b)
		if err != nil {
			return err
		}
		raw, _ := json.MarshalIndent(cfg, "", "  ")
		cfgJSON = string(raw)
		if g.InternalBaseURL() != "http://gateway:8088" {
			t.Errorf("internal URL %s", g.InternalBaseURL())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	cm, _ := m.Get("kubernetes:core/v1:ConfigMap", "gateway-config")
	data := cm.Plain("data").(map[string]any)["gateway.json"].(string)
	if data != cfgJSON+"\n" {
		t.Errorf("ConfigMap holds\n%s\nwant the rendered config\n%s", data, cfgJSON)
	}
	parsed, err := gw.ParseConfig([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := parsed.Models[0].Backends[0]; b.URL != "http://sim:8001" || b.Weight != 2 || b.APIKeyFile != "/run/servelab/backend-keys/sim" {
		t.Errorf("sim backend %+v", b)
	}
	if b := parsed.Models[1].Backends[0]; b.URL != "http://ollama:11434" || b.Model != "qwen2.5:0.5b" || b.APIKeyFile != "" {
		t.Errorf("ollama backend %+v", b)
	}
	if !strings.HasPrefix(cm.String("metadata.name"), "gateway-config-") || cm.Plain("immutable") != true {
		t.Errorf("config map %s immutable %v", cm.String("metadata.name"), cm.Plain("immutable"))
	}
	key, _ := m.Get("kubernetes:core/v1:Secret", "gateway-api-key-secret")
	if len(key.Secrets()) == 0 || strings.Contains(data, "gateway-api-key-password") {
		t.Errorf("key secret %v secrets %v", key.Inputs, key.Secrets())
	}
	d, _ := m.Get("kubernetes:apps/v1:Deployment", "gateway-deployment")
	for _, dep := range []string{"sim-deployment", "ollama-deployment", "ollama-ready", "gateway-config", "gateway-api-key-secret"} {
		if !slices.ContainsFunc(d.Dependencies, func(x string) bool { return strings.HasSuffix(x, "::"+dep) }) {
			t.Errorf("the gateway does not wait for %s", dep)
		}
	}
	if !slices.Equal(d.ReplaceWith, []string{"urn:pulumi:s::servelab::servelab:kube:Framework$random:index/randomPassword:RandomPassword::sim-api-key",
		"urn:pulumi:s::servelab::servelab:kube:Gateway$random:index/randomPassword:RandomPassword::gateway-api-key"}) {
		t.Errorf("replaceWith %v, want its key and sim's", d.ReplaceWith)
	}
	b, _ := json.Marshal(d.Plain("spec"))
	for _, want := range []string{`"name":"` + cm.String("metadata.name") + `"`, `"defaultMode":288`, `"fsGroup":65532`,
		`{"secret":{"items":[{"key":"gateway-keys","path":"gateway-keys"}],"name":"gateway-api-key"}}`,
		`{"secret":{"items":[{"key":"key","path":"backend-keys/sim"}],"name":"sim-api-key"}}`,
		`"args":["gateway","--config","/etc/servelab/gateway.json"]`, `"/servelab","probe","http://127.0.0.1:8080/readyz"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("gateway deployment lacks %s: %s", want, b)
		}
	}
}

// TestConfigMapNamedByContent: another config is another ConfigMap name,
// so the pod rolls; the same config keeps it.
func TestConfigMapNamedByContent(t *testing.T) {
	t.Parallel()
	names := map[string]string{}
	for _, routing := range []gw.Routing{"round-robin", "round-robin", "least-outstanding"} {
		m := pulumitest.New(nil)
		err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
			c, b, err := lab(ctx)
			if err != nil {
				return err
			}
			s := gw.DefaultConfig()
			s.Routing = routing
			_, err = kgateway.NewGateway(ctx, "gateway", &kgateway.GatewayArgs{Cluster: c, Backends: b, Settings: &s})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		cm, _ := m.Get("kubernetes:core/v1:ConfigMap", "gateway-config")
		if prev, ok := names[string(routing)]; ok && prev != cm.String("metadata.name") {
			t.Errorf("the same config got two names: %s, %s", prev, cm.String("metadata.name"))
		}
		names[string(routing)] = cm.String("metadata.name")
	}
	if names["round-robin"] == names["least-outstanding"] {
		t.Errorf("a changed config kept its ConfigMap name %s", names["round-robin"])
	}
}
