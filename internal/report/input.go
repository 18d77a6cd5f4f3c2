package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/servelab/servelab/benchmarks"
)

// Kind is what an input file holds.
type Kind string

// Input kinds.
const (
	// KindBench is `servelab bench` JSON: one Result or {"runs":[...]}.
	KindBench Kind = "bench result"
	// KindStack is `pulumi stack output --json` (the Benchmark component's
	// results under "benchmark"), or `pulumi stack output benchmark --json`
	// (the component's results alone).
	KindStack Kind = "stack output"
)

// ErrEmpty is returned for an input file with nothing but white space.
var ErrEmpty = errors.New("file is empty")

// ErrUnknownInput is returned for JSON that is neither a bench result nor a
// stack output.
var ErrUnknownInput = errors.New(`neither a servelab bench result (a Result or {"runs":[...]}) nor a pulumi stack output with a "benchmark" key`)

// Source is one decoded input file. Its Name prefixes every series it
// contributes ("rtx5090" in "rtx5090/vllm").
type Source struct {
	// Name is the file name without directory and extension, or the
	// --name override.
	Name string
	// Path is the file as given.
	Path string
	// Kind is what the file holds.
	Kind Kind

	bench   []benchmarks.Result // KindBench, in file order
	extras  []benchRunExtras    // KindBench: one per run
	benchPv *benchProvenance    // KindBench: the document's provenance, if any
	stack   stackBenchmark      // KindStack
}

// NameOf is the default source name of a file: its base name without the
// extension ("stacks/rtx5090.json" → "rtx5090").
func NameOf(path string) string {
	base := filepath.Base(path)
	if stem := strings.TrimSuffix(base, filepath.Ext(base)); stem != "" {
		return stem
	}
	return base
}

// ParseNames reads --name NAME=FILE overrides into a map from file to name.
// Every FILE must be one of files (compared after filepath.Clean), and no
// two files may end up with the same name.
func ParseNames(specs, files []string) (map[string]string, error) {
	byFile := map[string]string{}
	var errs []error
	for _, spec := range specs {
		name, file, ok := strings.Cut(spec, "=")
		name, file = strings.TrimSpace(name), strings.TrimSpace(file)
		if !ok || name == "" || file == "" {
			errs = append(errs, fmt.Errorf("--name %q: want NAME=FILE", spec))
			continue
		}
		i := slices.IndexFunc(files, func(f string) bool { return filepath.Clean(f) == filepath.Clean(file) })
		if i < 0 {
			errs = append(errs, fmt.Errorf("--name %q: %s is not one of the input files", spec, file))
			continue
		}
		if prev, dup := byFile[files[i]]; dup {
			errs = append(errs, fmt.Errorf("--name %q: %s is already named %q", spec, file, prev))
			continue
		}
		byFile[files[i]] = name
	}
	return byFile, errors.Join(errs...)
}

// ReadFiles reads and decodes every file; names maps a file (as given) to
// its source name, overriding NameOf. Every bad file is reported, each
// error naming its file; two files with the same name are an error.
func ReadFiles(files []string, names map[string]string) ([]Source, error) {
	if len(files) == 0 {
		return nil, errors.New("no input files")
	}
	var (
		sources []Source
		errs    []error
		owner   = map[string]string{}
	)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("read input: %w", err))
			continue
		}
		name, ok := names[f]
		if !ok {
			name = NameOf(f)
		}
		if prev, dup := owner[name]; dup {
			errs = append(errs, fmt.Errorf("%s and %s both get the source name %q: rename one with --name NAME=FILE", prev, f, name))
			continue
		}
		owner[name] = f
		src, err := Load(name, f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sources = append(sources, src)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return sources, nil
}

// Load decodes one input file's contents. The error names path and says
// what is wrong.
func Load(name, path string, data []byte) (Source, error) {
	src := Source{Name: name, Path: path}
	if strings.TrimSpace(name) == "" {
		return Source{}, fmt.Errorf("%s: empty source name", path)
	}
	d, err := decode(data)
	if err != nil {
		return Source{}, fmt.Errorf("%s: %w", path, err)
	}
	src.Kind, src.bench, src.extras, src.benchPv, src.stack = d.kind, d.bench, d.extras, d.benchPv, d.stack
	return src, nil
}

// decoded is one input file's contents.
type decoded struct {
	kind    Kind
	bench   []benchmarks.Result
	extras  []benchRunExtras
	benchPv *benchProvenance
	stack   stackBenchmark
}

func decode(data []byte) (decoded, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return decoded{}, ErrEmpty
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return decoded{}, fmt.Errorf("%w: the top level is a JSON %s, not an object", ErrUnknownInput, typeErr.Value)
		}
		return decoded{}, fmt.Errorf("not valid JSON: %w", err)
	}
	switch {
	case top["benchmark"] != nil:
		sb, err := decodeStack(top["benchmark"], `"benchmark".`)
		return decoded{kind: KindStack, stack: sb}, err
	case top["runs"] != nil:
		return decodeBench(data, top["runs"])
	case top["targets"] != nil:
		sb, err := decodeStack(data, "")
		return decoded{kind: KindStack, stack: sb}, err
	case isResult(top):
		return decodeBench(data, nil)
	}
	return decoded{}, fmt.Errorf("%w (top-level keys: %s)", ErrUnknownInput, keyList(top))
}

// resultKeys are the fields every bench Result (and vLLM's own result
// files) has.
var resultKeys = [...]string{"completed", "duration", "request_throughput"}

func isResult(obj map[string]json.RawMessage) bool {
	for _, k := range resultKeys {
		if _, ok := obj[k]; !ok {
			return false
		}
	}
	return true
}

func keyList(obj map[string]json.RawMessage) string {
	if len(obj) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, strconv.Quote(k))
	}
	slices.Sort(keys)
	if len(keys) > 8 {
		keys = append(keys[:8], "…")
	}
	return strings.Join(keys, ", ")
}

// decodeBench checks that runs (nil for a single Result) holds bench
// results, then decodes data with benchmarks.Decode, and beside it the
// document's provenance and each run's repeat number and KV-cache
// capacity.
func decodeBench(data, runs json.RawMessage) (decoded, error) {
	d := decoded{kind: KindBench}
	if runs != nil {
		var elems []map[string]json.RawMessage
		if err := json.Unmarshal(runs, &elems); err != nil {
			return d, fmt.Errorf(`"runs" is not an array of bench results: %w`, err)
		}
		if len(elems) == 0 {
			return d, errors.New(`"runs" is empty: no benchmark results`)
		}
		for i, e := range elems {
			if !isResult(e) {
				return d, fmt.Errorf(`runs[%d] is not a bench result: it lacks one of %s`, i, strings.Join(resultKeys[:], ", "))
			}
		}
	}
	results, err := benchmarks.Decode(bytes.NewReader(data))
	if err != nil {
		return d, err
	}
	var doc benchDocument
	if runs != nil {
		if err := json.Unmarshal(data, &doc); err != nil {
			return d, fmt.Errorf("provenance or repeat numbers: %w", err)
		}
	} else {
		var one benchRunExtras
		if err := json.Unmarshal(data, &one); err != nil {
			return d, fmt.Errorf("repeat number: %w", err)
		}
		doc.Runs = []benchRunExtras{one}
	}
	for i, r := range results {
		if r.MaxConcurrency != nil && *r.MaxConcurrency < 0 {
			return d, fmt.Errorf("run %d (%s): max_concurrency %d is negative", i, r.Label, *r.MaxConcurrency)
		}
		if rate := float64(r.RequestRate); rate < 0 || math.IsNaN(rate) {
			return d, fmt.Errorf("run %d (%s): request_rate %v is negative", i, r.Label, rate)
		}
		if rep := doc.Runs[i].Repeat; rep < 0 {
			return d, fmt.Errorf("run %d (%s): repeat %d is negative", i, r.Label, rep)
		}
	}
	d.bench, d.extras, d.benchPv = results, doc.Runs, doc.Provenance
	return d, nil
}

// decodeStack decodes the Benchmark component's results; where prefixes
// field names in errors.
func decodeStack(raw json.RawMessage, where string) (stackBenchmark, error) {
	var sb stackBenchmark
	if err := json.Unmarshal(raw, &sb); err != nil {
		return sb, fmt.Errorf("%stargets: want {label: [runs]} as the Benchmark component writes it (a `servelab bench --targets` file is not a result): %w", where, err)
	}
	if len(sb.Targets) == 0 {
		return sb, fmt.Errorf("%stargets is empty: the stack has no benchmark results", where)
	}
	for label, runs := range sb.Targets {
		if label == "" {
			return sb, fmt.Errorf("%stargets has an empty label", where)
		}
		if len(runs) == 0 {
			return sb, fmt.Errorf("%stargets.%s has no runs", where, label)
		}
		for i, r := range runs {
			if _, err := parseRate(r.RequestRate); err != nil {
				return sb, fmt.Errorf("%stargets.%s[%d].requestRate: %w", where, label, i, err)
			}
			if r.MaxConcurrency < 0 {
				return sb, fmt.Errorf("%stargets.%s[%d].maxConcurrency %d is negative", where, label, i, r.MaxConcurrency)
			}
			if r.Repeats < 0 {
				return sb, fmt.Errorf("%stargets.%s[%d].repeats %d is negative", where, label, i, r.Repeats)
			}
			for _, path := range slices.Sorted(maps.Keys(r.Spread)) {
				if mm := r.Spread[path]; mm.Min > mm.Max {
					return sb, fmt.Errorf("%stargets.%s[%d].spread.%s: min %v is above max %v", where, label, i, path, mm.Min, mm.Max)
				}
			}
		}
	}
	if c := sb.Comparison; c != nil {
		for label, list := range c.Targets {
			for i, lc := range list {
				if _, err := parseRate(lc.RequestRate); err != nil {
					return sb, fmt.Errorf("%scomparison.targets.%s[%d].requestRate: %w", where, label, i, err)
				}
			}
		}
	}
	for fw, list := range sb.Overhead {
		for i, o := range list {
			if _, err := parseRate(o.RequestRate); err != nil {
				return sb, fmt.Errorf("%sgatewayOverhead.%s[%d].requestRate: %w", where, fw, i, err)
			}
		}
	}
	return sb, nil
}

// parseRate reads a stack output's requestRate: "inf" or a number ≥ 0.
func parseRate(s string) (float64, error) {
	if s == "inf" {
		return math.Inf(1), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf(`%q is not "inf" or a rate ≥ 0`, s)
	}
	return f, nil
}
