package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// benchSourceProvenance is a bench document's own provenance; nil for a
// document without one.
func benchSourceProvenance(p *benchProvenance) *SourceProvenance {
	if p == nil {
		return nil
	}
	w := p.Workload
	rates := make([]string, len(w.RequestRates))
	for i, r := range w.RequestRates {
		rates[i] = string(r)
	}
	return &SourceProvenance{
		Version: p.ServelabVersion, BinarySHA256: p.BinarySHA256, DatasetHash: p.DatasetHash,
		Seed: strconv.FormatInt(p.Seed, 10),
		Workload: workload{
			Dataset: w.Dataset, DatasetPath: w.DatasetPath, NumPrompts: w.NumPrompts, MaxConcurrency: w.MaxConcurrency,
			RequestRates: rates, Burstiness: w.Burstiness, InputLen: w.InputLen, OutputLen: w.OutputLen,
			Warmup: warmupText(w.Warmup), Repeats: w.Repeats,
		}.String(),
	}
}

// stackSourceProvenance is a stack output's benchmark.provenance; nil for
// outputs made before it was recorded. The binary's hash is the stack's
// own (runOn: local) or, in an image (runOn: host), the one the bench
// reported about itself.
func stackSourceProvenance(p *stackProvenance) *SourceProvenance {
	if p == nil {
		return nil
	}
	w := p.Workload
	sp := &SourceProvenance{
		Version: p.Servelab.Version, BinarySHA256: p.Servelab.BinarySHA256, Image: p.Servelab.Image,
		SpecHash: p.SpecHash, DatasetHash: p.DatasetHash, Seed: strconv.FormatInt(p.Seed, 10),
		Workload: workload{
			Dataset: w.Dataset, DatasetPath: w.DatasetPath, NumPrompts: w.NumPrompts, MaxConcurrency: w.MaxConcurrency,
			RequestRates: w.RequestRate, Burstiness: w.Burstiness, InputLen: w.InputLen, OutputLen: w.OutputLen,
			Goodput: sloString(w.Goodput), Warmup: warmupText(w.Warmup), Repeats: w.Repeats,
		}.String(),
	}
	if sp.BinarySHA256 == "" {
		sp.BinarySHA256 = benchBinaryHash(p.Bench)
	}
	return sp
}

// benchBinaryHash finds the bench's binary hash in the provenance it
// recorded about itself: camelCase as the summary mirrors it, or the
// bench's own snake_case, possibly under "provenance".
func benchBinaryHash(bench map[string]any) string {
	for _, m := range []any{bench, bench["provenance"]} {
		obj, ok := m.(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"binarySha256", "binary_sha256"} {
			if s, ok := obj[key].(string); ok && s != "" {
				return s
			}
		}
	}
	return ""
}

// workload is a recorded workload, normalised from either input's names.
type workload struct {
	Dataset, DatasetPath string
	NumPrompts           int
	MaxConcurrency       []int
	RequestRates         []string
	Burstiness           float64
	InputLen, OutputLen  int
	Goodput, Warmup      string
	Repeats              int
}

// String is the workload in one line: "multilingual, 22 prompts,
// concurrency 1/4/8, rate inf, output 16 tokens, warm-up 0, 3 repeats".
func (w workload) String() string {
	var parts []string
	add := func(format string, args ...any) { parts = append(parts, fmt.Sprintf(format, args...)) }
	dataset := w.Dataset
	if w.DatasetPath != "" {
		dataset += " " + w.DatasetPath
	}
	if dataset != "" {
		add("%s", dataset)
	}
	if w.NumPrompts > 0 {
		add("%d prompts", w.NumPrompts)
	}
	conc := "unlimited"
	if len(w.MaxConcurrency) > 0 {
		cs := make([]string, len(w.MaxConcurrency))
		for i, c := range w.MaxConcurrency {
			cs[i] = (Level{MaxConcurrency: c}).Conc()
		}
		conc = strings.Join(cs, "/")
	}
	add("concurrency %s", conc)
	rates := "inf"
	if len(w.RequestRates) > 0 {
		rates = strings.Join(w.RequestRates, "/")
	}
	add("rate %s", rates)
	if w.Burstiness != 0 && w.Burstiness != 1 {
		add("burstiness %g", w.Burstiness)
	}
	if w.InputLen > 0 {
		add("input %d tokens", w.InputLen)
	}
	if w.OutputLen > 0 {
		add("output %d tokens", w.OutputLen)
	}
	if w.Goodput != "" {
		add("goodput %s", w.Goodput)
	}
	if w.Warmup != "" {
		add("warm-up %s", w.Warmup)
	}
	if w.Repeats > 0 {
		add("%s", plural(w.Repeats, "repeat", "repeats"))
	}
	return strings.Join(parts, ", ")
}

// comparability warns when series that record their workload ran
// different ones: a different dataset hash means different requests, a
// different seed different requests or arrival times.
func comparability(series []Series) []string {
	var diffs []string
	for _, f := range []struct {
		what string
		get  func(Provenance) string
	}{
		{"dataset hash", func(p Provenance) string { return shortHash(p.DatasetSHA256) }},
		{"seed", func(p Provenance) string { return p.Seed }},
	} {
		if d := differing(series, f.get); d != "" {
			diffs = append(diffs, f.what+" "+d)
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return []string{"Not comparable: the inputs ran different workloads (" + strings.Join(diffs, "; ") +
		"), so their numbers measure different requests or arrival times."}
}

// differing lists the values of get across the series that record
// provenance, with the series holding each, when there is more than one
// value; "" otherwise.
func differing(series []Series, get func(Provenance) string) string {
	var values []string
	holders := map[string][]string{}
	for _, s := range series {
		if !s.Provenance.Recorded {
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
		parts[i] = short(h)
	}
	return strings.Join(parts, ", ")
}

// short keeps the first 12 hex digits of a hash, or of the digest in an
// image reference ("repo@sha256:0123456789ab").
func short(h string) string {
	if repo, digest, ok := strings.Cut(h, "@sha256:"); ok {
		return repo + "@sha256:" + short(digest)
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

func notes(r *Report) []string {
	var out []string
	if p := provenanceSummary(r.Series); p != "" {
		out = append(out, p)
	}
	var stacks, unrecorded []string
	for _, src := range r.Sources {
		if src.Kind != KindStack {
			continue
		}
		stacks = append(stacks, src.Name)
		if src.Provenance == nil {
			unrecorded = append(unrecorded, src.Name)
		}
	}
	if len(unrecorded) > 0 {
		out = append(out, "Stack outputs made before servelab recorded provenance ("+strings.Join(unrecorded, ", ")+") have no servelab "+
			"version, seed or dataset hash, so their comparability is not checked: compare the stacks' servelab:benchmark config.")
	}
	if len(stacks) > 0 {
		out = append(out, "Stack outputs ("+strings.Join(stacks, ", ")+") keep three decimals and record no engine or model.")
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
	if r.HasSpread() {
		out = append(out, "Where a load level ran several times (repeats), each figure is the median over the runs, shown as "+
			"median (min–max); counts are totals over the runs.")
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
// the series that record provenance share (or "differs").
func provenanceSummary(series []Series) string {
	var recorded []Series
	for _, s := range series {
		if s.Provenance.Recorded {
			recorded = append(recorded, s)
		}
	}
	if len(recorded) == 0 {
		return ""
	}
	field := func(get func(Provenance) string) string {
		var vals []string
		for _, s := range recorded {
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
	return "Shared provenance: servelab " + field(func(p Provenance) string { return p.Version }) +
		"; dataset " + field(func(p Provenance) string { return p.Dataset }) +
		"; seed " + field(func(p Provenance) string { return p.Seed }) +
		"; dataset hash " + field(func(p Provenance) string { return shortHash(p.DatasetSHA256) }) + "."
}
