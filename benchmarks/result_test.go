package benchmarks

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func sampleResult() Result {
	conc := 8
	good := 1.5
	return Result{
		ServelabVersion: "0.1.0", Label: "sim", BaseURL: "http://127.0.0.1:8000", Model: "m",
		Endpoint: "chat", Seed: 7, Dataset: "random", DatasetSHA256: "ab",
		StartedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), OutputTokensSource: SourceUsage,
		InputTokensSource: SourceUsage, NumPrompts: 10, MaxConcurrency: &conc,
		RequestRate: Rate(math.Inf(1)), Burstiness: 1,
		Metrics: Metrics{
			Completed: 9, Failed: 1, Duration: 2, RequestGoodput: &good,
			TTFT: Latency{Mean: 50, Median: 49, Std: 1, Percentiles: []Percentile{{50, 49}, {99, 55}, {99.9, 56}}},
			E2EL: Latency{Mean: 100},
		},
		PerLanguage: map[string]LanguageMetrics{"en": {Metrics{Completed: 3, TTFT: Latency{Mean: 4, Percentiles: []Percentile{{99, 5}}}}}},
		Detailed:    &Detailed{StartTimes: []float64{0, 0.1}, Errors: []string{"", "boom"}},
	}
}

func TestResultJSONKeysAndRoundTrip(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	for _, k := range []string{
		"request_throughput", "output_throughput", "total_token_throughput", "mean_ttft_ms",
		"median_ttft_ms", "std_ttft_ms", "p50_ttft_ms", "p99_ttft_ms", "p99.9_ttft_ms",
		"mean_tpot_ms", "mean_itl_ms", "mean_e2el_ms", "completed", "failed", "total_input_tokens",
		"total_output_tokens", "duration", "max_concurrency", "request_rate", "burstiness",
		"request_goodput", "servelab_version", "dataset_sha256", "partial", "start_times", "errors",
	} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, b)
		}
	}
	if m["request_rate"] != "inf" {
		t.Errorf("request_rate = %v, want \"inf\"", m["request_rate"])
	}
	if _, ok := m["TTFT"]; ok {
		t.Error("struct field name TTFT leaked into JSON")
	}
	en := m["per_language"].(map[string]any)["en"].(map[string]any)
	if en["p99_ttft_ms"] != 5.0 || en["completed"] != 3.0 {
		t.Errorf("per_language.en = %v", en)
	}

	runs, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got := runs[0]
	if got.TTFT.Mean != 50 || len(got.TTFT.Percentiles) != 3 || got.TTFT.Percentiles[2] != (Percentile{99.9, 56}) {
		t.Errorf("TTFT round trip = %+v", got.TTFT)
	}
	if !got.RequestRate.Inf() || *got.MaxConcurrency != 8 || *got.RequestGoodput != 1.5 {
		t.Errorf("load point round trip = %v %v %v", got.RequestRate, *got.MaxConcurrency, *got.RequestGoodput)
	}
	if v, ok := got.PerLanguage["en"].TTFT.At(99); !ok || v != 5 {
		t.Errorf("per-language p99 = %v %v", v, ok)
	}
	if got.Detailed == nil || got.Errors[1] != "boom" {
		t.Errorf("detailed round trip = %+v", got.Detailed)
	}
}

func TestDecodeRunsAndErrors(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	r.Detailed = nil
	r.RequestRate = 2.5
	b, err := json.Marshal(Runs{Runs: []Result{r, r}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "start_times") {
		t.Error("nil Detailed must not write per-request arrays")
	}
	runs, err := Decode(bytes.NewReader(b))
	if err != nil || len(runs) != 2 || runs[1].RequestRate != 2.5 {
		t.Fatalf("Decode runs = %v, %v", runs, err)
	}
	for _, bad := range []string{"", "[]", `{"request_rate":"fast"}`, `{"runs":{}}`, `{"mean_ttft_ms":"x"}`} {
		if _, err := Decode(strings.NewReader(bad)); err == nil {
			t.Errorf("Decode(%q) succeeded", bad)
		}
	}
}

func TestPercentileKey(t *testing.T) {
	t.Parallel()
	for p, want := range map[float64]string{50: "50", 99: "99", 99.9: "99.9", 0: "0", 100: "100", 12.25: "12.25"} {
		if got := PercentileKey(p); got != want {
			t.Errorf("PercentileKey(%v) = %q, want %q", p, got, want)
		}
	}
}

// FuzzDecode: Decode never panics, and what it decodes survives a round trip
// through Write and Decode unchanged.
func FuzzDecode(f *testing.F) {
	r := sampleResult()
	one, _ := json.Marshal(r)
	runs, _ := json.Marshal(Runs{Runs: []Result{r}})
	f.Add(one)
	f.Add(runs)
	f.Add([]byte(`{"request_rate":"inf","p99.9_itl_ms":3,"mean_ttft_ms":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := Write(&buf, FormatJSON, got, true); err != nil {
			return // e.g. a NaN cannot be written back; Decode never yields one
		}
		again, err := Decode(&buf)
		if err != nil {
			t.Fatalf("re-decode: %v\n%s", err, buf.String())
		}
		a, _ := json.Marshal(Runs{Runs: got})
		b, _ := json.Marshal(Runs{Runs: again})
		if !bytes.Equal(a, b) {
			t.Fatalf("round trip changed the result:\n%s\n%s", a, b)
		}
	})
}
