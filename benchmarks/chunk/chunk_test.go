package chunk

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Chunk
	}{
		{"chat content", `{"id":"x","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}`,
			Chunk{Content: true, Choices: 1}},
		{"role only first chunk", `{"choices":[{"delta":{"role":"assistant","content":""}}]}`, Chunk{Choices: 1}},
		{"llama.cpp null content", `{"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}]}`, Chunk{Choices: 1}},
		{"reasoning_content", `{"choices":[{"delta":{"reasoning_content":"think"}}]}`, Chunk{Content: true, Choices: 1}},
		{"ollama reasoning", `{"choices":[{"delta":{"reasoning":"hm"}}]}`, Chunk{Content: true, Choices: 1}},
		{"escaped content", `{"choices":[{"delta":{"content":"\n"}}]}`, Chunk{Content: true, Choices: 1}},
		{"completions text", `{"choices":[{"text":" world","index":0}]}`, Chunk{Content: true, Choices: 1}},
		{"trailing usage chunk", `{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`,
			Chunk{HasUsage: true, Usage: Usage{12, 30, false}}},
		{"llama.cpp final chunk", `{"choices":[{"finish_reason":"length","index":0,"delta":{}}],"usage":{"completion_tokens":5,"prompt_tokens":3},"timings":{"predicted_n":5}}`,
			Chunk{Choices: 1, HasUsage: true, Usage: Usage{3, 5, false}}},
		{"ollama zero usage", `{"choices":[{"delta":{"content":"a"}}],"usage":{"prompt_tokens":0,"completion_tokens":0}}`,
			Chunk{Content: true, Choices: 1, HasUsage: true}},
		{"error object", `{"error":{"message":"model not found","type":"NotFoundError","code":404}}`, Chunk{Error: "model not found"}},
		{"error string", `{"error":"overloaded"}`, Chunk{Error: "overloaded"}},
		{"vllm error response", `{"object":"error","message":"bad \"req\"","type":"BadRequestError"}`, Chunk{Error: `bad "req"`}},
		{"null error", `{"error":null,"choices":[]}`, Chunk{}},
		{"duplicate key last wins", `{"choices":[{"delta":{"content":"a","content":""}}]}`, Chunk{Choices: 1}},
		{"escaped key", `{"choices":[{"delta":{"cont\u0065nt":"a"}}]}`, Chunk{Content: true, Choices: 1}},
		{"nested noise", `{"x":[1,-2.5e3,true,false,null,{"a":[]}],"choices":[{"logprobs":{"content":[{"t":"x"}]},"delta":{}}]}`, Chunk{Choices: 1}},
		{"fractional usage truncates", `{"usage":{"completion_tokens":3.0}}`, Chunk{HasUsage: true, Usage: Usage{0, 3, false}}},
		{"negative usage kept", `{"usage":{"prompt_tokens":-1,"completion_tokens":-3}}`, Chunk{HasUsage: true, Usage: Usage{-1, -3, false}}},
		{"2^31 out of range", `{"usage":{"prompt_tokens":2,"completion_tokens":2147483648}}`, Chunk{HasUsage: true, Usage: Usage{2, 0, true}}},
		{"-2^31-1 out of range", `{"usage":{"prompt_tokens":-2147483649}}`, Chunk{HasUsage: true, Usage: Usage{0, 0, true}}},
		{"1e400 out of range", `{"usage":{"completion_tokens":1e400}}`, Chunk{HasUsage: true, Usage: Usage{0, 0, true}}},
		{"int32 max in range", `{"usage":{"completion_tokens":2147483647}}`, Chunk{HasUsage: true, Usage: Usage{0, 2147483647, false}}},
		{"last duplicate wins over out of range", `{"usage":{"completion_tokens":1e400,"completion_tokens":3}}`, Chunk{HasUsage: true, Usage: Usage{0, 3, false}}},
		{"string count reads as absent", `{"usage":{"completion_tokens":"5"}}`, Chunk{HasUsage: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":"\x"}`, `{"a":01}`, `{"a":1.}`, `{"a":tru}`,
		`{"a":"` + "\x01" + `"}`, `{} x`, `{"a":"\u12"}`, `[DONE]`} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%q) accepted malformed JSON", in)
		}
	}
	if _, err := Parse([]byte(`[1]`)); !errors.Is(err, ErrNotObject) {
		t.Errorf("Parse([1]) = %v, want ErrNotObject", err)
	}
}

// reference computes the same Chunk with encoding/json into maps, following
// the package's documented rules; ok is false when encoding/json cannot
// represent the input (not an object, numbers beyond float64).
func reference(data []byte) (Chunk, bool) {
	var top map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&top); err != nil || top == nil {
		return Chunk{}, false
	}
	var c Chunk
	nonEmpty := func(v any) bool { s, ok := v.(string); return ok && s != "" }
	if ch, ok := top["choices"].([]any); ok {
		c.Choices = len(ch)
		for _, e := range ch {
			m, ok := e.(map[string]any)
			if !ok {
				continue
			}
			if d, ok := m["delta"].(map[string]any); ok && (nonEmpty(d["content"]) || nonEmpty(d["reasoning_content"]) || nonEmpty(d["reasoning"])) {
				c.Content = true
			}
			if nonEmpty(m["text"]) {
				c.Content = true
			}
		}
	}
	if u, ok := top["usage"].(map[string]any); ok {
		c.HasUsage = true
		toInt := func(v any) int {
			n, ok := v.(json.Number)
			if !ok {
				return 0
			}
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
				c.Usage.OutOfRange = true
				return 0
			}
			return int(f)
		}
		c.Usage.PromptTokens = toInt(u["prompt_tokens"])
		c.Usage.CompletionTokens = toInt(u["completion_tokens"])
	}
	switch e := top["error"].(type) {
	case nil:
		if o, _ := top["object"].(string); o == "error" {
			c.Error = "error"
			if m, ok := top["message"].(string); ok {
				c.Error = m
			}
		}
	case string:
		c.Error = e
		if e == "" {
			c.Error = "error"
		}
	case map[string]any:
		c.Error = "error"
		if m, ok := e["message"].(string); ok && m != "" {
			c.Error = m
		}
	default:
		c.Error = "error"
	}
	return c, true
}

// FuzzParse is a differential test: wherever encoding/json can decode the
// input, Parse must agree with it, and Parse must reject what json.Valid
// rejects.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"choices":[{"delta":{"content":"Hi"}}]}`,
		`{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
		`{"choices":[{"text":"x"}]}`,
		`{"error":{"message":"m"}}`,
		`{"object":"error","message":"m"}`,
		`{"choices":[{"delta":{"content":"a","content":""}}]}`,
		`{"a":[1,2,{"b":null}],"choices":null}`,
		`{"usage":{"completion_tokens":1e400}}`,
		`{"usage":{"completion_tokens":1e400,"completion_tokens":3}}`,
		`{"usage":{"prompt_tokens":-2147483649,"completion_tokens":2147483648}}`,
		`[DONE]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Parse(data)
		if !json.Valid(data) {
			if err == nil {
				t.Fatalf("Parse accepted invalid JSON %q", data)
			}
			return
		}
		want, ok := reference(data)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("Parse(%q) = %v; encoding/json accepts it", data, err)
		}
		if got != want {
			t.Fatalf("Parse(%q) = %+v, reference %+v", data, got, want)
		}
	})
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}],"usage":null}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
