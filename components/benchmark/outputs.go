package benchmark

import (
	"errors"
	"fmt"
	"strings"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/summary"
)

// ErrPartial is returned for interrupted runs: they fail `up`.
var ErrPartial = errors.New("benchmark run was interrupted (partial results)")

// Parse turns the bench's JSON stdout into the stack output. A partial
// run, a run whose every request failed, or a target that never ran is an
// error naming the target.
func Parse(stdout string, targets []Target) (summary.Results, error) {
	runs, err := benchmarks.Decode(strings.NewReader(stdout))
	if err != nil {
		return summary.Results{}, err
	}
	var errs []error
	ran := map[string]bool{}
	for _, r := range runs {
		ran[r.Label] = true
		if r.Partial {
			errs = append(errs, fmt.Errorf("%s: %w", r.Label, ErrPartial))
		}
		if r.Completed == 0 {
			errs = append(errs, fmt.Errorf("%s: every one of %d requests failed", r.Label, r.Failed))
		}
	}
	for _, t := range targets {
		if !ran[t.Label] {
			errs = append(errs, fmt.Errorf("%s: no result in the bench output", t.Label))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return summary.Results{}, err
	}
	return summary.Summarise(runs, pairs(targets)), nil
}

// pairs matches each framework's gateway target with its direct one.
func pairs(targets []Target) []summary.Pair {
	via, direct := map[string]string{}, map[string]string{}
	var order []string
	for _, t := range targets {
		if t.Framework == "" {
			continue
		}
		if t.Direct {
			direct[t.Framework] = t.Label
		} else {
			via[t.Framework] = t.Label
			order = append(order, t.Framework)
		}
	}
	var out []summary.Pair
	for _, fw := range order {
		if d, ok := direct[fw]; ok {
			out = append(out, summary.Pair{Framework: fw, Via: via[fw], Direct: d})
		}
	}
	return out
}
