package programs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/servelab/servelab/programs"
)

func TestImageTagFollowsTheSources(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(rel, content string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module x\n")
	write("cmd/servelab/main.go", "package main\n")
	tag := func() string {
		t.Helper()
		s, err := programs.ImageTag(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := tag()
	if !regexp.MustCompile(`^servelab:\d+\.\d+\.\d+-[0-9a-f]{12}$`).MatchString(first) {
		t.Fatalf("tag %q", first)
	}
	if tag() != first {
		t.Error("the same tree gave two tags")
	}
	for _, rel := range []string{"x_test.go", "README.md", "stacks/Pulumi.x.yaml", "programs/testdata/plan.json", ".git/HEAD"} {
		write(rel, "changed")
		if got := tag(); got != first {
			t.Errorf("%s changed the image tag", rel)
		}
	}
	write("cmd/servelab/main.go", "package main // changed\n")
	if tag() == first {
		t.Error("a source change kept the tag")
	}
}
