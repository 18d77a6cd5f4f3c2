//go:build unix

package demo

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

// signalled is the signal that ended p, or 0.
func signalled(t *testing.T, p *procs.Proc) syscall.Signal {
	t.Helper()
	var ee *exec.ExitError
	if err := p.Wait(); errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

// TestStopAllStopsEveryProcess: the first Ctrl-C stops every process with
// SIGTERM; a process that ignores it is killed by the second (Abort), not
// after the grace (here an hour: only Abort can end it).
func TestStopAllStopsEveryProcess(t *testing.T) {
	polite, err := procs.Start("polite", []string{"sleep", "3600"}, procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stubborn, err := procs.Start("stubborn", []string{"sh", "-c", `trap "" TERM; echo ignoring; while :; do sleep 1; done`}, procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = polite.Kill(); _ = stubborn.Kill() })
	// The trap is set once the shell has printed.
	if _, err := procs.Poll(t.Context(), time.Minute, 10*time.Millisecond, nil, func(context.Context) error {
		if stubborn.Output() == "" {
			return errors.New("not yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	abort := make(chan struct{})
	l := &lab{o: Options{Abort: abort}, grace: time.Hour, procs: []*procs.Proc{polite, stubborn}}
	stopped := make(chan error, 1)
	go func() { stopped <- l.stopAll() }()

	<-polite.Done() // SIGTERM ended it; stubborn ignores it
	if sig := signalled(t, polite); sig != syscall.SIGTERM {
		t.Errorf("polite process ended by %v, want SIGTERM", sig)
	}
	if done, _ := stubborn.Exited(); done {
		t.Fatalf("the process that ignores SIGTERM exited before the abort: %v", stubborn.Wait())
	}
	close(abort) // the second Ctrl-C
	if err := <-stopped; err != nil {
		t.Errorf("stopAll: %v", err)
	}
	if sig := signalled(t, stubborn); sig != syscall.SIGKILL {
		t.Errorf("stubborn process ended by %v, want SIGKILL", sig)
	}
	if len(l.procs) != 0 {
		t.Errorf("%d processes still listed", len(l.procs))
	}
}
