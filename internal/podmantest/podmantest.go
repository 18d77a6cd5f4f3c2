// Package podmantest runs tests against a real container engine: a private
// podman API service (podman serves the Docker Engine API) with its own
// storage under the test's temporary directory, so tests neither need a
// Docker daemon nor touch anyone else's containers. Tests skip when podman
// or the docker CLI is not installed.
package podmantest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// containersConf makes podman work in a container without systemd: no
// ulimits to raise, cgroupfs, runc, a file event log.
const containersConf = `[containers]
default_ulimits = []
[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
events_logger = "file"
`

// Engine is a running podman API service.
type Engine struct {
	// DockerHost is its endpoint, for DOCKER_HOST.
	DockerHost string

	dir    string
	socket string
	client *http.Client
}

// Start starts a podman API service for the test and stops it (and removes
// its storage) at cleanup.
func Start(t *testing.T) *Engine {
	t.Helper()
	for _, bin := range []string{"podman", "docker"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not installed: %v", bin, err)
		}
	}
	// Short: a unix socket path is limited to 108 bytes.
	dir, err := os.MkdirTemp("", "podman-")
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{dir: dir, socket: filepath.Join(dir, "s")}
	e.DockerHost = "unix://" + e.socket
	e.client = &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", e.socket)
	}}}
	if err := os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(containersConf), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := e.podman("system", "service", "--time=0", e.DockerHost)
	var log bytes.Buffer
	svc.Stdout, svc.Stderr = &log, &log
	if err := svc.Start(); err != nil {
		t.Fatalf("podman system service: %v", err)
	}
	t.Cleanup(func() {
		// This engine's containers only (its own storage): stops their
		// conmon processes before the storage goes.
		_ = e.podman("rm", "--all", "--force", "--time", "0").Run()
		_ = svc.Process.Kill()
		_ = svc.Wait()
		_ = os.RemoveAll(dir)
	})
	// Ready when the API answers.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := e.Docker("version", "--format", "{{.Server.APIVersion}}"); err == nil {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("podman API did not come up: %s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podman is a podman command on this engine's storage.
func (e *Engine) podman(args ...string) *exec.Cmd {
	base := []string{"--root", filepath.Join(e.dir, "root"), "--runroot", filepath.Join(e.dir, "run"),
		"--tmpdir", filepath.Join(e.dir, "tmp"), "--storage-driver", "vfs"}
	cmd := exec.Command("podman", append(base, args...)...)
	cmd.Env = append(os.Environ(), "CONTAINERS_CONF="+filepath.Join(e.dir, "containers.conf"))
	return cmd
}

// Podman runs a podman command on this engine's storage (e.g. `healthcheck
// run NAME`: podman runs healthchecks only when asked, from systemd
// timers elsewhere) and returns its combined output.
func (e *Engine) Podman(args ...string) (string, error) {
	out, err := e.podman(args...).CombinedOutput()
	return string(out), err
}

// Env is the environment of a command that talks to this engine through
// the docker CLI.
func (e *Engine) Env() []string { return append(os.Environ(), "DOCKER_HOST="+e.DockerHost) }

// Docker runs the docker CLI against this engine and returns its stdout.
func (e *Engine) Docker(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = e.Env()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// BuildServelabImage builds cmd/servelab (as `make build` does) and an image
// FROM scratch holding it at /servelab, as the repository's Dockerfile
// lays it out — nothing is pulled. root is the repository root.
func (e *Engine) BuildServelabImage(t *testing.T, root, ref string) {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "servelab"), "./cmd/servelab")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dockerfile := "FROM scratch\nCOPY servelab /servelab\nENTRYPOINT [\"/servelab\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := e.Podman("build", "-q", "-t", ref, dir); err != nil {
		t.Fatalf("podman build: %v\n%s", err, out)
	}
}

// API calls the engine's Docker API (version prefix included in path, e.g.
// "/v1.41/containers/create?name=x") with a JSON body and decodes a JSON
// answer into out (nil to discard it).
func (e *Engine) API(method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://podman"+path, r)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil || len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Upload writes one file into a created container (before it starts), as
// the docker provider's `uploads` do: PUT /containers/NAME/archive.
func (e *Engine) Upload(name, path string, content []byte, mode int64) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodPut, "http://podman/v1.41/containers/"+name+"/archive?path=/", &buf)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload %s into %s: %s: %s", path, name, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}
