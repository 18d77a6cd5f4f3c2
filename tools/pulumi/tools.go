//go:build tools

// Package tools pins the Pulumi CLI (and its Go language host) that
// scripts/pulumi-cli.sh builds into tools/bin. It is a separate module so the
// main module's `go test ./...` never compiles the Pulumi engine.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
)
