package benchspec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/summary"
)

// ErrPartial is returned for interrupted runs: they fail `up`.
var ErrPartial = errors.New("benchmark run was interrupted (partial results)")

// maxProblems bounds the lines of a failed run's error: `up` shows a short
// error, not a report.
const maxProblems = 5

// Parse turns the bench's JSON stdout into the stack output. A partial
// run, a run whose every request failed, or a target that never ran is an
// error naming the target and load level, with counts and the first error.
func Parse(stdout string, targets []Target) (summary.Results, error) {
	res, _, err := ParseRuns(stdout, targets)
	return res, err
}

// ParseRuns is Parse, with the runs it decoded.
func ParseRuns(stdout string, targets []Target) (summary.Results, []benchmarks.Result, error) {
	runs, err := benchmarks.Decode(strings.NewReader(stdout))
	if err != nil {
		return summary.Results{}, nil, err
	}
	var problems []error
	ran := map[string]bool{}
	for _, r := range runs {
		ran[r.Label] = true
		switch {
		case r.Partial:
			problems = append(problems, fmt.Errorf("%s at %s: %w: %d completed, %d failed%s",
				r.Label, level(r), ErrPartial, r.Completed, r.Failed, firstError(r)))
		case r.Completed == 0:
			problems = append(problems, fmt.Errorf("%s at %s: no request completed, %d failed%s",
				r.Label, level(r), r.Failed, firstError(r)))
		}
	}
	for _, t := range targets {
		if !ran[t.Label] {
			problems = append(problems, fmt.Errorf("%s: no result in the bench output", t.Label))
		}
	}
	if len(problems) > maxProblems {
		problems = append(problems[:maxProblems], fmt.Errorf("and %d more", len(problems)-maxProblems))
	}
	if err := errors.Join(problems...); err != nil {
		return summary.Results{}, nil, err
	}
	return summary.Summarise(runs, pairs(targets)), runs, nil
}

// level names a run's load level as the outputs do.
func level(r benchmarks.Result) string {
	c := "unlimited"
	if r.MaxConcurrency != nil && *r.MaxConcurrency > 0 {
		c = fmt.Sprint(*r.MaxConcurrency)
	}
	return "concurrency " + c + ", rate " + r.RequestRate.String()
}

// firstError is the first request error the run recorded, if it kept any.
func firstError(r benchmarks.Result) string {
	e := r.FirstError
	if e == "" && r.Detailed != nil {
		for _, d := range r.Errors {
			if d != "" {
				e = d
				break
			}
		}
	}
	if e == "" {
		return ""
	}
	if len(e) > 200 {
		e = e[:200] + "…"
	}
	return "; first error: " + e
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
