package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPayloadRefs(t *testing.T) {
	t.Parallel()
	pool := newPayloadPool()
	p := getPayload(pool)
	p.buf = append(p.buf, "hello"...)
	r1, r2 := p.reader(), p.reader()
	p.release()
	if got, _ := io.ReadAll(r1); string(got) != "hello" {
		t.Errorf("reader 1 read %q", got)
	}
	r1.Close()
	r1.Close() // a second Close must not release twice
	if p.refs.Load() != 1 {
		t.Fatalf("refs = %d after the handler and reader 1 released, want 1", p.refs.Load())
	}
	var sb strings.Builder
	if _, err := r2.WriteTo(&sb); err != nil || sb.String() != "hello" {
		t.Errorf("reader 2 wrote %q, %v", sb.String(), err)
	}
	r2.Close()
	if p.refs.Load() != 0 {
		t.Errorf("refs = %d, want 0", p.refs.Load())
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	pool := newPayloadPool()
	tests := []struct {
		name   string
		body   string
		length int64 // -1: unknown
		max    int64
		err    error
	}{
		{"fits", "0123456789", 10, 10, nil},
		{"fits unknown length", "0123456789", -1, 10, nil},
		{"declared too large", "01234567890", 11, 10, ErrBodyTooLarge},
		{"too large unknown length", strings.Repeat("x", 100000), -1, 50000, ErrBodyTooLarge},
		{"empty", "", 0, 10, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			r.ContentLength = tc.length
			p, err := readBody(r, pool, tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && string(p.buf) != tc.body {
				t.Errorf("read %d bytes, want %d", len(p.buf), len(tc.body))
			}
		})
	}
}
