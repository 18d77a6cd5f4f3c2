// Package sse reads Server-Sent Events (the WHATWG event-stream format) as
// OpenAI-compatible servers send them: lines ended by LF, CRLF or CR, "data:"
// with or without one space after the colon, ":" comment lines, multi-line
// data joined by LF, and events split across or packed into reads in any
// way. It allocates nothing per event in the steady state: an Event's Data
// is valid until the next call to Next.
//
// One event is bounded (DefaultMaxEvent unless NewReaderSize says
// otherwise): a line, or the data of one event, longer than the bound is
// ErrEventTooLarge, so a hostile server cannot make the reader buffer
// without limit.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxEvent bounds one event's data (and any one line) of a Reader
// made by NewReader: 1 MiB.
const DefaultMaxEvent = 1 << 20

// ErrEventTooLarge is returned for a line or an event's data longer than
// the Reader's bound.
var ErrEventTooLarge = errors.New("sse: event too large")

// Event is one dispatched event.
type Event struct {
	// Type is the "event:" field, "" when absent (the spec's "message").
	Type string
	// Data is the data lines joined by "\n". It aliases the Reader's
	// buffer and is valid until the next call to Next.
	Data []byte
}

// Reader reads events from a stream.
type Reader struct {
	sc   *bufio.Scanner
	max  int
	data []byte
	typ  string
	has  bool // at least one data line in the pending event
}

// NewReader returns a Reader of r bounded by DefaultMaxEvent.
func NewReader(r io.Reader) *Reader { return NewReaderSize(r, DefaultMaxEvent) }

// NewReaderSize returns a Reader of r that accepts events whose data, and
// lines, are at most maxEvent bytes (a line may also carry its field name,
// "data: "). Its buffer starts at 4 KiB and grows as lines need.
func NewReaderSize(r io.Reader, maxEvent int) *Reader {
	maxEvent = max(maxEvent, 1)
	sc := bufio.NewScanner(r)
	// Room for the field name and the line end besides the bound.
	sc.Buffer(make([]byte, 0, min(4<<10, maxEvent+16)), maxEvent+16)
	sc.Split(splitLines)
	return &Reader{sc: sc, max: maxEvent, data: make([]byte, 0, min(512, maxEvent))}
}

// Max is the Reader's bound on one event, in bytes.
func (r *Reader) Max() int { return r.max }

// splitLines splits on LF, CRLF or a lone CR. A CR at the end of the buffer
// waits for more input, since the LF of a CRLF may be in the next read.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if atEOF && len(data) == 0 {
		return 0, nil, nil
	}
	i := bytes.IndexAny(data, "\r\n")
	if i < 0 {
		if atEOF {
			return len(data), data, nil
		}
		return 0, nil, nil
	}
	if data[i] == '\n' {
		return i + 1, data[:i], nil
	}
	// CR: a CRLF pair or a lone CR.
	if i+1 < len(data) {
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF {
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // need to see the byte after CR
}

// Next returns the next event, or io.EOF when the stream ends. An event
// still pending at the end of the stream (no blank line after it) is
// dispatched rather than dropped, since servers often omit the final blank
// line. A read error other than EOF is returned wrapped.
func (r *Reader) Next() (Event, error) {
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if len(line) == 0 {
			if ev, ok := r.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // comment
		}
		field, value := line, []byte(nil)
		if c := bytes.IndexByte(line, ':'); c >= 0 {
			field, value = line[:c], line[c+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) { // no allocation: compiler-optimised comparison
		case "data":
			if r.has {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > r.max {
				return Event{}, ErrEventTooLarge
			}
			r.data = append(r.data, value...)
			r.has = true
		case "event":
			r.typ = string(value)
		}
		// id, retry and unknown fields are ignored.
	}
	if err := r.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return Event{}, ErrEventTooLarge
		}
		return Event{}, fmt.Errorf("sse: read: %w", err)
	}
	if ev, ok := r.dispatch(); ok {
		return ev, nil
	}
	return Event{}, io.EOF
}

// dispatch returns the pending event, if it has data, and resets state.
// Per the spec an event without data lines is not dispatched.
func (r *Reader) dispatch() (Event, bool) {
	if !r.has {
		r.typ = ""
		return Event{}, false
	}
	ev := Event{Type: r.typ, Data: r.data}
	r.data = r.data[:0]
	r.typ = ""
	r.has = false
	return ev, true
}
