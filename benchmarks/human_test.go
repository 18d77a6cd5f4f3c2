package benchmarks

import (
	"strings"
	"testing"
)

func TestWriteHumanFullBlock(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	r.ErrorSummary = map[string]int{"HTTP 503: overloaded": 1}
	kv := int64(4096)
	r.KVCacheCapacityTokens = &kv
	var b strings.Builder
	if err := WriteHuman(&b, SummaryAuto, []Result{r}); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	for _, want := range []string{
		"Run 1/1: sim c=8 r=inf",
		"Successful requests:                     9\n",
		"Failed requests:                         1\n",
		"Maximum request concurrency:             8\n",
		"Request goodput (req/s):                 1.50\n",
		"KV-cache capacity (tokens):              4096\n",
		"---------------Time to First Token----------------\n",
		"Mean TTFT (ms):                          50.00\n",
		"P99.9 TTFT (ms):                         56.00\n",
		"-----Time per Output Token (excl. 1st token)------\n",
		"Errors",
		"     1× HTTP 503: overloaded\n",
		strings.Repeat("=", 50) + "\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

func TestWriteHumanTableBeyondEightRuns(t *testing.T) {
	t.Parallel()
	var runs []Result
	for i := range AutoFullRuns + 1 {
		r := sampleResult()
		r.Repeat = i%3 + 1
		r.ErrorSummary = map[string]int{"boom": 1}
		runs = append(runs, r)
	}
	var b strings.Builder
	if err := WriteHuman(&b, SummaryAuto, runs); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[0], "TTFT p50") || !strings.Contains(lines[1], "sim") || strings.Contains(b.String(), "Successful requests") {
		t.Errorf("table:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "run 9 (sim c=8 r=inf repeat 3): 1 failed:\n     1× boom") {
		t.Errorf("table lacks the errors of run 9:\n%s", b.String())
	}
	b.Reset()
	if err := WriteHuman(&b, SummaryNone, runs); err != nil || b.Len() != 0 {
		t.Errorf("none wrote %q, %v", b.String(), err)
	}
	if ValidSummary("loud") == nil {
		t.Error("--summary loud accepted")
	}
}

func TestResultFilenameAsVLLM(t *testing.T) {
	t.Parallel()
	r := sampleResult()
	r.Model, r.Backend, r.Date = "Qwen/Qwen3-8B", "openai-chat", "20261101-120000"
	if got := ResultFilename([]Result{r}); got != "openai-chat-infqps-concurrency8-Qwen3-8B-20261101-120000.json" {
		t.Errorf("got %s", got)
	}
	r.MaxConcurrency, r.RequestRate = nil, Rate(10)
	if got := ResultFilename([]Result{r}); got != "openai-chat-10.0qps-Qwen3-8B-20261101-120000.json" {
		t.Errorf("got %s", got)
	}
	r.RequestRate = Rate(0.25)
	if got := ResultFilename([]Result{r, r}); got != "openai-chat-sweep-Qwen3-8B-20261101-120000.json" {
		t.Errorf("got %s", got)
	}
	if got := ResultFilename([]Result{r}); got != "openai-chat-0.25qps-Qwen3-8B-20261101-120000.json" {
		t.Errorf("got %s", got)
	}
}
