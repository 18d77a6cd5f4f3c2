// Package kubetest runs a real Kubernetes control plane for tests: etcd and
// kube-apiserver (built from their Go modules by scripts/kube-bins.sh into
// tools/bin) on loopback ports, with certificates, keys and data in a
// temporary directory, and server-side-applies manifests to it with dry-run.
//
// What a dry-run apply proves (and what the Pulumi mock engine cannot): the
// object decodes strictly against the served schema (unknown or duplicate
// fields are errors), passes the API server's validation (resource
// quantities, probe shapes, names, selectors, ...) and its default admission
// chain (the mutating and validating plugins a kubeadm cluster enables).
// See docs/kubernetes-check.md.
//
// Usage in a test:
//
//	c := kubetest.New(t) // skips when the binaries are not built, see FindBins
//	objs, err := kubetest.ReadDir("testdata/objects")
//	...
//	if err := c.EnsureNamespaces(ctx, objs); err != nil { ... }
//	for _, o := range objs {
//		if _, err := c.DryRunApply(ctx, o); err != nil { t.Error(err) }
//	}
package kubetest
