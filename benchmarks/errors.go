package benchmarks

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// maxErrorKinds bounds the distinct texts an error summary keeps; further
// ones are counted under OtherErrors, so a server that words every error
// differently cannot grow a result without bound.
const maxErrorKinds = 20

// OtherErrors is the error-summary key of the errors past the first
// maxErrorKinds distinct texts.
const OtherErrors = "(other errors)"

// errorCounter counts a run's failed requests by error text and keeps the
// earliest one.
type errorCounter struct {
	counts  map[string]int
	failed  int
	first   string
	firstAt time.Time
}

// add records one request's outcome (err "" = success) ended at at.
func (c *errorCounter) add(err string, at time.Time) {
	if err == "" {
		return
	}
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.failed++
	if c.first == "" || at.Before(c.firstAt) {
		c.first, c.firstAt = err, at
	}
	if _, ok := c.counts[err]; !ok && len(c.counts) >= maxErrorKinds {
		err = OtherErrors
	}
	c.counts[err]++
}

// errorSummaryText formats an error summary on one line, most frequent
// first: `3× HTTP 503: overloaded; 1× stream ended without [DONE]`.
func errorSummaryText(counts map[string]int) string {
	var parts []string
	for _, k := range sortedErrors(counts) {
		parts = append(parts, fmt.Sprintf("%d× %s", counts[k], k))
	}
	return strings.Join(parts, "; ")
}

// sortedErrors lists an error summary's texts by count, then text.
func sortedErrors(counts map[string]int) []string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}

// transportError describes a failed round trip without the method and URL
// Go's client puts in front ("Post \"http://...\": "): the run already
// names its target, and the same cause then reads the same for every
// request (for example "dial tcp 127.0.0.1:8000: connect: connection
// refused").
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// RunError is why Run did not fully succeed: the benchmark was cut short
// (Cause: ErrDeadline or ErrInterrupted) and/or some runs or targets
// failed. Its message is at most maxSummaryLines lines: the headline, then
// one line per failure.
type RunError struct {
	// Cause is ErrDeadline or ErrInterrupted when the benchmark was cut
	// short, else nil.
	Cause error
	// Deadline is Config.Deadline (for the message).
	Deadline time.Duration
	// MaxFailureRatio is Config.MaxFailureRatio (for the message).
	MaxFailureRatio float64
	// Done and Total count the runs finished and planned; Failed counts the
	// failed runs and those skipped with their target.
	Done, Total, Failed int
	// Cut is the run the cause cut short (nil when it came between runs).
	Cut *Result
	// Failures wrap ErrAllFailed, ErrFailureRatio or ErrTarget, one per
	// failed run or skipped target, in order.
	Failures []error
	// Results are the runs gathered (the same slice Run returns).
	Results []Result
}

// maxSummaryLines bounds RunError's message.
const maxSummaryLines = 8

// Unwrap exposes the cause and every failure to errors.Is.
func (e *RunError) Unwrap() []error {
	if e.Cause != nil {
		return append([]error{e.Cause}, e.Failures...)
	}
	return e.Failures
}

func (e *RunError) Error() string {
	var lines []string
	switch {
	case errors.Is(e.Cause, ErrDeadline):
		lines = append(lines, fmt.Sprintf("deadline %s reached after %d of %d runs%s", e.Deadline, e.Done, e.Total, e.cut()))
	case e.Cause != nil:
		lines = append(lines, fmt.Sprintf("interrupted after %d of %d runs%s", e.Done, e.Total, e.cut()))
	default:
		lines = append(lines, fmt.Sprintf("%d of %d runs failed", e.Failed, e.Total))
	}
	for i, f := range e.Failures {
		if len(lines) == maxSummaryLines-1 && i < len(e.Failures)-1 {
			lines = append(lines, fmt.Sprintf("… and %d more failures (see the error summaries above)", len(e.Failures)-i))
			break
		}
		lines = append(lines, f.Error())
	}
	return strings.Join(lines, "\n")
}

// cut describes the run the cause cut short.
func (e *RunError) cut() string {
	if e.Cut == nil {
		return ""
	}
	r := e.Cut
	return fmt.Sprintf("; run %s (max_concurrency %s, request_rate %s) cut short at %d completed, %d failed%s",
		r.Label, concString(r.MaxConcurrency), r.RequestRate, r.Completed, r.Failed, firstError(*r))
}
