package programs_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
	"github.com/servelab/servelab/programs/stackconfig"
)

// Direct targets send their engine's own API key (contract C1); the key
// reaches the bench through the keys file like the gateway's, so its
// rotation leaves the bench alone.
func TestDirectTargetsSendEngineKeys(t *testing.T) {
	t.Parallel()
	cfg, err := pulumitest.LoadStackConfig("../stacks/Pulumi.rtx5090.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range secretConfig {
		cfg[k] = v
	}
	run := func(suffix string) (bench, keys pulumitest.Resource) {
		m := pulumitest.New(fakeProbe(planStack(t, cfg), 0))
		var out map[string]any
		err := m.Run("servelab", "rtx5090", cfg, slices.Collect(mapsKeys(secretConfig)), program(t, cfg, &out,
			func(ctx *pulumi.Context, lab *stackconfig.Lab, secrets programs.Secrets) (pulumi.Map, error) {
				return programs.DeployWithEngineKeys(ctx, lab, secrets, programs.Options{ImageTag: "localhost/servelab:test", SourceDir: "."},
					func(f *framework.Framework) pulumi.StringInput {
						if f.Engine == engine.Ollama {
							return nil // no auth
						}
						return pulumi.ToSecret(pulumi.String(f.Name + "-engine-key-" + suffix)).(pulumi.StringOutput)
					})
			}))
		if err != nil {
			t.Fatal(err)
		}
		bench, _ = m.Get(typeRemoteCmd, "benchmark-run")
		keys, _ = m.Get(typeRemoteCmd, "benchmark-keys")
		return bench, keys
	}
	bench, keys := run("1")
	var doc struct {
		Targets []struct {
			Label  string `json:"label"`
			KeyEnv string `json:"api_key_env"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(bench.String("stdin")), &doc); err != nil {
		t.Fatal(err)
	}
	keyOf := map[string]string{}
	for _, tg := range doc.Targets {
		keyOf[tg.Label] = tg.KeyEnv
	}
	lines := strings.Split(strings.TrimSuffix(keys.String("stdin"), "\n"), "\n")
	want := map[string]string{"vllm": "SERVELAB_BENCH_KEY_0", "vllm-direct": "SERVELAB_BENCH_KEY_1",
		"sglang-direct": "SERVELAB_BENCH_KEY_2", "ollama-direct": ""}
	for label, env := range want {
		if keyOf[label] != env {
			t.Errorf("%s sends key %q, want %q (targets %v)", label, keyOf[label], env, keyOf)
		}
	}
	if len(lines) != 3 || lines[1] != "vllm-engine-key-1" || lines[2] != "sglang-engine-key-1" {
		t.Errorf("keys file %q", lines)
	}
	if !strings.Contains(bench.String("create"), " 3 docker run ") || !strings.Contains(bench.String("create"), "-e SERVELAB_BENCH_KEY_2 ") {
		t.Errorf("create %q does not pass 3 keys", bench.String("create"))
	}
	rotated, _ := run("2")
	if bench.String("create") != rotated.String("create") || bench.String("stdin") != rotated.String("stdin") ||
		!slices.Equal(bench.Strings("triggers"), rotated.Strings("triggers")) {
		t.Error("rotating an engine key changed the bench's inputs")
	}
}
