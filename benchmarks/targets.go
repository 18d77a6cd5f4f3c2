package benchmarks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// TargetsFile is the --targets document:
//
//	{"targets":[{"label":"gateway","base_url":"http://127.0.0.1:8080","model":"llama",
//	             "engine":"gateway","image":"...","endpoint":"chat","api_key_env":"GW_KEY"}, ...]}
//
// Each target is benched in order with the same seeded workload. Unknown
// fields are errors; API keys are referenced (api_key_env, api_key_file),
// never written in the file.
type TargetsFile struct {
	Targets []Target `json:"targets"`
}

// ParseTargets reads a targets document and checks every target, naming
// the bad one as targets[i].field.
func ParseTargets(r io.Reader) ([]Target, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read targets: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f TargetsFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("targets file: %w", err)
	}
	if dec.More() {
		return nil, errors.New("targets file: more than one JSON value")
	}
	if len(f.Targets) == 0 {
		return nil, errors.New(`targets file: "targets" is missing or empty`)
	}
	labels := map[string]int{}
	var errs []error
	for i, t := range f.Targets {
		switch {
		case t.BaseURL == "":
			errs = append(errs, fmt.Errorf("targets[%d].base_url is missing", i))
		default:
			if err := t.validate(false); err != nil {
				errs = append(errs, fmt.Errorf("targets[%d]: %w", i, err))
			}
		}
		if j, dup := labels[t.label()]; dup {
			errs = append(errs, fmt.Errorf("targets[%d].label %q repeats targets[%d]", i, t.label(), j))
		}
		labels[t.label()] = i
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return f.Targets, nil
}
