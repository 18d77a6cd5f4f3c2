package pulumitest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Golden compares got with the file at path, or rewrites the file when
// update is set (tests pass their -update flag). A mismatch shows a line
// diff, the way `pulumi preview --diff` would show the change.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs from what the code generates now; review the diff, then rerun with -update:\n%s", path, Diff(string(want), string(got)))
	}
}

// Diff is a line diff of a and b ("-" lines only in a, "+" only in b) with
// two lines of context, from a longest-common-subsequence alignment.
func Diff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
		at   int
	}
	var ops []line
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, line{' ', x[i], i + 1})
			i, j = i+1, j+1
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, line{'+', y[j], j + 1})
			j++
		default:
			ops = append(ops, line{'-', x[i], i + 1})
			i++
		}
	}
	const context = 2
	var out []string
	last := -1
	for k, o := range ops {
		if o.op == ' ' {
			continue
		}
		from := max(k-context, last+1)
		if last >= 0 && from > last+1 {
			out = append(out, "...")
		}
		for c := from; c < k; c++ {
			out = append(out, "  "+ops[c].text)
		}
		out = append(out, fmt.Sprintf("%c %s", o.op, o.text))
		last = k
		// trailing context is printed as leading context of the next change
		// or below
		if k+1 == len(ops) || ops[k+1].op == ' ' {
			end := min(k+context, len(ops)-1)
			for c := k + 1; c <= end && ops[c].op == ' '; c++ {
				out = append(out, "  "+ops[c].text)
				last = c
			}
		}
		if len(out) > 200 {
			out = append(out, "... (diff truncated)")
			break
		}
	}
	return strings.Join(out, "\n")
}
