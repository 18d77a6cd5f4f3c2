package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report as GitHub-flavoured Markdown: title,
// summary, warnings, notes, then the tables (see tables). Long tables are
// folded in a <details> block. Text from the inputs is escaped, so a label
// or title cannot inject HTML.
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
		fmt.Fprintf(&b, "\n## %s\n\n", mdText(t.Heading))
		if t.Intro != "" {
			fmt.Fprintf(&b, "%s\n\n", mdText(t.Intro))
		}
		if t.Folded {
			fmt.Fprintf(&b, "<details>\n<summary>%s</summary>\n\n", mdText(foldSummary(t)))
		}
		writeMarkdownTable(&b, t)
		if t.Folded {
			b.WriteString("\n</details>\n")
		}
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

// foldSummary is what a folded table shows closed.
func foldSummary(t table) string {
	return fmt.Sprintf("%s: %s", t.Heading, plural(len(t.Rows), "row", "rows"))
}

// mdText keeps text on one line and escapes HTML: GitHub renders raw tags
// in Markdown, and labels, titles and notes come from the inputs.
func mdText(s string) string {
	escape := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	return escape.Replace(strings.Join(strings.Fields(s), " "))
}

// mdCell escapes what would break a table cell.
func mdCell(s string) string {
	return strings.ReplaceAll(mdText(s), "|", `\|`)
}
