//go:build unix

package kubetest

import (
	"context"
	"testing"
	"time"
)

// StartTimeout bounds New's start of the control plane: etcd and
// kube-apiserver are ready within seconds on an idle machine, the bound
// is for two loaded cores.
const StartTimeout = 3 * time.Minute

// New starts a control plane for t (binaries from FindBins, state in
// t.TempDir()) and stops it when t ends; when t failed, the tail of both
// processes' output goes to the test log.
func New(t testing.TB) *Cluster {
	t.Helper()
	bins := FindBins(t)
	dir := t.TempDir() // removed after the cleanup below (cleanups run last-in first-out)
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	start := time.Now()
	c, err := Start(ctx, Config{Bins: bins, Dir: dir})
	if err != nil {
		t.Fatalf("start etcd + kube-apiserver: %v", err)
	}
	t.Logf("kube-apiserver ready at %s in %s", c.URL, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("control plane output:\n%s", c.Logs())
		}
		if err := c.Close(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	return c
}
