//go:build unix

package kubetest_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/kubetest"
)

func TestParseObject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want       kubetest.Object // Source and Body not compared
		wantErr    string
	}{
		{
			name: "namespaced",
			body: `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"vllm","namespace":"lab"},"spec":{"bogus":1}}`,
			want: kubetest.Object{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "lab", Name: "vllm"},
		},
		{
			name: "cluster-scoped",
			body: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"lab"}}`,
			want: kubetest.Object{APIVersion: "v1", Kind: "Namespace", Name: "lab"},
		},
		{name: "empty", body: ``, wantErr: "f.json: not a JSON object"},
		{name: "not JSON", body: `apiVersion: v1`, wantErr: "f.json: not a JSON object"},
		{name: "array", body: `[{"apiVersion":"v1"}]`, wantErr: "f.json: not a JSON object"},
		{name: "truncated", body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}`, wantErr: "f.json: not a JSON object"},
		{name: "two objects", body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}} {}`, wantErr: "f.json: more than one JSON value"},
		{name: "nothing", body: `{}`, wantErr: "f.json: missing apiVersion, kind, metadata.name"},
		{name: "no name", body: `{"apiVersion":"v1","kind":"Secret","metadata":{"namespace":"lab"}}`, wantErr: "f.json: missing metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := kubetest.ParseObject("f.json", []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one starting with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != "f.json" || string(got.Body) != tt.body {
				t.Errorf("Source, Body = %q, %q; want the file name and the bytes unchanged", got.Source, got.Body)
			}
			if got.APIVersion != tt.want.APIVersion || got.Kind != tt.want.Kind || got.Namespace != tt.want.Namespace || got.Name != tt.want.Name {
				t.Errorf("got %s %s %s/%s, want %s %s %s/%s", got.APIVersion, got.Kind, got.Namespace, got.Name,
					tt.want.APIVersion, tt.want.Kind, tt.want.Namespace, tt.want.Name)
			}
		})
	}
}

func TestReadDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b/01-configmap-x.json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"b"}}`)
	write("a/10-secret-y.json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"y","namespace":"a"}}`)
	write("a/02-namespace-a.json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`)
	write("a/README.md", `not an object`)
	write("a/03-broken.json", `{"apiVersion":"v1"`)
	write("b/04-nameless.json", `{"apiVersion":"v1","kind":"Secret","metadata":{}}`)

	objs, err := kubetest.ReadDir(dir)
	var sources []string
	for _, o := range objs {
		sources = append(sources, strings.TrimPrefix(o.Source, dir+"/"))
	}
	if got, want := strings.Join(sources, " "), "a/02-namespace-a.json a/10-secret-y.json b/01-configmap-x.json"; got != want {
		t.Errorf("objects read = %s, want %s (lexical order, .json only)", got, want)
	}
	// Every bad file is reported, each by its name.
	for _, bad := range []string{"a/03-broken.json: not a JSON object", "b/04-nameless.json: missing metadata.name"} {
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("error = %v, want it to report %q", err, bad)
		}
	}

	if _, err := kubetest.ReadDir(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadDir of a missing directory: error = %v, want fs.ErrNotExist", err)
	}
}
