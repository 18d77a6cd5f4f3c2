package gateway

import (
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	ids := newIDSource()
	tests := []struct{ in, want string }{
		{"abc-123_x.y:z", "abc-123_x.y:z"},
		{"with space\t<tag>", "withspacetag"},
		{strings.Repeat("a", 100), strings.Repeat("a", maxRequestIDLen)},
		{"\"; DROP", "DROP"},
	}
	for _, tc := range tests {
		if got := ids.requestID(tc.in); got != tc.want {
			t.Errorf("requestID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a, b := ids.requestID(""), ids.requestID("<>")
	if a == "" || b == "" || a == b || !strings.HasPrefix(a, ids.prefix) {
		t.Errorf("generated ids %q %q", a, b)
	}
	if newIDSource().prefix == ids.prefix {
		t.Error("two sources share a prefix")
	}
}
