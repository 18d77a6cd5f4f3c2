package benchspec_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/components/benchmark/benchspec"
)

// A failed run fails `up` with a few lines naming target, load level,
// counts and the first error — never the bench's JSON.
func TestParseFailuresAreShort(t *testing.T) {
	t.Parallel()
	var runs benchmarks.Runs
	var tgs []benchspec.Target
	for i := range 7 {
		c := 8
		label := string(rune('a' + i))
		tgs = append(tgs, benchspec.Target{Label: label, BaseURL: "http://x", Model: "m", KeyIndex: -1})
		r := benchmarks.Result{Label: label, MaxConcurrency: &c, RequestRate: benchmarks.Rate(math.Inf(1)), Dataset: "random"}
		r.Failed = 40
		if i == 0 {
			// A bench that kept per-request errors (--save-detailed).
			r.Detailed = &benchmarks.Detailed{Errors: []string{"", "HTTP 404: model m does not exist", "connection refused"}}
		} else {
			r.FirstError = "HTTP 404: model m does not exist" // every run records it
		}
		runs.Runs = append(runs.Runs, r)
	}
	runs.Runs[1].Partial, runs.Runs[1].Completed, runs.Runs[1].Failed = true, 3, 2
	out, err := json.Marshal(runs)
	if err != nil {
		t.Fatal(err)
	}
	_, err = benchspec.Parse(string(out), tgs)
	if err == nil {
		t.Fatal("failed runs accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"a at concurrency 8, rate inf: no request completed, 40 failed; first error: HTTP 404: model m does not exist",
		"b at concurrency 8, rate inf: benchmark run was interrupted (partial results): 3 completed, 2 failed; first error: HTTP 404: model m does not exist",
	}
	if len(lines) != 6 || lines[0] != want[0] || lines[1] != want[1] || lines[5] != "and 2 more" {
		t.Errorf("error:\n%v", err)
	}
	if !errors.Is(err, benchspec.ErrPartial) {
		t.Error("an interrupted run is not ErrPartial")
	}
	if strings.Contains(err.Error(), "{") {
		t.Error("the error holds JSON")
	}
}
