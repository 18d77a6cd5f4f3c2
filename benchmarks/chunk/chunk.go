// Package chunk extracts what the benchmark needs from one OpenAI-compatible
// streaming chunk (the JSON data of an SSE event) without decoding the rest:
// whether any choice carries content, the usage block, and an error. It is
// a strict single-pass JSON scanner: malformed JSON is an error, unknown
// fields are skipped, and it allocates only on the rare error path.
//
// Content is non-empty when any choice has a non-empty string in
// delta.content, delta.reasoning_content or delta.reasoning (chat) or text
// (completions). A duplicated key counts as its last occurrence, as in
// encoding/json.
package chunk

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Usage is the usage block of a chunk.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Zero reports whether both counts are zero (Ollama and some proxies send
// such placeholder blocks before the real one).
func (u Usage) Zero() bool { return u.PromptTokens == 0 && u.CompletionTokens == 0 }

// Chunk is what one streaming chunk says.
type Chunk struct {
	// Content is true when some choice carries non-empty generated text.
	Content bool
	// Choices is the length of the choices array (0 for the trailing usage
	// chunk).
	Choices int
	// HasUsage is true when a non-null usage object was present.
	HasUsage bool
	Usage    Usage
	// Error is the message of an error chunk ({"error":{...}}, {"error":"..."}
	// or {"object":"error","message":...}), "" otherwise.
	Error string
}

// ErrNotObject is returned for valid JSON that is not an object.
var ErrNotObject = errors.New("chunk: not a JSON object")

type scanner struct {
	b []byte
	i int
}

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("chunk: offset %d: "+format, append([]any{s.i}, args...)...)
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

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// str scans a string at s.i and returns its raw body (between the quotes)
// and whether it contains escapes.
func (s *scanner) str() ([]byte, bool, error) {
	if s.peek() != '"' {
		return nil, false, s.errf("want string")
	}
	s.i++
	start := s.i
	esc := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			body := s.b[start:s.i]
			s.i++
			return body, esc, nil
		case c == '\\':
			esc = true
			s.i++
			if s.i >= len(s.b) {
				return nil, false, s.errf("unterminated escape")
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+4 >= len(s.b) {
					return nil, false, s.errf("short \\u escape")
				}
				for k := 1; k <= 4; k++ {
					if !isHex(s.b[s.i+k]) {
						return nil, false, s.errf("bad \\u escape")
					}
				}
				s.i += 5
			default:
				return nil, false, s.errf("bad escape")
			}
		case c < 0x20:
			return nil, false, s.errf("control character in string")
		default:
			s.i++
		}
	}
	return nil, false, s.errf("unterminated string")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// num scans a JSON number and returns its text.
func (s *scanner) num() ([]byte, error) {
	start := s.i
	if s.peek() == '-' {
		s.i++
	}
	switch {
	case s.peek() == '0':
		s.i++
	case isDigit(s.peek()):
		for isDigit(s.peek()) {
			s.i++
		}
	default:
		return nil, s.errf("bad number")
	}
	if s.peek() == '.' {
		s.i++
		if !isDigit(s.peek()) {
			return nil, s.errf("bad fraction")
		}
		for isDigit(s.peek()) {
			s.i++
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !isDigit(s.peek()) {
			return nil, s.errf("bad exponent")
		}
		for isDigit(s.peek()) {
			s.i++
		}
	}
	return s.b[start:s.i], nil
}

func (s *scanner) lit(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.errf("bad literal")
	}
	s.i += len(word)
	return nil
}

// skip scans and discards any value.
func (s *scanner) skip(depth int) error {
	if depth > 10000 {
		return s.errf("nested too deeply")
	}
	s.ws()
	switch c := s.peek(); {
	case c == '{':
		return s.object(func(key []byte) error { return s.skip(depth + 1) })
	case c == '[':
		return s.array(func() error { return s.skip(depth + 1) })
	case c == '"':
		_, _, err := s.str()
		return err
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	default:
		_, err := s.num()
		return err
	}
}

// object scans an object at s.i, calling field with each key (unescaped
// form) positioned at its value, which field must consume.
func (s *scanner) object(field func(key []byte) error) error {
	s.ws()
	if s.peek() != '{' {
		return s.errf("want object")
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		key, esc, err := s.str()
		if err != nil {
			return err
		}
		if esc {
			key, err = unescape(key)
			if err != nil {
				return s.errf("bad key: %v", err)
			}
		}
		s.ws()
		if s.peek() != ':' {
			return s.errf("want ':'")
		}
		s.i++
		s.ws()
		if err := field(key); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("want ',' or '}'")
		}
	}
}

// array scans an array, calling elem positioned at each element.
func (s *scanner) array(elem func() error) error {
	s.ws()
	if s.peek() != '[' {
		return s.errf("want array")
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := elem(); err != nil {
			return err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("want ',' or ']'")
		}
	}
}

func unescape(raw []byte) ([]byte, error) {
	var out string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if err := json.Unmarshal(q, &out); err != nil {
		return nil, err
	}
	return []byte(out), nil
}

// nonEmptyString consumes a value and reports whether it is a string with
// at least one character. Other types count as empty.
func (s *scanner) nonEmptyString() (bool, error) {
	if s.peek() == '"' {
		body, _, err := s.str()
		return len(body) > 0, err
	}
	return false, s.skip(0)
}

// intValue consumes a value and returns it as an int when it is a finite
// number (truncated), else 0.
func (s *scanner) intValue() (int, error) {
	c := s.peek()
	if c != '-' && !isDigit(c) {
		return 0, s.skip(0)
	}
	text, err := s.num()
	if err != nil {
		return 0, err
	}
	f, perr := strconv.ParseFloat(string(text), 64)
	if perr != nil || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, nil
	}
	return int(f), nil
}

// Parse reads one chunk.
func Parse(data []byte) (Chunk, error) {
	s := scanner{b: data}
	s.ws()
	if s.peek() != '{' {
		if err := s.skip(0); err != nil {
			return Chunk{}, err
		}
		s.ws()
		if s.i != len(s.b) {
			return Chunk{}, s.errf("trailing data")
		}
		return Chunk{}, ErrNotObject
	}
	var (
		c          Chunk
		objectIsEr bool
		message    []byte // raw top-level "message" string
		messageEsc bool
		errVal     string
		hasErr     bool
	)
	err := s.object(func(key []byte) error {
		switch string(key) {
		case "choices":
			if s.peek() != '[' {
				c.Choices, c.Content = 0, false
				return s.skip(0)
			}
			n, content := 0, false
			err := s.array(func() error {
				n++
				has, err := s.choice()
				content = content || has
				return err
			})
			c.Choices, c.Content = n, content
			return err
		case "usage":
			if s.peek() != '{' {
				c.HasUsage, c.Usage = false, Usage{}
				return s.skip(0)
			}
			u := Usage{}
			err := s.object(func(k []byte) error {
				var err error
				switch string(k) {
				case "prompt_tokens":
					u.PromptTokens, err = s.intValue()
				case "completion_tokens":
					u.CompletionTokens, err = s.intValue()
				default:
					err = s.skip(0)
				}
				return err
			})
			c.HasUsage, c.Usage = true, u
			return err
		case "error":
			v, present, err := s.errorValue()
			errVal, hasErr = v, present
			return err
		case "object":
			if s.peek() == '"' {
				body, esc, err := s.str()
				if esc {
					b, uerr := unescape(body)
					body = b
					if uerr != nil {
						return s.errf("bad string: %v", uerr)
					}
				}
				objectIsEr = string(body) == "error"
				return err
			}
			objectIsEr = false
			return s.skip(0)
		case "message":
			if s.peek() == '"' {
				var err error
				message, messageEsc, err = s.str()
				return err
			}
			message = nil
			return s.skip(0)
		default:
			return s.skip(0)
		}
	})
	if err != nil {
		return Chunk{}, err
	}
	s.ws()
	if s.i != len(s.b) {
		return Chunk{}, s.errf("trailing data")
	}
	switch {
	case hasErr:
		c.Error = errVal
	case objectIsEr:
		c.Error = "error"
		if message != nil {
			c.Error = decodeString(message, messageEsc)
		}
	}
	return c, nil
}

// choice scans one element of choices and reports whether it carries
// content.
func (s *scanner) choice() (bool, error) {
	if s.peek() != '{' {
		return false, s.skip(0)
	}
	var delta, text bool
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "delta":
			delta, err = s.delta()
		case "text":
			text, err = s.nonEmptyString()
		default:
			err = s.skip(0)
		}
		return err
	})
	return delta || text, err
}

func (s *scanner) delta() (bool, error) {
	if s.peek() != '{' {
		return false, s.skip(0)
	}
	var content, rc, r bool
	err := s.object(func(key []byte) error {
		var err error
		switch string(key) {
		case "content":
			content, err = s.nonEmptyString()
		case "reasoning_content":
			rc, err = s.nonEmptyString()
		case "reasoning":
			r, err = s.nonEmptyString()
		default:
			err = s.skip(0)
		}
		return err
	})
	return content || rc || r, err
}

// errorValue consumes the value of a top-level "error" key. null means no
// error; a string is the message; an object's "message" string is the
// message (else "error"); anything else is reported as "error".
func (s *scanner) errorValue() (string, bool, error) {
	switch s.peek() {
	case 'n':
		return "", false, s.lit("null")
	case '"':
		body, esc, err := s.str()
		if err != nil {
			return "", false, err
		}
		return nonEmpty(decodeString(body, esc)), true, nil
	case '{':
		msg := ""
		err := s.object(func(k []byte) error {
			if string(k) == "message" && s.peek() == '"' {
				body, esc, err := s.str()
				msg = decodeString(body, esc)
				return err
			}
			if string(k) == "message" {
				msg = ""
			}
			return s.skip(0)
		})
		return nonEmpty(msg), true, err
	default:
		return "error", true, s.skip(0)
	}
}

func nonEmpty(s string) string {
	if s == "" {
		return "error"
	}
	return s
}

func decodeString(body []byte, esc bool) string {
	if !esc {
		return string(body)
	}
	b, err := unescape(body)
	if err != nil {
		return string(body)
	}
	return string(b)
}
