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
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/servelab/servelab/internal/jsonscan"
)

// Usage is the usage block of a chunk. A count that is not a number reads
// as 0; a number outside the int32 range (no tokenizer counts that far)
// reads as 0 and sets OutOfRange, so the caller can refuse the block.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
	// OutOfRange is set when prompt_tokens or completion_tokens was a
	// number outside [-2^31, 2^31-1] (or not finite).
	OutOfRange bool
}

// Zero reports whether both counts are zero (Ollama and some proxies send
// such placeholder blocks before the real one).
func (u Usage) Zero() bool { return u.PromptTokens == 0 && u.CompletionTokens == 0 && !u.OutOfRange }

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

// scanner reads chunks with jsonscan; its errors say "chunk:".
type scanner struct{ jsonscan.Scanner }

func (s *scanner) errf(format string, args ...any) error {
	return fmt.Errorf("chunk: offset %d: "+format, append([]any{s.Pos()}, args...)...)
}

func wrap(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("chunk: %w", err)
}

// Parse reads one chunk.
func Parse(data []byte) (Chunk, error) {
	s := scanner{jsonscan.New(data)}
	s.WS()
	if s.Peek() != '{' {
		if err := s.Skip(); err != nil {
			return Chunk{}, wrap(err)
		}
		s.WS()
		if s.Pos() != len(s.Bytes()) {
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
	err := s.Object(func(key []byte) error {
		switch string(key) {
		case "choices":
			if s.Peek() != '[' {
				c.Choices, c.Content = 0, false
				return s.Skip()
			}
			n, content := 0, false
			err := s.Array(func() error {
				n++
				has, err := s.choice()
				content = content || has
				return err
			})
			c.Choices, c.Content = n, content
			return err
		case "usage":
			if s.Peek() != '{' {
				c.HasUsage, c.Usage = false, Usage{}
				return s.Skip()
			}
			u := Usage{}
			var promptOut, completionOut bool // the last occurrence of a key wins
			err := s.Object(func(k []byte) error {
				var err error
				switch string(k) {
				case "prompt_tokens":
					u.PromptTokens, promptOut, err = s.count()
				case "completion_tokens":
					u.CompletionTokens, completionOut, err = s.count()
				default:
					err = s.Skip()
				}
				return err
			})
			u.OutOfRange = promptOut || completionOut
			c.HasUsage, c.Usage = true, u
			return err
		case "error":
			v, present, err := s.errorValue()
			errVal, hasErr = v, present
			return err
		case "object":
			if s.Peek() == '"' {
				body, esc, err := s.StrBody()
				objectIsEr = string(body) == "error" || esc && decodeString(body, esc) == "error"
				return err
			}
			objectIsEr = false
			return s.Skip()
		case "message":
			if s.Peek() == '"' {
				var err error
				message, messageEsc, err = s.StrBody()
				return err
			}
			message = nil
			return s.Skip()
		default:
			return s.Skip()
		}
	})
	if err != nil {
		return Chunk{}, wrap(err)
	}
	s.WS()
	if s.Pos() != len(s.Bytes()) {
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

// count reads a token count: a number truncated towards zero, 0 for
// anything else. A number outside the int32 range reads as 0 and reports
// outOfRange.
func (s *scanner) count() (n int, outOfRange bool, err error) {
	if c := s.Peek(); c != '-' && (c < '0' || c > '9') {
		return 0, false, s.Skip()
	}
	text, err := s.Num()
	if err != nil {
		return 0, false, err
	}
	f, perr := strconv.ParseFloat(string(text), 64)
	if perr != nil || math.IsInf(f, 0) || f > math.MaxInt32 || f < math.MinInt32 {
		return 0, true, nil
	}
	return int(f), false, nil
}

// choice scans one element of choices and reports whether it carries
// content.
func (s *scanner) choice() (bool, error) {
	if s.Peek() != '{' {
		return false, s.Skip()
	}
	var delta, text bool
	err := s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "delta":
			delta, err = s.delta()
		case "text":
			text, err = s.NonEmptyString()
		default:
			err = s.Skip()
		}
		return err
	})
	return delta || text, err
}

func (s *scanner) delta() (bool, error) {
	if s.Peek() != '{' {
		return false, s.Skip()
	}
	var content, rc, r bool
	err := s.Object(func(key []byte) error {
		var err error
		switch string(key) {
		case "content":
			content, err = s.NonEmptyString()
		case "reasoning_content":
			rc, err = s.NonEmptyString()
		case "reasoning":
			r, err = s.NonEmptyString()
		default:
			err = s.Skip()
		}
		return err
	})
	return content || rc || r, err
}

// errorValue consumes the value of a top-level "error" key. null means no
// error; a string is the message; an object's "message" string is the
// message (else "error"); anything else is reported as "error".
func (s *scanner) errorValue() (string, bool, error) {
	switch s.Peek() {
	case 'n':
		return "", false, s.Lit("null")
	case '"':
		body, esc, err := s.StrBody()
		if err != nil {
			return "", false, err
		}
		return nonEmpty(decodeString(body, esc)), true, nil
	case '{':
		msg := ""
		err := s.Object(func(k []byte) error {
			if string(k) == "message" && s.Peek() == '"' {
				body, esc, err := s.StrBody()
				msg = decodeString(body, esc)
				return err
			}
			if string(k) == "message" {
				msg = ""
			}
			return s.Skip()
		})
		return nonEmpty(msg), true, err
	default:
		return "error", true, s.Skip()
	}
}

func nonEmpty(s string) string {
	if s == "" {
		return "error"
	}
	return s
}

// decodeString decodes the body of a string literal (between its quotes).
func decodeString(body []byte, esc bool) string {
	if !esc {
		return string(body)
	}
	quoted := make([]byte, 0, len(body)+2)
	quoted = append(append(append(quoted, '"'), body...), '"')
	return jsonscan.Unquote(quoted)
}
