package stackconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/servelab/servelab/internal/engine"
)

// managedFlags are the flags servelab sets on each engine, from typed config
// or for its own wiring (ports, names, keys). extraArgs may not repeat them
// under any spelling the engine accepts: the engine would take whichever
// comes last. Each entry maps a spelling to the flag it is (its canonical
// name, used in errors).
type managedFlags struct {
	spellings map[string]string
	// argparse: the engine parses with Python's argparse, which accepts any
	// unambiguous prefix of a long option (--gpu-memory-util).
	argparse bool
}

func flags(argparse bool, groups ...[]string) managedFlags {
	m := managedFlags{spellings: map[string]string{}, argparse: argparse}
	for _, g := range groups {
		for _, s := range g {
			m.spellings[s] = g[len(g)-1]
		}
	}
	return m
}

// The last spelling of each group is its canonical name.
var managed = map[engine.Kind]managedFlags{
	engine.VLLM: flags(true,
		[]string{"serve"}, []string{"--model"}, []string{"--served-model-name"},
		[]string{"--host"}, []string{"--port"}, []string{"--gpu-memory-utilization"},
		[]string{"-tp", "--tensor-parallel-size"}, []string{"--max-model-len"}, []string{"--max-num-seqs"},
		[]string{"--dtype"}, []string{"-q", "--quantization"}, []string{"--kv-cache-dtype"},
		[]string{"--no-enable-prefix-caching", "--enable-prefix-caching"},
		[]string{"--kv-cache-memory-bytes"}, []string{"--api-key"}, []string{"--config"},
	),
	engine.SGLang: flags(true,
		[]string{"--model", "--model-path"}, []string{"--host"}, []string{"--port"},
		[]string{"--mem-fraction-static"}, []string{"--tp", "--tensor-parallel-size", "--tp-size"},
		[]string{"--served-model-name"}, []string{"--enable-metrics"}, []string{"--context-length"},
		[]string{"--max-running-requests"}, []string{"--chunked-prefill-size"}, []string{"--dtype"},
		[]string{"--quantization"}, []string{"--disable-radix-cache"}, []string{"--max-total-tokens"},
		[]string{"--api-key"}, []string{"--config"},
	),
	engine.LlamaCpp: flags(false,
		[]string{"-m", "--model"}, []string{"-hf", "-hfr", "--hf-repo"}, []string{"-hft", "--hf-token"},
		[]string{"--host"}, []string{"--port"}, []string{"--path"}, []string{"--api-prefix"}, []string{"--metrics"},
		[]string{"-ngl", "--n-gpu-layers", "--gpu-layers"}, []string{"-a", "--alias"},
		[]string{"-c", "--ctx-size"}, []string{"-np", "--parallel"}, []string{"-t", "--threads"},
		[]string{"-fa", "--flash-attn"}, []string{"--api-key"}, []string{"--api-key-file"},
	),
	engine.Sim: flags(false,
		[]string{"--flavor", "--flavour"}, []string{"--listen"}, []string{"--model"}, []string{"--ttft"},
		[]string{"--itl"}, []string{"--jitter"}, []string{"--capacity"}, []string{"--startup-delay"},
		[]string{"--failure-rate"}, []string{"--max-output-tokens"}, []string{"--seed"},
		[]string{"--load-delay"}, []string{"--api-key-file"},
	),
}

// flagName normalises an argv word the way engines read it: the name
// before "=", underscores as dashes. Words that are not flags give "".
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return ""
	}
	name, _, _ := strings.Cut(arg, "=")
	dashes := len(name) - len(strings.TrimLeft(name, "-"))
	return name[:dashes] + strings.ReplaceAll(name[dashes:], "_", "-")
}

// managedFlag reports which managed flag arg sets on engine k, and how
// ("is" for a spelling, "abbreviates" for an argparse prefix).
func managedFlag(k engine.Kind, arg string) (canonical, how string, ok bool) {
	m := managed[k]
	if k == engine.VLLM && arg == "serve" {
		return "serve", "is", true
	}
	name := flagName(arg)
	if name == "" {
		return "", "", false
	}
	if c, ok := m.spellings[name]; ok {
		return c, "is", true
	}
	if !m.argparse || !strings.HasPrefix(name, "--") || len(name) < 3 {
		return "", "", false
	}
	var hits []string
	for s, c := range m.spellings {
		if strings.HasPrefix(s, name) && !slices.Contains(hits, c) {
			hits = append(hits, c)
		}
	}
	if len(hits) == 0 {
		return "", "", false
	}
	slices.Sort(hits)
	return strings.Join(hits, " or "), "abbreviates", true
}

// extraArgs checks a framework's extraArgs: Ollama takes none (its image's
// command is `serve`; any argv replaces it), and no other engine may be
// given a flag servelab sets, under any spelling.
func (v *validator) extraArgs(p string, f *Framework) bool {
	if len(f.ExtraArgs) == 0 {
		return true
	}
	if f.Engine == engine.Ollama {
		v.errorf(p+".extraArgs", "Ollama takes no flags (they would replace the image's serve command); use args (OLLAMA_* settings)")
		return false
	}
	ok := true
	for i, a := range f.ExtraArgs {
		if c, how, hit := managedFlag(f.Engine, a); hit {
			v.errorf(fmt.Sprintf("%s.extraArgs[%d]", p, i), "%q %s %s, which servelab sets; use the framework's keys instead", a, how, c)
			ok = false
		}
	}
	return ok
}
