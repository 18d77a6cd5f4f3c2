//go:build unix

package procs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

func TestTailBufferKeepsTheEnd(t *testing.T) {
	b := &procs.TailBuffer{Max: 4}
	for _, s := range []string{"ab", "cd", "ef"} {
		_, _ = b.Write([]byte(s))
	}
	if got := b.String(); got != "[... 2 earlier bytes dropped ...]\ncdef" {
		t.Errorf("tail %q", got)
	}
}

// TestExitedProcessIsReported: a child that dies is named with its output;
// Poll stops at once on it.
func TestExitedProcessIsReported(t *testing.T) {
	p, err := procs.Start("failing", []string{"sh", "-c", "echo boom >&2; exit 3"}, procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = procs.Poll(t.Context(), time.Minute, 10*time.Millisecond, p.ExitError, func(context.Context) error {
		return errors.New("never ready")
	})
	if err == nil || !strings.Contains(err.Error(), "failing exited unexpectedly (exit status 3)") || !strings.Contains(err.Error(), "boom") {
		t.Errorf("Poll: %v", err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop of an exited process: %v", err)
	}
}

// TestStopStopsTheGroup: stopping a shell stops what it started.
func TestStopStopsTheGroup(t *testing.T) {
	p, err := procs.Start("shell", []string{"sh", "-c", "sleep 3600 & echo started $!; wait"}, procs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := procs.Poll(t.Context(), time.Minute, 10*time.Millisecond, p.ExitError, func(context.Context) error {
		if !strings.Contains(p.Output(), "started") {
			return errors.New("not started")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	if done, _ := p.Exited(); !done {
		t.Error("still running after Stop")
	}
	var pid int
	if _, err := fmt.Sscanf(strings.TrimSpace(p.Output()), "started %d", &pid); err != nil || pid <= 0 {
		t.Fatalf("output %q: %v", p.Output(), err)
	}
	// The shell's child went with it: gone, or a zombie waiting for
	// whoever inherited it to reap it.
	if _, err := procs.Poll(t.Context(), time.Minute, 10*time.Millisecond, nil, func(context.Context) error {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(stat), ") Z ") {
			return nil
		}
		return fmt.Errorf("the shell's child %d is still running", pid)
	}); err != nil {
		t.Error(err)
	}
}

func TestFreeAddrsDiffer(t *testing.T) {
	addrs, err := procs.FreeAddrs(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] || !strings.HasPrefix(a, "127.0.0.1:") {
			t.Errorf("addresses %v", addrs)
		}
		seen[a] = true
	}
}
