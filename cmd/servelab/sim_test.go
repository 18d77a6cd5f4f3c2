package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSimFlavorSpelling: --flavor is accepted beside --flavour (and
// reaches the same setting: a bad value is refused as --flavour's).
func TestSimFlavorSpelling(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, spelling := range []string{"--flavour", "--flavor", "--flavor=nonsense"} {
		args := []string{"sim", spelling}
		if !strings.Contains(spelling, "=") {
			args = append(args, "nonsense")
		}
		_, _, err := servelab(ctx, args...)
		if err == nil || !strings.Contains(err.Error(), "--flavour:") || !strings.Contains(err.Error(), "nonsense") {
			t.Errorf("servelab %s: %v, want the flavour refused", strings.Join(args, " "), err)
		}
	}
	if _, _, err := servelab(ctx, "sim"); err == nil || !strings.Contains(err.Error(), `"flavour" not set`) {
		t.Errorf("servelab sim without a flavour: %v", err)
	}
}
