package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBufPool(t *testing.T) {
	t.Parallel()
	var bp bufPool
	b := bp.get()
	*b = append(*b, "data"...)
	bp.put(b)
	if c := bp.get(); len(*c) != 0 {
		t.Errorf("pooled buffer not reset: %q", *c)
	}
	big := make([]byte, 0, maxPooledBuf+1)
	bp.put(&big) // dropped, not pooled: nothing to observe but no panic
}

func TestReadBody(t *testing.T) {
	t.Parallel()
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
		{"grows past the first buffer", strings.Repeat("y", 100000), 100000, 1 << 20, nil},
		{"grows past the first buffer, unknown length", strings.Repeat("y", 100000), -1, 1 << 20, nil},
		{"exactly the limit, unknown length", strings.Repeat("y", 65536), -1, 65536, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			r.ContentLength = tc.length
			b, err := readBody(r, tc.max)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && string(b) != tc.body {
				t.Errorf("read %d bytes, want %d", len(b), len(tc.body))
			}
		})
	}
}
