package gpuhost_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi-docker/sdk/v4/go/docker"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/pulumitest"
)

// Every command servelab creates passes addPreviousOutputInEnv: false:
// with it on, pulumi-command puts the previous stdout in the environment
// and Linux refuses the exec once that string passes 128 KiB.
func TestCommandsDoNotPassPreviousOutput(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		local, err := gpuhost.NewGpuHost(ctx, "here", nil)
		if err != nil {
			return err
		}
		remote, err := gpuhost.NewGpuHost(ctx, "there", &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "gpu1", User: "lab", InsecureIgnoreHostKey: true}})
		if err != nil {
			return err
		}
		for _, h := range []*gpuhost.GpuHost{local, remote} {
			if _, err := h.Run(ctx, h.Name+"-echo", gpuhost.RunArgs{Argv: []string{"echo", "hi"}}); err != nil {
				return err
			}
		}
		_, err = gpuhost.RunLocal(ctx, "plain", gpuhost.RunArgs{Script: "true"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for _, typ := range []string{"command:local:Command", "command:remote:Command"} {
		for _, c := range m.ByType(typ) {
			n++
			if v := c.Plain("addPreviousOutputInEnv"); v != false {
				t.Errorf("%s %s: addPreviousOutputInEnv = %v, want false", typ, c.Name, v)
			}
		}
	}
	if n != 5 { // 2 probes, 2 echoes, 1 plain
		t.Errorf("%d commands, want 5", n)
	}
}

// A host's readiness is its network and probe, as resources: a dependency
// on them is explicit, where one on the GpuHost component would cover only
// the children registered by then.
func TestWaitsAreTheProbeAndNetwork(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		h, err := gpuhost.NewGpuHost(ctx, "h", nil)
		if err != nil {
			return err
		}
		_, err = h.Run(ctx, "after", gpuhost.RunArgs{Script: "true"}, pulumi.DependsOn(h.Waits()))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := m.Get("command:local:Command", "after")
	for _, want := range []string{"h-probe", "h-network"} {
		if !dependsOn(c, want) {
			t.Errorf("depends on %v, not %s", c.Dependencies, want)
		}
	}
}

// The healthcheck a host renders follows its daemon's API (from the probe)
// and waits for the probe.
func TestHostHealthcheckFollowsTheProbe(t *testing.T) {
	t.Parallel()
	podman := "### servelab:gpus\n### servelab:runtimes\n{}\n### servelab:docker\n" +
		`{"Version":"4.3.1","ApiVersion":"1.41","Components":[{"Name":"Podman Engine","Version":"4.3.1"}]}` + "\n"
	for _, tt := range []struct {
		name, probe, wantStartInterval string
	}{
		{"docker 28", "", "2s"}, // the default probe answer: API 1.50
		{"podman 4", podman, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(probeAnswer(tt.probe))
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				h, err := gpuhost.NewGpuHost(ctx, "h", nil)
				if err != nil {
					return err
				}
				_, err = docker.NewContainer(ctx, "c", &docker.ContainerArgs{
					Image: pulumi.String("localhost/servelab:1"),
					Healthcheck: h.Healthcheck(gpuhost.Healthcheck{Test: []string{"CMD", "/servelab", "probe", "http://127.0.0.1:1/"},
						Interval: 10 * time.Second, Timeout: 5 * time.Second, Retries: 3, StartPeriod: time.Minute, StartInterval: 2 * time.Second}),
				}, pulumi.Provider(h.Provider))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := m.Get("docker:index/container:Container", "c")
			if got := c.String("healthcheck.startInterval"); got != tt.wantStartInterval {
				t.Errorf("startInterval %q, want %q", got, tt.wantStartInterval)
			}
			if got := c.String("healthcheck.startPeriod"); got != "1m0s" {
				t.Errorf("startPeriod %q, want the canonical 1m0s", got)
			}
			if !dependsOn(c, "h-probe") {
				t.Errorf("the container does not wait for the probe: %v", c.Dependencies)
			}
		})
	}
}

func TestAwaitReady(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		h, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "gpu1", User: "lab", InsecureIgnoreHostKey: true}})
		if err != nil {
			return err
		}
		c, err := docker.NewContainer(ctx, "c", &docker.ContainerArgs{Image: pulumi.String("localhost/servelab:1")}, pulumi.Provider(h.Provider))
		if err != nil {
			return err
		}
		if _, err := h.AwaitReady(ctx, "c-ready", gpuhost.ReadyArgs{}); err == nil {
			t.Error("AwaitReady without a container accepted")
		}
		_, err = h.AwaitReady(ctx, "c-ready", gpuhost.ReadyArgs{Container: c, ContainerName: "servelab-test-c; reboot", Timeout: 5 * time.Minute})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := m.Get("command:remote:Command", "c-ready")
	if !ok {
		t.Fatal("no readiness command")
	}
	if got, want := r.String("create"), `sh -s -- 'servelab-test-c; reboot' 300`; got != want {
		t.Errorf("create %q, want %q", got, want)
	}
	if r.String("stdin") != gpuhost.ReadyScript {
		t.Errorf("stdin is not the readiness script")
	}
	if trig := r.Strings("triggers"); !slices.Equal(trig, []string{"c-id"}) {
		t.Errorf("triggers %v: a replaced container must re-run it", trig)
	}
	if !dependsOn(r, "c") || r.CreateTimeout != "6m0s" {
		t.Errorf("deps %v timeout %q", r.Dependencies, r.CreateTimeout)
	}
	if r.Plain("addPreviousOutputInEnv") != false || !strings.Contains(r.String("create"), "sh -s") {
		t.Errorf("inputs %v", r.Plain(""))
	}
}

func dependsOn(r pulumitest.Resource, name string) bool {
	return slices.ContainsFunc(r.Dependencies, func(d string) bool { return strings.HasSuffix(d, "::"+name) })
}
