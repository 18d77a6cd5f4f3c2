package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks"
)

// DefaultTitle is the report title when none is given.
const DefaultTitle = "servelab benchmark comparison"

// Report is the comparison model every renderer reads: series sorted by
// name, each with points sorted by load level.
type Report struct {
	// Title heads the report.
	Title string
	// Sources are the inputs in the order given.
	Sources []SourceInfo
	// Series are sorted by Name.
	Series []Series
	// Levels is the sorted union of every series' load levels.
	Levels []Level
	// Overhead is the gateway overhead from stack outputs, sorted by
	// stack, framework and level.
	Overhead []Overhead
	// Warnings say why the inputs are not comparable (different workloads).
	Warnings []string
	// Notes are provenance and reading notes.
	Notes []string
}

// SourceInfo describes one input file.
type SourceInfo struct {
	Name string
	Path string
	Kind Kind
}

// Level is a load point: the cap on in-flight requests and the arrival rate.
type Level struct {
	// MaxConcurrency is the in-flight cap; 0 = unlimited.
	MaxConcurrency int
	// RequestRate is the mean arrival rate in requests/s; +Inf sends every
	// request at t0.
	RequestRate float64
}

// Compare orders levels by concurrency (unlimited last), then rate (inf
// last).
func (l Level) Compare(o Level) int {
	if c := cmp.Compare(concKey(l.MaxConcurrency), concKey(o.MaxConcurrency)); c != 0 {
		return c
	}
	return cmp.Compare(l.RequestRate, o.RequestRate)
}

func concKey(c int) float64 {
	if c == 0 {
		return math.Inf(1)
	}
	return float64(c)
}

// Conc formats the concurrency cap ("unlimited" for 0).
func (l Level) Conc() string {
	if l.MaxConcurrency == 0 {
		return "unlimited"
	}
	return strconv.Itoa(l.MaxConcurrency)
}

// Rate formats the request rate as the bench CLI accepts it ("inf", "2.5").
func (l Level) Rate() string { return benchmarks.Rate(l.RequestRate).String() }

// String is "concurrency 4, rate inf".
func (l Level) String() string { return "concurrency " + l.Conc() + ", rate " + l.Rate() }

// Percentiles are a latency's p50 and p99 in ms. P99 is NaN when the bench
// was not asked for it (--percentiles without 99).
type Percentiles struct {
	P50, P99 float64
}

// Point is one series at one load level.
type Point struct {
	Level
	Completed, Failed int
	// RequestThroughput is completed requests/s.
	RequestThroughput float64
	// OutputThroughput is output tokens/s.
	OutputThroughput float64
	// Goodput is requests/s meeting every SLO; nil without SLOs.
	Goodput *float64
	// TTFT, TPOT, ITL and E2EL in ms.
	TTFT, TPOT, ITL, E2EL Percentiles
	// Partial marks an interrupted bench run.
	Partial bool
	// Languages is the per-language breakdown, sorted by language.
	Languages []Language
}

// Language is one language of a multilingual run: the fields both bench
// results and stack outputs carry.
type Language struct {
	Language          string
	Completed, Failed int
	OutputThroughput  float64
	TTFT, TPOT        Percentiles
}

// Series is one target of one source: "rtx5090/vllm".
type Series struct {
	// Name is Source + "/" + Label (Source alone for an unlabelled result).
	Name   string
	Source string
	Label  string
	Kind   Kind
	// Engine and Model come from bench results ("" for stack outputs,
	// which do not record them).
	Engine, Model string
	// Provenance is empty for stack outputs.
	Provenance Provenance
	// Points are sorted by level.
	Points []Point
}

// Provenance is what a bench result records about how it was produced.
// When a series' runs disagree, the distinct values are joined with ", ".
type Provenance struct {
	Version       string
	Dataset       string
	Seed          string
	DatasetSHA256 string
	Goodput       string // SLOs, "ttft:100,tpot:50"
	StartedAt     string // earliest run start, RFC 3339 UTC
}

// Overhead is the gateway's added latency for one framework at one level:
// gateway minus direct, from a stack output.
type Overhead struct {
	Stack     string
	Framework string
	Level
	TTFTP50Ms, TTFTP99Ms, E2ELP50Ms float64
}

// HasLanguages reports whether any point has a per-language breakdown.
func (r *Report) HasLanguages() bool {
	for _, s := range r.Series {
		for _, p := range s.Points {
			if len(p.Languages) > 0 {
				return true
			}
		}
	}
	return false
}

// Build normalises the sources into one Report. Two series with the same
// name, or one series with two runs at the same level, are errors naming
// the file.
func Build(title string, sources ...Source) (*Report, error) {
	if len(sources) == 0 {
		return nil, errors.New("no inputs")
	}
	if strings.TrimSpace(title) == "" {
		title = DefaultTitle
	}
	r := &Report{Title: title}
	owner := map[string]string{}
	var errs []error
	for _, src := range sources {
		r.Sources = append(r.Sources, SourceInfo{Name: src.Name, Path: src.Path, Kind: src.Kind})
		var series []Series
		var err error
		switch src.Kind {
		case KindBench:
			series, err = benchSeries(src)
		case KindStack:
			series, err = stackSeries(src)
			r.Overhead = append(r.Overhead, stackOverheads(src)...)
		default:
			err = fmt.Errorf("%s: unknown input kind %q", src.Path, src.Kind)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, s := range series {
			if prev, dup := owner[s.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: series %q is also in %s: rename a source with --name NAME=FILE", src.Path, s.Name, prev))
				continue
			}
			owner[s.Name] = src.Path
			r.Series = append(r.Series, s)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(r.Series, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range r.Series {
		for _, p := range s.Points {
			if !slices.ContainsFunc(r.Levels, func(l Level) bool { return l == p.Level }) {
				r.Levels = append(r.Levels, p.Level)
			}
		}
	}
	slices.SortFunc(r.Levels, Level.Compare)
	slices.SortFunc(r.Overhead, func(a, b Overhead) int {
		return cmp.Or(strings.Compare(a.Stack, b.Stack), strings.Compare(a.Framework, b.Framework), a.Level.Compare(b.Level))
	})
	r.Warnings = comparability(r.Series)
	r.Notes = notes(r)
	return r, nil
}

// seriesName joins a source name and a target label.
func seriesName(source, label string) string {
	if label == "" {
		return source
	}
	return source + "/" + label
}

func benchSeries(src Source) ([]Series, error) {
	var (
		order []string
		runs  = map[string][]benchmarks.Result{}
	)
	for _, r := range src.bench {
		if _, ok := runs[r.Label]; !ok {
			order = append(order, r.Label)
		}
		runs[r.Label] = append(runs[r.Label], r)
	}
	out := make([]Series, 0, len(order))
	for _, label := range order {
		s := Series{Name: seriesName(src.Name, label), Source: src.Name, Label: label, Kind: KindBench}
		var engines, models, versions, datasets, seeds, hashes, slos []string
		var started time.Time
		for _, r := range runs[label] {
			engines = appendDistinct(engines, r.Engine)
			models = appendDistinct(models, r.Model)
			versions = appendDistinct(versions, r.ServelabVersion)
			datasets = appendDistinct(datasets, r.Dataset)
			seeds = appendDistinct(seeds, strconv.FormatInt(r.Seed, 10))
			hashes = appendDistinct(hashes, r.DatasetSHA256)
			slos = appendDistinct(slos, sloString(r.Config.Goodput))
			if !r.StartedAt.IsZero() && (started.IsZero() || r.StartedAt.Before(started)) {
				started = r.StartedAt
			}
			s.Points = append(s.Points, benchPoint(r))
		}
		s.Engine, s.Model = strings.Join(engines, ", "), strings.Join(models, ", ")
		s.Provenance = Provenance{
			Version: strings.Join(versions, ", "), Dataset: strings.Join(datasets, ", "),
			Seed: strings.Join(seeds, ", "), DatasetSHA256: strings.Join(hashes, ", "),
			Goodput: strings.Join(slos, ", "),
		}
		if !started.IsZero() {
			s.Provenance.StartedAt = started.UTC().Format(time.RFC3339)
		}
		if err := sortPoints(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func appendDistinct(list []string, v string) []string {
	if v == "" || slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// sloString formats goodput SLOs as the bench flag takes them.
func sloString(slo map[string]float64) string {
	keys := make([]string, 0, len(slo))
	for k := range slo {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + strconv.FormatFloat(slo[k], 'f', -1, 64)
	}
	return strings.Join(parts, ",")
}

func benchPoint(r benchmarks.Result) Point {
	p := Point{
		Level:             Level{RequestRate: float64(r.RequestRate)},
		Completed:         r.Completed,
		Failed:            r.Failed,
		RequestThroughput: r.RequestThroughput,
		OutputThroughput:  r.OutputThroughput,
		Goodput:           r.RequestGoodput,
		TTFT:              benchPercentiles(r.TTFT),
		TPOT:              benchPercentiles(r.TPOT),
		ITL:               benchPercentiles(r.ITL),
		E2EL:              benchPercentiles(r.E2EL),
		Partial:           r.Partial,
	}
	if r.MaxConcurrency != nil {
		p.MaxConcurrency = *r.MaxConcurrency
	}
	for lang, m := range r.PerLanguage {
		p.Languages = append(p.Languages, Language{
			Language: lang, Completed: m.Completed, Failed: m.Failed, OutputThroughput: m.OutputThroughput,
			TTFT: benchPercentiles(m.TTFT), TPOT: benchPercentiles(m.TPOT),
		})
	}
	slices.SortFunc(p.Languages, func(a, b Language) int { return strings.Compare(a.Language, b.Language) })
	return p
}

// benchPercentiles takes p50 (else the median, which is the same number)
// and p99 (else NaN: not measured).
func benchPercentiles(l benchmarks.Latency) Percentiles {
	p50, ok := l.At(50)
	if !ok {
		p50 = l.Median
	}
	p99, ok := l.At(99)
	if !ok {
		p99 = math.NaN()
	}
	return Percentiles{P50: p50, P99: p99}
}

func stackSeries(src Source) ([]Series, error) {
	labels := make([]string, 0, len(src.stack.Targets))
	for label := range src.stack.Targets {
		labels = append(labels, label)
	}
	slices.Sort(labels)
	out := make([]Series, 0, len(labels))
	for _, label := range labels {
		s := Series{Name: seriesName(src.Name, label), Source: src.Name, Label: label, Kind: KindStack}
		for _, run := range src.stack.Targets[label] {
			rate, _ := parseRate(run.RequestRate) // checked by decodeStack
			p := Point{
				Level:             Level{MaxConcurrency: run.MaxConcurrency, RequestRate: rate},
				Completed:         run.Completed,
				Failed:            run.Failed,
				RequestThroughput: run.RequestThroughput,
				OutputThroughput:  run.OutputThroughput,
				Goodput:           run.Goodput,
				TTFT:              Percentiles(run.TTFTMs),
				TPOT:              Percentiles(run.TPOTMs),
				ITL:               Percentiles(run.ITLMs),
				E2EL:              Percentiles(run.E2ELMs),
			}
			for lang, m := range run.Languages {
				p.Languages = append(p.Languages, Language{
					Language: lang, Completed: m.Completed, Failed: m.Failed, OutputThroughput: m.OutputThroughput,
					TTFT: Percentiles(m.TTFTMs), TPOT: Percentiles(m.TPOTMs),
				})
			}
			slices.SortFunc(p.Languages, func(a, b Language) int { return strings.Compare(a.Language, b.Language) })
			s.Points = append(s.Points, p)
		}
		if err := sortPoints(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func stackOverheads(src Source) []Overhead {
	var out []Overhead
	for fw, list := range src.stack.Overhead {
		for _, o := range list {
			rate, _ := parseRate(o.RequestRate) // checked by decodeStack
			out = append(out, Overhead{
				Stack: src.Name, Framework: fw,
				Level:     Level{MaxConcurrency: o.MaxConcurrency, RequestRate: rate},
				TTFTP50Ms: o.TTFTP50Ms, TTFTP99Ms: o.TTFTP99Ms, E2ELP50Ms: o.E2ELP50Ms,
			})
		}
	}
	return out
}

// sortPoints orders a series' points by level; two at one level are an
// error (the report would have to pick one).
func sortPoints(s *Series) error {
	slices.SortStableFunc(s.Points, func(a, b Point) int { return a.Level.Compare(b.Level) })
	for i := 1; i < len(s.Points); i++ {
		if s.Points[i].Level == s.Points[i-1].Level {
			return fmt.Errorf("series %q has two runs at %s", s.Name, s.Points[i].Level)
		}
	}
	return nil
}

// comparability warns when bench results ran different workloads: a
// different dataset hash means different requests, a different seed
// different requests or arrival times.
func comparability(series []Series) []string {
	var diffs []string
	for _, f := range []struct {
		what string
		get  func(Provenance) string
	}{
		{"dataset_sha256", func(p Provenance) string { return shortHash(p.DatasetSHA256) }},
		{"seed", func(p Provenance) string { return p.Seed }},
	} {
		if d := differing(series, f.get); d != "" {
			diffs = append(diffs, f.what+" "+d)
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return []string{"Not comparable: the bench results ran different workloads (" + strings.Join(diffs, "; ") +
		"), so their numbers measure different requests or arrival times."}
}

// differing lists the values of get across bench series with the series
// holding each, when there is more than one value; "" otherwise.
func differing(series []Series, get func(Provenance) string) string {
	var values []string
	holders := map[string][]string{}
	for _, s := range series {
		if s.Kind != KindBench {
			continue
		}
		vals := splitList(get(s.Provenance))
		if len(vals) == 0 {
			vals = []string{"unrecorded"}
		}
		for _, v := range vals {
			if _, ok := holders[v]; !ok {
				values = append(values, v)
			}
			holders[v] = append(holders[v], s.Name)
		}
	}
	if len(values) < 2 {
		return ""
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = v + " (" + strings.Join(holders[v], ", ") + ")"
	}
	return strings.Join(parts, " vs ")
}

// splitList splits a ", "-joined Provenance field.
func splitList(list string) []string {
	if list == "" {
		return nil
	}
	return strings.Split(list, ", ")
}

// shortHash keeps the first 12 hex digits of each hash in a list.
func shortHash(list string) string {
	parts := splitList(list)
	for i, h := range parts {
		if len(h) > 12 {
			parts[i] = h[:12]
		}
	}
	return strings.Join(parts, ", ")
}

func notes(r *Report) []string {
	var out []string
	if p := provenanceSummary(r.Series); p != "" {
		out = append(out, p)
	}
	var stacks []string
	for _, src := range r.Sources {
		if src.Kind == KindStack {
			stacks = append(stacks, src.Name)
		}
	}
	if len(stacks) > 0 {
		out = append(out, "Stack outputs ("+strings.Join(stacks, ", ")+") record no servelab version, seed or dataset hash, "+
			"so their comparability is not checked: compare the stacks' servelab:benchmark config. "+
			"They keep three decimals and no engine or model.")
	}
	if d := differing(r.Series, func(p Provenance) string { return p.Version }); d != "" {
		out = append(out, "servelab versions differ: "+d+".")
	}
	if d := differing(r.Series, func(p Provenance) string {
		if p.Goodput == "" {
			return "none"
		}
		return p.Goodput
	}); d != "" {
		out = append(out, "Goodput SLOs differ, so goodput columns do not compare: "+d+".")
	}
	if slices.ContainsFunc(r.Series, func(s Series) bool { return slices.ContainsFunc(s.Points, func(p Point) bool { return p.Partial }) }) {
		out = append(out, "(partial) marks an interrupted run: its numbers cover only the requests that finished.")
	}
	out = append(out, "Latencies in ms; p50/p99 by linear interpolation. TTFT is the time to the first chunk with non-empty content "+
		"(or reasoning), as SGLang, genai-perf and inference-perf count it; vLLM's `bench serve` counts any chunk, "+
		"including its role-only first one, so its TTFT can read lower. TPOT = (E2EL − TTFT)/(output tokens − 1).")
	return out
}

// provenanceSummary is one line naming the version, dataset, seed and hash
// the bench results share (or "differs").
func provenanceSummary(series []Series) string {
	var bench []Series
	for _, s := range series {
		if s.Kind == KindBench {
			bench = append(bench, s)
		}
	}
	if len(bench) == 0 {
		return ""
	}
	field := func(get func(Provenance) string) string {
		var vals []string
		for _, s := range bench {
			for _, v := range splitList(get(s.Provenance)) {
				vals = appendDistinct(vals, v)
			}
		}
		switch len(vals) {
		case 0:
			return "unrecorded"
		case 1:
			return vals[0]
		}
		return "differs (see Series)"
	}
	return "Provenance of the bench results: servelab " + field(func(p Provenance) string { return p.Version }) +
		"; dataset " + field(func(p Provenance) string { return p.Dataset }) +
		"; seed " + field(func(p Provenance) string { return p.Seed }) +
		"; dataset_sha256 " + field(func(p Provenance) string { return shortHash(p.DatasetSHA256) }) + "."
}
