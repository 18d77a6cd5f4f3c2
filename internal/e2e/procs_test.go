//go:build unix

package e2e_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

// requireTool returns the path of an executable in PATH, failing (never
// skipping) with the command that installs it when it is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found in PATH: install Debian's prometheus package with `apt-get update && apt-get install -y prometheus` (or `make deps`): %v", name, err)
	}
	return p
}

// buildServelab builds cmd/servelab into dir and returns the binary's path.
// With a warm build cache (make test runs go vet first) it takes a few
// seconds; on a cold cache the first build compiles every dependency.
func buildServelab(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			t.Fatalf("the go command is not in PATH (needed to build cmd/servelab): %v", err)
		}
	}
	bin := filepath.Join(dir, "servelab")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "github.com/servelab/servelab/cmd/servelab")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/servelab: %v\n%s", err, out)
	}
	t.Logf("built servelab in %s", time.Since(start).Round(time.Millisecond))
	return bin
}

// freePorts returns n distinct free loopback addresses (procs.FreeAddrs).
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	addrs, err := procs.FreeAddrs(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// proc is a child process (internal/procs: its own process group, its
// output kept).
type proc struct{ *procs.Proc }

// startProc starts argv[0] with argv[1:] and registers a cleanup that
// stops its group (SIGTERM, then SIGKILL) and waits for it.
func startProc(t *testing.T, name string, argv ...string) *proc {
	t.Helper()
	p, err := procs.Start(name, argv, procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return &proc{p}
}

func (p *proc) exited() (bool, error)          { return p.Exited() }
func (p *proc) stop(grace time.Duration) error { return p.Stop(grace) }
func (p *proc) report() string                 { return p.Report() }

// poll is procs.Poll.
func poll(ctx context.Context, deadline, interval time.Duration, alive func() error, check func(context.Context) error) (time.Duration, error) {
	return procs.Poll(ctx, deadline, interval, alive, check)
}
