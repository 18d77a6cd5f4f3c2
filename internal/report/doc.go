// Package report compares servelab benchmark results across targets and
// stacks. It reads `servelab bench` JSON (one Result or {"provenance":
// {...}, "runs":[...]}, with one run per repeat of a load level) and
// `pulumi stack output --json` documents (whose "benchmark" key holds the
// Benchmark component's targets, gateway overhead, KV-cache capacity,
// provenance and baseline comparison), normalises them into one model — a
// series per source/label, a point per load level (max concurrency,
// request rate) holding the median over repeats and each figure's min–max
// — and renders it as Markdown or as a self-contained HTML page with SVG
// charts drawn by gonum/plot.
//
// The flow is Load (one file) or ReadFiles → Build → optionally
// CompareWith (--baseline) → WriteMarkdown / WriteHTML; Run does all of it
// for the `servelab report` command and writes nothing unless every input
// is good and every output rendered.
//
// Rendering is deterministic: series, levels and languages are sorted, chart
// sizes are fixed and no clock is read, so outputs can be golden-tested.
package report
