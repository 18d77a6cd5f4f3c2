package programs_test

import (
	"encoding/json"
	"math"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/benchmarks"
)

// fakeBench answers the benchmark command the way `servelab bench --runs`
// does, with one Result per target and concurrency level it was asked for
// (read from the command's stdin and argv). The numbers are made up; the
// format is the real one (benchmarks.Result), so the component's parsing is
// exercised on every stack.
func fakeBench(args pulumi.MockResourceArgs) string {
	stdin := args.Inputs["stdin"]
	for stdin.IsSecret() {
		stdin = stdin.SecretValue().Element
	}
	text := stdin.StringValue()
	doc := text[strings.Index(text, "{"):]
	levels := []int{0}
	create := args.Inputs["create"].StringValue()
	if _, rest, ok := strings.Cut(create, "--max-concurrency "); ok {
		levels = nil
		list, _, _ := strings.Cut(rest, " ")
		for _, f := range strings.Split(list, ",") {
			var n int
			_ = json.Unmarshal([]byte(f), &n)
			levels = append(levels, n)
		}
	}
	return fakeRuns(doc, levels)
}

// fakeRuns is fakeBench's answer for a targets file and concurrency
// levels (0: unlimited).
func fakeRuns(targetsFile string, levels []int) string {
	var targets struct {
		Targets []struct {
			Label, Model, Engine string
			BaseURL              string `json:"base_url"`
		} `json:"targets"`
	}
	if err := json.Unmarshal([]byte(targetsFile), &targets); err != nil {
		return "not a targets file: " + err.Error()
	}
	var runs benchmarks.Runs
	for i, t := range targets.Targets {
		for _, c := range levels {
			c := c
			r := benchmarks.Result{
				ServelabVersion: "0.1.0", Label: t.Label, BaseURL: t.BaseURL, Model: t.Model, Engine: t.Engine,
				Endpoint: "chat", Dataset: "random", StartedAt: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
				OutputTokensSource: "usage", InputTokensSource: "usage", NumPrompts: 10, RequestRate: benchmarks.Rate(math.Inf(1)),
				Burstiness: 1,
			}
			if c > 0 {
				r.MaxConcurrency = &c
			}
			r.Completed, r.Duration = 10, 2
			r.TotalOutputTokens = 1000
			r.RequestThroughput, r.OutputThroughput = 5, 500
			base := float64(20 + 10*i + c)
			r.TTFT = benchmarks.Latency{Mean: base, Median: base, Percentiles: []benchmarks.Percentile{{P: 50, Value: base}, {P: 99, Value: 2 * base}}}
			r.TPOT = benchmarks.Latency{Mean: 5, Median: 5, Percentiles: []benchmarks.Percentile{{P: 50, Value: 5}, {P: 99, Value: 7}}}
			r.ITL, r.E2EL = r.TPOT, r.TTFT
			runs.Runs = append(runs.Runs, r)
		}
	}
	b, err := json.Marshal(runs)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
