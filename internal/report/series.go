package report

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/servelab/servelab/benchmarks"
)

// benchSeries makes one series per label of a bench document, in file
// order. The runs of one load level are repeats when each carries its own
// repeat number: they become one point, their median and spread.
func benchSeries(src Source) ([]Series, error) {
	type run struct {
		r     benchmarks.Result
		extra benchRunExtras
	}
	var (
		order []string
		runs  = map[string][]run{}
	)
	for i, r := range src.bench {
		if _, ok := runs[r.Label]; !ok {
			order = append(order, r.Label)
		}
		var extra benchRunExtras
		if i < len(src.extras) {
			extra = src.extras[i]
		}
		runs[r.Label] = append(runs[r.Label], run{r, extra})
	}
	out := make([]Series, 0, len(order))
	for _, label := range order {
		s := Series{Name: seriesName(src.Name, label), Source: src.Name, Label: label, Kind: KindBench}
		var engines, models, images, kv, versions, datasets, seeds, hashes, slos []string
		var started time.Time
		var points []Point
		repeats := map[Level][]int{}
		for _, x := range runs[label] {
			r := x.r
			engines = appendDistinct(engines, r.Engine)
			models = appendDistinct(models, r.Model)
			images = appendDistinct(images, r.Image)
			if x.extra.KVCacheCapacityTokens != nil {
				kv = appendDistinct(kv, strconv.FormatInt(*x.extra.KVCacheCapacityTokens, 10))
			}
			versions = appendDistinct(versions, r.ServelabVersion)
			datasets = appendDistinct(datasets, r.Dataset)
			seeds = appendDistinct(seeds, strconv.FormatInt(r.Seed, 10))
			hashes = appendDistinct(hashes, r.DatasetSHA256)
			slos = appendDistinct(slos, sloString(r.Config.Goodput))
			if !r.StartedAt.IsZero() && (started.IsZero() || r.StartedAt.Before(started)) {
				started = r.StartedAt
			}
			p := benchPoint(r)
			repeats[p.Level] = append(repeats[p.Level], x.extra.Repeat)
			points = append(points, p)
		}
		s.Engine, s.Model, s.Image, s.KVCacheTokens = strings.Join(engines, ", "), strings.Join(models, ", "), strings.Join(images, ", "), strings.Join(kv, ", ")
		s.Provenance = Provenance{
			Recorded: true,
			Version:  strings.Join(versions, ", "), Dataset: strings.Join(datasets, ", "),
			Seed: strings.Join(seeds, ", "), DatasetSHA256: strings.Join(hashes, ", "),
			Goodput: strings.Join(slos, ", "),
		}
		if !started.IsZero() {
			s.Provenance.StartedAt = started.UTC().Format(time.RFC3339)
		}
		if err := groupRepeats(&s, points, repeats); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// groupRepeats makes one point per level of s: the run itself, or the
// median of its repeats. Two runs at one level without distinct repeat
// numbers (≥ 1) are an error: the report would have to pick one.
func groupRepeats(s *Series, points []Point, repeats map[Level][]int) error {
	var levels []Level
	byLevel := map[Level][]Point{}
	for _, p := range points {
		if _, ok := byLevel[p.Level]; !ok {
			levels = append(levels, p.Level)
		}
		byLevel[p.Level] = append(byLevel[p.Level], p)
	}
	slices.SortFunc(levels, Level.Compare)
	for _, l := range levels {
		reps := byLevel[l]
		if nums := repeats[l]; len(reps) > 1 {
			distinct := slices.Compact(slices.Sorted(slices.Values(nums)))
			if slices.Contains(nums, 0) || len(distinct) != len(nums) {
				return fmt.Errorf("series %q has two runs at %s that are not repeats of it (repeat numbers %v): "+
					"remove one, or give them distinct \"repeat\" numbers from 1", s.Name, l, nums)
			}
		}
		s.Points = append(s.Points, mergeRepeats(reps))
	}
	return nil
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
		Repeats:           1,
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

// stackSeries makes one series per target of a stack output, with the
// provenance, image digest and KV-cache capacity the output records.
func stackSeries(src Source) ([]Series, error) {
	sb := src.stack
	labels := make([]string, 0, len(sb.Targets))
	for label := range sb.Targets {
		labels = append(labels, label)
	}
	slices.Sort(labels)
	out := make([]Series, 0, len(labels))
	for _, label := range labels {
		s := Series{Name: seriesName(src.Name, label), Source: src.Name, Label: label, Kind: KindStack}
		if kv, ok := sb.KVCacheCapacityTokens[label]; ok {
			s.KVCacheTokens = strconv.FormatInt(kv, 10)
		}
		if pv := sb.Provenance; pv != nil {
			s.Image = pv.Images[label]
			s.Provenance = Provenance{
				Recorded: true, Version: pv.Servelab.Version, Dataset: pv.Workload.Dataset,
				Seed: strconv.FormatInt(pv.Seed, 10), DatasetSHA256: pv.DatasetHash, Goodput: sloString(pv.Workload.Goodput),
			}
		}
		for _, run := range sb.Targets[label] {
			s.Points = append(s.Points, stackPoint(run))
		}
		if err := sortPoints(&s); err != nil {
			return nil, fmt.Errorf("%s: %w", src.Path, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func stackPoint(run stackRun) Point {
	rate, _ := parseRate(run.RequestRate) // checked by decodeStack
	p := Point{
		Level:             Level{MaxConcurrency: run.MaxConcurrency, RequestRate: rate},
		Repeats:           max(run.Repeats, 1),
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
	if p.Repeats > 1 && len(run.Spread) > 0 {
		p.Spread = run.Spread
	}
	for lang, m := range run.Languages {
		p.Languages = append(p.Languages, Language{
			Language: lang, Completed: m.Completed, Failed: m.Failed, OutputThroughput: m.OutputThroughput,
			TTFT: Percentiles(m.TTFTMs), TPOT: Percentiles(m.TPOTMs),
		})
	}
	slices.SortFunc(p.Languages, func(a, b Language) int { return strings.Compare(a.Language, b.Language) })
	return p
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
