package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"testing"
)

func TestStatusOf(t *testing.T) {
	t.Parallel()
	timeout := &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		err    error
		status int
	}{
		{fmt.Errorf("x: %w", ErrUnauthorized), 401},
		{fmt.Errorf("x: %w", ErrBodyTooLarge), 413},
		{fmt.Errorf("x: %w", ErrRequestTimeout), 408},
		{errNoModel, 400},
		{fmt.Errorf("%w: %q", ErrUnknownModel, "m"), 404},
		{ErrNotFound, 404},
		{ErrMethod, 405},
		{fmt.Errorf("%w for m", ErrNoBackend), 503},
		{fmt.Errorf("read: %w", context.Canceled), 499},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), 504},
		{ErrUpstreamTimeout, 504},
		{timeout, 504},
		{ErrUpstream, 502},
		{errors.New("anything else"), 502},
	}
	for _, tc := range tests {
		if got := statusOf(tc.err); got != tc.status {
			t.Errorf("statusOf(%v) = %d, want %d", tc.err, got, tc.status)
		}
		w := httptest.NewRecorder()
		if got := writeError(w, tc.err); got != tc.status || w.Code != tc.status {
			t.Errorf("writeError(%v) sent %d", tc.err, w.Code)
		}
		if e := openAIError(t, w.Body.String()); e.Message != tc.err.Error() {
			t.Errorf("message %q", e.Message)
		}
	}
}
