package programs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/servelab/servelab/internal/strictjson"
)

// Getter returns the raw value of a servelab: key (without the namespace)
// as Pulumi hands it to programs: scalars as text, structured values as
// JSON.
type Getter func(key string) (string, bool)

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
	decodeKey(get, "clusters", &cfg.Clusters, &errs)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

// decodeKey decodes one structured key into out, reporting every unknown
// key and wrong type with its path.
func decodeKey(get Getter, key string, out any, errs *[]error) {
	raw, ok := get(key)
	if !ok || strings.TrimSpace(raw) == "" {
		return
	}
	if !json.Valid([]byte(raw)) {
		want := strictjson.KindName(reflect.TypeOf(out).Elem())
		*errs = append(*errs, fmt.Errorf("%s: want structured YAML (%s), got %q", key, want, raw))
		return
	}
	for _, p := range strictjson.Decode([]byte(raw), out, key) {
		*errs = append(*errs, errors.New(p.String()))
	}
}

// Strict decodes raw into out, rejecting unknown keys with their paths.
// Engine args use it once the engine is known.
func Strict(path string, raw json.RawMessage, out any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return strictjson.Decode(raw, out, path).Err()
}
