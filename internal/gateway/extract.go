package gateway

import (
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
// decoding the rest. It validates the whole body as JSON and is not fooled by
// "model" keys nested in messages or inside strings. Errors wrap
// ErrBadRequest.
func ExtractModel(body []byte) (string, error) {
	info, err := scanRequest(body)
	return info.model, err
}

// scanRequest validates body as JSON (with encoding/json's rules) and reads
// the top-level fields the gateway routes and caches on. Duplicate keys
// resolve as in encoding/json: the last one wins.
func scanRequest(body []byte) (reqInfo, error) {
	s := jsonscan.New(body)
	var info reqInfo
	modelKind := byte(0) // kind of the last "model" value: 0 absent, '"' string, else other
	s.WS()
	if s.Pos() >= len(body) {
		return info, fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	if s.Peek() != '{' {
		if err := s.Skip(); err != nil {
			return info, malformed(err)
		}
		if err := s.End(); err != nil {
			return info, malformed(err)
		}
		return info, errNotObject
	}
	err := s.Object(func(key []byte) error {
		vs := s.Pos()
		if err := s.Skip(); err != nil {
			return err
		}
		ve := s.Pos()
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
		return info, malformed(err)
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
func malformed(err error) error {
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
