package programs_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/pulumitest"
)

// Rules every resource of every shipped stack follows, checked on the
// golden plans (TestStacks keeps them equal to what the program plans).
// Each rule is a finding of a real `pulumi up`: the mock engine cannot show
// the provider's read-back or the exec limit, but it shows the inputs that
// cause them.

func goldenPlans(t *testing.T) map[string][]pulumitest.PlanEntry {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "plans", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no golden plans: %v", err)
	}
	plans := map[string][]pulumitest.PlanEntry{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var plan []pulumitest.PlanEntry
		if err := json.Unmarshal(b, &plan); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		plans[strings.TrimSuffix(filepath.Base(p), ".json")] = plan
	}
	return plans
}

// pulumi-command passes the previous stdout in the environment unless told
// not to, and Linux refuses an exec with one environment string over
// 128 KiB: a benchmark's output passes that.
func TestEveryCommandKeepsItsPreviousOutputOutOfTheEnvironment(t *testing.T) {
	t.Parallel()
	for stack, plan := range goldenPlans(t) {
		n := 0
		for _, r := range plan {
			if r.Type != typeLocalCmd && r.Type != typeRemoteCmd {
				continue
			}
			n++
			if v, ok := r.Inputs["addPreviousOutputInEnv"]; !ok || v != false {
				t.Errorf("%s: %s: addPreviousOutputInEnv = %v, want false", stack, r.Name, v)
			}
		}
		if n == 0 {
			t.Errorf("%s: no commands", stack)
		}
	}
}

// The docker provider reads durations back from the daemon in Go's
// canonical form ("1m0s"); anything else shows as a change on every `up`.
// The container's duration inputs are its healthcheck's.
func TestEveryContainerDurationIsCanonical(t *testing.T) {
	t.Parallel()
	for stack, plan := range goldenPlans(t) {
		for _, r := range plan {
			if r.Type != typeContainer {
				continue
			}
			hc, ok := r.Inputs["healthcheck"].(map[string]any)
			if !ok {
				continue // the DCGM exporter: no program to check with
			}
			for _, key := range []string{"interval", "timeout", "startPeriod", "startInterval"} {
				v, ok := hc[key]
				if !ok {
					if key != "startInterval" {
						t.Errorf("%s: %s: healthcheck.%s missing", stack, r.Name, key)
					}
					continue
				}
				s, _ := v.(string)
				d, err := time.ParseDuration(s)
				if err != nil || d.String() != s {
					t.Errorf("%s: %s: healthcheck.%s = %q, not Go's canonical form (%v)", stack, r.Name, key, s, d)
				}
			}
		}
	}
}

// Docker and podman report image names fully qualified; the engine-filled
// fields are ignored (gpuhost.EngineFilled*), so an `up` against podman
// changes nothing it did not change.
func TestEveryImageIsQualifiedAndEngineFilledFieldsAreIgnored(t *testing.T) {
	t.Parallel()
	for stack, plan := range goldenPlans(t) {
		for _, r := range plan {
			var refs []any
			switch r.Type {
			case typeContainer:
				if img, _ := r.Inputs["image"].(string); !strings.HasPrefix(img, "sha256:") {
					refs = append(refs, img) // a name, not an image id
				}
				if !slices.Equal(r.IgnoreChanges, gpuhost.EngineFilledContainerFields()) {
					t.Errorf("%s: %s: ignoreChanges %v, want %v", stack, r.Name, r.IgnoreChanges, gpuhost.EngineFilledContainerFields())
				}
			case typeImage:
				refs = append(refs, r.Inputs["name"])
			case "docker:index/image:Image":
				refs = append(refs, r.Inputs["imageName"])
			case typeNetwork:
				if !slices.Equal(r.IgnoreChanges, gpuhost.EngineFilledNetworkFields()) {
					t.Errorf("%s: %s: ignoreChanges %v, want %v", stack, r.Name, r.IgnoreChanges, gpuhost.EngineFilledNetworkFields())
				}
			}
			for _, ref := range refs {
				if s, _ := ref.(string); !imageref.Qualified(s) {
					t.Errorf("%s: %s: image %q is not fully qualified (%s)", stack, r.Name, s, imageref.Qualify(s))
				}
			}
		}
	}
}

// Everything placed on a host waits for that host's probe, through an
// explicit dependency on a resource (GpuHost.Waits), never through the
// GpuHost component, whose children may not all be registered yet.
func TestEverythingOnAHostWaitsForItsProbe(t *testing.T) {
	t.Parallel()
	for stack, plan := range goldenPlans(t) {
		deps := map[string][]string{}
		for _, r := range plan {
			deps[r.Name] = r.DependsOn
		}
		reaches := func(from, to string) bool {
			seen := map[string]bool{}
			stack := []string{from}
			for len(stack) > 0 {
				n := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				for _, d := range deps[n] {
					if d == to {
						return true
					}
					if !seen[d] {
						seen[d] = true
						stack = append(stack, d)
					}
				}
			}
			return false
		}
		hosts := 0
		for _, r := range plan {
			switch {
			case r.Type == typeHost:
				hosts++
			case r.Type == typeContainer || r.Type == typeImage || r.Type == "docker:index/image:Image":
				host := strings.TrimSuffix(r.Provider, "-docker")
				if !slices.Contains(r.DependsOn, host+"-probe") {
					t.Errorf("%s: %s does not wait for %s-probe (deps %v)", stack, r.Name, host, r.DependsOn)
				}
			case (r.Type == typeLocalCmd || r.Type == typeRemoteCmd) && !strings.HasSuffix(r.Name, "-probe") && hosts > 0:
				if !slices.ContainsFunc(plan, func(p pulumitest.PlanEntry) bool {
					return strings.HasSuffix(p.Name, "-probe") && reaches(r.Name, p.Name)
				}) {
					t.Errorf("%s: command %s waits for no host probe (deps %v)", stack, r.Name, r.DependsOn)
				}
			}
		}
	}
}

// Everything a destroy keeps is in README's "What destroy keeps" table:
// volumes marked retainOnDelete (by their Docker name pattern), images
// pulled with keepLocally, and the servelab image the provider never
// deletes.
func TestEveryRetainedResourceIsDocumented(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n### What `destroy` keeps\n")
	if !ok {
		t.Fatal("README has no \"What `destroy` keeps\" section")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var rows []string
	for line := range strings.Lines(section) {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| kept ") {
			rows = append(rows, line)
		}
	}
	documented := func(s string) bool {
		return slices.ContainsFunc(rows, func(row string) bool { return strings.Contains(row, s) })
	}
	for stack, plan := range goldenPlans(t) {
		frameworks := map[string]bool{}
		for _, r := range plan {
			if r.Type == typeFramework {
				frameworks[r.Name] = true
			}
		}
		for _, r := range plan {
			var want string
			switch {
			case r.Type == typeVolume && r.RetainOnDelete:
				// A stack's own volume as servelab-<stack>-<role> (a
				// framework's with <framework>), any other by its name.
				name, _ := r.Inputs["name"].(string)
				want = "`" + name + "`"
				if role, ok := strings.CutPrefix(name, "servelab-"+stack+"-"); ok {
					if frameworks[r.Parent] {
						role = "<framework>" + strings.TrimPrefix(role, r.Parent)
					}
					want = "`servelab-<stack>-" + role + "`"
				}
			case r.Type == typeImage && r.Inputs["keepLocally"] == true:
				want = "pulled images"
			case r.Type == "docker:index/image:Image":
				want = "`localhost/servelab:<version>-<hash>`"
			default:
				continue
			}
			if !documented(want) {
				t.Errorf("%s: %s %s is kept by destroy, and README's table has no row with %s", stack, r.Type, r.Name, want)
			}
		}
	}
}
