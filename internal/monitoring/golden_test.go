package monitoring_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestGolden compares every generated file of each representative lab with
// testdata/<lab>/<container path>; -update rewrites them.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files := labFiles(t, c.lab)
			dir := filepath.Join("testdata", "golden", c.name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
				writeFiles(t, dir, files)
				return
			}
			want := map[string]bool{}
			for p, got := range files {
				rel := filepath.FromSlash(strings.TrimPrefix(p, "/"))
				want[rel] = true
				golden, err := os.ReadFile(filepath.Join(dir, rel))
				if err != nil {
					t.Errorf("%s: %v (run go test ./internal/monitoring -update)", p, err)
					continue
				}
				if !bytes.Equal(golden, got) {
					t.Errorf("%s differs from %s (run go test ./internal/monitoring -update and review the diff):\n%s",
						p, filepath.Join(dir, rel), firstDiff(golden, got))
				}
			}
			err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(dir, path)
				if !want[rel] {
					t.Errorf("stale golden file %s: no longer generated", path)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDeterministic renders each lab twice: the output must not depend on
// map order or anything but the input.
func TestDeterministic(t *testing.T) {
	t.Parallel()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a, b := labFiles(t, c.lab), labFiles(t, c.lab)
			if len(a) != len(b) {
				t.Fatalf("file sets differ: %d vs %d", len(a), len(b))
			}
			for p := range a {
				if !bytes.Equal(a[p], b[p]) {
					t.Errorf("%s differs between two renderings:\n%s", p, firstDiff(a[p], b[p]))
				}
			}
		})
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(want, got []byte) string {
	wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(wl), len(gl)); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + w + "\n  got:  " + g
		}
	}
	return "(same lines, different bytes)"
}
