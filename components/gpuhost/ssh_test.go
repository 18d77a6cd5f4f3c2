package gpuhost_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/gpuhost"
	"github.com/servelab/servelab/internal/pulumitest"
)

// TestHostKeyIsPinnedOnBothTransports: the commands' SSH client checks the
// host key (and the bastion's), and Docker's ssh client reads them from
// servelab's known_hosts file with strict checking, reaching the bastion by
// a ProxyCommand that checks its key the same way.
func TestHostKeyIsPinnedOnBothTransports(t *testing.T) {
	t.Parallel()
	ssh := &gpuhost.SSHArgs{
		Host: "gpu1.lan", User: "lab", Port: 2222, HostKey: hostKey, KnownHostsFile: "~/.servelab/known_hosts/s-gpu1",
		ProxyJump: &gpuhost.ProxyArgs{Host: "bastion.lan", User: "jump", HostKey: hostKey},
		Opts:      []string{"-o", "ConnectTimeout=10"},
	}
	m := pulumitest.New(probeAnswer("### servelab:gpus\nNo devices were found\n### servelab:runtimes\n{\"runc\":{}}\n" + pulumitest.ProbeDocker))
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{SSH: ssh})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("pulumi:providers:docker", "h-docker")
	want := []string{
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=~/.servelab/known_hosts/s-gpu1", "-o", "GlobalKnownHostsFile=/dev/null",
		// Each word shell-quoted (ssh runs a ProxyCommand with a shell; it
		// expands "~" in UserKnownHostsFile itself), %h:%p left to ssh.
		"-o", "ProxyCommand=ssh -o 'StrictHostKeyChecking=yes' -o 'UserKnownHostsFile=~/.servelab/known_hosts/s-gpu1' -o 'GlobalKnownHostsFile=/dev/null' -p 22 -W %h:%p jump@bastion.lan",
		"-o", "ConnectTimeout=10",
	}
	if got := p.Strings("sshOpts"); !slices.Equal(got, want) {
		t.Errorf("docker sshOpts\n got %q\nwant %q", got, want)
	}
	probe, _ := m.Get("command:remote:Command", "h-probe")
	if probe.String("connection.hostKey") != hostKey || probe.String("connection.proxy.hostKey") != hostKey || probe.String("connection.proxy.host") != "bastion.lan" {
		t.Errorf("probe connection %v", probe.Plain("connection"))
	}
	kh := ssh.KnownHosts()
	key := strings.Join(strings.Fields(hostKey)[:2], " ")
	if kh != "[gpu1.lan]:2222 "+key+"\nbastion.lan "+key+"\n" {
		t.Errorf("known_hosts %q", kh)
	}
}

// TestInsecureHostKeyIsExplicit: without a host key the commands accept any
// key only when InsecureIgnoreHostKey is set, and Docker's transport then
// gets no servelab options (the user's ssh config decides).
func TestInsecureHostKeyIsExplicit(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(probeAnswer("### servelab:gpus\nNo devices were found\n### servelab:runtimes\n{\"runc\":{}}\n" + pulumitest.ProbeDocker))
	err := m.Run("servelab", "test", nil, nil, func(ctx *pulumi.Context) error {
		_, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{SSH: &gpuhost.SSHArgs{Host: "x", User: "u", InsecureIgnoreHostKey: true}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Get("pulumi:providers:docker", "h-docker")
	if opts := p.Strings("sshOpts"); len(opts) != 0 {
		t.Errorf("sshOpts %q", opts)
	}
	probe, _ := m.Get("command:remote:Command", "h-probe")
	if probe.String("connection.hostKey") != "" {
		t.Errorf("host key %q", probe.String("connection.hostKey"))
	}
}

// TestModelCache: the cache volume exists only when an engine on the host
// needs it, is shared by every stack on the host (no stack in its name or
// labels) and kept on destroy; a host directory replaces it.
func TestModelCache(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		args       gpuhost.ModelCacheArgs
		wantVolume bool
		wantMount  map[string]any
	}{
		{"not needed", gpuhost.ModelCacheArgs{}, false, nil},
		{"shared volume", gpuhost.ModelCacheArgs{Needed: true}, true, map[string]any{"volumeName": "servelab-model-cache", "containerPath": "/c"}},
		{"host directory", gpuhost.ModelCacheArgs{Needed: true, HostPath: "/data/cache"}, false, map[string]any{"hostPath": "/data/cache", "containerPath": "/c"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := pulumitest.New(nil)
			var mountErr error
			err := m.Run("servelab", "stack-a", nil, nil, func(ctx *pulumi.Context) error {
				h, err := gpuhost.NewGpuHost(ctx, "h", &gpuhost.GpuHostArgs{ModelCache: tt.args})
				if err != nil {
					return err
				}
				_, mountErr = h.ModelCacheMount("/c")
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			v, ok := m.Get("docker:index/volume:Volume", "h-model-cache")
			if ok != tt.wantVolume {
				t.Fatalf("volume = %v, want %v", ok, tt.wantVolume)
			}
			if ok {
				if !v.RetainOnDelete || v.String("name") != gpuhost.ModelCacheVolume || strings.Contains(strings.Join(v.Strings("labels"), ","), "stack-a") {
					t.Errorf("volume %+v retained %v", v.Plain("labels"), v.RetainOnDelete)
				}
			}
			if (mountErr == nil) != (tt.wantMount != nil) {
				t.Errorf("mount error %v", mountErr)
			}
		})
	}
}
