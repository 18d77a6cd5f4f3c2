package stackconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/servelab/servelab/internal/strictjson"
)

// Getter returns the raw value of a servelab: key (without the namespace)
// as Pulumi hands it to programs: scalars as text, structured values as
// JSON.
type Getter func(key string) (string, bool)

// Load decodes every servelab: key into a Config. It reports every problem
// it finds — unknown keys (with a suggestion), wrong types — each prefixed
// with its key path, in one error. The Config it returns is never nil: it
// holds everything that did decode, so that Check can go on and report the
// other sections' problems in the same error.
func Load(get Getter) (*Config, error) {
	cfg := &Config{undecoded: map[string]bool{}}
	var ps strictjson.Problems
	if v, ok := get("program"); ok {
		cfg.Program = Program(strings.TrimSpace(v))
	}
	decodeKey(get, "hosts", &cfg.Hosts, cfg, &ps)
	decodeKey(get, "frameworks", &cfg.Frameworks, cfg, &ps)
	decodeKey(get, "gateway", &cfg.Gateway, cfg, &ps)
	decodeKey(get, "monitoring", &cfg.Monitoring, cfg, &ps)
	decodeKey(get, "benchmark", &cfg.Benchmark, cfg, &ps)
	decodeKey(get, "targets", &cfg.Targets, cfg, &ps)
	decodeKey(get, "clusters", &cfg.Clusters, cfg, &ps)
	return cfg, ps.Err()
}

// decodeKey decodes one structured key into out, reporting every unknown
// key and wrong type with its path. A key whose whole value has the wrong
// shape is marked undecoded in cfg.
func decodeKey(get Getter, key string, out any, cfg *Config, ps *strictjson.Problems) {
	raw, ok := get(key)
	if !ok || strings.TrimSpace(raw) == "" {
		return
	}
	if !json.Valid([]byte(raw)) {
		want := strictjson.KindName(reflect.TypeOf(out).Elem())
		*ps = append(*ps, strictjson.Problem{Path: key, Message: fmt.Sprintf("want structured YAML (%s), got %q", want, raw)})
		cfg.undecoded[key] = true
		return
	}
	found := strictjson.Decode([]byte(raw), out, key)
	if slices.ContainsFunc(found, func(p strictjson.Problem) bool { return p.Path == key }) {
		cfg.undecoded[key] = true
	}
	*ps = append(*ps, found...)
}

// Check loads and validates the stack's config and reports every problem
// of every section in one error: a typo in one section does not hide the
// problems of the others. A problem Validate finds at a key that already
// failed to decode is not repeated.
func Check(get Getter) (*Lab, error) { return CheckStack(get, nil) }

// CheckStack is Check for a stack whose config keys ("namespace:name") are
// known: a servelab: key the program does not read is reported too (a
// misspelt `servelab:benchmrk` would otherwise drop the whole section
// without a word; Pulumi's schema lets undeclared keys pass).
func CheckStack(get Getter, keys []string) (*Lab, error) {
	cfg, loadErr := Load(get)
	if unknown := unknownKeys(keys, cfg); len(unknown) > 0 {
		loadErr = errors.Join(unknown.Err(), loadErr)
	}
	lab, err := Validate(cfg)
	if loadErr == nil {
		return lab, err
	}
	decoded := strings.Split(loadErr.Error(), "\n")
	paths := make([]string, len(decoded))
	for i, line := range decoded {
		paths[i], _, _ = strings.Cut(line, ": ")
	}
	out := slices.Clone(decoded)
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			path, _, _ := strings.Cut(line, ": ")
			if !slices.ContainsFunc(paths, func(p string) bool { return under(path, p) }) {
				out = append(out, line)
			}
		}
	}
	return nil, errors.New(strings.Join(out, "\n"))
}

// knownKeys are the servelab: keys the program reads, but the targets'
// apiKeySecret names: Config's top-level keys and the secrets ReadSecrets
// reads.
func knownKeys() []string {
	names := []string{"hfToken", "sshPrivateKey", "kubeconfig"}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		if f := t.Field(i); f.IsExported() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// unknownKeys reports every servelab: key among keys that the program does
// not read.
func unknownKeys(keys []string, cfg *Config) strictjson.Problems {
	known := knownKeys()
	names := slices.Clone(known)
	for _, t := range cfg.Targets {
		if t.APIKeySecret != "" {
			names = append(names, t.APIKeySecret)
		}
	}
	var ps strictjson.Problems
	for _, k := range slices.Sorted(slices.Values(keys)) {
		name, ok := strings.CutPrefix(k, Namespace+":")
		if !ok || slices.Contains(names, name) {
			continue
		}
		ps = append(ps, strictjson.UnknownKey(name, name, known))
	}
	return ps
}

// under reports whether key path p is at or below path base.
func under(p, base string) bool {
	return p == base || strings.HasPrefix(p, base+".") || strings.HasPrefix(p, base+"[")
}

// Strict decodes raw into out, rejecting unknown keys with their paths.
// Engine args use it once the engine is known.
func Strict(path string, raw json.RawMessage, out any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return strictjson.Decode(raw, out, path).Err()
}
