package gpuhost_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/pulumitest"
)

func probeAnswer(stdout string) pulumitest.OutputsFunc {
	return func(args pulumi.MockResourceArgs) resource.PropertyMap {
		if strings.HasSuffix(args.Name, "-probe") && stdout != "" {
			return resource.PropertyMap{"stdout": resource.NewProperty(stdout)}
		}
		return nil
	}
}

// hostKey is a well-formed placeholder host key.
const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAjEw4katTaNXI+dVg57d8ZvPsdzWwwoFoI2eXZsx6TN"

const oneRTX = "### servelab:gpus\n0, NVIDIA GeForce RTX 5090, 32607, 575.57.08\n### servelab:runtimes\n{\"nvidia\":{},\"runc\":{}}\n" + pulumitest.ProbeDocker

func TestNewGpuHost(t *testing.T) {
	t.Parallel()
	key := pulumi.ToSecret(pulumi.String("-----BEGIN KEY-----")).(pulumi.StringOutput)
	tests := []struct {
		name         string
		args         *gpuhost.GpuHostArgs
		wantHost     string
		wantProbe    string // type of the probe command
		wantErr      string
		probeStdout  string
		wantSecret   bool
		wantRuntimes bool
	}{
		{name: "nil args: local CPU host", args: nil, wantHost: "", wantProbe: "command:local:Command"},
		{name: "empty args", args: &gpuhost.GpuHostArgs{}, wantHost: "", wantProbe: "command:local:Command"},
		{name: "local docker override", args: &gpuhost.GpuHostArgs{DockerHost: "unix:///run/user/1000/docker.sock"},
			wantHost: "unix:///run/user/1000/docker.sock", wantProbe: "command:local:Command"},
		{
			name: "docker endpoint unreachable fails the deployment", args: nil, wantProbe: "command:local:Command",
			probeStdout: "### servelab:gpus\n### servelab:runtimes\n### servelab:exit=1\n### servelab:docker\nnull\n" +
				"Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n### servelab:exit=1\n",
			wantErr: "host h: cannot read the Docker Engine API version (servelab needs 1.41 or later: Docker 20.10+ or podman 4+): docker version: null; Cannot connect to the Docker daemon",
		},
		{
			name: "docker too old fails the deployment", args: nil, wantProbe: "command:local:Command",
			probeStdout: "### servelab:gpus\n### servelab:runtimes\n{}\n### servelab:docker\n" + `{"Version":"19.03.15","ApiVersion":"1.40"}` + "\n",
			wantErr:     "host h: docker 19.03.15 speaks Docker Engine API 1.40; servelab needs 1.41 or later (Docker 20.10+ or podman 4+)",
		},
		{
			name:      "local GPU host is probed locally",
			args:      &gpuhost.GpuHostArgs{GPUs: []gpuhost.DeclaredGPU{{Model: "RTX 5090", MemoryGiB: 32, Count: 1}}, NeedNvidiaRuntime: true},
			wantProbe: "command:local:Command", probeStdout: oneRTX,
		},
		{
			name: "ssh host with key",
			args: &gpuhost.GpuHostArgs{
				SSH:  &gpuhost.SSHArgs{Host: "gpu1.lan", User: "lab", PrivateKey: key, HostKey: hostKey, KnownHostsFile: "~/kh", Opts: []string{"-o", "ConnectTimeout=10"}},
				GPUs: []gpuhost.DeclaredGPU{{Model: "RTX 5090", MemoryGiB: 32, Count: 1}},
			},
			wantHost: "ssh://lab@gpu1.lan:22", wantProbe: "command:remote:Command", probeStdout: oneRTX, wantSecret: true,
		},
		{
			name:     "ssh CPU host without key uses the agent",
			args:     &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "cpu1", User: "lab", Port: 2222, InsecureIgnoreHostKey: true}},
			wantHost: "ssh://lab@cpu1:2222", wantProbe: "command:remote:Command",
			probeStdout: "### servelab:gpus\nsh: nvidia-smi: not found\n### servelab:exit=127\n### servelab:runtimes\n{\"runc\":{}}\n" + pulumitest.ProbeDocker,
		},
		{name: "ssh without user", args: &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "gpu1", InsecureIgnoreHostKey: true}}, wantErr: "host h: ssh.user is empty"},
		{name: "ssh without a host key", args: &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "gpu1", User: "lab"}},
			wantErr: "host h: ssh.hostKey is required unless ssh.insecureIgnoreHostKey is set"},
		{name: "bad GPU group", args: &gpuhost.GpuHostArgs{GPUs: []gpuhost.DeclaredGPU{{Model: "H100", MemoryGiB: 0, Count: 1}}}, wantErr: "host h: gpus[0]: model, memoryGiB > 0 and count > 0 are required"},
		{
			name:        "declared GPU missing fails the deployment",
			args:        &gpuhost.GpuHostArgs{GPUs: []gpuhost.DeclaredGPU{{Model: "H100", MemoryGiB: 80, Count: 1}}},
			probeStdout: oneRTX, wantProbe: "command:local:Command",
			wantErr: `host h: declared GPU 0 is a H100, the probe found "NVIDIA GeForce RTX 5090"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(probeAnswer(tt.probeStdout))
			err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
				h, err := gpuhost.NewGpuHost(ctx, "h", tt.args)
				if err != nil {
					return err
				}
				if h.Provider == nil {
					t.Error("no provider")
				}
				return nil
			})
			if pulumitest.CheckErr(t, err, tt.wantErr) {
				return
			}
			comp, ok := m.Get(gpuhost.TypeToken, "h")
			if !ok {
				t.Fatal("component not registered")
			}
			p, _ := m.Get("pulumi:providers:docker", "h-docker")
			if p.ParentName() != comp.Name || p.String("host") != tt.wantHost {
				t.Errorf("provider parent %q host %q, want %q", p.ParentName(), p.String("host"), tt.wantHost)
			}
			nets := m.ByType("docker:index/network:Network")
			if len(nets) != 1 || nets[0].ProviderName() != "h-docker" || nets[0].ParentName() != comp.Name || nets[0].String("name") != "servelab-test-lab" {
				t.Errorf("networks %+v", nets)
			}
			if vols := m.ByType("docker:index/volume:Volume"); len(vols) != 0 {
				t.Errorf("volumes %+v on a host no engine asked a model cache of", vols)
			}
			var probes []pulumitest.Resource
			for _, typ := range []string{"command:local:Command", "command:remote:Command"} {
				probes = append(probes, m.ByType(typ)...)
			}
			if len(probes) != 1 || probes[0].Type != tt.wantProbe || probes[0].Name != "h-probe" {
				t.Fatalf("probes %+v, want one %s", probes, tt.wantProbe)
			}
			if probes[0].String("create") != gpuhost.ProbeScript {
				t.Errorf("probe runs %q", probes[0].String("create"))
			}
			if net, _ := m.Get("docker:index/network:Network", "h-network"); !slices.Equal(net.IgnoreChanges, gpuhost.EngineFilledNetworkFields()) {
				t.Errorf("network ignores %v, want the engine-filled %v", net.IgnoreChanges, gpuhost.EngineFilledNetworkFields())
			}
			if probes[0].Type == "command:remote:Command" {
				// The command SDK makes the whole connection secret.
				if !slices.Contains(probes[0].Secrets(), "connection") {
					t.Errorf("connection is not secret: %v", probes[0].Secrets())
				}
				conn, _ := probes[0].Plain("connection").(map[string]any)
				if _, hasKey := conn["privateKey"]; hasKey != tt.wantSecret {
					t.Errorf("connection %v: private key present = %v, want %v", conn, hasKey, tt.wantSecret)
				}
			}
		})
	}
}

func TestRunQuotesArgv(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(probeAnswer("### servelab:gpus\nNo devices were found\n### servelab:runtimes\n{\"runc\":{}}\n" + pulumitest.ProbeDocker))
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		h, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "x", User: "u", InsecureIgnoreHostKey: true}})
		if err != nil {
			return err
		}
		_, err = h.Run(ctx, "h-cmd", gpuhost.RunArgs{Argv: []string{"echo", "$(reboot)", "it's"}, Delete: []string{"rm", "-f", "a b"}, Quiet: true})
		if err != nil {
			return err
		}
		_, err = h.Run(ctx, "h-bad", gpuhost.RunArgs{})
		if err == nil {
			t.Error("RunArgs with no command accepted")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := m.Get("command:remote:Command", "h-cmd")
	if !ok {
		t.Fatal("no command")
	}
	if got, want := c.String("create"), `echo '$(reboot)' 'it'\''s'`; got != want {
		t.Errorf("create = %q, want %q", got, want)
	}
	if c.String("logging") != "none" {
		t.Errorf("quiet command logs %q", c.String("logging"))
	}
	if got, want := c.String("delete"), `rm -f 'a b'`; got != want {
		t.Errorf("delete = %q, want %q", got, want)
	}
}
