package report

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Format is an output format.
type Format string

// Output formats.
const (
	FormatMarkdown Format = "md"
	FormatHTML     Format = "html"
)

// ParseFormats reads a --format value: "md", "html" or both comma-separated.
func ParseFormats(s string) ([]Format, error) {
	var out []Format
	for _, part := range strings.Split(s, ",") {
		f := Format(strings.TrimSpace(part))
		if f != FormatMarkdown && f != FormatHTML {
			return nil, fmt.Errorf("--format %q: want md, html or md,html", s)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// Render writes r in format f.
func Render(w io.Writer, f Format, r *Report) error {
	switch f {
	case FormatMarkdown:
		return WriteMarkdown(w, r)
	case FormatHTML:
		return WriteHTML(w, r)
	}
	return fmt.Errorf("--format %q: want md, html or md,html", f)
}

// Options are the `servelab report` flags.
type Options struct {
	// Files are the inputs: bench JSON and stack output JSON, in any mix.
	Files []string
	// Names are NAME=FILE overrides of the source names.
	Names []string
	// Title heads the report (DefaultTitle when empty).
	Title string
	// Formats to write. Empty means md, or md and html with OutDir.
	Formats []Format
	// Output is the file for a single format; "" or "-" is stdout.
	Output string
	// OutDir, when set, receives report.<format> for every format.
	OutDir string
	// Baseline, when set, adds ratios of every series against it: a
	// series name, or an input's name to compare series label by label.
	Baseline string
}

// Run reads every input, builds the report and renders every format in
// memory; only then does it write — to stdout, Output or OutDir — so bad
// input writes nothing.
func Run(opts Options, stdout io.Writer) error {
	formats := opts.Formats
	if len(formats) == 0 {
		formats = []Format{FormatMarkdown}
		if opts.OutDir != "" {
			formats = []Format{FormatMarkdown, FormatHTML}
		}
	}
	toFile := opts.Output != "" && opts.Output != "-"
	switch {
	case toFile && opts.OutDir != "":
		return errors.New("--output and --out-dir exclude each other")
	case len(formats) > 1 && opts.OutDir == "":
		return errors.New("several formats need --out-dir (one file per format)")
	}
	names, err := ParseNames(opts.Names, opts.Files)
	if err != nil {
		return err
	}
	sources, err := ReadFiles(opts.Files, names)
	if err != nil {
		return err
	}
	rep, err := Build(opts.Title, sources...)
	if err != nil {
		return err
	}
	if opts.Baseline != "" {
		if err := rep.CompareWith(opts.Baseline); err != nil {
			return err
		}
	}
	rendered := make([][]byte, len(formats))
	for i, f := range formats {
		var buf bytes.Buffer
		if err := Render(&buf, f, rep); err != nil {
			return err
		}
		rendered[i] = buf.Bytes()
	}
	switch {
	case opts.OutDir != "":
		if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
			return fmt.Errorf("--out-dir: %w", err)
		}
		for i, f := range formats {
			path := filepath.Join(opts.OutDir, "report."+string(f))
			if err := os.WriteFile(path, rendered[i], 0o644); err != nil {
				return fmt.Errorf("--out-dir: %w", err)
			}
		}
	case toFile:
		if err := os.WriteFile(opts.Output, rendered[0], 0o644); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	default:
		if _, err := stdout.Write(rendered[0]); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	return nil
}
