package mdlinks_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/mdlinks"
)

// TestRepository: no Markdown file of the repository links to a file that
// is not there or to an anchor no heading makes, and no Markdown file or
// Go comment names a Markdown file that is not in the repository.
func TestRepository(t *testing.T) {
	problems, err := mdlinks.Check("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func TestSlug(t *testing.T) {
	for text, want := range map[string]string{
		"What `destroy` keeps":                           "what-destroy-keeps",
		"`make up STACK=<env>`":                          "make-up-stackenv",
		"Against the targets — honestly":                 "against-the-targets--honestly",
		"Docker and podman":                              "docker-and-podman",
		"`hosts[]`":                                      "hosts",
		"Health checks from the image: `servelab probe`": "health-checks-from-the-image-servelab-probe",
		"Comparing with a [baseline](x.md)":              "comparing-with-a-baseline",
		"Réglages <b>HTML</b> snake_case 2.0":            "réglages-html-snake_case-20",
	} {
		if got := mdlinks.Slug(text); got != want {
			t.Errorf("Slug(%q) = %q, want %q", text, got, want)
		}
	}
}

// TestFindsBrokenReferences: a tree with one good and one broken reference
// of each kind reports exactly the broken ones.
func TestFindsBrokenReferences(t *testing.T) {
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("README.md", "# Top\n\n## Set `up` twice\n\n## Set `up` twice\n\n"+
		"[ok](docs/a.md#part-one) [ok](#set-up-twice-1) [ok](docs/) [ok](https://example.com/x.md)\n"+
		"[bad file](docs/missing.md) [bad anchor](docs/a.md#part-two) ![img](img/none.png)\n"+
		"`[not a link](nowhere.md)` see ARCHITECTURE.md and docs/a.md; the tool writes report.md\n"+
		"```\n[in a fence](nowhere.md)\n```\n"+
		"[ref]: docs/gone.md\n")
	write("docs/a.md", "Part one\n========\n\n[up](../README.md#top) [out](../../x.md)\n")
	write("main.go", "package main\n\n// See docs/a.md#part-one and docs/b.md, and ../elsewhere/ARCHITECTURE.md.\nfunc main() {}\n")
	problems, err := mdlinks.Check(root)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.File+":"+p.Ref)
	}
	want := []string{
		"README.md:docs/gone.md", // reference definitions come first on their line
		"README.md:docs/missing.md", "README.md:docs/a.md#part-two", "README.md:img/none.png",
		"README.md:ARCHITECTURE.md",
		"docs/a.md:../../x.md",
		"main.go:docs/b.md", "main.go:../elsewhere/ARCHITECTURE.md",
	}
	if strings.Join(got, "\n") != strings.Join(sortLike(got, want), "\n") || len(got) != len(want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// sortLike returns want if got holds the same elements, else nil.
func sortLike(got, want []string) []string {
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
	}
	for _, w := range want {
		seen[w]--
	}
	for _, n := range seen {
		if n != 0 {
			return nil
		}
	}
	return got
}
