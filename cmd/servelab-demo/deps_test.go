package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The demo reads stacks with the Pulumi program's Pulumi-free packages
// (programs/stackconfig and the components' spec packages), never with
// the Pulumi layer: linking the Pulumi SDK and the providers' SDKs, with
// gRPC, OpenTelemetry and pulumi-kubernetes behind them, more than
// doubled what a fresh clone compiles before `make demo` starts
// (docs/demo.md). The packages are listed by the Go toolchain itself, as
// the image tag lists cmd/servelab's (components/servelabimage).
func TestLinksNoPulumi(t *testing.T) {
	t.Parallel()
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, stderr.String())
	}
	pkgs := strings.Fields(string(out))
	if len(pkgs) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	var linked []string
	for _, p := range pkgs {
		if strings.HasPrefix(p, "github.com/pulumi/") || strings.HasPrefix(p, "google.golang.org/grpc") || strings.HasPrefix(p, "go.opentelemetry.io/") {
			linked = append(linked, p)
		}
	}
	if len(linked) > 0 {
		t.Errorf("servelab-demo links %d packages of Pulumi, gRPC or OpenTelemetry, among them %s", len(linked), strings.Join(linked[:min(len(linked), 5)], ", "))
	}
}
