// Package dataset builds the seeded request list a benchmark run sends: the
// random, multilingual, ShareGPT and JSON-lines workloads. The same Spec
// always yields the same requests in the same order, so several targets
// benched with one Spec see one workload (fingerprinted by SHA256).
package dataset

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strings"

	"github.com/servelab/servelab/benchmarks/tokens"
	"github.com/servelab/servelab/benchmarks/workloads"
)

// Kinds of dataset.
const (
	Random       = "random"
	Multilingual = "multilingual"
	ShareGPT     = "sharegpt"
	JSONL        = "jsonl"
)

// Request is one prompt to send.
type Request struct {
	// Prompt is the user message (chat) or the prompt (completions).
	Prompt string `json:"prompt"`
	// Language is the prompt's language tag, "" when the dataset has none.
	Language string `json:"language,omitempty"`
	// MaxTokens is the max_tokens sent.
	MaxTokens int `json:"max_tokens"`
	// InputTokens is tokens.Approx(Prompt), used when the server reports no
	// usage.
	InputTokens int `json:"-"`
}

// Spec says which workload to build.
type Spec struct {
	// Kind is Random, Multilingual, ShareGPT or JSONL.
	Kind string
	// Path is the file for ShareGPT and JSONL.
	Path string
	// NumPrompts is the number of requests to build (> 0).
	NumPrompts int
	// Seed seeds the sampling.
	Seed int64
	// RandomInputLen, RandomOutputLen and RandomRangeRatio shape Random:
	// each length is uniform over the integers in
	// [⌊len·(1−ratio)⌋, ⌈len·(1+ratio)⌉], at least 1.
	RandomInputLen   int
	RandomOutputLen  int
	RandomRangeRatio float64
	// OutputLen, when > 0, replaces every request's MaxTokens for the
	// non-random kinds.
	OutputLen int
}

// Validate reports the first bad field of s, naming its flag.
func (s Spec) Validate() error {
	switch s.Kind {
	case Random:
		if s.RandomInputLen < 1 {
			return fmt.Errorf("--random-input-len must be ≥ 1, got %d", s.RandomInputLen)
		}
		if s.RandomOutputLen < 1 {
			return fmt.Errorf("--random-output-len must be ≥ 1, got %d", s.RandomOutputLen)
		}
		if s.RandomRangeRatio < 0 || s.RandomRangeRatio >= 1 || math.IsNaN(s.RandomRangeRatio) {
			return fmt.Errorf("--random-range-ratio must be in [0, 1), got %v", s.RandomRangeRatio)
		}
	case Multilingual:
	case ShareGPT, JSONL:
		if s.Path == "" {
			return fmt.Errorf("--dataset %s needs --dataset-path", s.Kind)
		}
	default:
		return fmt.Errorf("--dataset %q: want random, multilingual, sharegpt or jsonl", s.Kind)
	}
	if s.NumPrompts < 1 {
		return fmt.Errorf("--num-prompts must be ≥ 1, got %d", s.NumPrompts)
	}
	if s.OutputLen < 0 {
		return fmt.Errorf("--output-len must be ≥ 0, got %d", s.OutputLen)
	}
	return nil
}

// Load builds the request list of s.
func Load(s Spec) ([]Request, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(s.Seed), 0x5e7a1ab))
	var pool []Request
	switch s.Kind {
	case Random:
		return randomRequests(s, rng), nil
	case Multilingual:
		var err error
		pool, err = ParseJSONL(bytes.NewReader(workloads.Multilingual()), "multilingual.jsonl", true)
		if err != nil {
			return nil, err
		}
	case JSONL:
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, fmt.Errorf("--dataset-path: %w", err)
		}
		defer f.Close()
		pool, err = ParseJSONL(f, s.Path, s.OutputLen == 0)
		if err != nil {
			return nil, err
		}
	case ShareGPT:
		f, err := os.Open(s.Path)
		if err != nil {
			return nil, fmt.Errorf("--dataset-path: %w", err)
		}
		defer f.Close()
		pool, err = ParseShareGPT(f, s.Path)
		if err != nil {
			return nil, err
		}
	}
	if len(pool) == 0 {
		return nil, fmt.Errorf("dataset %s has no usable prompts", s.Kind)
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	out := make([]Request, s.NumPrompts)
	for i := range out {
		r := pool[i%len(pool)] // the shuffled set, repeated as needed
		if s.OutputLen > 0 {
			r.MaxTokens = s.OutputLen
		}
		out[i] = r
	}
	return out, nil
}

// vocabulary for random prompts: common English words of at most five
// letters, each one token for tokens.Approx and for common BPE vocabularies.
var vocabulary = shortWords(`the of and to in is it you that he was for on are
with as his they be at one have this from or had by hot word but what some we can
out other were all there when up use your how said an each she which do their time
if will way about many then them write would like so these her long make thing see
him two has look more day could go come did number sound no most people my over know
water than call first who may down side been now find any new work part take get
place made live where after back little only round man year came show every good me
give our under name very through just form great think say help low line differ turn
cause much mean before move right boy old too same tell does set three want air well
also play small end put home read hand port large spell add even land here must big
high such follow act why ask men change went light kind off need house picture try us
again animal point mother world near build self earth father head stand own page
should state`)

func shortWords(text string) []string {
	var out []string
	for _, w := range strings.Fields(text) {
		if len(w) <= 5 {
			out = append(out, w)
		}
	}
	return out
}

func lengthRange(n int, ratio float64) (int, int) {
	lo := max(int(math.Floor(float64(n)*(1-ratio))), 1)
	hi := max(int(math.Ceil(float64(n)*(1+ratio))), lo)
	return lo, hi
}

func randomRequests(s Spec, rng *rand.Rand) []Request {
	inLo, inHi := lengthRange(s.RandomInputLen, s.RandomRangeRatio)
	outLo, outHi := lengthRange(s.RandomOutputLen, s.RandomRangeRatio)
	out := make([]Request, s.NumPrompts)
	var b strings.Builder
	for i := range out {
		in := inLo + rng.IntN(inHi-inLo+1)
		mt := outLo + rng.IntN(outHi-outLo+1)
		b.Reset()
		for w := range in {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocabulary[rng.IntN(len(vocabulary))])
		}
		out[i] = Request{Prompt: b.String(), MaxTokens: mt, InputTokens: in}
	}
	return out
}

// ParseJSONL reads JSON lines {"prompt":..,"max_tokens":N,"language":..};
// blank lines are skipped. Unknown fields, a missing or empty prompt, and
// (when needMaxTokens) a missing or non-positive max_tokens are errors
// naming the file, line and field.
func ParseJSONL(r io.Reader, name string, needMaxTokens bool) ([]Request, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var out []Request
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var rec struct {
			Prompt    *string `json:"prompt"`
			MaxTokens *int    `json:"max_tokens"`
			Language  string  `json:"language"`
		}
		dec := json.NewDecoder(bytes.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s:%d: more than one JSON value on the line", name, line)
		}
		if rec.Prompt == nil || *rec.Prompt == "" {
			return nil, fmt.Errorf("%s:%d: field \"prompt\" missing or empty", name, line)
		}
		mt := 0
		if rec.MaxTokens != nil {
			mt = *rec.MaxTokens
			if mt < 1 {
				return nil, fmt.Errorf("%s:%d: field \"max_tokens\" must be ≥ 1, got %d", name, line, mt)
			}
		} else if needMaxTokens {
			return nil, fmt.Errorf("%s:%d: field \"max_tokens\" missing (or pass --output-len)", name, line)
		}
		out = append(out, Request{Prompt: *rec.Prompt, Language: rec.Language, MaxTokens: mt, InputTokens: tokens.Approx(*rec.Prompt)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}

// ShareGPT filtering, as vLLM's sample_sharegpt_requests does it (with
// approximate token counts): prompts and replies shorter than 4 tokens,
// prompts over 1024 tokens, and prompt+reply over 2048 are dropped.
const (
	shareGPTMinLen    = 4
	shareGPTMaxPrompt = 1024
	shareGPTMaxTotal  = 2048
)

// ParseShareGPT reads a ShareGPT JSON array
// [{"conversations":[{"from":"human","value":..},{"from":"gpt","value":..},..]},..];
// each conversation gives its first turn as the prompt and the estimated
// token count of its second turn as max_tokens.
func ParseShareGPT(r io.Reader, name string) ([]Request, error) {
	var convs []struct {
		Conversations []struct {
			From  string `json:"from"`
			Value string `json:"value"`
		} `json:"conversations"`
	}
	if err := json.NewDecoder(r).Decode(&convs); err != nil {
		return nil, fmt.Errorf("%s: decode ShareGPT JSON array: %w", name, err)
	}
	var out []Request
	for _, c := range convs {
		if len(c.Conversations) < 2 {
			continue
		}
		prompt, reply := c.Conversations[0].Value, c.Conversations[1].Value
		in, mt := tokens.Approx(prompt), tokens.Approx(reply)
		if in < shareGPTMinLen || mt < shareGPTMinLen || in > shareGPTMaxPrompt || in+mt > shareGPTMaxTotal {
			continue
		}
		out = append(out, Request{Prompt: prompt, MaxTokens: mt, InputTokens: in})
	}
	if len(out) == 0 {
		return nil, errors.New(name + ": no ShareGPT conversation passed the length filter")
	}
	return out, nil
}

// SHA256 fingerprints a request list: the hex SHA-256 of the JSON lines
// {"prompt","language","max_tokens"} in order.
func SHA256(reqs []Request) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, r := range reqs {
		_ = enc.Encode(r) // hash.Hash writes never fail
	}
	return hex.EncodeToString(h.Sum(nil))
}
