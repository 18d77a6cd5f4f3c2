//go:build linux

package procs

import "syscall"

// procAttr puts a child in a process group of its own (so that stopping it
// stops anything it started) and has the kernel kill it if its parent dies
// without stopping it (a panic, a SIGKILL, a test's -timeout).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
