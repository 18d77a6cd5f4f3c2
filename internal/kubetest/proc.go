//go:build unix

package kubetest

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

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

// proc is a child process in a process group of its own, its output kept.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// startProc starts argv[0] with argv[1:] in dir, in a process group of its
// own. The caller stops it with stop.
func startProc(name, dir string, argv ...string) (*proc, error) {
	p := &proc{name: name, out: &tailBuffer{max: 32 << 10}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited, with Wait's error.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// alive returns an error naming the process and its output's tail when it
// has exited.
func (p *proc) alive() error {
	if done, err := p.exited(); done {
		return fmt.Errorf("%s exited (%v):\n%s", p.name, errOrState(err, p.cmd), p.out.String())
	}
	return nil
}

func errOrState(err error, cmd *exec.Cmd) any {
	if err != nil {
		return err
	}
	return cmd.ProcessState
}

// portTaken reports whether the process exited because a port it was given
// was taken between our choosing it and its binding it.
func (p *proc) portTaken() bool {
	done, _ := p.exited()
	return done && strings.Contains(p.out.String(), "address already in use")
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
