package gpuhost_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/podmantest"
	"github.com/servelab/servelab/internal/pulumitest"
)

// These tests run against a real container engine: podman (Debian's 4.3.1
// here) serving the Docker Engine API on a private socket.

// probeOn runs the host probe as the local probe command does, with
// DOCKER_HOST pointing at e.
func probeOn(t *testing.T, e *podmantest.Engine) (string, gpuhost.Inventory) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", gpuhost.ProbeScript)
	cmd.Env = e.Env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	inv, err := gpuhost.ParseProbe(string(out))
	if err != nil {
		t.Fatalf("probe output %q: %v", out, err)
	}
	return string(out), inv
}

// The probe reads the daemon's Docker Engine API version (podman 4 and 5
// report 1.41) and the engine; servelab accepts it, and leaves the
// healthcheck start interval out because it needs 1.44.
func TestProbeOnPodman(t *testing.T) {
	t.Parallel()
	e := podmantest.Start(t)
	_, inv := probeOn(t, e)
	if inv.Docker.Engine != "podman" || inv.Docker.Version == "" || inv.Docker.Error != "" {
		t.Errorf("docker section %+v, want podman and its version", inv.Docker)
	}
	ok, err := gpuhost.APIAtLeast(inv.Docker.APIVersion, gpuhost.MinDockerAPI)
	if err != nil || !ok {
		t.Fatalf("podman's API %q: %v (minimum %s)", inv.Docker.APIVersion, err, gpuhost.MinDockerAPI)
	}
	if err := gpuhost.Check("local", inv, nil, false); err != nil {
		t.Errorf("a CPU host on podman fails the check: %v", err)
	}
	if len(inv.Runtimes) == 0 || inv.RuntimeError != "" {
		t.Errorf("runtimes %v (%s)", inv.Runtimes, inv.RuntimeError)
	}
	hc, err := gpuhost.Healthcheck{Test: []string{"CMD", "true"}, Interval: time.Second, Timeout: time.Second,
		StartPeriod: time.Minute, StartInterval: time.Second}.Render(inv.Docker.APIVersion)
	if err != nil {
		t.Fatal(err)
	}
	startInterval, _ := gpuhost.APIAtLeast(inv.Docker.APIVersion, gpuhost.StartIntervalAPI)
	if (hc.StartInterval != nil) != startInterval {
		t.Errorf("API %s: startInterval %v", inv.Docker.APIVersion, hc.StartInterval)
	}
}

// A crash-looping engine fails the readiness check at its first restart,
// with its logs; a healthy one passes it. Both containers are what the
// Framework component declares for a sim on this host (the mock engine
// renders its inputs from the real probe's answer), created through the
// Docker API as the provider would.
func TestReadinessOnPodman(t *testing.T) {
	t.Parallel()
	e := podmantest.Start(t)
	probe, _ := probeOn(t, e)
	const image = "localhost/servelab:podmantest"
	e.BuildServelabImage(t, "../..", image)

	sim := frameworkspec.Instance{Name: "sim-ok", Engine: engine.Sim, Flavour: engine.VLLM, Model: "m", ServedModelName: "m",
		Args: frameworkspec.EngineArgs{Sim: &frameworkspec.SimArgs{TTFT: "10ms"}}}
	crash := sim
	crash.Name, crash.ExtraArgs = "sim-crash", []string{"--bogus-flag"}
	inputs := declared(t, probe, image, sim, crash)

	t.Run("crash loop fails at the first restart with the logs", func(t *testing.T) {
		name := create(t, e, inputs["sim-crash-container"])
		stdout, stderr, err := ready(context.Background(), e, name, 600)
		if err == nil {
			t.Fatalf("a crashing container passed: %s", stdout)
		}
		// Failed at the restart, not at the 600 s limit.
		for _, want := range []string{"container " + name + " ", "its last 200 log lines", "unknown flag: --bogus-flag"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr)
			}
		}
		if strings.Contains(stderr, "is not healthy after") {
			t.Errorf("failed at the time limit, not at the crash:\n%s", stderr)
		}
		t.Logf("the readiness check's error:\n%s", stderr)
	})

	t.Run("healthy sim passes", func(t *testing.T) {
		in := inputs["sim-ok-container"]
		name := create(t, e, in)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan struct{})
		var stdout, stderr string
		var err error
		go func() {
			defer close(done)
			stdout, stderr, err = ready(ctx, e, name, 120)
		}()
		// podman runs healthchecks only when asked (systemd timers
		// elsewhere): ask until the readiness check has its answer.
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
	wait:
		for {
			select {
			case <-done:
				break wait
			case <-tick.C:
				_, _ = e.Podman("healthcheck", "run", name)
			}
		}
		if err != nil || !strings.Contains(stdout, name+": ready (healthy)") {
			t.Fatalf("a healthy sim failed: %v\nstdout %s\nstderr %s", err, stdout, stderr)
		}

		// What the engine reports back is what was declared, except the
		// fields servelab tells Pulumi to ignore.
		var got struct {
			Config struct {
				Image       string
				Healthcheck struct {
					Interval, Timeout, StartPeriod, StartInterval time.Duration
				}
			}
			HostConfig struct {
				PidMode   string
				LogConfig struct{ Config map[string]string }
			}
		}
		if err := e.API("GET", "/v1.41/containers/"+name+"/json", nil, &got); err != nil {
			t.Fatal(err)
		}
		ignored := gpuhost.EngineFilledContainerFields()
		if got.Config.Image != in.String("image") {
			t.Errorf("image reported as %q, declared %q", got.Config.Image, in.String("image"))
		}
		for key, d := range map[string]time.Duration{"interval": got.Config.Healthcheck.Interval, "timeout": got.Config.Healthcheck.Timeout,
			"startPeriod": got.Config.Healthcheck.StartPeriod} {
			// The provider reads a duration back with time.Duration.String.
			if d.String() != in.String("healthcheck."+key) {
				t.Errorf("healthcheck.%s reads back %q, declared %q", key, d, in.String("healthcheck."+key))
			}
		}
		if got.HostConfig.PidMode != in.String("pidMode") && !slices.Contains(ignored, "pidMode") {
			t.Errorf("pidMode reads back %q, declared %q, and is not ignored", got.HostConfig.PidMode, in.String("pidMode"))
		}
		if fmt.Sprint(got.HostConfig.LogConfig.Config) != fmt.Sprint(in.Plain("logOpts")) && !slices.Contains(ignored, "logOpts") {
			t.Errorf("logOpts read back %v, declared %v, and are not ignored", got.HostConfig.LogConfig.Config, in.Plain("logOpts"))
		}
	})

	t.Run("networks read back engine-filled IPAM options", func(t *testing.T) {
		// Networks live in podman's host-wide configuration: a unique name.
		name := fmt.Sprintf("servelab-podmantest-%d-%d", os.Getpid(), time.Now().UnixNano())
		if err := e.API("POST", "/v1.41/networks/create", map[string]any{"Name": name, "Driver": "bridge"}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.API("DELETE", "/v1.41/networks/"+name, nil, nil) })
		var got struct {
			IPAM struct{ Options map[string]string }
		}
		if err := e.API("GET", "/v1.41/networks/"+name, nil, &got); err != nil {
			t.Fatal(err)
		}
		if len(got.IPAM.Options) > 0 && !slices.Contains(gpuhost.EngineFilledNetworkFields(), "ipamOptions") {
			t.Errorf("ipamOptions read back %v for none declared, and are not ignored", got.IPAM.Options)
		}
	})
}

// declared runs the Framework component for each instance under the mock
// engine, its host probe answering what the real probe printed, and
// returns the recorded resources by name.
func declared(t *testing.T, probe, image string, instances ...frameworkspec.Instance) map[string]pulumitest.Resource {
	t.Helper()
	m := pulumitest.New(func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if strings.HasSuffix(args.Name, "-probe") {
			return resource.PropertyMap{"stdout": resource.NewProperty(probe)}
		}
		return nil
	})
	err := m.Run("servelab", "podmantest", nil, nil, func(ctx *pulumi.Context) error {
		h, err := gpuhost.NewGpuHost(ctx, "local", nil)
		if err != nil {
			return err
		}
		for i, in := range instances {
			if _, err := framework.NewFramework(ctx, in.Name, &framework.FrameworkArgs{
				Host: h, Instance: in, Image: pulumi.String(image), ImageIsLocal: true, PublishedPort: 18000 + i,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]pulumitest.Resource{}
	for _, r := range m.Resources() {
		out[r.Name] = r
	}
	return out
}

// create creates and starts a container from a docker.Container's inputs
// through the Docker API, as the docker provider does (ports and networks
// left out: the test needs neither).
func create(t *testing.T, e *podmantest.Engine, c pulumitest.Resource) string {
	t.Helper()
	name := c.String("name")
	hc := map[string]any{"Test": c.Strings("healthcheck.tests"), "Retries": c.Plain("healthcheck.retries")}
	for key, field := range map[string]string{"interval": "Interval", "timeout": "Timeout", "startPeriod": "StartPeriod", "startInterval": "StartInterval"} {
		if s := c.String("healthcheck." + key); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil {
				t.Fatal(err)
			}
			hc[field] = d.Nanoseconds()
		}
	}
	labels := map[string]string{}
	for _, l := range c.Plain("labels").([]any) {
		l := l.(map[string]any)
		labels[l["label"].(string)] = l["value"].(string)
	}
	body := map[string]any{
		"Image": c.String("image"), "Cmd": c.Strings("command"), "Env": c.Strings("envs"), "Labels": labels,
		"Healthcheck": hc,
		"HostConfig": map[string]any{
			"RestartPolicy": map[string]any{"Name": c.String("restart")},
			"LogConfig":     map[string]any{"Type": "json-file", "Config": c.Plain("logOpts")},
		},
	}
	if err := e.API("POST", "/v1.41/containers/create?name="+name, body, nil); err != nil {
		t.Fatal(err)
	}
	uploads, _ := c.Plain("uploads").([]any)
	for _, u := range uploads {
		u := u.(map[string]any)
		mode, err := strconv.ParseInt(u["permissions"].(string), 8, 64)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Upload(name, u["file"].(string), []byte(u["content"].(string)), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.API("POST", "/v1.41/containers/"+name+"/start", nil, nil); err != nil {
		t.Fatal(err)
	}
	return name
}

// ready runs the readiness script as the readiness command does.
func ready(ctx context.Context, e *podmantest.Engine, name string, limit int) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", fmt.Sprintf("sh -s -- %s %d", name, limit))
	cmd.Env = e.Env()
	cmd.Stdin = strings.NewReader(gpuhost.ReadyScript)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}
