package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
)

// page is the HTML template: one self-contained document with inline CSS
// and inline SVG, no scripts and no external references.
const page = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body{font-family:"Liberation Sans",Arial,Helvetica,sans-serif;color:#222;line-height:1.4;max-width:96em;margin:1.5em auto;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.3em}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0 1em}
th,td{border:1px solid #ccc;padding:.2em .5em;white-space:nowrap}
th{background:#f2f2f2}
.num{text-align:right;font-variant-numeric:tabular-nums}
tbody tr:nth-child(even){background:#fafafa}
.warning{border-left:4px solid #d55e00;background:#fff1e8;padding:.5em 1em}
.notes{font-size:.9em;color:#444}
figure{margin:1em 0}
figure svg{display:block;width:100%;height:auto}
figcaption{font-size:.85em;color:#555}
details{margin:.5em 0 1em}
summary{cursor:pointer;color:#0072b2}
svg text{font-family:"Liberation Sans",Arial,Helvetica,sans-serif !important}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p>{{.Summary}}</p>
{{range .Warnings}}<p class="warning"><strong>Warning:</strong> {{.}}</p>
{{end}}<ul class="notes">
{{range .Notes}}<li>{{.}}</li>
{{end}}</ul>
{{range .Sections}}<section id="{{.ID}}">
<h2>{{.Heading}}</h2>
{{if .Intro}}<p>{{.Intro}}</p>
{{end}}{{if .Folded}}<details>
<summary>{{.Summary}}</summary>
{{end}}{{with .Table}}{{$t := .}}<div class="scroll"><table>
<thead><tr>{{range .Columns}}<th{{if .Right}} class="num"{{end}}>{{.Name}}</th>{{end}}</tr></thead>
<tbody>
{{range $row := .Rows}}<tr>{{range $i, $cell := $row}}<td{{if index $t.Right $i}} class="num"{{end}}>{{$cell}}</td>{{end}}</tr>
{{end}}</tbody>
</table></div>
{{end}}{{range .Charts}}<figure id="{{.ID}}" aria-label="{{.Title}}">
{{.SVG}}
<figcaption>{{.Caption}}</figcaption>
</figure>
{{end}}{{if .Folded}}</details>
{{end}}</section>
{{end}}</body>
</html>
`

// htmlSection is a heading with an optional table and charts; a folded
// one keeps them in a <details> block headed by Summary.
type htmlSection struct {
	ID, Heading, Intro string
	Folded             bool
	Summary            string
	Table              *htmlTable
	Charts             []htmlChart
}

type htmlTable struct {
	Columns []column
	Rows    [][]string
	// Right[i] says column i is numeric; rows index it from inside range.
	Right []bool
}

type htmlChart struct {
	ID, Title, Caption string
	SVG                template.HTML
}

// WriteHTML writes the report as one self-contained HTML page: the same
// tables as WriteMarkdown plus SVG charts (see charts) after the results,
// the per-language table and charts folded, no scripts, no external
// assets. Nothing is written if a chart fails to draw.
func WriteHTML(w io.Writer, r *Report) error {
	tmpl, err := template.New("report").Parse(page)
	if err != nil {
		return fmt.Errorf("parse html template: %w", err)
	}
	figs, err := charts(r)
	if err != nil {
		return fmt.Errorf("draw charts: %w", err)
	}
	var sections []htmlSection
	for _, t := range tables(r) {
		sec := htmlSection{ID: t.ID, Heading: t.Heading, Intro: t.Intro, Folded: t.Folded, Table: toHTMLTable(t)}
		if t.Folded {
			sec.Summary = foldSummary(t)
		}
		switch t.ID {
		case "results":
			sections = append(sections, sec)
			sec = htmlSection{ID: "charts", Heading: "Charts", Intro: "Each series keeps its colour and marker in every chart. " +
				"An axis turns logarithmic (its label says so) when its values span more than " + fmt.Sprint(logRatio) + "×."}
			sec.Charts = pick(figs, func(c chart) bool { return !strings.HasPrefix(c.ID, languageChartPrefix) })
		case "languages":
			sec.Charts = pick(figs, func(c chart) bool { return strings.HasPrefix(c.ID, languageChartPrefix) })
			sec.Summary = foldSummary(t) + " and " + plural(len(sec.Charts), "chart", "charts")
		}
		sections = append(sections, sec)
	}
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, struct {
		Title, Summary  string
		Warnings, Notes []string
		Sections        []htmlSection
	}{r.Title, subtitle(r), r.Warnings, r.Notes, sections})
	if err != nil {
		return fmt.Errorf("render html report: %w", err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write html report: %w", err)
	}
	return nil
}

func toHTMLTable(t table) *htmlTable {
	ht := &htmlTable{Columns: t.Columns, Rows: t.Rows}
	for _, c := range t.Columns {
		ht.Right = append(ht.Right, c.Right)
	}
	return ht
}

// pick converts the charts that keep holds. Their SVG is gonum's output,
// which escapes every text it draws.
func pick(figs []chart, keep func(chart) bool) []htmlChart {
	var out []htmlChart
	for _, f := range figs {
		if keep(f) {
			out = append(out, htmlChart{ID: f.ID, Title: f.Title, Caption: f.Caption, SVG: template.HTML(f.SVG)})
		}
	}
	return out
}
