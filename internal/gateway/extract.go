package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/servelab/servelab/internal/jsonscan"
)

// reqInfo is what the gateway needs from a request body, read in one pass
// without decoding it.
type reqInfo struct {
	// model is the top-level "model" string, unescaped.
	model string
	// modelStart and modelEnd delimit the model value, quotes included, so
	// that it can be replaced by splicing bytes.
	modelStart, modelEnd int
	// stream is the top-level "stream" when it is true.
	stream bool
	// temperatureZero: the top-level "temperature" is the number 0.
	temperatureZero bool
	// seeded: the top-level "seed" is present and not null.
	seeded bool
}

// deterministic reports whether the request asks for a reproducible answer
// (temperature 0 or a seed), which makes it cacheable when not streamed.
func (r reqInfo) deterministic() bool { return r.temperatureZero || r.seeded }

var (
	errNotObject    = fmt.Errorf("%w: body must be a JSON object", ErrBadRequest)
	errNoModel      = fmt.Errorf("%w: missing \"model\"", ErrBadRequest)
	errModelNotText = fmt.Errorf("%w: \"model\" must be a string", ErrBadRequest)
)

// ExtractModel returns the top-level "model" of a JSON request body without
// decoding the rest. It validates the whole body as JSON (nesting up to the
// default maxJSONDepth) and is not fooled by "model" keys nested in messages
// or inside strings. Errors wrap ErrBadRequest.
func ExtractModel(body []byte) (string, error) {
	info, err := scanRequest(body, DefaultConfig().MaxJSONDepth)
	return info.model, err
}

// readKeys are the top-level keys the gateway acts on. A body that holds
// one of them twice, in any letter case, is refused: engines disagree on
// which copy counts (Go's encoding/json matches keys case-insensitively,
// Python's json does not), so a gateway routing on one copy could send a
// backend a request it reads differently.
var readKeys = [...]string{"model", "stream", "temperature", "seed"}

// readKey returns the index in readKeys of the key that k spells in any
// case (Unicode simple folding, as encoding/json), or -1.
func readKey(k []byte) int {
	for i, name := range readKeys {
		if bytes.EqualFold(k, []byte(name)) {
			return i
		}
	}
	return -1
}

// scanRequest validates body as JSON (with encoding/json's rules, objects
// and arrays nested at most maxDepth levels) and reads the top-level fields
// the gateway routes and caches on.
func scanRequest(body []byte, maxDepth int) (reqInfo, error) {
	s := jsonscan.NewLimited(body, maxDepth)
	var info reqInfo
	modelKind := byte(0)           // kind of the "model" value: 0 absent, '"' string, else other
	var seen [len(readKeys)]string // the first spelling of each read key
	var dup error
	s.WS()
	if s.Pos() >= len(body) {
		return info, fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	if s.Peek() != '{' {
		if err := s.Skip(); err != nil {
			return info, malformed(err, maxDepth)
		}
		if err := s.End(); err != nil {
			return info, malformed(err, maxDepth)
		}
		return info, errNotObject
	}
	err := s.Object(func(key []byte) error {
		vs := s.Pos()
		if err := s.Skip(); err != nil {
			return err
		}
		ve := s.Pos()
		if i := readKey(key); i >= 0 {
			switch {
			case seen[i] != "" && dup == nil:
				dup = fmt.Errorf("%w: duplicate key %q (the body already has %q; engines disagree on which one counts)", ErrBadRequest, key, seen[i])
			case string(key) == readKeys[i]:
				seen[i] = readKeys[i]
			default:
				seen[i] = string(key)
			}
		}
		switch string(key) {
		case "model":
			modelKind = body[vs]
			if modelKind == '"' {
				info.modelStart, info.modelEnd = vs, ve
			}
		case "stream":
			info.stream = string(body[vs:ve]) == "true"
		case "temperature":
			info.temperatureZero = isZeroNumber(body[vs:ve])
		case "seed":
			info.seeded = string(body[vs:ve]) != "null"
		}
		return nil
	})
	if err == nil {
		err = s.End()
	}
	if err != nil {
		return info, malformed(err, maxDepth)
	}
	if dup != nil {
		return info, dup
	}
	switch modelKind {
	case 0:
		return info, errNoModel
	case '"':
		info.model = jsonscan.Unquote(body[info.modelStart:info.modelEnd])
		if info.model == "" {
			return info, errNoModel
		}
		return info, nil
	default:
		return info, errModelNotText
	}
}

// malformed wraps a scanner error as a bad request.
func malformed(err error, maxDepth int) error {
	if errors.Is(err, jsonscan.ErrTooDeep) {
		return fmt.Errorf("%w: JSON nested more than %d levels (maxJSONDepth): %w", ErrBadRequest, maxDepth, err)
	}
	return fmt.Errorf("%w: malformed JSON: %w", ErrBadRequest, err)
}

// isZeroNumber reports whether raw is a JSON number equal to zero.
func isZeroNumber(raw []byte) bool {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return err == nil && f == 0
}

// spliceModel appends body to dst with the top-level model value replaced by
// quoted (a JSON string literal).
func spliceModel(dst, body []byte, info reqInfo, quoted []byte) []byte {
	dst = append(dst, body[:info.modelStart]...)
	dst = append(dst, quoted...)
	return append(dst, body[info.modelEnd:]...)
}

// quoteJSON returns s as a JSON string literal.
func quoteJSON(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(errors.New("marshal string: " + err.Error())) // cannot happen for a string
	}
	return b
}
