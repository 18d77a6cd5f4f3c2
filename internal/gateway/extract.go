package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxNestingDepth is encoding/json's limit, so that the scanner accepts
// exactly what encoding/json accepts.
const maxNestingDepth = 10000

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
	s := scanner{b: body}
	var info reqInfo
	modelKind := byte(0) // kind of the last "model" value: 0 absent, '"' string, else other
	s.ws()
	if s.i >= len(s.b) {
		return info, fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	if s.b[s.i] != '{' {
		if err := s.value(0); err != nil {
			return info, err
		}
		if err := s.end(); err != nil {
			return info, err
		}
		return info, errNotObject
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
	} else {
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return info, s.syntax("object key")
			}
			ks, ke, kesc, err := s.str()
			if err != nil {
				return info, err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return info, s.syntax("':' after object key")
			}
			s.i++
			s.ws()
			if s.i >= len(s.b) {
				return info, s.syntax("value")
			}
			vs := s.i
			if err := s.value(1); err != nil {
				return info, err
			}
			ve := s.i
			key := s.b[ks+1 : ke-1]
			if kesc {
				key = []byte(unquote(s.b[ks:ke]))
			}
			switch string(key) {
			case "model":
				modelKind = s.b[vs]
				if modelKind == '"' {
					info.modelStart, info.modelEnd = vs, ve
				}
			case "stream":
				info.stream = string(s.b[vs:ve]) == "true"
			case "temperature":
				info.temperatureZero = isZeroNumber(s.b[vs:ve])
			case "seed":
				info.seeded = string(s.b[vs:ve]) != "null"
			}
			s.ws()
			if s.i >= len(s.b) {
				return info, s.syntax("',' or '}'")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == '}' {
				s.i++
				break
			}
			return info, s.syntax("',' or '}'")
		}
	}
	if err := s.end(); err != nil {
		return info, err
	}
	switch modelKind {
	case 0:
		return info, errNoModel
	case '"':
		info.model = unquote(s.b[info.modelStart:info.modelEnd])
		if info.model == "" {
			return info, errNoModel
		}
		return info, nil
	default:
		return info, errModelNotText
	}
}

// unquote decodes a valid JSON string literal as encoding/json does
// (invalid UTF-8 becomes U+FFFD).
func unquote(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	plain := true
	for _, c := range inner {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain || (utf8.Valid(inner) && !containsByte(inner, '\\')) {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return s
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// isZeroNumber reports whether raw is a JSON number equal to zero.
func isZeroNumber(raw []byte) bool {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return err == nil && f == 0
}

// scanner validates JSON the way encoding/json's scanner does.
type scanner struct {
	b []byte
	i int
}

var errSyntax = fmt.Errorf("%w: malformed JSON", ErrBadRequest)

func (s *scanner) syntax(want string) error {
	if s.i >= len(s.b) {
		return fmt.Errorf("%w: unexpected end of body, want %s", errSyntax, want)
	}
	return fmt.Errorf("%w: at offset %d: want %s", errSyntax, s.i, want)
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// end checks that only whitespace follows.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.syntax("end of body")
	}
	return nil
}

// value skips one value starting at s.i (whitespace already skipped).
func (s *scanner) value(depth int) error {
	if s.i >= len(s.b) {
		return s.syntax("value")
	}
	switch c := s.b[s.i]; c {
	case '"':
		_, _, _, err := s.str()
		return err
	case '{':
		if depth >= maxNestingDepth {
			return fmt.Errorf("%w: nested too deeply", errSyntax)
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != '"' {
				return s.syntax("object key")
			}
			if _, _, _, err := s.str(); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				return s.syntax("':' after object key")
			}
			s.i++
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.syntax("',' or '}'")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == '}' {
				s.i++
				return nil
			}
			return s.syntax("',' or '}'")
		}
	case '[':
		if depth >= maxNestingDepth {
			return fmt.Errorf("%w: nested too deeply", errSyntax)
		}
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.i >= len(s.b) {
				return s.syntax("',' or ']'")
			}
			if s.b[s.i] == ',' {
				s.i++
				continue
			}
			if s.b[s.i] == ']' {
				s.i++
				return nil
			}
			return s.syntax("',' or ']'")
		}
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return s.number()
		}
		return s.syntax("value")
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return s.syntax(lit)
	}
	s.i += len(lit)
	return nil
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	if s.b[s.i] == '-' {
		s.i++
	}
	if s.i >= len(s.b) {
		return s.syntax("digit")
	}
	if s.b[s.i] == '0' {
		s.i++
	} else if s.digits() == 0 {
		return s.syntax("digit")
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return s.syntax("digit after '.'")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return s.syntax("digit in exponent")
		}
	}
	return nil
}

// str skips a string literal at s.i and returns its span, quotes
// included, and whether it holds escapes.
func (s *scanner) str() (start, end int, escaped bool, err error) {
	start = s.i
	i := s.i + 1
	b := s.b
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return start, s.i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.i = len(b)
				return 0, 0, false, s.syntax("escape")
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex4(b[i+2:i+6]) {
					s.i = i
					return 0, 0, false, s.syntax("\\u and 4 hex digits")
				}
				i += 6
			default:
				s.i = i
				return 0, 0, false, s.syntax("valid escape")
			}
		case c < 0x20:
			s.i = i
			return 0, 0, false, s.syntax("no control character in string")
		default:
			i++
		}
	}
	s.i = len(b)
	return 0, 0, false, s.syntax("closing '\"'")
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
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
