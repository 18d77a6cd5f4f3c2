package report

import (
	"io"
	"strings"
	"testing"
)

// FuzzLoad: any bytes either fail to load with an error naming the file,
// or build and render (Markdown and HTML) without panicking.
func FuzzLoad(f *testing.F) {
	// Small seeds: Go's fuzzer minimises every new input, which on the
	// 15–95 kB recorded files takes longer than a fuzzing session.
	f.Add([]byte(`{"runs":[{"label":"a","completed":2,"failed":0,"duration":1,"request_throughput":2,"output_throughput":20,` +
		`"max_concurrency":4,"request_rate":"inf","p50_ttft_ms":3,"p99_ttft_ms":5,"median_tpot_ms":1,"seed":1,"dataset_sha256":"ab",` +
		`"per_language":{"ja":{"completed":1,"p50_ttft_ms":3}}},{"label":"a","completed":1,"duration":1,"request_throughput":1,"request_rate":2}]}`))
	f.Add([]byte(`{"benchmark":{"targets":{"v":[{"maxConcurrency":1,"requestRate":"2","completed":1,"ttftMs":{"p50":1,"p99":2},` +
		`"languages":{"en":{"completed":1,"ttftMs":{"p50":1,"p99":2}}}}]},"gatewayOverhead":{"v":[{"maxConcurrency":1,"requestRate":"2","ttftP50Ms":0.5}]}}}`))
	f.Add([]byte(`{"targets":{"a":[{"maxConcurrency":0,"requestRate":"1e-3","ttftMs":{"p50":-1,"p99":1e308}}]}}`))
	f.Add([]byte(`{"completed":0,"duration":0,"request_throughput":0,"request_rate":"inf","max_concurrency":null}`))
	f.Add([]byte(`{"provenance":{"servelab_version":"1","binary_sha256":"ab","dataset_hash":"d","seed":1,"workload":{"request_rates":["inf",2],` +
		`"warmup":"auto","repeats":2}},"runs":[{"label":"a","completed":1,"duration":1,"request_throughput":1,"max_concurrency":2,"repeat":1,` +
		`"p50_ttft_ms":3},{"label":"a","completed":1,"duration":1,"request_throughput":3,"max_concurrency":2,"repeat":2,"p50_ttft_ms":5}]}`))
	f.Add([]byte(`{"targets":{"a":[{"maxConcurrency":1,"requestRate":"inf","repeats":3,"ttftMs":{"p50":2,"p99":900},` +
		`"spread":{"ttftMs.p50":{"min":1,"max":3}}}]},"kvCacheCapacityTokens":{"a":9},"provenance":{"specHash":"s","servelab":{"version":"1"},` +
		`"workload":{"warmup":4}},"comparison":{"baseline":"b","verdictPct":5,"targets":{"a":[{"maxConcurrency":1,"requestRate":"inf",` +
		`"verdict":"improved","figures":{"ttftMs.p50":{"baseline":4,"value":2,"ratio":0.5,"changePct":50,"verdict":"improved"}}}]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		src, err := Load("fuzz", "fuzz.json", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.json: ") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		r, err := Build("", src)
		if err != nil {
			return
		}
		if len(r.Series) > 1 {
			_ = r.CompareWith(r.Series[0].Name) // may find no common level; must not panic
		}
		if err := WriteMarkdown(io.Discard, r); err != nil {
			t.Fatal(err)
		}
		_ = WriteHTML(io.Discard, r) // may refuse values gonum cannot draw, must not panic
	})
}
