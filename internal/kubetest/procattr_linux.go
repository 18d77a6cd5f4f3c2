//go:build linux

package kubetest

import "syscall"

// procAttr puts a child in a process group of its own (so that stopping it
// stops anything it started) and has the kernel kill it if the test binary
// dies without running its cleanups (a -timeout panic, a SIGKILL).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
