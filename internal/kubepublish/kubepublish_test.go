package kubepublish_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/kubepublish"
)

// fakeAPI is an API server that accepts one merge patch of one ConfigMap
// with one token, and records what it got.
type fakeAPI struct {
	token string
	got   map[string]string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Header.Get("Authorization") != "Bearer "+f.token:
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"kind":"Status","message":"Unauthorized"}`)
	case r.URL.Path != "/api/v1/namespaces/lab/configmaps/benchmark-results":
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"kind":"Status","message":"configmaps \"other\" is forbidden: User \"system:serviceaccount:lab:benchmark\" cannot patch resource \"configmaps\""}`)
	case r.Method != http.MethodPatch || r.Header.Get("Content-Type") != "application/merge-patch+json":
		w.WriteHeader(http.StatusMethodNotAllowed)
	default:
		var body struct {
			Data map[string]string `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		f.got = body.Data
		io.WriteString(w, `{"kind":"ConfigMap"}`)
	}
}

// inCluster lays out a service account directory for srv and returns the
// client InCluster builds from it.
func inCluster(t *testing.T, srv *httptest.Server, token string) (*kubepublish.Client, string) {
	t.Helper()
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, content := range map[string]string{"token": token + "\n", "ca.crt": string(ca), "namespace": "lab"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "https://"))
	env := map[string]string{"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port}
	c, ns, err := kubepublish.InCluster(func(k string) string { return env[k] }, dir)
	if err != nil {
		t.Fatal(err)
	}
	return c, ns
}

func TestPatchConfigMapData(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{token: "sa-token"}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	c, ns := inCluster(t, srv, "sa-token")
	if ns != "lab" {
		t.Fatalf("namespace %q", ns)
	}
	data := map[string]string{"runs.json": `{"runs":[]}`, "run": "inputs 0123"}
	if err := c.PatchConfigMapData(context.Background(), ns, "benchmark-results", data); err != nil {
		t.Fatal(err)
	}
	if api.got["runs.json"] != data["runs.json"] || api.got["run"] != data["run"] {
		t.Errorf("the API server got %v", api.got)
	}
}

func TestPatchConfigMapDataErrors(t *testing.T) {
	t.Parallel()
	api := &fakeAPI{token: "sa-token"}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	c, ns := inCluster(t, srv, "sa-token")
	ctx := context.Background()

	err := c.PatchConfigMapData(ctx, ns, "other", map[string]string{"a": "b"})
	if err == nil || !strings.Contains(err.Error(), "403 Forbidden") || !strings.Contains(err.Error(), "cannot patch") {
		t.Errorf("forbidden: err = %v", err)
	}
	bad, _ := inCluster(t, srv, "wrong")
	if err := bad.PatchConfigMapData(ctx, ns, "benchmark-results", map[string]string{"a": "b"}); err == nil || !strings.Contains(err.Error(), "Unauthorized") {
		t.Errorf("bad token: err = %v", err)
	}
	big := map[string]string{"runs.json": strings.Repeat("x", kubepublish.MaxConfigMapBytes)}
	if err := c.PatchConfigMapData(ctx, ns, "benchmark-results", big); !errors.Is(err, kubepublish.ErrTooLarge) {
		t.Errorf("1 MiB of data: err = %v", err)
	}
	if err := c.PatchConfigMapData(ctx, ns, "benchmark-results", map[string]string{"a/b": "c"}); err == nil {
		t.Error("a key with / was accepted")
	}
	if api.got != nil {
		t.Errorf("a refused patch reached the API server: %v", api.got)
	}
}

func TestInClusterOutsideAPod(t *testing.T) {
	t.Parallel()
	if _, _, err := kubepublish.InCluster(func(string) string { return "" }, t.TempDir()); err == nil || !strings.Contains(err.Error(), "not in a Kubernetes pod") {
		t.Errorf("err = %v", err)
	}
	env := map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"}
	if _, _, err := kubepublish.InCluster(func(k string) string { return env[k] }, t.TempDir()); err == nil || !strings.Contains(err.Error(), "service account") {
		t.Errorf("no token: err = %v", err)
	}
}
