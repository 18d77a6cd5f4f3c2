package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown: title,
// summary, warnings, notes, then the Series, Results, Per language and
// Gateway overhead tables (the last two when there is data).
func WriteMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n", mdText(r.Title), subtitle(r))
	for _, warn := range r.Warnings {
		fmt.Fprintf(&b, "\n> **Warning:** %s\n", mdText(warn))
	}
	b.WriteString("\n")
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "- %s\n", mdText(n))
	}
	for _, t := range tables(r) {
		fmt.Fprintf(&b, "\n## %s\n\n", t.Heading)
		if t.Intro != "" {
			fmt.Fprintf(&b, "%s\n\n", mdText(t.Intro))
		}
		writeMarkdownTable(&b, t)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write markdown report: %w", err)
	}
	return nil
}

// subtitle is the line under the title: what was compared.
func subtitle(r *Report) string {
	return fmt.Sprintf("%s from %s, %s.", plural(len(r.Series), "series", "series"),
		plural(len(r.Sources), "input file", "input files"), plural(len(r.Levels), "load level", "load levels"))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func writeMarkdownTable(b *strings.Builder, t table) {
	b.WriteString("|")
	for _, c := range t.Columns {
		fmt.Fprintf(b, " %s |", mdCell(c.Name))
	}
	b.WriteString("\n|")
	for _, c := range t.Columns {
		if c.Right {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, row := range t.Rows {
		b.WriteString("|")
		for _, cell := range row {
			fmt.Fprintf(b, " %s |", mdCell(cell))
		}
		b.WriteString("\n")
	}
}

// mdText keeps user text on one line.
func mdText(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// mdCell escapes what would break a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}
