package sse

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct{ typ, data string }

func readAll(t testing.TB, r io.Reader) ([]ev, error) {
	t.Helper()
	var out []ev
	rd := NewReader(r)
	for {
		e, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev{e.Type, string(e.Data)})
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []ev
	}{
		{"two events", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []ev{{"", `{"a":1}`}, {"", "[DONE]"}}},
		{"no space after colon", "data:{\"a\":1}\n\n", []ev{{"", `{"a":1}`}}},
		{"only one space stripped", "data:  x\n\n", []ev{{"", " x"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []ev{{"", "a"}, {"", "b"}}},
		{"lone cr", "data: a\r\rdata: b\r\r", []ev{{"", "a"}, {"", "b"}}},
		{"comments and keepalives", ": ping\n\n: another\ndata: x\n\n", []ev{{"", "x"}}},
		{"multi-line data", "data: a\ndata: b\n\n", []ev{{"", "a\nb"}}},
		{"event type", "event: error\ndata: {\"message\":\"boom\"}\n\n", []ev{{"error", `{"message":"boom"}`}}},
		{"type resets", "event: error\ndata: a\n\ndata: b\n\n", []ev{{"error", "a"}, {"", "b"}}},
		{"id and retry ignored", "id: 7\nretry: 10\ndata: a\n\n", []ev{{"", "a"}}},
		{"field without colon", "data\n\n", []ev{{"", ""}}},
		{"no trailing blank line", "data: a\n\ndata: [DONE]", []ev{{"", "a"}, {"", "[DONE]"}}},
		{"event without data is not dispatched", "event: x\n\n", nil},
		{"empty", "", nil},
		{"usage chunk", "data: {\"choices\":[],\"usage\":{\"completion_tokens\":3}}\n\ndata: [DONE]\n\n",
			[]ev{{"", `{"choices":[],"usage":{"completion_tokens":3}}`}, {"", "[DONE]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Whole, one byte per read, and half-and-half reads must agree.
			readers := map[string]io.Reader{
				"whole":    strings.NewReader(tt.in),
				"one-byte": iotest.OneByteReader(strings.NewReader(tt.in)),
				"half":     iotest.HalfReader(strings.NewReader(tt.in)),
			}
			for how, r := range readers {
				got, err := readAll(t, r)
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s: got %q, want %q", how, got, tt.want)
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Errorf("%s: event %d = %q, want %q", how, i, got[i], tt.want[i])
					}
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	t.Parallel()
	_, err := readAll(t, iotest.ErrReader(errors.New("conn reset")))
	if err == nil || !strings.Contains(err.Error(), "conn reset") {
		t.Errorf("read error = %v, want wrapped conn reset", err)
	}
	_, err = readAll(t, strings.NewReader("data: "+strings.Repeat("x", DefaultMaxEvent+1)+"\n\n"))
	if !errors.Is(err, ErrEventTooLarge) {
		t.Errorf("long line error = %v, want ErrEventTooLarge", err)
	}
}

// endless repeats line forever: a stream that never ends.
type endless struct {
	line string
	off  int
}

func (e *endless) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], e.line[e.off:])
		n += c
		e.off = (e.off + c) % len(e.line)
	}
	return n, nil
}

func TestReaderBoundsOneEvent(t *testing.T) {
	t.Parallel()
	const bound = 64
	for _, tt := range []struct {
		name string
		in   io.Reader
		want []ev
		err  error
	}{
		{"data at the bound", strings.NewReader("data: " + strings.Repeat("x", bound) + "\n\n"), []ev{{"", strings.Repeat("x", bound)}}, nil},
		{"multi-line data at the bound", strings.NewReader("data: " + strings.Repeat("x", 31) + "\ndata: " + strings.Repeat("y", 32) + "\n\n"),
			[]ev{{"", strings.Repeat("x", 31) + "\n" + strings.Repeat("y", 32)}}, nil},
		{"one line over the bound", strings.NewReader("data: " + strings.Repeat("x", bound+64) + "\n\n"), nil, ErrEventTooLarge},
		{"lines adding up past the bound", strings.NewReader(strings.Repeat("data: "+strings.Repeat("x", 20)+"\n", 4) + "\n"), nil, ErrEventTooLarge},
		{"endless data lines without a blank line", &endless{line: "data: aaaaaaaa\n"}, nil, ErrEventTooLarge},
		{"endless long comment", &endless{line: ": " + strings.Repeat("c", 50)}, nil, ErrEventTooLarge},
		{"events after a big one are read", strings.NewReader("data: " + strings.Repeat("x", bound) + "\n\ndata: y\n\n"),
			[]ev{{"", strings.Repeat("x", bound)}, {"", "y"}}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rd := NewReaderSize(tt.in, bound)
			var got []ev
			var err error
			for {
				var e Event
				e, err = rd.Next()
				if err != nil {
					break
				}
				got = append(got, ev{e.Type, string(e.Data)})
			}
			if tt.err == nil && !errors.Is(err, io.EOF) || tt.err != nil && !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("events %q, want %q", got, tt.want)
			}
		})
	}
	if NewReader(strings.NewReader("")).Max() != DefaultMaxEvent {
		t.Error("NewReader is not bounded by DefaultMaxEvent")
	}
}

// FuzzSSE checks that the reader never fails on any input other than an
// over-long line, and that how the input is cut into reads never changes
// the events.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n",
		"data:[DONE]\r\n\r\n",
		": keepalive\n\ndata: a\rdata: b\r\r",
		"event: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n",
		"data: a\ndata: b\n\ndata: c",
		"\r\n\r\n\r",
		"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0}}\n\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		whole, err1 := readAll(t, strings.NewReader(in))
		bytewise, err2 := readAll(t, iotest.OneByteReader(strings.NewReader(in)))
		if err1 != nil || err2 != nil {
			t.Fatalf("errors: %v, %v", err1, err2)
		}
		if len(whole) != len(bytewise) {
			t.Fatalf("whole %q vs bytewise %q", whole, bytewise)
		}
		for i := range whole {
			if whole[i] != bytewise[i] {
				t.Fatalf("event %d: whole %q vs bytewise %q", i, whole[i], bytewise[i])
			}
		}
	})
}
