//go:build unix

package kubetest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BinsEnv names the directory holding kube-apiserver and etcd. `make test`
// sets it (to tools/bin, after scripts/kube-bins.sh built them); when it is
// set, missing binaries fail the test instead of skipping it.
const BinsEnv = "SERVELAB_KUBE_BINS"

// Bins are the control plane's executables.
type Bins struct {
	APIServer string // kube-apiserver
	Etcd      string // etcd
}

// BinsIn returns the binaries in dir, or an error naming each one missing.
func BinsIn(dir string) (Bins, error) {
	b := Bins{APIServer: filepath.Join(dir, "kube-apiserver"), Etcd: filepath.Join(dir, "etcd")}
	var errs []error
	for _, p := range []string{b.APIServer, b.Etcd} {
		st, err := os.Stat(p)
		switch {
		case err != nil:
			errs = append(errs, err)
		case st.IsDir() || st.Mode().Perm()&0o111 == 0:
			errs = append(errs, fmt.Errorf("%s is not an executable file", p))
		}
	}
	return b, errors.Join(errs...)
}

// FindBins returns the binaries in $SERVELAB_KUBE_BINS, failing the test
// when they are missing there; without the variable, those in the module's
// tools/bin, skipping the test (with the command that builds them) when
// they are missing.
func FindBins(t testing.TB) Bins {
	t.Helper()
	if dir := os.Getenv(BinsEnv); dir != "" {
		b, err := BinsIn(dir)
		if err != nil {
			t.Fatalf("%s=%s: %v (build them with scripts/kube-bins.sh)", BinsEnv, dir, err)
		}
		return b
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("find the module root for tools/bin: %v", err)
	}
	b, err := BinsIn(filepath.Join(root, "tools", "bin"))
	if err != nil {
		t.Skipf("no control plane binaries (%v): build them with scripts/kube-bins.sh, or run make test", err)
	}
	return b
}

// moduleRoot is the nearest directory at or above the working directory
// that holds a go.mod (a test runs in its package's directory).
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod at or above the working directory")
		}
		dir = parent
	}
}
