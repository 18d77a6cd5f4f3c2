// Package jsonscan reads JSON in place, without decoding it into values and
// without allocating: the gateway reads a request's top-level "model"
// (and a few routing fields) this way, and the benchmark reads every SSE
// chunk this way. It accepts exactly what encoding/json accepts (its
// escapes, number grammar and nesting limit), so a body it passes is a body
// an engine's JSON parser will take.
package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// MaxDepth is encoding/json's nesting limit.
const MaxDepth = 10000

// ErrTooDeep is wrapped by the error for input nested deeper than the
// scanner's limit.
var ErrTooDeep = errors.New("nested too deep")

// SyntaxError says where the input stops being JSON and what was expected.
type SyntaxError struct {
	// Offset is the byte offset of the problem.
	Offset int
	// Want is what the scanner expected there.
	Want string
	// End is true when the input ended early.
	End bool
}

func (e *SyntaxError) Error() string {
	if e.End {
		return "unexpected end of input, want " + e.Want
	}
	return fmt.Sprintf("at offset %d: want %s", e.Offset, e.Want)
}

// Scanner walks one JSON text. The zero value is not usable; use New.
type Scanner struct {
	b        []byte
	i        int
	depth    int
	maxDepth int
}

// New returns a scanner at the start of b, with encoding/json's nesting
// limit.
func New(b []byte) Scanner { return Scanner{b: b, maxDepth: MaxDepth} }

// NewLimited returns a scanner at the start of b that refuses objects and
// arrays nested more than maxDepth levels (at most MaxDepth).
func NewLimited(b []byte, maxDepth int) Scanner {
	return Scanner{b: b, maxDepth: min(max(maxDepth, 1), MaxDepth)}
}

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

// Bytes is the input.
func (s *Scanner) Bytes() []byte { return s.b }

func (s *Scanner) syntax(want string) error {
	return &SyntaxError{Offset: s.i, Want: want, End: s.i >= len(s.b)}
}

// WS skips white space.
func (s *Scanner) WS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Peek is the next byte, 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// End checks that nothing but white space is left.
func (s *Scanner) End() error {
	s.WS()
	if s.i != len(s.b) {
		return s.syntax("end of input")
	}
	return nil
}

// Str reads a string at the current position and returns its span, quotes
// included, and whether it holds escapes.
func (s *Scanner) Str() (start, end int, escaped bool, err error) {
	if s.Peek() != '"' {
		return 0, 0, false, s.syntax("string")
	}
	start = s.i
	i, b := s.i+1, s.b
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
					return 0, 0, false, s.syntax(`\u and 4 hex digits`)
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
	return 0, 0, false, s.syntax(`closing '"'`)
}

// StrBody reads a string and returns what is between its quotes (still
// escaped) and whether it holds escapes.
func (s *Scanner) StrBody() ([]byte, bool, error) {
	start, end, esc, err := s.Str()
	if err != nil {
		return nil, false, err
	}
	return s.b[start+1 : end-1], esc, nil
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func (s *Scanner) digits() int {
	n := 0
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
		n++
	}
	return n
}

// Num reads a number and returns its text.
func (s *Scanner) Num() ([]byte, error) {
	start := s.i
	if s.Peek() == '-' {
		s.i++
	}
	switch {
	case s.Peek() == '0':
		s.i++
	case s.digits() == 0:
		return nil, s.syntax("digit")
	}
	if s.Peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return nil, s.syntax("digit after '.'")
		}
	}
	if c := s.Peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.Peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return nil, s.syntax("digit in exponent")
		}
	}
	return s.b[start:s.i], nil
}

// Lit reads the literal word (true, false or null).
func (s *Scanner) Lit(word string) error {
	if len(s.b)-s.i < len(word) || string(s.b[s.i:s.i+len(word)]) != word {
		return s.syntax(word)
	}
	s.i += len(word)
	return nil
}

// Skip reads and discards one value (leading white space allowed).
func (s *Scanner) Skip() error {
	s.WS()
	switch c := s.Peek(); {
	case c == '{':
		return s.Object(func([]byte) error { return s.Skip() })
	case c == '[':
		return s.Array(s.Skip)
	case c == '"':
		_, _, _, err := s.Str()
		return err
	case c == 't':
		return s.Lit("true")
	case c == 'f':
		return s.Lit("false")
	case c == 'n':
		return s.Lit("null")
	case c == '-' || isDigit(c):
		_, err := s.Num()
		return err
	default:
		return s.syntax("value")
	}
}

func (s *Scanner) enter() error {
	s.depth++
	if s.depth > s.maxDepth {
		return fmt.Errorf("%w: %w (more than %d levels)", s.syntax("less nesting"), ErrTooDeep, s.maxDepth)
	}
	s.i++
	return nil
}

// Object reads an object, calling field with each key (unescaped) while
// positioned at its value, which field must consume (Skip, or read it).
// The key slice is only valid during the call.
func (s *Scanner) Object(field func(key []byte) error) error {
	s.WS()
	if s.Peek() != '{' {
		return s.syntax("object")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	s.WS()
	if s.Peek() == '}' {
		s.i++
		return nil
	}
	for {
		s.WS()
		if s.Peek() != '"' {
			return s.syntax("object key")
		}
		start, end, esc, err := s.Str()
		if err != nil {
			return err
		}
		key := s.b[start+1 : end-1]
		if esc {
			key = []byte(Unquote(s.b[start:end]))
		}
		s.WS()
		if s.Peek() != ':' {
			return s.syntax("':' after object key")
		}
		s.i++
		s.WS()
		if err := field(key); err != nil {
			return err
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.syntax("',' or '}'")
		}
	}
}

// Array reads an array, calling elem positioned at each element, which
// elem must consume.
func (s *Scanner) Array(elem func() error) error {
	s.WS()
	if s.Peek() != '[' {
		return s.syntax("array")
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer func() { s.depth-- }()
	s.WS()
	if s.Peek() == ']' {
		s.i++
		return nil
	}
	for {
		s.WS()
		if err := elem(); err != nil {
			return err
		}
		s.WS()
		switch s.Peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.syntax("',' or ']'")
		}
	}
}

// NonEmptyString reads a value and reports whether it is a string with at
// least one character; other types count as empty.
func (s *Scanner) NonEmptyString() (bool, error) {
	if s.Peek() == '"' {
		body, _, err := s.StrBody()
		return len(body) > 0, err
	}
	return false, s.Skip()
}

// Int reads a value and returns it as an int when it is a finite number in
// int32 range (truncated), else 0.
func (s *Scanner) Int() (int, error) {
	if c := s.Peek(); c != '-' && !isDigit(c) {
		return 0, s.Skip()
	}
	text, err := s.Num()
	if err != nil {
		return 0, err
	}
	f, perr := strconv.ParseFloat(string(text), 64)
	if perr != nil || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, nil
	}
	return int(f), nil
}

// Unquote decodes a valid JSON string literal (quotes included) as
// encoding/json does: invalid UTF-8 becomes U+FFFD.
func Unquote(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return s
}
