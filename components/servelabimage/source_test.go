package servelabimage_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/components/servelabimage"
)

const repoRoot = "../.."

// The build context holds what the binary is built from and nothing else:
// no stack file (encryption salt, secure: ciphertexts), no Pulumi program,
// no docs, no tests. It is listed from the directory WriteContext
// produces, and the binary must build from it alone.
func TestBuildContextIsMinimal(t *testing.T) {
	t.Parallel()
	src, err := servelabimage.Sources(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := src.WriteContext(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		listed = append(listed, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(listed, src.Files) {
		t.Errorf("context holds %v, sources are %v", listed, src.Files)
	}
	for _, f := range listed {
		base := path.Base(f)
		switch {
		case strings.HasPrefix(f, "stacks/"), strings.HasPrefix(base, "Pulumi.") && strings.HasSuffix(base, ".yaml"):
			t.Errorf("%s: stack and project files must never be in the image's build context", f)
		case strings.HasPrefix(f, "programs/"), strings.HasPrefix(f, "components/"), strings.HasPrefix(f, "docs/"),
			strings.HasPrefix(f, "scripts/"), strings.HasPrefix(f, "tools/"), strings.HasPrefix(f, "bin/"), strings.HasPrefix(f, "."):
			t.Errorf("%s is not part of the binary", f)
		case strings.HasSuffix(f, ".md"), strings.HasSuffix(f, "_test.go"), strings.Contains(f, "/testdata/"):
			t.Errorf("%s is not part of the binary", f)
		}
	}
	for _, want := range []string{"go.mod", "go.sum", "Dockerfile", "cmd/servelab/main.go", "internal/gateway/config.go", "benchmarks/workloads/multilingual.jsonl"} {
		if !slices.Contains(listed, want) {
			t.Errorf("the context lacks %s", want)
		}
	}
	again, err := src.WriteContext(filepath.Dir(dir))
	if err != nil || again != dir {
		t.Errorf("rewriting the same sources gave %q, %v; want the existing %q", again, err, dir)
	}

	// Complete: the binary builds from the context alone, as in the
	// Dockerfile.
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(t.TempDir(), "servelab"), servelabimage.BinaryPackage)
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=-mod=readonly", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("the binary does not build from its context: %v\n%s", err, out)
	}
}

// The tag hashes only what goes into the binary: editing the Pulumi
// program, the components, a stack file, the docs or the README keeps it
// (so an `up` does not rebuild the image and replace every container
// running it); editing a package the binary links changes it.
func TestTagFollowsOnlyTheBinary(t *testing.T) {
	t.Parallel()
	tree := copyTree(t, repoRoot)
	tag := func() string {
		t.Helper()
		src, err := servelabimage.Sources(tree)
		if err != nil {
			t.Fatal(err)
		}
		return src.Tag()
	}
	first := tag()
	if !regexp.MustCompile(`^localhost/servelab:\d+\.\d+\.\d+-[0-9a-f]{12}$`).MatchString(first) {
		t.Fatalf("tag %q", first)
	}
	appendTo := func(rel, text string) {
		t.Helper()
		f, err := os.OpenFile(filepath.Join(tree, rel), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(text); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	appendTo("internal/gateway/extra_test.go", "package gateway\n")
	for _, rel := range []string{"programs/run.go", "components/gpuhost/gpuhost.go", "components/servelabimage/image.go", "main.go", "internal/gateway/extra_test.go"} {
		appendTo(rel, "\n// an edit\n")
		if got := tag(); got != first {
			t.Errorf("editing %s changed the tag to %s", rel, got)
		}
	}
	for _, rel := range []string{"stacks/Pulumi.sim.yaml", "docs/pulumi-cli.md", "README.md", "Pulumi.yaml"} {
		appendTo(rel, "\n# an edit\n")
		if got := tag(); got != first {
			t.Errorf("editing %s changed the tag to %s", rel, got)
		}
	}
	appendTo("internal/gateway/config.go", "\n// an edit\n")
	second := tag()
	if second == first {
		t.Error("editing internal/gateway kept the tag")
	}
	appendTo("benchmarks/workloads/multilingual.jsonl", "\n")
	if tag() == second {
		t.Error("editing an embedded workload kept the tag")
	}
}

// copyTree copies the repository (without .git, bin, tools) for a test to
// edit.
func copyTree(t *testing.T, root string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == ".git" || rel == "bin" || rel == "tools" {
				return filepath.SkipDir
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
