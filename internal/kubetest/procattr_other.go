//go:build unix && !linux

package kubetest

import "syscall"

// procAttr puts a child in a process group of its own, so that stopping it
// stops anything it started.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
