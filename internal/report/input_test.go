package report

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func readInput(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "inputs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadDetectsKinds(t *testing.T) {
	t.Parallel()
	stack := readInput(t, "rtx5090.json")
	var top map[string]json.RawMessage
	if err := json.Unmarshal(stack, &top); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		data     []byte
		kind     Kind
		series   int // bench runs or stack targets
		overhead int // gateway overhead frameworks
	}{
		{"runs file", readInput(t, "sim.json"), KindBench, 6, 0},
		{"single result", readInput(t, "other-seed.json"), KindBench, 1, 0},
		{"pulumi stack output --json", stack, KindStack, 3, 1},
		{"pulumi stack output benchmark --json", top["benchmark"], KindStack, 3, 1},
		{"vLLM-style result without servelab fields", []byte(`{"completed":3,"failed":0,"duration":1.5,"request_throughput":2,"mean_ttft_ms":4}`), KindBench, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := Load("x", "x.json", tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if src.Kind != tt.kind {
				t.Fatalf("kind %q, want %q", src.Kind, tt.kind)
			}
			got := len(src.bench)
			if tt.kind == KindStack {
				got = len(src.stack.Targets)
			}
			if got != tt.series || len(src.stack.Overhead) != tt.overhead {
				t.Errorf("%d runs/targets and %d overhead entries, want %d and %d", got, len(src.stack.Overhead), tt.series, tt.overhead)
			}
		})
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data string
		want string // in the error, after the file name
		is   error
	}{
		{"empty", "", "file is empty", ErrEmpty},
		{"white space", " \n\t", "file is empty", ErrEmpty},
		{"not JSON", "| label | conc |", "not valid JSON", nil},
		{"truncated", `{"runs": [`, "not valid JSON", nil},
		{"array", `[{"completed": 1}]`, "the top level is a JSON array", ErrUnknownInput},
		{"string", `"hello"`, "the top level is a JSON string", ErrUnknownInput},
		{"unrelated object", `{"name":"x","version":2}`, `top-level keys: "name", "version"`, ErrUnknownInput},
		{"empty object", `{}`, "top-level keys: none", ErrUnknownInput},
		{"stack output without benchmark", `{"gateway":{"url":"http://x"}}`, `top-level keys: "gateway"`, ErrUnknownInput},
		{"null benchmark", `{"benchmark":null}`, `"benchmark".targets is empty`, nil},
		{"benchmark without targets", `{"benchmark":{"gatewayOverhead":{}}}`, `"benchmark".targets is empty`, nil},
		{"bench --targets file", `{"targets":[{"label":"a","base_url":"http://a"}]}`, "a `servelab bench --targets` file is not a result", nil},
		{"target without runs", `{"benchmark":{"targets":{"vllm":[]}}}`, `"benchmark".targets.vllm has no runs`, nil},
		{"bad rate", `{"benchmark":{"targets":{"vllm":[{"maxConcurrency":1,"requestRate":"fast"}]}}}`, `targets.vllm[0].requestRate: "fast" is not "inf"`, nil},
		{"negative concurrency", `{"targets":{"vllm":[{"maxConcurrency":-1,"requestRate":"inf"}]}}`, "targets.vllm[0].maxConcurrency -1 is negative", nil},
		{"bad overhead rate", `{"targets":{"v":[{"requestRate":"inf"}]},"gatewayOverhead":{"v":[{"requestRate":"-2"}]}}`, "gatewayOverhead.v[0].requestRate", nil},
		{"empty runs", `{"runs":[]}`, `"runs" is empty`, nil},
		{"runs not an array", `{"runs":{"a":1}}`, `"runs" is not an array of bench results`, nil},
		{"run that is not a result", `{"runs":[{"completed":1,"duration":1,"request_throughput":1},{"label":"x"}]}`, "runs[1] is not a bench result", nil},
		{"bad latency key", `{"completed":1,"duration":1,"request_throughput":1,"p101_ttft_ms":3}`, "p101_ttft_ms: percentile 101 out of range", nil},
		{"bad request_rate", `{"completed":1,"duration":1,"request_throughput":1,"request_rate":"fast"}`, "request_rate", nil},
		{"negative concurrency in result", `{"completed":1,"duration":1,"request_throughput":1,"max_concurrency":-4}`, "max_concurrency -4 is negative", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("in", "dir/in.json", []byte(tt.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), "dir/in.json: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want it to start with the file name and contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
		})
	}
}

func TestNameOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"rtx5090.json":               "rtx5090",
		"stacks/h100.out.json":       "h100.out",
		"/tmp/results/local":         "local",
		".json":                      ".json",
		"runs/2026-11-26/fleet.json": "fleet",
	} {
		if got := NameOf(in); got != want {
			t.Errorf("NameOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseNames(t *testing.T) {
	t.Parallel()
	files := []string{"out/a.json", "b.json"}
	got, err := ParseNames([]string{"rtx5090=./out/a.json", " h100 = b.json "}, files)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"out/a.json": "rtx5090", "b.json": "h100"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []struct {
		specs []string
		want  string
	}{
		{[]string{"rtx5090"}, `--name "rtx5090": want NAME=FILE`},
		{[]string{"=b.json"}, "want NAME=FILE"},
		{[]string{"x=c.json"}, "c.json is not one of the input files"},
		{[]string{"x=b.json", "y=b.json"}, `b.json is already named "x"`},
	} {
		if _, err := ParseNames(bad.specs, files); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseNames(%q): error %v, want %q", bad.specs, err, bad.want)
		}
	}
}

func TestReadFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sim := filepath.Join("testdata", "inputs", "sim.json")
	same := filepath.Join(dir, "sim.json")
	if err := os.WriteFile(same, readInput(t, "other-seed.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.json")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	srcs, err := ReadFiles([]string{sim, same}, map[string]string{same: "seed7"})
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 2 || srcs[0].Name != "sim" || srcs[1].Name != "seed7" || srcs[1].Path != same {
		t.Errorf("sources %+v", srcs)
	}

	_, err = ReadFiles([]string{sim, same, empty, filepath.Join(dir, "missing.json")}, nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		same + ` both get the source name "sim": rename one with --name NAME=FILE`,
		empty + ": file is empty",
		"missing.json: no such file",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if _, err := ReadFiles(nil, nil); err == nil {
		t.Error("no error without files")
	}
}

// TestStackOutputRoundTrip checks that the report reads every field the
// Benchmark component writes: rtx5090.json and rtx5090-next.json were made
// by the component itself (testdata/record: results, overhead, provenance,
// comparison), so decoding and re-encoding their "benchmark" value through
// the report's reading copy must give it back whole.
func TestStackOutputRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"rtx5090.json", "rtx5090-next.json"} {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(readInput(t, name), &top); err != nil {
			t.Fatal(err)
		}
		var sb stackBenchmark
		if err := json.Unmarshal(top["benchmark"], &sb); err != nil {
			t.Fatal(err)
		}
		again, err := json.Marshal(sb)
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		if err := json.Unmarshal(top["benchmark"], &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(again, &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: re-encoded stack output differs from the component's:\n got %s\nwant %s", name, again, top["benchmark"])
		}
	}
}
