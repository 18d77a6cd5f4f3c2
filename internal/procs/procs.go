//go:build unix

// Package procs starts and stops the child processes of a lab run on
// loopback: simulated engines, the gateway and Prometheus started by
// `make demo` (internal/demo) and by the end-to-end tests (internal/e2e).
// Each child runs in a process group of its own, so that stopping it stops
// whatever it started, and on Linux the kernel kills it when its parent
// dies without cleaning up (a panic, a SIGKILL). Its output is kept (the
// last part of it) for error messages.
package procs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Options configure a child process.
type Options struct {
	// Dir is its working directory ("" = the parent's).
	Dir string
	// Env is added to the parent's environment.
	Env []string
	// Stdin is its standard input (nil = /dev/null).
	Stdin io.Reader
	// Stdout and Stderr, when not nil, receive its standard output and
	// error instead of the kept output (a bench's JSON results; a terminal
	// the child draws its progress on).
	Stdout, Stderr io.Writer
	// Log, when not nil, also receives everything kept (a log file).
	Log io.Writer
	// Keep is how many bytes of output are kept (default 16 KiB).
	Keep int
}

// Proc is a running (or exited) child process.
type Proc struct {
	name string
	argv []string
	cmd  *exec.Cmd
	out  *TailBuffer
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// Start starts argv[0] with argv[1:] in a process group of its own.
func Start(name string, argv []string, o Options) (*Proc, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("start %s: empty command", name)
	}
	keep := o.Keep
	if keep <= 0 {
		keep = 16 << 10
	}
	p := &Proc{name: name, argv: argv, out: &TailBuffer{Max: keep}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = o.Dir
	if len(o.Env) > 0 {
		p.cmd.Env = append(os.Environ(), o.Env...)
	}
	p.cmd.Stdin = o.Stdin
	var kept io.Writer = p.out
	if o.Log != nil {
		kept = io.MultiWriter(p.out, o.Log)
	}
	p.cmd.Stdout, p.cmd.Stderr = kept, kept
	if o.Stdout != nil {
		p.cmd.Stdout = o.Stdout
	}
	if o.Stderr != nil {
		p.cmd.Stderr = o.Stderr
	}
	p.cmd.SysProcAttr = procAttr()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Name is the name the process was started with.
func (p *Proc) Name() string { return p.name }

// Pid is the process id (also its process group id).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has ended, and Wait's error.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits for the process to exit and returns Wait's error.
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Output is the kept tail of its output.
func (p *Proc) Output() string { return p.out.String() }

// Stop sends SIGTERM to the process group, waits up to grace for the
// process to exit, then SIGKILLs the group. It returns an error only when
// the process did not exit even after SIGKILL.
func (p *Proc) Stop(grace time.Duration) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(grace):
	}
	return p.Kill()
}

// Kill SIGKILLs the process group and waits for the process to exit.
func (p *Proc) Kill() error {
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 10s after SIGKILL", p.name, p.Pid())
	}
}

// signal sends sig to the process group (Setpgid: its id is the child's
// pid). Only while the child has not been reaped: after that its pid, and
// so the group id, may belong to someone else.
func (p *Proc) signal(sig syscall.Signal) {
	if done, _ := p.Exited(); done {
		return
	}
	_ = syscall.Kill(-p.Pid(), sig)
}

// Report formats the process's state and the tail of its output.
func (p *Proc) Report() string {
	state := "running"
	if done, err := p.Exited(); done {
		state = fmt.Sprintf("exited: %v", p.cmd.ProcessState)
		if err != nil {
			state = fmt.Sprintf("exited: %v", err)
		}
	}
	return fmt.Sprintf("---- %s (%s) ----\n%s", p.name, state, p.out.String())
}

// ExitError describes a process that ended when it should not have.
func (p *Proc) ExitError() error {
	done, err := p.Exited()
	if !done {
		return nil
	}
	if err == nil {
		err = errors.New("exit status 0")
	}
	return fmt.Errorf("%s exited unexpectedly (%v); its last output:\n%s", p.name, err, indent(p.out.String()))
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}
