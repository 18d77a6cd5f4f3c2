package dataset

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servelab/servelab/benchmarks/tokens"
	"github.com/servelab/servelab/benchmarks/workloads"
)

func TestMultilingualWorkloadFile(t *testing.T) {
	t.Parallel()
	reqs, err := ParseJSONL(bytes.NewReader(workloads.Multilingual()), "multilingual.jsonl", true)
	if err != nil {
		t.Fatal(err)
	}
	byLang := map[string][]Request{}
	for _, r := range reqs {
		byLang[r.Language] = append(byLang[r.Language], r)
	}
	want := []string{"en", "zh", "ja", "ko", "es", "fr", "de", "ru", "ar", "hi", "pt"}
	if len(byLang) != len(want) {
		t.Errorf("languages = %d, want %d", len(byLang), len(want))
	}
	for _, lang := range want {
		rs := byLang[lang]
		if len(rs) < 6 {
			t.Errorf("%s: %d prompts, want ≥ 6", lang, len(rs))
			continue
		}
		short, long := false, false
		for _, r := range rs {
			n := tokens.Approx(r.Prompt)
			short = short || n <= 30
			long = long || n >= 50
		}
		if !short || !long {
			t.Errorf("%s: want at least one short (≤30 tokens) and one long (≥50 tokens) prompt", lang)
		}
	}
	// Every line is exactly {"language","prompt","max_tokens"}.
	for i, line := range bytes.Split(bytes.TrimSpace(workloads.Multilingual()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil || len(m) != 3 || m["language"] == nil || m["prompt"] == nil || m["max_tokens"] == nil {
			t.Errorf("line %d: %s (%v)", i+1, line, err)
		}
	}
}

func TestLoadDeterministicAndSeeded(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{Random, Multilingual} {
		spec := Spec{Kind: kind, NumPrompts: 100, Seed: 1, RandomInputLen: 20, RandomOutputLen: 10, RandomRangeRatio: 0.5}
		a, err := Load(spec)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Load(spec)
		if SHA256(a) != SHA256(b) {
			t.Errorf("%s: same spec gave different workloads", kind)
		}
		spec.Seed = 2
		c, _ := Load(spec)
		if SHA256(a) == SHA256(c) {
			t.Errorf("%s: different seeds gave the same workload", kind)
		}
		if len(a) != 100 {
			t.Errorf("%s: %d requests, want 100", kind, len(a))
		}
	}
}

func TestRandomLengths(t *testing.T) {
	t.Parallel()
	// input 20, ratio 0.5 -> [10, 30]; output 10 -> [5, 15]
	reqs, err := Load(Spec{Kind: Random, NumPrompts: 2000, Seed: 3, RandomInputLen: 20, RandomOutputLen: 10, RandomRangeRatio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	seenIn := map[int]bool{}
	for _, r := range reqs {
		if r.InputTokens < 10 || r.InputTokens > 30 || r.MaxTokens < 5 || r.MaxTokens > 15 {
			t.Fatalf("lengths out of range: in %d out %d", r.InputTokens, r.MaxTokens)
		}
		if got := tokens.Approx(r.Prompt); got != r.InputTokens {
			t.Fatalf("prompt of %d words estimates to %d tokens", r.InputTokens, got)
		}
		seenIn[r.InputTokens] = true
	}
	if len(seenIn) != 21 { // every length 10..30 appears in 2000 draws
		t.Errorf("distinct input lengths = %d, want 21", len(seenIn))
	}
	fixed, _ := Load(Spec{Kind: Random, NumPrompts: 5, Seed: 3, RandomInputLen: 7, RandomOutputLen: 4})
	for _, r := range fixed {
		if r.InputTokens != 7 || r.MaxTokens != 4 {
			t.Errorf("ratio 0: lengths %d/%d, want 7/4", r.InputTokens, r.MaxTokens)
		}
	}
}

func TestMultilingualCoversLanguagesAndOverride(t *testing.T) {
	t.Parallel()
	reqs, err := Load(Spec{Kind: Multilingual, NumPrompts: 67, Seed: 9, OutputLen: 33})
	if err != nil {
		t.Fatal(err)
	}
	langs := map[string]bool{}
	for _, r := range reqs {
		langs[r.Language] = true
		if r.MaxTokens != 33 {
			t.Fatalf("--output-len not applied: %d", r.MaxTokens)
		}
	}
	if len(langs) != 11 {
		t.Errorf("a full cycle of the set covers %d languages, want 11", len(langs))
	}
}

func TestParseJSONLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{`{"prompt":"a","max_tokens":3,"lang":"en"}`, `unknown field "lang"`},
		{`{"max_tokens":3}`, `"prompt" missing`},
		{`{"prompt":"a"}`, `"max_tokens" missing`},
		{`{"prompt":"a","max_tokens":0}`, `"max_tokens" must be ≥ 1`},
		{"{\"prompt\":\"a\",\"max_tokens\":1}\n\n{oops", `x.jsonl:3`},
		{`{"prompt":"a","max_tokens":1} {"prompt":"b"}`, `more than one JSON value`},
	}
	for _, tt := range tests {
		_, err := ParseJSONL(strings.NewReader(tt.in), "x.jsonl", true)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseJSONL(%q) = %v, want error containing %q", tt.in, err, tt.want)
		}
	}
	reqs, err := ParseJSONL(strings.NewReader(`{"prompt":"a b"}`), "x", false)
	if err != nil || reqs[0].MaxTokens != 0 || reqs[0].InputTokens != 2 {
		t.Errorf("optional max_tokens: %+v %v", reqs, err)
	}
}

func TestShareGPT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "sg.json")
	data := `[
	 {"id":"1","conversations":[{"from":"human","value":"please explain what a hash map is"},{"from":"gpt","value":"a hash map stores keys and values in buckets chosen by a hash"}]},
	 {"id":"2","conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"hello there, how can I help you today"}]},
	 {"id":"3","conversations":[{"from":"human","value":"only one turn here"}]}
	]`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	reqs, err := Load(Spec{Kind: ShareGPT, Path: path, NumPrompts: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Only conversation 1 passes: 2 has a 1-token prompt, 3 has no reply.
	// Its reply has 13 words; "stores", "values", "buckets" and "chosen" have
	// 6-7 letters, 2 tokens each: 9 + 4*2 = 17 tokens.
	for _, r := range reqs {
		if !strings.HasPrefix(r.Prompt, "please explain") || r.MaxTokens != 17 {
			t.Errorf("request = %+v, want conversation 1 with max_tokens 17", r)
		}
	}
	if _, err := Load(Spec{Kind: ShareGPT, NumPrompts: 1}); err == nil || !strings.Contains(err.Error(), "--dataset-path") {
		t.Errorf("missing path error = %v", err)
	}
}

func TestSpecValidate(t *testing.T) {
	t.Parallel()
	good := Spec{Kind: Random, NumPrompts: 1, RandomInputLen: 1, RandomOutputLen: 1}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mut  func(*Spec)
		want string
	}{
		{func(s *Spec) { s.Kind = "nope" }, "--dataset"},
		{func(s *Spec) { s.NumPrompts = 0 }, "--num-prompts"},
		{func(s *Spec) { s.RandomInputLen = 0 }, "--random-input-len"},
		{func(s *Spec) { s.RandomOutputLen = 0 }, "--random-output-len"},
		{func(s *Spec) { s.RandomRangeRatio = 1 }, "--random-range-ratio"},
		{func(s *Spec) { s.OutputLen = -1 }, "--output-len"},
		{func(s *Spec) { s.Kind = JSONL }, "--dataset-path"},
	}
	for _, tt := range tests {
		s := good
		tt.mut(&s)
		if err := s.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate = %v, want error naming %s", err, tt.want)
		}
	}
}

// FuzzParseJSONL: the JSONL parser never panics, and whatever it accepts is
// usable (non-empty prompt, max_tokens ≥ 1, token estimate of the prompt).
func FuzzParseJSONL(f *testing.F) {
	f.Add([]byte(`{"prompt":"hello","max_tokens":3,"language":"en"}` + "\n\n" + `{"prompt":"你好","max_tokens":1}`))
	f.Add([]byte(`{"prompt":"a","max_tokens":0}`))
	f.Add([]byte(`{"prompt":"a","max_tokens":1,"x":1}`))
	f.Add(workloads.Multilingual())
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, err := ParseJSONL(bytes.NewReader(data), "fuzz.jsonl", true)
		if err != nil {
			return
		}
		for _, r := range reqs {
			if r.Prompt == "" || r.MaxTokens < 1 || r.InputTokens != tokens.Approx(r.Prompt) {
				t.Fatalf("accepted unusable request %+v", r)
			}
		}
	})
}
