//go:build unix

package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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

// freePorts returns n distinct free loopback addresses. The listeners are
// held until all n are chosen and closed just before returning, so the
// addresses differ; another process could still take one before our child
// binds it, which the child then reports as "address already in use".
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("pick a free loopback port: %v", err)
		}
		lns = append(lns, ln)
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent
// use (a child's stdout and stderr both write to it).
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	max   int
	total int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > len(b.buf) {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", b.total-len(b.buf), b.buf)
	}
	return string(b.buf)
}

// proc is a child process in its own process group, its output kept.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// startProc starts argv[0] with argv[1:] in a process group of its own and
// registers a cleanup that stops the group (SIGTERM, then SIGKILL) and
// waits for it.
func startProc(t *testing.T, name string, argv ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &tailBuffer{max: 16 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s (%s): %v", name, strings.Join(argv, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(10 * time.Second); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
	})
	return p
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, waits up to grace for the
// process to exit, then SIGKILLs the group. It returns an error only when
// the process did not exit even after SIGKILL.
func (p *proc) stop(grace time.Duration) error {
	if done, _ := p.exited(); done {
		return nil
	}
	pgid := p.cmd.Process.Pid // Setpgid: the group id is the child's pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("still running 10s after SIGKILL")
	}
}

// report formats the process's state and the tail of its output.
func (p *proc) report() string {
	state := "running"
	if done, err := p.exited(); done {
		state = fmt.Sprintf("exited: %v", p.cmd.ProcessState)
		if err != nil {
			state = fmt.Sprintf("exited: %v", err)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "---- %s (%s) ----\n%s", p.name, state, p.out.String())
	return b.String()
}

// poll calls check every interval until it returns nil or the deadline
// passes; then it returns check's last error. alive, when not nil, is
// called first on each round and ends the polling at once with its error
// (a child process that died).
func poll(ctx context.Context, deadline, interval time.Duration, alive func() error, check func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last error
	for {
		if alive != nil {
			if err := alive(); err != nil {
				return time.Since(start), err
			}
		}
		if last = check(ctx); last == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("not within %s: %w", deadline, last)
		case <-time.After(interval):
		}
	}
}
