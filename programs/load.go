package programs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Getter returns the raw value of a servelab: key (without the namespace)
// as Pulumi hands it to programs: scalars as text, structured values as
// JSON.
type Getter func(key string) (string, bool)

// Keys lists every non-secret servelab: key, in documentation order.
var Keys = []string{"program", "hosts", "frameworks", "gateway", "monitoring", "benchmark", "targets"}

// SecretKeys lists the servelab: keys that must be set with --secret.
var SecretKeys = []string{"hfToken", "sshPrivateKey"}

// Load decodes every servelab: key into a Config. It reports every problem
// it finds — unknown keys (with a suggestion), wrong types — each prefixed
// with its key path, in one error.
func Load(get Getter) (*Config, error) {
	var cfg Config
	var errs []error
	if v, ok := get("program"); ok {
		cfg.Program = Program(strings.TrimSpace(v))
	}
	decodeKey(get, "hosts", &cfg.Hosts, &errs)
	decodeKey(get, "frameworks", &cfg.Frameworks, &errs)
	decodeKey(get, "gateway", &cfg.Gateway, &errs)
	decodeKey(get, "monitoring", &cfg.Monitoring, &errs)
	decodeKey(get, "benchmark", &cfg.Benchmark, &errs)
	decodeKey(get, "targets", &cfg.Targets, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

// decodeKey decodes one structured key into out. Lists are decoded element
// by element so that every error carries its index.
func decodeKey(get Getter, key string, out any, errs *[]error) {
	raw, ok := get(key)
	if !ok || strings.TrimSpace(raw) == "" {
		return
	}
	var generic any
	if err := json.Unmarshal([]byte(raw), &generic); err != nil {
		*errs = append(*errs, fmt.Errorf("%s: want structured YAML (a %s), got %q", key, kindName(reflect.TypeOf(out).Elem()), raw))
		return
	}
	rv := reflect.ValueOf(out).Elem()
	if rv.Kind() == reflect.Slice {
		items, ok := generic.([]any)
		if !ok {
			*errs = append(*errs, fmt.Errorf("%s: want a list, got %s", key, describe(generic)))
			return
		}
		elems := reflect.MakeSlice(rv.Type(), len(items), len(items))
		for i, item := range items {
			path := fmt.Sprintf("%s[%d]", key, i)
			decodeValue(path, item, elems.Index(i).Addr().Interface(), errs)
		}
		rv.Set(elems)
		return
	}
	decodeValue(key, generic, out, errs)
}

func decodeValue(path string, generic any, out any, errs *[]error) {
	t := reflect.TypeOf(out).Elem()
	if t.Kind() == reflect.Struct {
		if _, ok := generic.(map[string]any); !ok {
			*errs = append(*errs, fmt.Errorf("%s: want a mapping of keys, got %s", path, describe(generic)))
			return
		}
	}
	problems := unknownKeys(path, generic, t)
	*errs = append(*errs, problems...)
	b, _ := json.Marshal(generic)
	if err := json.Unmarshal(b, out); err != nil {
		var te *json.UnmarshalTypeError
		if len(problems) > 0 && !errors.As(err, &te) {
			return // a custom type's error, already reported with its path
		}
		*errs = append(*errs, typeError(path, err))
	}
}

// Strict decodes raw into out, rejecting unknown keys with their paths.
// Engine args use it once the engine is known.
func Strict(path string, raw json.RawMessage, out any) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var errs []error
	decodeValue(path, generic, out, &errs)
	return errors.Join(errs...)
}

func typeError(path string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p := path
		if te.Field != "" {
			p += "." + te.Field
		}
		return fmt.Errorf("%s: want %s, got %s", p, kindName(te.Type), te.Value)
	}
	return fmt.Errorf("%s: %v", path, strings.TrimPrefix(err.Error(), "json: "))
}

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
)

// unknownKeys walks a decoded JSON value against the Go type it will be
// decoded into and reports every key the type does not have.
func unknownKeys(path string, v any, t reflect.Type) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawMessageType {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		// Custom types (gpus: 2 | [0, 1], rate lists) check themselves;
		// report their complaint with its path.
		b, _ := json.Marshal(v)
		if err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(b); err != nil {
			return []error{fmt.Errorf("%s: %v", path, err)}
		}
		return nil
	}
	var errs []error
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil // the decoder reports the type error
		}
		fields := jsonFields(t)
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		slices.Sort(names)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			f, ok := fields[k]
			if !ok {
				msg := fmt.Sprintf("%s: unknown key %q", join(path, k), k)
				if s := suggest(k, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					msg += fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
				}
				errs = append(errs, errors.New(msg))
				continue
			}
			errs = append(errs, unknownKeys(join(path, k), m[k], f.Type)...)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			errs = append(errs, unknownKeys(fmt.Sprintf("%s[%d]", path, i), e, t.Elem())...)
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		for k, e := range m {
			errs = append(errs, unknownKeys(join(path, k), e, t.Elem())...)
		}
	}
	return errs
}

func jsonFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest returns the known name closest to k when it is a plausible typo.
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

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice:
		return "list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "a whole number"
	case reflect.Float64, reflect.Float32:
		return "a number"
	}
	return t.String()
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	case bool:
		return fmt.Sprintf("%v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%T", v)
}
