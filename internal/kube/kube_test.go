package kube_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/kube"
	"github.com/servelab/servelab/internal/kubetypes"
)

func TestExecCommand(t *testing.T) {
	t.Parallel()
	got, err := kube.ExecCommand([]string{"CMD", "curl", "-fsS", "http://127.0.0.1:8000/health"})
	if err != nil || !slices.Equal(got, []string{"curl", "-fsS", "http://127.0.0.1:8000/health"}) {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range [][]string{nil, {"CMD"}, {"CMD-SHELL", "curl localhost"}, {"curl", "x"}} {
		if _, err := kube.ExecCommand(bad); !errors.Is(err, kube.ErrNotExec) {
			t.Errorf("%v: err = %v", bad, err)
		}
	}
}

func TestStartupFailures(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		window time.Duration
		want   int
	}{{0, 1}, {time.Second, 1}, {10 * time.Second, 1}, {11 * time.Second, 2}, {5*time.Minute + 45*time.Second*72, 354}} {
		if got := kube.StartupFailures(tt.window); got != tt.want {
			t.Errorf("StartupFailures(%s) = %d, want %d", tt.window, got, tt.want)
		}
		if got := time.Duration(kube.StartupFailures(tt.window)) * kube.ProbePeriod; got < tt.window {
			t.Errorf("%s: the probes cover only %s", tt.window, got)
		}
	}
}

func TestHashName(t *testing.T) {
	t.Parallel()
	a := kube.HashName("gateway-config", []byte("x"))
	if a != kube.HashName("gateway-config", []byte("x")) || len(a) != len("gateway-config-")+8 {
		t.Errorf("HashName is not a stable name-<8 hex>: %s", a)
	}
	// Parts are delimited: moving a byte between them is another name.
	if kube.HashName("n", []byte("ab"), []byte("c")) == kube.HashName("n", []byte("a"), []byte("bc")) || a == kube.HashName("gateway-config", []byte("y")) {
		t.Error("different content, same name")
	}
}

func TestTolerations(t *testing.T) {
	t.Parallel()
	if kube.Tolerations(nil) != nil {
		t.Error("no tolerations should render none")
	}
	secs := int64(30)
	if got := kube.Tolerations([]kubetypes.Toleration{{Key: "k", Operator: "Exists"}, {Effect: "NoExecute", TolerationSeconds: &secs}}); len(got) != 2 {
		t.Errorf("%d tolerations", len(got))
	}
}
