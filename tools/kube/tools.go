//go:build tools

// Package tools pins the Kubernetes API server and etcd that
// scripts/kube-bins.sh builds into tools/bin for internal/kubetest. It is a
// separate module so the main module's `go test ./...` never compiles them.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
)
