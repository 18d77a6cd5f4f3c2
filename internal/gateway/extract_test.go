package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestScanRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		body   string
		model  string
		stream bool
		det    bool
		err    bool
	}{
		{"plain", `{"model":"m"}`, "m", false, false, false},
		{"spaces", " \n{ \"model\" :\t\"m\" } \r\n", "m", false, false, false},
		{"nested model ignored", `{"messages":[{"model":"inner","content":{"model":"deeper"}}],"model":"outer"}`, "outer", false, false, false},
		{"model key inside string", `{"prompt":"{\"model\":\"fake\"}","model":"real"}`, "real", false, false, false},
		{"only nested", `{"x":{"model":"inner"}}`, "", false, false, true},
		{"escaped key", `{"mod\u0065l":"m"}`, "m", false, false, false},
		{"escaped value", `{"model":"Qwen\/Qwen2.5 \u00e9\"x"}`, "Qwen/Qwen2.5 é\"x", false, false, false},
		{"unicode value", `{"model":"модель"}`, "модель", false, false, false},
		{"duplicate model", `{"model":"a","model":"b"}`, "", false, false, true},
		{"duplicate model not a string", `{"model":"a","model":1}`, "", false, false, true},
		{"case-variant model after", `{"model":"a","MODEL":"b"}`, "", false, false, true},
		{"case-variant model before", `{"Model":"b","model":"a"}`, "", false, false, true},
		{"escaped case variant", `{"model":"a","mod\u0045l":"b"}`, "", false, false, true},
		{"unicode fold variant", `{"model":"a","\u017ftream":true,"stream":false}`, "", false, false, true},
		{"case-variant stream", `{"model":"a","stream":false,"Stream":true}`, "", false, false, true},
		{"case-variant temperature", `{"model":"a","temperature":0,"TEMPERATURE":1}`, "", false, false, true},
		{"case-variant seed", `{"model":"a","seed":1,"sEED":null}`, "", false, false, true},
		{"lone case variant is not the model", `{"MODEL":"a"}`, "", false, false, true},
		{"nested case variants are fine", `{"model":"a","x":{"Model":"b","model":"c"}}`, "a", false, false, false},
		{"other keys may repeat", `{"model":"a","n":1,"n":2}`, "a", false, false, false},
		{"stream true", `{"model":"m","stream":true}`, "m", true, false, false},
		{"stream false", `{"model":"m","stream":false}`, "m", false, false, false},
		{"temperature 0", `{"model":"m","temperature":0}`, "m", false, true, false},
		{"temperature 0.0e5", `{"model":"m","temperature":0.0e5}`, "m", false, true, false},
		{"temperature -0", `{"model":"m","temperature":-0}`, "m", false, true, false},
		{"temperature 0.7", `{"model":"m","temperature":0.7}`, "m", false, false, false},
		{"nested temperature", `{"model":"m","x":{"temperature":0}}`, "m", false, false, false},
		{"seed", `{"model":"m","seed":42}`, "m", false, true, false},
		{"seed null", `{"model":"m","seed":null}`, "m", false, false, false},
		{"all value kinds", `{"a":[1,-2.5e+3,true,false,null,"s",{},[]],"model":"m","b":{"c":[{"d":0}]}}`, "m", false, false, false},
		{"empty object", `{}`, "", false, false, true},
		{"array", `[{"model":"m"}]`, "", false, false, true},
		{"string", `"model"`, "", false, false, true},
		{"truncated", `{"model":"m"`, "", false, false, true},
		{"trailing comma", `{"model":"m",}`, "", false, false, true},
		{"bad nested number", `{"model":"m","x":[01]}`, "", false, false, true},
		{"bad escape", `{"model":"m","x":"\q"}`, "", false, false, true},
		{"control char", "{\"model\":\"m\",\"x\":\"a\x01\"}", "", false, false, true},
		{"bad literal", `{"model":"m","x":nul}`, "", false, false, true},
		{"two values", `{"model":"m"}{}`, "", false, false, true},
		{"deep nesting", `{"model":"m","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, "", false, false, true},
		{"nesting at the limit", `{"model":"m","x":` + strings.Repeat("[", 511) + strings.Repeat("]", 511) + `}`, "m", false, false, false},
		{"nesting over the limit", `{"model":"m","x":` + strings.Repeat("[", 512) + strings.Repeat("]", 512) + `}`, "", false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			info, err := scanRequest([]byte(tc.body), 512)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				if !errors.Is(err, ErrBadRequest) {
					t.Errorf("error does not wrap ErrBadRequest: %v", err)
				}
				return
			}
			if info.model != tc.model || info.stream != tc.stream || info.deterministic() != tc.det {
				t.Errorf("got model %q stream %v det %v", info.model, info.stream, info.deterministic())
			}
		})
	}
}

func TestSpliceModel(t *testing.T) {
	t.Parallel()
	body := []byte(`{"messages":[{"model":"keep"}], "model" : "pub\u0021" ,"n":1}`)
	info, err := scanRequest(body, 512)
	if err != nil {
		t.Fatal(err)
	}
	got := spliceModel(nil, body, info, quoteJSON(`org/"served"`))
	want := `{"messages":[{"model":"keep"}], "model" : "org/\"served\"" ,"n":1}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if m, err := ExtractModel(got); err != nil || m != `org/"served"` {
		t.Errorf("re-extract: %q %v", m, err)
	}
}

// FuzzExtractModel checks the scanner against encoding/json: it accepts
// exactly the valid JSON, finds the same top-level model, and its splice
// span holds that value.
func FuzzExtractModel(f *testing.F) {
	for _, s := range []string{
		`{"model":"m"}`,
		`{"messages":[{"role":"user","content":"hi","model":"x"}],"model":"real","stream":true}`,
		`{"mod\u0065l":"\ud83d\ude00"}`,
		`{"model":"a","model":"b"}`,
		`{"model":"a","MODEL":"b"}`,
		`{"model":"a","x":[[[[[[[[[]]]]]]]]]}`,
		`{"model":1}`,
		`[{"model":"m"}]`,
		`{"model":"m","x":[1,2,{"y":null}],"t":-0.5e-3}`,
		"{\"model\":\"\xff\"}",
		`{"model":"m",}`,
		``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const maxDepth = 8
		info, err := scanRequest(b, maxDepth)
		if !json.Valid(b) {
			if err == nil {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			return
		}
		depth, dup := jsonShape(t, b)
		if depth > maxDepth || dup != "" {
			if err == nil {
				t.Fatalf("accepted %q: depth %d (limit %d), duplicate %q", b, depth, maxDepth, dup)
			}
			return
		}
		var top any
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber() // numbers beyond float64 are valid JSON too
		if jerr := dec.Decode(&top); jerr != nil {
			t.Fatalf("json.Valid but Decode fails: %v", jerr)
		}
		obj, isObj := top.(map[string]any)
		want, isStr := obj["model"].(string)
		if !isObj || !isStr || want == "" {
			if err == nil {
				t.Fatalf("model %q accepted from %q", info.model, b)
			}
			return
		}
		if err != nil {
			t.Fatalf("valid body %q rejected: %v", b, err)
		}
		if info.model != want {
			t.Fatalf("model %q, encoding/json says %q", info.model, want)
		}
		var span string
		if jerr := json.Unmarshal(b[info.modelStart:info.modelEnd], &span); jerr != nil || span != want {
			t.Fatalf("splice span %q does not hold the model", b[info.modelStart:info.modelEnd])
		}
		if stream, ok := obj["stream"].(bool); info.stream != (ok && stream) {
			t.Fatalf("stream %v, encoding/json says %v", info.stream, obj["stream"])
		}
	})
}

// jsonShape walks valid JSON with encoding/json's tokenizer and returns its
// nesting depth and the first top-level key that repeats, case-insensitively,
// a key the gateway reads (model, stream, temperature, seed).
func jsonShape(t *testing.T, b []byte) (depth int, dup string) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []byte // '{' or '[' per open level
	expectKey := false
	seen := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err != nil {
			return depth, dup
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				stack = append(stack, byte(v))
				depth = max(depth, len(stack))
				expectKey = v == '{'
				continue
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if expectKey && len(stack) == 1 && dup == "" {
				for _, name := range []string{"model", "stream", "temperature", "seed"} {
					if strings.EqualFold(v, name) {
						if seen[name] {
							dup = v
						}
						seen[name] = true
					}
				}
			}
			if expectKey {
				expectKey = false
				continue
			}
		}
		// After a value inside an object, the next token is a key.
		expectKey = len(stack) > 0 && stack[len(stack)-1] == '{'
	}
}

func BenchmarkExtractModel(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"chat-1KiB", benchChatBody()},
		{"chat-64KiB-model-last", `{"messages":[{"role":"user","content":"` + strings.Repeat(`lorem \"ipsum\" `, 4096) + `"}],"model":"m"}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if m, err := ExtractModel(body); err != nil || m != "m" {
					b.Fatal(m, err)
				}
			}
		})
	}
	b.Run("encoding-json-1KiB", func(b *testing.B) {
		body := []byte(benchChatBody())
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v struct {
				Model string `json:"model"`
			}
			if err := json.Unmarshal(body, &v); err != nil || v.Model != "m" {
				b.Fatal(err)
			}
		}
	})
}
