package shellquote_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/shellquote"
)

func TestQuote(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"qwen2.5:0.5b", "qwen2.5:0.5b"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$(reboot)", "'$(reboot)'"},
		{"`id`", "'`id`'"},
		{"a;b", "'a;b'"},
		{"~root", "'~root'"},
		{"A=B", "'A=B'"},
		{"*", "'*'"},
		{"line\nbreak", "'line\nbreak'"},
	}
	for _, tt := range tests {
		if got := shellquote.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRoundTripThroughShell runs the quoted line through a real /bin/sh and
// checks that the program receives exactly the argv we quoted.
func TestRoundTripThroughShell(t *testing.T) {
	t.Parallel()
	argvs := [][]string{
		{"simple", "words"},
		{"it's", `"double"`, "$HOME", "$(echo pwned)", "`echo pwned`", "a\\b", "*", "?", "[a]"},
		{"", "  spaced  ", "tab\there", "new\nline", "semi;colon", "pipe|x", "amp&", "<in", ">out"},
		{"ünïcödé", "日本語", "'", "''", "'\\''"},
	}
	for _, argv := range argvs {
		line := "printf '%s\\0' " + shellquote.Join(argv...)
		out, err := exec.Command("/bin/sh", "-c", line).Output()
		if err != nil {
			t.Fatalf("sh -c %q: %v", line, err)
		}
		got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		if strings.Join(got, "\x00") != strings.Join(argv, "\x00") {
			t.Errorf("argv %q came back as %q (line %q)", argv, got, line)
		}
	}
}

func TestPipeline(t *testing.T) {
	t.Parallel()
	got := shellquote.Pipeline([]string{"docker", "exec", "c1", "ollama", "pull", "a b"}, []string{"true"})
	want := "docker exec c1 ollama pull 'a b' && true"
	if got != want {
		t.Errorf("Pipeline = %q, want %q", got, want)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a", "it's", "$(x)", "\n", "'\\''"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // argv cannot carry NUL
		}
		out, err := exec.Command("/bin/sh", "-c", "printf '%s' "+shellquote.Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Fatalf("Quote(%q) came back as %q", s, out)
		}
	})
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{"HF_TOKEN": true, "_x1": true, "a": true, "": false, "1A": false, "MY-KEYS": false, "A B": false, "é": false} {
		if got := shellquote.ValidName(s); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", s, got, want)
		}
	}
}
