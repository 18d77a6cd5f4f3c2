//go:build unix

package kubetest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servelab/servelab/internal/kubetest"
)

// stackManifests is where the k8s stacks' rendered objects are kept as
// golden files, one directory per stack (programs' tests write them).
const stackManifests = "../../programs/testdata/k8s"

// rejections: every file in testdata/rejected with the HTTP status and a
// piece of the message the API server must refuse it with. Each is a
// mistake the Pulumi mock engine passes through unseen.
var rejections = map[string]struct {
	code int
	want string
}{
	// Server-side apply builds a typed patch from the schema first: a field
	// the schema lacks, a malformed quantity or base64 string fail there,
	// and v1.37 answers those with 500 (not 400) and the field's path.
	"deployment-unknown-field.json":           {500, `.spec.template.spec.containers[name="vllm"].resource: field not declared in schema`},
	"persistentvolumeclaim-bad-quantity.json": {500, "quantities must match the regular expression"},
	"secret-not-base64.json":                  {500, "illegal base64 data"},
	// fieldValidation=Strict: a key given twice is an error, not "last wins".
	// (With fieldValidation=Ignore or Warn the second value wins silently.)
	"deployment-duplicate-field.json": {400, `line 14: key "replicas" already set in map`},
	// Validation.
	"deployment-fractional-gpu.json":          {422, `spec.template.spec.containers[0].resources.limits[nvidia.com/gpu]: Invalid value: "500m": must be an integer`},
	"deployment-gpu-request-above-limit.json": {422, `spec.template.spec.containers[0].resources.requests: Invalid value: "2": must be equal to nvidia.com/gpu limit of 1`},
	"deployment-two-probe-handlers.json":      {422, `spec.template.spec.containers[0].readinessProbe.httpGet: Forbidden: may not specify more than 1 handler type`},
	"deployment-selector-mismatch.json":       {422, "spec.template.metadata.labels: Invalid value: {\"app.kubernetes.io/name\":\"vllm-0\"}: `selector` does not match template `labels`"},
	"service-port-name.json":                  {422, `spec.ports[0].name: Invalid value: "HTTP_API"`},
	"job-restart-always.json":                 {422, `spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"`},
	"namespace-not-dns-label.json":            {422, `metadata.name: Invalid value: "Servelab_Lab"`},
}

// TestServerSideApply starts one control plane and checks, against it:
// servelab's representative objects are accepted (and defaulted and
// admitted, not stored); each known mistake is refused with the server's
// message naming the file; every object the k8s stacks render is accepted.
func TestServerSideApply(t *testing.T) {
	c := kubetest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The documented cluster prerequisites, created for real: a default
	// StorageClass (the model cache's PVC names none).
	prereqs := readDir(t, "testdata/cluster")
	for _, o := range prereqs {
		if _, err := c.Apply(ctx, o); err != nil {
			t.Fatalf("cluster prerequisite: %v", err)
		}
	}

	// The namespaces of the representative objects (the rejected ones use
	// the same), created for real.
	accepted := readDir(t, "testdata/accepted")
	if err := c.EnsureNamespaces(ctx, accepted); err != nil {
		t.Fatalf("create the namespaces: %v", err)
	}

	t.Run("kubeconfig", func(t *testing.T) {
		raw, err := c.Kubeconfig()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := serverVersion(t, ctx, raw), pinnedKubernetes(t); got != want {
			t.Errorf("GET /version with the kubeconfig's credentials: gitVersion %q, want %s (tools/kube/go.mod's pin)", got, want)
		}
	})

	t.Run("accepted", func(t *testing.T) {
		objs := accepted
		for _, o := range objs {
			if o.Kind == "Namespace" {
				continue // created for real above
			}
			got, err := c.DryRunApply(ctx, o)
			if err != nil {
				t.Errorf("refused: %v", err)
				continue
			}
			logWarnings(t, o, got.Warnings)
			meta, _ := got.Object["metadata"].(map[string]any)
			if got.Object["kind"] != o.Kind || meta["name"] != o.Name {
				t.Errorf("%s: the server answered with %v %v", o, got.Object["kind"], meta["name"])
			}
			if !managedBy(meta, kubetest.FieldManager) {
				t.Errorf("%s: managedFields of the answer lack manager %s (not a server-side apply?): %v", o, kubetest.FieldManager, meta["managedFields"])
			}
			// PodSecurity ran on the pod template: the namespace asks for
			// warnings above "baseline", which vLLM's hostIPC exceeds.
			if hostIPC := slices.ContainsFunc(got.Warnings, func(w string) bool {
				return strings.Contains(w, `violate PodSecurity "baseline:latest": host namespaces (hostIPC=true)`)
			}); hostIPC != (o.Kind == "Deployment" && o.Name == "vllm") {
				t.Errorf("%s: warnings %q: a baseline hostIPC warning is wanted for the vllm Deployment only", o, got.Warnings)
			}
			// Mutating admission ran: DefaultStorageClass filled in the
			// class the claim does not name.
			if o.Kind == "PersistentVolumeClaim" {
				spec, _ := got.Object["spec"].(map[string]any)
				if spec["storageClassName"] != "standard" {
					t.Errorf("%s: storageClassName = %v, want the default class \"standard\" set by admission", o, spec["storageClassName"])
				}
			}
		}
		// dryRun=All stored nothing; the namespaces were created for real.
		for _, o := range objs {
			ok, err := c.Exists(ctx, o)
			if err != nil {
				t.Errorf("GET: %v", err)
			} else if ok != (o.Kind == "Namespace") {
				t.Errorf("%s: stored = %v after a dry-run apply", o, ok)
			}
		}
	})

	t.Run("rejected", func(t *testing.T) {
		objs := readDir(t, "testdata/rejected")
		seen := map[string]bool{}
		for _, o := range objs {
			name := filepath.Base(o.Source)
			seen[name] = true
			want, ok := rejections[name]
			if !ok {
				t.Errorf("%s: no expected refusal in the rejections table", o.Source)
				continue
			}
			_, err := c.DryRunApply(ctx, o)
			var se *kubetest.StatusError
			switch {
			case err == nil:
				t.Errorf("%s: accepted, want HTTP %d %q", o, want.code, want.want)
			case !errors.As(err, &se):
				t.Errorf("%s: error %v, want the server's refusal", o, err)
			case se.Code != want.code || !strings.Contains(se.Message, want.want) || !strings.HasPrefix(err.Error(), o.Source+": "):
				t.Errorf("refusal:\n  %v\nwant HTTP %d with %q, starting with the file name", err, want.code, want.want)
			default:
				t.Logf("refused as expected: %v", err)
			}
		}
		for name := range rejections {
			if !seen[name] {
				t.Errorf("rejections table names %s, which is not in testdata/rejected", name)
			}
		}
	})

	t.Run("stacks", func(t *testing.T) {
		stacks, err := os.ReadDir(stackManifests)
		if errors.Is(err, fs.ErrNotExist) {
			if s := kubernetesStacks(t); len(s) > 0 {
				t.Fatalf("%s does not exist, but stacks %v target Kubernetes: their objects must be written there (C3)", stackManifests, s)
			}
			t.Skipf("%s does not exist yet (no stack targets Kubernetes)", stackManifests)
		}
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, s := range stacks {
			if !s.IsDir() {
				t.Errorf("%s: want one directory per stack", filepath.Join(stackManifests, s.Name()))
				continue
			}
			t.Run(s.Name(), func(t *testing.T) {
				objs := readDir(t, filepath.Join(stackManifests, s.Name()))
				if len(objs) == 0 {
					t.Fatalf("%s holds no *.json object", filepath.Join(stackManifests, s.Name()))
				}
				n += len(objs)
				if err := c.EnsureNamespaces(ctx, objs); err != nil {
					t.Fatalf("create the namespaces: %v", err)
				}
				for _, o := range objs {
					if o.Kind == "Namespace" && o.APIVersion == "v1" {
						continue // applied for real by EnsureNamespaces
					}
					got, err := c.DryRunApply(ctx, o)
					if err != nil {
						t.Errorf("refused: %v", err)
						continue
					}
					logWarnings(t, o, got.Warnings)
				}
			})
		}
		if n == 0 {
			t.Errorf("%s holds no stack's objects", stackManifests)
		}
		t.Logf("%d objects of %d stacks applied", n, len(stacks))
	})
}

// serverVersion reads /version with nothing but what the kubeconfig holds:
// its server, CA and client certificate (the kubeconfig is JSON, []byte
// fields base64 as kubeconfig's *-data fields are).
func serverVersion(t *testing.T, ctx context.Context, kubeconfig []byte) string {
	t.Helper()
	var cfg struct {
		Clusters []struct {
			Cluster struct {
				Server string `json:"server"`
				CA     []byte `json:"certificate-authority-data"`
			} `json:"cluster"`
		} `json:"clusters"`
		Users []struct {
			User struct {
				Cert []byte `json:"client-certificate-data"`
				Key  []byte `json:"client-key-data"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := json.Unmarshal(kubeconfig, &cfg); err != nil || len(cfg.Clusters) != 1 || len(cfg.Users) != 1 {
		t.Fatalf("kubeconfig: want one cluster and one user: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cfg.Clusters[0].Cluster.CA) {
		t.Fatal("kubeconfig: certificate-authority-data holds no PEM certificate")
	}
	cert, err := tls.X509KeyPair(cfg.Users[0].User.Cert, cfg.Users[0].User.Key)
	if err != nil {
		t.Fatalf("kubeconfig: client certificate: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Clusters[0].Cluster.Server+"/version", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /version: %s: %v", resp.Status, err)
	}
	return v.GitVersion
}

// pinnedKubernetes is the k8s.io/kubernetes version tools/kube/go.mod requires.
func pinnedKubernetes(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../tools/kube/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "k8s.io/kubernetes" {
			return f[1]
		}
	}
	t.Fatal("tools/kube/go.mod requires no k8s.io/kubernetes")
	return ""
}

// readDir reads every object under dir, failing the test on any bad file.
func readDir(t *testing.T, dir string) []*kubetest.Object {
	t.Helper()
	objs, err := kubetest.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// logWarnings logs the server's warnings (deprecations, PodSecurity) with
// the object they are about.
func logWarnings(t *testing.T, o *kubetest.Object, warnings []string) {
	t.Helper()
	for _, w := range warnings {
		t.Logf("%s: warning: %s", o, w)
	}
}

// managedBy reports whether the object's managedFields name manager.
func managedBy(meta map[string]any, manager string) bool {
	entries, _ := meta["managedFields"].([]any)
	return slices.ContainsFunc(entries, func(e any) bool {
		m, _ := e.(map[string]any)
		return m["manager"] == manager && m["operation"] == "Apply"
	})
}

// kubernetesStacks lists the stack files that target a cluster: they set
// servelab:clusters (or at least mention Kubernetes).
func kubernetesStacks(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../stacks/Pulumi.*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "servelab:clusters:") || strings.Contains(strings.ToLower(string(b)), "kubernetes") {
			out = append(out, filepath.Base(f))
		}
	}
	return out
}
