// Package strictjson decodes JSON configuration the way a user wants to
// hear about mistakes: every unknown key (with the known key it was
// probably meant to be) and every value of the wrong type, each with its
// JSON path, in one pass that goes on after each problem. The stack config
// (programs) and the gateway config both decode with it, so both speak the
// same error language.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Problem is one thing wrong with the input.
type Problem struct {
	// Path is the JSON path, e.g. "hosts[1].ssh.port" ("" for the root).
	Path string
	// Message says what is wrong.
	Message string
}

func (p Problem) String() string {
	path := p.Path
	if path == "" {
		path = "(root)"
	}
	return path + ": " + p.Message
}

// Problems is what Decode found.
type Problems []Problem

// Err is nil without problems, else one error listing them in order.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = errors.New(p.String())
	}
	return errors.Join(errs...)
}

// Has reports whether a problem was found at path or below it.
func (ps Problems) Has(path string) bool {
	return slices.ContainsFunc(ps, func(p Problem) bool {
		return p.Path == path || strings.HasPrefix(p.Path, path+".") || strings.HasPrefix(p.Path, path+"[")
	})
}

// Syntax checks that raw is one JSON value and names the line and column of
// the first syntax error.
func Syntax(raw []byte) error {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	err := dec.Decode(&v)
	if err == nil {
		if _, extra := dec.Token(); extra == nil {
			return errors.New("more than one JSON value")
		}
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := lineCol(raw, se.Offset)
		return fmt.Errorf("line %d column %d: %v", line, col, se)
	}
	return err
}

func lineCol(b []byte, off int64) (int, int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	pre := b[:off]
	// Offset counts the bytes read, the offending one included.
	return bytes.Count(pre, []byte("\n")) + 1, int(off) - bytes.LastIndexByte(pre, '\n') - 1
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// Decode decodes raw into out (a pointer) like encoding/json, over what out
// already holds (so defaults survive absent keys). A field tagged
// `json:"-"` cannot be set; a json.RawMessage field is kept as is (its
// owner decodes it later with its own type); a json.Unmarshaler decodes
// itself and its error is reported at its path.
func Decode(raw []byte, out any, path string) Problems {
	var ps Problems
	decode(bytes.TrimSpace(raw), reflect.ValueOf(out).Elem(), path, &ps)
	return ps
}

func decode(raw []byte, v reflect.Value, path string, ps *Problems) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		decode(raw, v.Elem(), path, ps)
		return
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		if err := json.Unmarshal(raw, v.Addr().Interface()); err != nil {
			*ps = append(*ps, Problem{path, strings.TrimPrefix(err.Error(), "json: ")})
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			*ps = append(*ps, Problem{path, "want a mapping of keys, got " + kindOf(raw)})
			return
		}
		fields := fieldsOf(v.Type())
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		slices.Sort(names)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			i, ok := fields[k]
			if !ok {
				*ps = append(*ps, UnknownKey(Join(path, k), k, names))
				continue
			}
			decode(obj[k], v.Field(i), Join(path, k), ps)
		}
	case reflect.Slice:
		var arr []json.RawMessage
		if err := json.Unmarshal(raw, &arr); err != nil {
			*ps = append(*ps, Problem{path, "want a list, got " + kindOf(raw)})
			return
		}
		s := reflect.MakeSlice(v.Type(), len(arr), len(arr))
		for i, el := range arr {
			decode(el, s.Index(i), fmt.Sprintf("%s[%d]", path, i), ps)
		}
		v.Set(s)
	case reflect.Map:
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			*ps = append(*ps, Problem{path, "want a mapping, got " + kindOf(raw)})
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(obj))
		for k, el := range obj {
			ev := reflect.New(v.Type().Elem()).Elem()
			decode(el, ev, Join(path, k), ps)
			m.SetMapIndex(reflect.ValueOf(k).Convert(v.Type().Key()), ev)
		}
		v.Set(m)
	default:
		p := reflect.New(v.Type())
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			*ps = append(*ps, Problem{path, "want " + KindName(v.Type()) + ", got " + kindOf(raw)})
			return
		}
		v.Set(p.Elem())
	}
}

func fieldsOf(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		out[name] = i
	}
	return out
}

// Join appends a key to a JSON path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// KindName names what a Go type wants, in a user's words.
func KindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "a mapping"
	}
	return t.String()
}

// kindOf names what a raw JSON value is.
func kindOf(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case '"':
		return "the string " + truncate(string(raw), 40)
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "the number " + truncate(string(raw), 40)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Suggest returns the name in names closest to k when it is a plausible
// typo (at most two edits away, ignoring case), else "". Other strict
// parsers (command-line flags) use it for their "did you mean".
func Suggest(k string, names []string) string { return suggest(k, names) }

// UnknownKey is the problem of key k at path, which is none of names
// (sorted): it suggests the closest name, or lists them all.
func UnknownKey(path, k string, names []string) Problem {
	msg := fmt.Sprintf("unknown key %q", k)
	if s := suggest(k, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known keys: " + strings.Join(names, ", ") + ")"
	}
	return Problem{path, msg}
}

// suggest returns the known name closest to k when it is a plausible typo
// (at most two edits away).
func suggest(k string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := levenshtein(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
