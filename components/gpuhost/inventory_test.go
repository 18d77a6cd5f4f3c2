package gpuhost_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/gpuhost"
)

func TestParseNvidiaSMI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    []gpuhost.GPU
		wantErr string
	}{
		{
			name: "one RTX 5090",
			out:  "0, NVIDIA GeForce RTX 5090, 32607, 575.57.08\n",
			want: []gpuhost.GPU{{0, "NVIDIA GeForce RTX 5090", 32607, "575.57.08"}},
		},
		{
			name: "eight H100 SXM, CRLF",
			out: "0, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n1, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n" +
				"2, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n3, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n" +
				"4, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n5, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n" +
				"6, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n7, NVIDIA H100 80GB HBM3, 81559, 550.54.15\r\n",
			want: []gpuhost.GPU{
				{0, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"}, {1, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"},
				{2, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"}, {3, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"},
				{4, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"}, {5, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"},
				{6, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"}, {7, "NVIDIA H100 80GB HBM3", 81559, "550.54.15"},
			},
		},
		{
			name: "mixed models out of order",
			out:  "1, NVIDIA RTX A6000, 49140, 535.183.01\n0, NVIDIA GeForce RTX 4090, 24564, 535.183.01\n",
			want: []gpuhost.GPU{{0, "NVIDIA GeForce RTX 4090", 24564, "535.183.01"}, {1, "NVIDIA RTX A6000", 49140, "535.183.01"}},
		},
		{
			name: "A100 in MIG mode reports N/A fields",
			out:  "0, NVIDIA A100-SXM4-40GB, 40960, 535.104.05\n1, NVIDIA A100-SXM4-40GB, [N/A], [N/A]\n",
			want: []gpuhost.GPU{{0, "NVIDIA A100-SXM4-40GB", 40960, "535.104.05"}, {1, "NVIDIA A100-SXM4-40GB", 0, ""}},
		},
		{
			name:    "no devices",
			out:     "No devices were found\n### servelab:exit=6\n",
			wantErr: "no GPU reported: No devices were found; exit status 6",
		},
		{
			name: "driver not loaded",
			out: "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. " +
				"Make sure that the latest NVIDIA driver is installed and running.\n\n### servelab:exit=9\n",
			wantErr: "couldn't communicate with the NVIDIA driver",
		},
		{
			name:    "not installed",
			out:     "sh: 1: nvidia-smi: not found\n### servelab:exit=127\n",
			wantErr: "nvidia-smi: not found; exit status 127",
		},
		{
			name:    "driver/library mismatch",
			out:     "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 550.120\n### servelab:exit=18\n",
			wantErr: "Driver/library version mismatch",
		},
		{name: "empty", out: "", wantErr: "nvidia-smi printed nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := gpuhost.ParseNvidiaSMI(tt.out)
			if tt.wantErr != "" {
				if !errors.Is(err, gpuhost.ErrNoGPU) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrNoGPU containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d GPUs %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("GPU %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParseProbe(t *testing.T) {
	t.Parallel()
	out := "### servelab:gpus\n0, NVIDIA GeForce RTX 5090, 32607, 575.57.08\n### servelab:runtimes\n" +
		`{"io.containerd.runc.v2":{"path":"runc"},"nvidia":{"path":"nvidia-container-runtime"},"runc":{"path":"runc"}}` + "\n" +
		"### servelab:docker\n" + `{"Version":"28.2.2","ApiVersion":"1.50","Components":[{"Name":"Engine","Version":"28.2.2"}]}` + "\n"
	inv, err := gpuhost.ParseProbe(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.GPUs) != 1 || inv.GPUError != "" {
		t.Errorf("GPUs %+v err %q", inv.GPUs, inv.GPUError)
	}
	if strings.Join(inv.Runtimes, ",") != "io.containerd.runc.v2,nvidia,runc" {
		t.Errorf("runtimes %v", inv.Runtimes)
	}
	if want := (gpuhost.DockerEngine{Engine: "docker", Version: "28.2.2", APIVersion: "1.50"}); inv.Docker != want {
		t.Errorf("docker %+v, want %+v", inv.Docker, want)
	}

	// podman 4.3.1's answer (recorded from the real one): a "Podman Engine"
	// component, and the Docker-compatible API at 1.41.
	podman := "### servelab:gpus\n### servelab:runtimes\n{\"runc\":{}}\n### servelab:docker\n" +
		`{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine","Version":"4.3.1","Details":{"APIVersion":"4.3.1"}},` +
		`{"Name":"Conmon","Version":"conmon version 2.1.6"},{"Name":"Engine","Version":"4.3.1","Details":{"ApiVersion":"1.41"}}],` +
		`"Version":"4.3.1","ApiVersion":"1.41","MinAPIVersion":"1.24"}` + "\n"
	inv, err = gpuhost.ParseProbe(podman)
	if err != nil {
		t.Fatal(err)
	}
	if want := (gpuhost.DockerEngine{Engine: "podman", Version: "4.3.1", APIVersion: "1.41"}); inv.Docker != want {
		t.Errorf("podman %+v, want %+v", inv.Docker, want)
	}

	inv, err = gpuhost.ParseProbe("### servelab:gpus\nsh: nvidia-smi: not found\n### servelab:exit=127\n### servelab:runtimes\npermission denied while trying to connect to the Docker daemon socket\n### servelab:exit=1\n" +
		"### servelab:docker\nnull\npermission denied while trying to connect to the Docker daemon socket\n### servelab:exit=1\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inv.GPUError, "not found") || !strings.Contains(inv.RuntimeError, "permission denied") ||
		!strings.Contains(inv.Docker.Error, "permission denied") || inv.Docker.APIVersion != "" {
		t.Errorf("errors not carried: %+v", inv)
	}
	if _, err := gpuhost.ParseProbe("### servelab:gpus\n### servelab:runtimes\n{}\n"); err == nil {
		t.Error("output of an older probe without the docker section accepted")
	}

	if _, err := gpuhost.ParseProbe("garbage"); err == nil {
		t.Error("output without sections accepted")
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	docker := gpuhost.DockerEngine{Engine: "docker", Version: "28.2.2", APIVersion: "1.50"}
	rtx := gpuhost.Inventory{GPUs: []gpuhost.GPU{{0, "NVIDIA GeForce RTX 5090", 32607, "575.57.08"}}, Runtimes: []string{"nvidia", "runc"}, Docker: docker}
	tests := []struct {
		name     string
		inv      gpuhost.Inventory
		declared []gpuhost.DeclaredGPU
		nvidia   bool
		want     []string // substrings; none means no error
	}{
		{name: "matches", inv: rtx, declared: []gpuhost.DeclaredGPU{{"RTX 5090", 32, 1}}, nvidia: true},
		{name: "model differs", inv: rtx, declared: []gpuhost.DeclaredGPU{{"H100", 80, 1}},
			want: []string{`host box: declared GPU 0 is a H100, the probe found "NVIDIA GeForce RTX 5090"`}},
		{name: "memory differs", inv: rtx, declared: []gpuhost.DeclaredGPU{{"RTX 5090", 48, 1}},
			want: []string{"declared GPU 0 (RTX 5090) has 48 GiB, the probe found 31.8 GiB"}},
		{name: "more declared than found", inv: rtx, declared: []gpuhost.DeclaredGPU{{"RTX 5090", 32, 2}},
			want: []string{"host box: declared GPU 1 (RTX 5090, 32 GiB) not found: the probe found 1 GPUs"}},
		{name: "no driver", inv: gpuhost.Inventory{GPUError: "no GPU reported: driver not loaded", Runtimes: []string{"runc"}, Docker: docker},
			declared: []gpuhost.DeclaredGPU{{"RTX 5090", 32, 1}}, nvidia: true,
			want: []string{"declared GPU 0 (RTX 5090, 32 GiB) not found: the probe found 0 GPUs (no GPU reported: driver not loaded)", "nvidia runtime"}},
		{name: "missing nvidia runtime", inv: gpuhost.Inventory{GPUs: rtx.GPUs, Runtimes: []string{"runc"}, Docker: docker},
			declared: []gpuhost.DeclaredGPU{{"RTX 5090", 32, 1}}, nvidia: true,
			want: []string{"Docker's nvidia runtime", "docker lists runtimes [runc]"}},
		{name: "podman 4 (API 1.41) is enough", inv: gpuhost.Inventory{Docker: gpuhost.DockerEngine{Engine: "podman", Version: "4.3.1", APIVersion: "1.41"}}},
		{name: "API 1.40 is too old", inv: gpuhost.Inventory{Docker: gpuhost.DockerEngine{Engine: "docker", Version: "19.03.15", APIVersion: "1.40"}},
			want: []string{"host box: docker 19.03.15 speaks Docker Engine API 1.40; servelab needs 1.41 or later (Docker 20.10+ or podman 4+)"}},
		{name: "unreadable version", inv: gpuhost.Inventory{Docker: gpuhost.DockerEngine{APIVersion: "v1"}},
			want: []string{`host box: docker API version "v1" is not MAJOR.MINOR`}},
		{name: "docker unreachable", inv: gpuhost.Inventory{Docker: gpuhost.DockerEngine{Error: "docker version: Cannot connect to the Docker daemon"}},
			want: []string{"host box: cannot read the Docker Engine API version (servelab needs 1.41 or later", "Cannot connect to the Docker daemon"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := gpuhost.Check("box", tt.inv, tt.declared, tt.nvidia)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func FuzzParseNvidiaSMI(f *testing.F) {
	f.Add("0, NVIDIA GeForce RTX 5090, 32607, 575.57.08\n")
	f.Add("No devices were found\n")
	f.Add("1, x, [N/A], [N/A]\n0,a,1,b")
	f.Fuzz(func(t *testing.T, s string) {
		gpus, err := gpuhost.ParseNvidiaSMI(s)
		if err == nil && len(gpus) == 0 {
			t.Fatal("no error and no GPUs")
		}
		for _, g := range gpus {
			if g.Index < 0 || g.MemoryMiB < 0 || g.Name == "" {
				t.Fatalf("bad GPU %+v", g)
			}
		}
	})
}
