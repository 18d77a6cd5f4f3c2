package gpuhost

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ProbeScript is what the host probe runs (a fixed script: nothing from the
// stack is pasted into it). Its stdout has three sections, parsed by
// ParseProbe: the nvidia-smi GPU query, the Docker runtimes as JSON, and
// the daemon's version (`docker version`'s Server part as JSON), which
// says which Docker Engine API the daemon speaks — what the docker
// provider itself will get from the same endpoint (DOCKER_HOST is set for
// the probe as for the provider).
const ProbeScript = `echo '` + gpuMarker + `'
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader,nounits 2>&1 || echo "` + exitMarker + `$?"
echo '` + runtimeMarker + `'
docker info --format '{{json .Runtimes}}' 2>&1 || echo "` + exitMarker + `$?"
echo '` + dockerMarker + `'
docker version --format '{{json .Server}}' 2>&1 || echo "` + exitMarker + `$?"
`

const (
	gpuMarker     = "### servelab:gpus"
	runtimeMarker = "### servelab:runtimes"
	dockerMarker  = "### servelab:docker"
	exitMarker    = "### servelab:exit="
)

// GPU is one device reported by nvidia-smi.
type GPU struct {
	Index     int     `json:"index"`
	Name      string  `json:"name"`
	MemoryMiB float64 `json:"memoryMiB"`
	Driver    string  `json:"driver"`
}

// MemoryGiB is the device memory in GiB.
func (g GPU) MemoryGiB() float64 { return g.MemoryMiB / 1024 }

// Inventory is what a host probe found.
type Inventory struct {
	GPUs []GPU `json:"gpus"`
	// GPUError is nvidia-smi's complaint when it could not list GPUs
	// (no driver, no devices, not installed); empty when it could.
	GPUError string `json:"gpuError,omitempty"`
	// Runtimes are the container runtimes Docker lists (e.g. runc, nvidia).
	Runtimes []string `json:"runtimes"`
	// RuntimeError is docker's complaint when `docker info` failed.
	RuntimeError string `json:"runtimeError,omitempty"`
	// Docker is the container engine behind the host's Docker endpoint.
	Docker DockerEngine `json:"docker"`
}

// DockerEngine is what `docker version` reports about the daemon.
type DockerEngine struct {
	// Engine is "docker" or "podman" (podman serves the Docker API too).
	Engine string `json:"engine,omitempty"`
	// Version is the engine's own version (Docker 28.2.2, podman 4.3.1).
	Version string `json:"version,omitempty"`
	// APIVersion is the Docker Engine API version the daemon speaks, e.g.
	// "1.41" (Docker 20.10, and podman 4 and 5).
	APIVersion string `json:"apiVersion,omitempty"`
	// Error is docker's complaint when `docker version` failed.
	Error string `json:"error,omitempty"`
}

// ParseProbe parses the stdout of ProbeScript.
func ParseProbe(out string) (Inventory, error) {
	_, rest, ok := strings.Cut(out, gpuMarker)
	if !ok {
		return Inventory{}, fmt.Errorf("probe output has no %q section", gpuMarker)
	}
	gpuText, rest, ok := strings.Cut(rest, runtimeMarker)
	if !ok {
		return Inventory{}, fmt.Errorf("probe output has no %q section", runtimeMarker)
	}
	rtText, dockerText, ok := strings.Cut(rest, dockerMarker)
	if !ok {
		return Inventory{}, fmt.Errorf("probe output has no %q section", dockerMarker)
	}
	var inv Inventory
	gpus, gerr := ParseNvidiaSMI(gpuText)
	if gerr != nil {
		inv.GPUError = gerr.Error()
	}
	inv.GPUs = gpus
	rts, rerr := parseRuntimes(rtText)
	if rerr != nil {
		inv.RuntimeError = rerr.Error()
	}
	inv.Runtimes = rts
	inv.Docker = parseDockerVersion(dockerText)
	return inv, nil
}

// parseDockerVersion reads `docker version --format '{{json .Server}}'`.
// Podman lists a "Podman Engine" component beside a Docker-compatible
// "Engine"; Docker lists only "Engine".
func parseDockerVersion(out string) DockerEngine {
	out = strings.TrimSpace(out)
	var v struct {
		Version    string
		APIVersion string `json:"ApiVersion"`
		Components []struct{ Name, Version string }
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || v.APIVersion == "" {
		return DockerEngine{Error: "docker version: " + strings.ReplaceAll(out, "\n", "; ")}
	}
	e := DockerEngine{Engine: "docker", Version: v.Version, APIVersion: v.APIVersion}
	for _, c := range v.Components {
		if c.Name == "Podman Engine" {
			e.Engine, e.Version = "podman", c.Version
		}
	}
	return e
}

// ErrNoGPU is returned by ParseNvidiaSMI when nvidia-smi ran but listed no
// usable GPU, or could not run at all.
var ErrNoGPU = errors.New("no GPU reported")

// ParseNvidiaSMI parses the output of
//
//	nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader,nounits
//
// Lines that are not GPU rows (nvidia-smi's error text, "No devices were
// found", a shell's "command not found") make it return ErrNoGPU wrapped
// with that text. Fields nvidia-smi cannot read ("[N/A]", "[Not
// Supported]", as on some MIG-enabled devices) leave that field zero.
func ParseNvidiaSMI(out string) ([]GPU, error) {
	var gpus []GPU
	var junk []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, exitMarker) {
			junk = append(junk, "exit status "+strings.TrimPrefix(line, exitMarker))
			continue
		}
		g, ok := parseGPULine(line)
		if !ok {
			junk = append(junk, line)
			continue
		}
		gpus = append(gpus, g)
	}
	if len(gpus) == 0 {
		if len(junk) == 0 {
			return nil, fmt.Errorf("%w: nvidia-smi printed nothing", ErrNoGPU)
		}
		return nil, fmt.Errorf("%w: %s", ErrNoGPU, strings.Join(junk, "; "))
	}
	slices.SortFunc(gpus, func(a, b GPU) int { return a.Index - b.Index })
	return gpus, nil
}

func parseGPULine(line string) (GPU, bool) {
	f := strings.Split(line, ",")
	if len(f) != 4 {
		return GPU{}, false
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	idx, err := strconv.Atoi(f[0])
	if err != nil || idx < 0 || f[1] == "" {
		return GPU{}, false
	}
	g := GPU{Index: idx, Name: f[1], Driver: naToEmpty(f[3])}
	if m, err := strconv.ParseFloat(f[2], 64); err == nil && m >= 0 && !math.IsInf(m, 0) {
		g.MemoryMiB = m
	} else if naToEmpty(f[2]) != "" {
		return GPU{}, false
	}
	return g, true
}

func naToEmpty(s string) string {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		return "" // [N/A], [Not Supported], [Unknown Error]
	}
	return s
}

func parseRuntimes(out string) ([]string, error) {
	out = strings.TrimSpace(out)
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("docker info: %s", strings.ReplaceAll(out, "\n", "; "))
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, nil
}

// DeclaredGPU is a group of identical GPUs the stack says a host has.
type DeclaredGPU struct {
	Model     string
	MemoryGiB float64
	Count     int
}

// MemoryTolerance is how far a GPU's reported memory may be from the
// declared figure: cards report a little less than their marketing size
// (a "32 GB" RTX 5090 reports 32607 MiB = 31.8 GiB).
const MemoryTolerance = 0.08

// Check compares an inventory with what the stack declares and returns one
// error naming the host and every declared GPU the probe did not find, the
// nvidia runtime when GPU engines need it, and a Docker endpoint that is
// unreachable or older than MinDockerAPI. Declared groups claim GPUs in
// index order: the first group the first Count devices, and so on.
func Check(host string, inv Inventory, declared []DeclaredGPU, needNvidiaRuntime bool) error {
	var errs []error
	next := 0
	for _, d := range declared {
		for range d.Count {
			i := next
			next++
			if i >= len(inv.GPUs) {
				why := fmt.Sprintf("the probe found %d GPUs", len(inv.GPUs))
				if inv.GPUError != "" {
					why += " (" + inv.GPUError + ")"
				}
				errs = append(errs, fmt.Errorf("host %s: declared GPU %d (%s, %.0f GiB) not found: %s", host, i, d.Model, d.MemoryGiB, why))
				continue
			}
			g := inv.GPUs[i]
			if !nameMatches(g.Name, d.Model) {
				errs = append(errs, fmt.Errorf("host %s: declared GPU %d is a %s, the probe found %q", host, i, d.Model, g.Name))
				continue
			}
			if g.MemoryMiB > 0 && math.Abs(g.MemoryGiB()-d.MemoryGiB) > d.MemoryGiB*MemoryTolerance {
				errs = append(errs, fmt.Errorf("host %s: declared GPU %d (%s) has %.0f GiB, the probe found %.1f GiB", host, i, d.Model, d.MemoryGiB, g.MemoryGiB()))
			}
		}
	}
	if err := CheckDocker(host, inv.Docker); err != nil {
		errs = append(errs, err)
	}
	if needNvidiaRuntime && !slices.Contains(inv.Runtimes, "nvidia") {
		why := fmt.Sprintf("docker lists runtimes %v", inv.Runtimes)
		if inv.RuntimeError != "" {
			why = inv.RuntimeError
		}
		errs = append(errs, fmt.Errorf("host %s: GPU engines need Docker's nvidia runtime (install nvidia-container-toolkit and run nvidia-ctk runtime configure): %s", host, why))
	}
	return errors.Join(errs...)
}

// nameMatches reports whether nvidia-smi's product name is the declared
// model: every word of the declared model appears in it, case-insensitively
// ("RTX 5090" matches "NVIDIA GeForce RTX 5090").
func nameMatches(found, declared string) bool {
	words := strings.Fields(strings.ToLower(found))
	for _, w := range strings.Fields(strings.ToLower(declared)) {
		if !slices.Contains(words, w) {
			return false
		}
	}
	return true
}
