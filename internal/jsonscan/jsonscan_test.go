package jsonscan_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/jsonscan"
)

func skipAll(in string) error {
	s := jsonscan.New([]byte(in))
	if err := s.Skip(); err != nil {
		return err
	}
	return s.End()
}

func TestSkipAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`, `[]`, `""`, `0`, `-0.5e+3`, `true`, `null`, ` {"a":[1,{"b":"\u00e9\n"}],"c":null} `,
		`{"a":}`, `[1,]`, `{"a" 1}`, `01`, `1.`, `-`, `"\x"`, `"\u12"`, "\"a\x01\"", `tru`, `{"a":1}}`, ``, `"unterminated`,
		`[` + strings.Repeat(`[`, 10) + strings.Repeat(`]`, 11),
	} {
		got, want := skipAll(in) == nil, json.Valid([]byte(in))
		if got != want {
			t.Errorf("%q: scanner accepts = %v, encoding/json = %v", in, got, want)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	ok := strings.Repeat("[", jsonscan.MaxDepth) + strings.Repeat("]", jsonscan.MaxDepth)
	deep := "[" + ok + "]"
	if err := skipAll(ok); err != nil {
		t.Errorf("%d levels rejected: %v", jsonscan.MaxDepth, err)
	}
	var se *jsonscan.SyntaxError
	if err := skipAll(deep); !errors.As(err, &se) || !strings.Contains(err.Error(), "more than 10000 levels") {
		t.Errorf("%d levels: err = %v", jsonscan.MaxDepth+1, err)
	}
	if json.Valid([]byte(deep)) {
		t.Error("encoding/json's limit moved")
	}
}

func TestNewLimited(t *testing.T) {
	t.Parallel()
	skip := func(in string, max int) error {
		s := jsonscan.NewLimited([]byte(in), max)
		if err := s.Skip(); err != nil {
			return err
		}
		return s.End()
	}
	if err := skip(`{"a":[{"b":[]}]}`, 4); err != nil {
		t.Errorf("4 levels under a limit of 4: %v", err)
	}
	err := skip(`{"a":[{"b":[[]]}]}`, 4)
	var se *jsonscan.SyntaxError
	if !errors.Is(err, jsonscan.ErrTooDeep) || !errors.As(err, &se) || !strings.Contains(err.Error(), "more than 4 levels") {
		t.Errorf("5 levels under a limit of 4: err = %v", err)
	}
	if err := skip(`[[]]`, 0); !errors.Is(err, jsonscan.ErrTooDeep) {
		t.Errorf("a limit below 1 counts as 1: err = %v", err)
	}
	deep := strings.Repeat("[", jsonscan.MaxDepth+1) + strings.Repeat("]", jsonscan.MaxDepth+1)
	if err := skip(deep, 1<<30); !errors.Is(err, jsonscan.ErrTooDeep) {
		t.Errorf("a limit above MaxDepth counts as MaxDepth: err = %v", err)
	}
}

func TestObjectKeysAndValues(t *testing.T) {
	t.Parallel()
	s := jsonscan.New([]byte(`{"a\u0062":"x","n":42,"e":"","s":"hi","deep":{"k":[1]}}`))
	got := map[string]string{}
	err := s.Object(func(key []byte) error {
		switch string(key) {
		case "n":
			n, err := s.Int()
			got["n"] = strings.Repeat("I", n%5)
			return err
		case "e", "s":
			ne, err := s.NonEmptyString()
			if ne {
				got[string(key)] = "nonempty"
			}
			return err
		case "ab":
			start, end, esc, err := s.Str()
			got["ab"] = string(s.Bytes()[start:end])
			if !esc {
				got["ab"] += " (unescaped key)"
			}
			return err
		default:
			return s.Skip()
		}
	})
	if err != nil || s.End() != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n": "II", "s": "nonempty", "ab": `"x" (unescaped key)`}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestUnquote(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]string{`"plain"`: "plain", `"\u00e9\n"`: "é\n", "\"\xff\"": "\ufffd", `"日本"`: "日本"} {
		if got := jsonscan.Unquote([]byte(raw)); got != want {
			t.Errorf("Unquote(%q) = %q, want %q", raw, got, want)
		}
	}
}

func FuzzSkip(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-1.5e-3`, `[`, `{"a":"\x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if got, want := skipAll(in) == nil, json.Valid([]byte(in)); got != want {
			t.Fatalf("%q: scanner accepts = %v, encoding/json = %v", in, got, want)
		}
	})
}
