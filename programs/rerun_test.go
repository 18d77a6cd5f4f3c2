package programs_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	kbench "github.com/servelab/servelab/components/kube/benchmark"
	"github.com/servelab/servelab/internal/pulumitest"
	"github.com/servelab/servelab/programs"
	"github.com/servelab/servelab/programs/stackconfig"
)

// The benchmark re-runs exactly when its results could change. For every
// shipped stack, each result-deciding setting is mutated and the bench
// command's triggers must change (a trigger change replaces the command:
// a fresh run); each setting that cannot move results is mutated and the
// bench command's inputs must not change at all (pulumi-command re-runs
// `create` on any input change). An unchanged program plans no change.
// A cluster stack's bench is a Job named by its triggers (also its
// annotation): the same rules hold for the Job's triggers and inputs.

// variant is one run of a stack: its config and what Run would pass.
type variant struct {
	cfg        map[string]string // servelab:* keys as the CLI hands them over
	secrets    map[string]string
	opts       programs.Options
	gatewayKey string // the generated gateway key (rotated by a mutation)
	engineKey  string // prefix of the engines' generated keys (rotated too)
}

// mutation changes one setting; it reports false when the stack has no
// such setting.
type mutation struct {
	key   string
	apply func(v *variant) bool
}

func TestBenchReRunsExactlyWhenResultsCanChange(t *testing.T) {
	t.Parallel()
	for stack, path := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			cfg, err := pulumitest.LoadStackConfig(path)
			if err != nil {
				t.Fatal(err)
			}
			base := variant{cfg: cfg, secrets: maps.Clone(secretConfig), gatewayKey: "gateway-key-1", engineKey: "engine-key-1",
				opts: programs.Options{ImageTag: "localhost/servelab:0.1.0-aaaaaaaaaaaa", SourceDir: "/home/alice/src/servelab",
					BenchBinary: programs.BenchBinary, BenchBinarySHA256: testBinarySHA256}}
			want, outputs := benchRun(t, stack, base, nil)
			if strings.Contains(want.text(), "/home/alice") {
				t.Errorf("the checkout's path is in the bench's inputs:\n%s", want.text())
			}

			// Unchanged program: nothing to do for the bench.
			if again, _ := benchRun(t, stack, base, outputs); !reflect.DeepEqual(want.inputs, again.inputs) {
				t.Errorf("an unchanged stack changes the bench's inputs:\n%s", pulumitest.Diff(want.text(), again.text()))
			}

			for _, m := range decidingMutations(base) {
				v := base.clone()
				if !m.apply(&v) {
					continue
				}
				got, _ := benchRun(t, stack, v, outputs)
				if slices.Equal(want.triggers(), got.triggers()) {
					t.Errorf("%s decides results, but changing it leaves the bench's triggers alone: %v", m.key, got.triggers())
				}
			}
			for _, m := range neutralMutations(base) {
				v := base.clone()
				if !m.apply(&v) {
					continue
				}
				got, _ := benchRun(t, stack, v, outputs)
				if !reflect.DeepEqual(want.inputs, got.inputs) {
					t.Errorf("%s cannot change results, but changing it changes the bench's inputs (a re-run):\n%s",
						m.key, pulumitest.Diff(want.text(), got.text()))
				}
			}
		})
	}
}

// benchCommand is the bench command's (or Job's) inputs as the engine
// would diff them: without the inputs it was told to ignore.
type benchCommand struct {
	inputs resource.PropertyMap
	job    bool
}

func (b benchCommand) triggers() []string {
	if b.job {
		ann, _ := at(b.inputs.Mappable(), "metadata", "annotations", kbench.TriggersAnnotation).(string)
		return strings.Split(ann, "\n")
	}
	var out []string
	for _, v := range b.inputs["triggers"].ArrayValue() {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		out = append(out, v.StringValue())
	}
	return out
}

func (b benchCommand) text() string {
	j, _ := json.MarshalIndent(b.inputs.Mappable(), "", "  ")
	return string(j)
}

// benchRun runs the program for v under the mock engine; baseline answers
// a StackReference to the baseline stack.
func benchRun(t *testing.T, stack string, v variant, baseline map[string]any) (benchCommand, map[string]any) {
	t.Helper()
	cfg := maps.Clone(v.cfg)
	maps.Copy(cfg, v.secrets)
	lab := planStack(t, cfg)
	probe := fakeProbe(lab, 0)
	var m *pulumitest.Mocks
	kubeResults := fakeKubeResults(&m)
	m = pulumitest.New(func(args pulumi.MockResourceArgs) resource.PropertyMap {
		switch {
		case args.TypeToken == typePassword && args.Name == "gateway-api-key":
			return resource.PropertyMap{"result": resource.MakeSecret(resource.NewProperty(v.gatewayKey))}
		case args.TypeToken == typePassword && strings.HasSuffix(args.Name, "-api-key"):
			return resource.PropertyMap{"result": resource.MakeSecret(resource.NewProperty(v.engineKey + "-" + args.Name))}
		case args.TypeToken == "pulumi:pulumi:StackReference":
			return resource.PropertyMap{"outputs": resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{"benchmark": baseline}))}
		}
		if out := kubeResults(args); out != nil {
			return out
		}
		return probe(args)
	})
	var all map[string]any
	err := m.Run("servelab", stack, cfg, slices.Collect(maps.Keys(v.secrets)), program(t, cfg, &all,
		func(ctx *pulumi.Context, lab *stackconfig.Lab, secrets programs.Secrets) (pulumi.Map, error) {
			return programs.Deploy(ctx, lab, secrets, v.opts)
		}))
	outputs, _ := all["benchmark"].(map[string]any)
	if err != nil {
		t.Fatalf("pulumi run: %v", err)
	}
	for _, typ := range []string{typeLocalCmd, typeRemoteCmd, typeJob} {
		if r, ok := m.Get(typ, "benchmark-run"); ok {
			inputs := r.Inputs.Copy()
			for _, path := range r.IgnoreChanges {
				deletePath(inputs, path)
			}
			return benchCommand{inputs: inputs, job: typ == typeJob}, outputs
		}
	}
	t.Fatal("no benchmark command")
	return benchCommand{}, nil
}

// deletePath removes a dotted path from inputs, as ignoreChanges takes it
// out of the engine's diff.
func deletePath(inputs resource.PropertyMap, path string) {
	keys := strings.Split(path, ".")
	m := inputs
	for _, k := range keys[:len(keys)-1] {
		v, ok := m[resource.PropertyKey(k)]
		for ok && v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !ok || !v.IsObject() {
			return
		}
		m = v.ObjectValue()
	}
	delete(m, resource.PropertyKey(keys[len(keys)-1]))
}

func (v variant) clone() variant {
	c := v
	c.cfg, c.secrets = maps.Clone(v.cfg), maps.Clone(v.secrets)
	return c
}

// edit decodes servelab:<key>, lets fn change it and stores it back; it
// reports what fn reports (false: not applicable).
func (v *variant) edit(key string, fn func(doc any) bool) bool {
	raw, ok := v.cfg["servelab:"+key]
	if !ok {
		raw = "{}"
	}
	var doc any
	if err := json.Unmarshal([]byte(raw), &doc); err != nil {
		return false
	}
	if !fn(doc) {
		return false
	}
	b, _ := json.Marshal(doc)
	v.cfg["servelab:"+key] = string(b)
	return true
}

// setIn sets doc[path...] = value where doc is the value at key; false
// when the value is already that.
func (v *variant) setIn(key string, value any, path ...string) bool {
	return v.edit(key, func(doc any) bool {
		m, ok := doc.(map[string]any)
		if !ok {
			return false
		}
		for _, p := range path[:len(path)-1] {
			next, found := m[p].(map[string]any)
			if !found {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		last := path[len(path)-1]
		if reflect.DeepEqual(m[last], value) {
			return false
		}
		m[last] = value
		return true
	})
}

// framework edits frameworks[i].
func (v *variant) framework(i int, fn func(f map[string]any) bool) bool {
	return v.edit("frameworks", func(doc any) bool {
		list, _ := doc.([]any)
		if i >= len(list) {
			return false
		}
		f, _ := list[i].(map[string]any)
		return f != nil && fn(f)
	})
}

func (v *variant) frameworks() []map[string]any {
	var list []map[string]any
	_ = json.Unmarshal([]byte(v.cfg["servelab:frameworks"]), &list)
	return list
}

func (v *variant) benchmark() map[string]any {
	var b map[string]any
	_ = json.Unmarshal([]byte(v.cfg["servelab:benchmark"]), &b)
	return b
}

func (v *variant) cluster() bool { return v.cfg["servelab:clusters"] != "" }

func (v *variant) hasGateway() bool {
	var g map[string]any
	_ = json.Unmarshal([]byte(v.cfg["servelab:gateway"]), &g)
	return v.cfg["servelab:program"] != "bench" && g["enabled"] != false
}

// engineArg is a typed argument of each engine and a value to set it to.
var engineArg = map[string][2]any{
	"vllm": {"maxNumSeqs", 17.0}, "sglang": {"maxRunningRequests", 17.0}, "ollama": {"numParallel", 3.0},
	"llamacpp": {"parallel", 3.0}, "sim": {"itl", "7ms"},
}

// decidingMutations are the settings that decide a bench's results.
func decidingMutations(base variant) []mutation {
	var ms []mutation
	for i, f := range base.frameworks() {
		engine, _ := f["engine"].(string)
		p := fmt.Sprintf("frameworks[%d]", i)
		ms = append(ms,
			mutation{p + ".args." + engineArg[engine][0].(string), func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					args, _ := f["args"].(map[string]any)
					if args == nil {
						args = map[string]any{}
						f["args"] = args
					}
					args[engineArg[engine][0].(string)] = engineArg[engine][1]
					return true
				})
			}},
			mutation{p + ".env", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					env, _ := f["env"].(map[string]any)
					if env == nil {
						env = map[string]any{}
						f["env"] = env
					}
					env["SERVELAB_TEST_KNOB"] = "1"
					return true
				})
			}},
			mutation{p + ".model", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["model"] = f["model"].(string) + "-v2"
					return true
				})
			}},
		)
		if engine != "sim" {
			ms = append(ms, mutation{p + ".image", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["image"] = f["image"].(string) + "-post1"
					return true
				})
			}})
		}
		if _, ok := f["gpuMemoryGiB"]; ok {
			ms = append(ms, mutation{p + ".gpuMemoryGiB (memory fraction)", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["gpuMemoryGiB"] = f["gpuMemoryGiB"].(float64) - 1
					return true
				})
			}})
		}
		if _, ok := f["kvCacheGiB"]; ok {
			ms = append(ms, mutation{p + ".kvCacheGiB (memory fraction)", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["kvCacheGiB"] = f["kvCacheGiB"].(float64) - 1
					return true
				})
			}})
		}
		if base.cluster() {
			ms = append(ms, mutation{p + ".nodeSelector (placement)", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["nodeSelector"] = map[string]any{"servelab.dev/test-pool": "b"}
					return true
				})
			}})
		}
		if r, _ := f["replicas"].(float64); r > 1 {
			ms = append(ms, mutation{p + ".replicas (and devices)", func(v *variant) bool {
				return v.framework(i, func(f map[string]any) bool {
					f["replicas"] = r - 1
					return true
				})
			}})
		}
	}
	if base.hasGateway() {
		for _, kv := range [][2]any{
			{"routing", "round-robin"}, {"retries", 0.0}, {"maxBodyBytes", 1048576.0}, {"streamIdleTimeout", "13s"}, {"upstreamClient", "direct"},
			{"maxConnections", 5000.0}, {"requestReadTimeout", "90s"},
		} {
			ms = append(ms, mutation{"gateway." + kv[0].(string), func(v *variant) bool { return v.setIn("gateway", kv[1], kv[0].(string)) }})
		}
		ms = append(ms, mutation{"gateway.cache.enabled", func(v *variant) bool { return v.setIn("gateway", true, "cache", "enabled") }})
	}
	b := base.benchmark()
	for _, kv := range [][2]any{
		{"numPrompts", 7.0}, {"seed", 4242.0}, {"outputLen", 33.0}, {"maxConcurrency", []any{2.0, 3.0}}, {"requestRate", 5.0},
		{"burstiness", 0.5}, {"warmup", 9.0}, {"repeats", 7.0}, {"goodput", map[string]any{"e2el": 9000.0}},
		{"timeout", "47m"}, {"direct", b["direct"] != true},
	} {
		ms = append(ms, mutation{"benchmark." + kv[0].(string), func(v *variant) bool { return v.setIn("benchmark", kv[1], kv[0].(string)) }})
	}
	if b["dataset"] == "random" || b["dataset"] == nil {
		ms = append(ms, mutation{"benchmark.inputLen", func(v *variant) bool { return v.setIn("benchmark", 77.0, "inputLen") }})
	}
	inImage := b["runOn"] == "host" || base.cluster() // a cluster's bench is a Job in the image
	if base.hasGateway() || slices.ContainsFunc(base.frameworks(), func(f map[string]any) bool { return f["engine"] == "sim" }) || inImage {
		ms = append(ms, mutation{"the servelab image (its source-hash tag)", func(v *variant) bool {
			v.opts.ImageTag = "localhost/servelab:0.1.0-bbbbbbbbbbbb"
			return true
		}})
	}
	if !inImage {
		ms = append(ms, mutation{"bin/servelab's content", func(v *variant) bool {
			v.opts.BenchBinarySHA256 = strings.Repeat("0", 64)
			return true
		}})
	}
	return ms
}

// neutralMutations cannot change a bench's results.
func neutralMutations(base variant) []mutation {
	ms := []mutation{
		{"gateway API key rotation", func(v *variant) bool { v.gatewayKey = "gateway-key-2"; return true }},
		{"engine API key rotation", func(v *variant) bool { v.engineKey = "engine-key-2"; return true }},
		{"servelab:hfToken rotation", func(v *variant) bool { v.secrets["servelab:hfToken"] = "hf_rotated"; return true }},
		{"servelab:sshPrivateKey rotation", func(v *variant) bool {
			v.secrets["servelab:sshPrivateKey"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nrotated\n-----END OPENSSH PRIVATE KEY-----\n"
			return true
		}},
		{"checkout path", func(v *variant) bool { v.opts.SourceDir = "/srv/ci/other-clone"; return true }},
		{"monitoring.prometheus.retention", func(v *variant) bool { return v.setIn("monitoring", "3d", "prometheus", "retention") }},
		{"monitoring.prometheus.scrapeInterval", func(v *variant) bool { return v.setIn("monitoring", "2s", "prometheus", "scrapeInterval") }},
		{"monitoring.prometheus.port", func(v *variant) bool { return v.setIn("monitoring", 9191.0, "prometheus", "port") }},
		{"monitoring.grafana.port", func(v *variant) bool { return v.setIn("monitoring", 3333.0, "grafana", "port") }},
		{"monitoring.grafana.enabled", func(v *variant) bool { return v.setIn("monitoring", false, "grafana", "enabled") }},
		{"monitoring.ttftSlo", func(v *variant) bool { return v.setIn("monitoring", "750ms", "ttftSlo") }},
		{"monitoring.enabled", func(v *variant) bool { return v.setIn("monitoring", false, "enabled") }},
		{"benchmark.baseline", func(v *variant) bool { return v.setIn("benchmark", "some-other-stack", "baseline") }},
		{"monitoring.dcgm", func(v *variant) bool {
			return slices.ContainsFunc(v.frameworks(), func(f map[string]any) bool { return f["engine"] == "vllm" }) &&
				v.setIn("monitoring", false, "dcgm")
		}},
	}
	if base.cluster() {
		ms = append(ms,
			mutation{"servelab:kubeconfig", func(v *variant) bool {
				v.secrets["servelab:kubeconfig"] = "apiVersion: v1\nkind: Config\n"
				return true
			}},
			mutation{"clusters[0].modelCache.sizeGiB", func(v *variant) bool {
				return v.edit("clusters", func(doc any) bool {
					c, _ := doc.([]any)[0].(map[string]any)
					mc, _ := c["modelCache"].(map[string]any)
					if mc == nil {
						mc = map[string]any{}
						c["modelCache"] = mc
					}
					mc["sizeGiB"] = 321.0
					return true
				})
			}},
		)
	}
	if !base.hasGateway() {
		return ms[1:]
	}
	return ms
}
