package report

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Build normalises the sources into one Report. Two series with the same
// name, or one series with two runs at the same level that are not
// repeats of it, are errors naming the file.
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
		info := SourceInfo{Name: src.Name, Path: src.Path, Kind: src.Kind}
		var series []Series
		var err error
		switch src.Kind {
		case KindBench:
			info.Provenance = benchSourceProvenance(src.benchPv)
			series, err = benchSeries(src)
		case KindStack:
			info.Provenance = stackSourceProvenance(src.stack.Provenance)
			series, err = stackSeries(src)
			r.Overhead = append(r.Overhead, stackOverheads(src)...)
			if c, ok := stackComparisonOf(src); ok {
				r.Comparisons = append(r.Comparisons, c)
			}
		default:
			err = fmt.Errorf("%s: unknown input kind %q", src.Path, src.Kind)
		}
		r.Sources = append(r.Sources, info)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var kept []Series
		for _, s := range series {
			if prev, dup := owner[s.Name]; dup {
				errs = append(errs, fmt.Errorf("%s: series %q is also in %s: rename a source with --name NAME=FILE", src.Path, s.Name, prev))
				continue
			}
			owner[s.Name] = src.Path
			kept = append(kept, s)
		}
		r.Overhead = append(r.Overhead, pairOverheads(src.Name, kept, r.Overhead)...)
		r.Series = append(r.Series, kept...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(r.Series, func(a, b Series) int { return strings.Compare(a.Name, b.Name) })
	for _, s := range r.Series {
		for _, p := range s.Points {
			if !slices.Contains(r.Levels, p.Level) {
				r.Levels = append(r.Levels, p.Level)
			}
		}
	}
	slices.SortFunc(r.Levels, Level.Compare)
	slices.SortFunc(r.Overhead, func(a, b Overhead) int {
		return cmp.Or(strings.Compare(a.Source, b.Source), strings.Compare(a.Framework, b.Framework), a.Level.Compare(b.Level))
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

// series returns the series called name.
func (r *Report) series(name string) (Series, bool) {
	i := slices.IndexFunc(r.Series, func(s Series) bool { return s.Name == name })
	if i < 0 {
		return Series{}, false
	}
	return r.Series[i], true
}

// at returns the series' point at level l.
func (s Series) at(l Level) (Point, bool) {
	i := slices.IndexFunc(s.Points, func(p Point) bool { return p.Level == l })
	if i < 0 {
		return Point{}, false
	}
	return s.Points[i], true
}

// HasSpread reports whether any point summarises more than one run.
func (r *Report) HasSpread() bool {
	for _, s := range r.Series {
		for _, p := range s.Points {
			if p.Repeats > 1 {
				return true
			}
		}
	}
	return false
}
