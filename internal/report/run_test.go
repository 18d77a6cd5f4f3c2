package report

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var (
	simFile   = filepath.Join("testdata", "inputs", "sim.json")
	stackFile = filepath.Join("testdata", "inputs", "rtx5090.json")
)

func TestParseFormats(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]Format{
		"md":        {FormatMarkdown},
		"html":      {FormatHTML},
		"md,html":   {FormatMarkdown, FormatHTML},
		"html, md":  {FormatHTML, FormatMarkdown},
		"md,md":     {FormatMarkdown},
		"html,html": {FormatHTML},
	} {
		got, err := ParseFormats(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseFormats(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "pdf", "md,", "MD", "json"} {
		if _, err := ParseFormats(bad); err == nil || !strings.Contains(err.Error(), "want md, html or md,html") {
			t.Errorf("ParseFormats(%q): error %v", bad, err)
		}
	}
}

func TestRunToStdout(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(Options{Files: []string{stackFile, simFile}, Title: "t"}, &out); err != nil {
		t.Fatal(err)
	}
	srcs, err := ReadFiles([]string{stackFile, simFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build("t", srcs...)
	if err != nil {
		t.Fatal(err)
	}
	if want := render(t, FormatMarkdown, r); !bytes.Equal(out.Bytes(), want) {
		t.Error("stdout is not the Markdown report")
	}
}

func TestRunNames(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := Run(Options{Files: []string{stackFile, simFile}, Names: []string{"lab=" + simFile}}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "| lab/sglang | 4 | inf |") || strings.Contains(out.String(), "| sim/") {
		t.Errorf("--name did not rename sim.json's series:\n%.1200s", out.String())
	}
}

func TestRunBaseline(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(Options{Files: []string{stackFile, simFile}, Baseline: "sim/sglang"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "\n## Relative to sim/sglang\n\nEvery series against sim/sglang (--baseline)") ||
		!strings.Contains(out.String(), "| rtx5090/vllm | sim/sglang | 4 | inf | ") {
		t.Errorf("no ratio table against sim/sglang:\n%.2000s", out.String())
	}
}

func TestRunOutDirWritesBoth(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "dir")
	var out bytes.Buffer
	if err := Run(Options{Files: []string{stackFile, simFile}, OutDir: dir}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("%d bytes on stdout with --out-dir", out.Len())
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(md, []byte("# "+DefaultTitle+"\n")) || !bytes.HasPrefix(page, []byte("<!DOCTYPE html>")) {
		t.Errorf("report.md starts %.40q, report.html %.40q", md, page)
	}

	if err := Run(Options{Files: []string{simFile}, OutDir: dir, Formats: []Format{FormatHTML}}, &out); err != nil {
		t.Fatal(err)
	}
	again, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(again, page) {
		t.Error("--format html --out-dir did not rewrite report.html")
	}
}

func TestRunOutputFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "cmp.html")
	var out bytes.Buffer
	if err := Run(Options{Files: []string{simFile}, Output: path, Formats: []Format{FormatHTML}, Title: "x"}, &out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("<title>x</title>")) || out.Len() != 0 {
		t.Errorf("output file %.100q, stdout %d bytes", b, out.Len())
	}
}

// TestRunBadInputWritesNothing: one bad file among good ones fails the
// whole run with an error naming it, and no output appears.
func TestRunBadInputWritesNothing(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	empty := filepath.Join(tmp, "empty.json")
	other := filepath.Join(tmp, "notes.json")
	for path, data := range map[string]string{empty: "", other: `{"title":"notes"}`} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	outDir := filepath.Join(tmp, "out")
	outFile := filepath.Join(tmp, "report.md")
	for _, tt := range []struct {
		name string
		opts Options
		want []string
	}{
		{"empty file", Options{Files: []string{simFile, empty}, OutDir: outDir}, []string{empty + ": file is empty"}},
		{"neither kind", Options{Files: []string{other, simFile}, Output: outFile}, []string{other + ": neither a servelab bench result", `(top-level keys: "title")`}},
		{"both bad", Options{Files: []string{empty, other}}, []string{empty + ": file is empty", other + ": neither"}},
		{"missing file", Options{Files: []string{filepath.Join(tmp, "nope.json")}, Output: outFile}, []string{"nope.json: no such file"}},
		{"several formats to one file", Options{Files: []string{simFile}, Formats: []Format{FormatMarkdown, FormatHTML}, Output: outFile}, []string{"several formats need --out-dir"}},
		{"several formats to stdout", Options{Files: []string{simFile}, Formats: []Format{FormatMarkdown, FormatHTML}}, []string{"several formats need --out-dir"}},
		{"output and out-dir", Options{Files: []string{simFile}, Output: outFile, OutDir: outDir}, []string{"--output and --out-dir exclude each other"}},
		{"unknown format", Options{Files: []string{simFile}, Formats: []Format{"pdf"}}, []string{`--format "pdf"`}},
		{"bad --name", Options{Files: []string{simFile}, Names: []string{"x=other.json"}}, []string{"other.json is not one of the input files"}},
		{"no files", Options{}, []string{"no input files"}},
		{"unknown --baseline", Options{Files: []string{simFile, stackFile}, Baseline: "rtx5090/sglang", OutDir: outDir},
			[]string{`--baseline "rtx5090/sglang" is neither a series nor an input's name; series: rtx5090/ollama,`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Run(tt.opts, &out)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if out.Len() != 0 {
				t.Errorf("%d bytes written to stdout", out.Len())
			}
			for _, p := range []string{outDir, outFile} {
				if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s exists after a failed run", p)
				}
			}
		})
	}
}
