package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestPublishErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "runs.json")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"publish", "--from-file", "a=b"}, `required flag(s) "configmap" not set`},
		{[]string{"publish", "--configmap", "results"}, "nothing to publish"},
		{[]string{"publish", "--configmap", "results", "--from-file", "runs.json"}, "want KEY=PATH"},
		{[]string{"publish", "--configmap", "results", "--literal", "=x"}, "want KEY=VALUE"},
		{[]string{"publish", "--configmap", "results", "--from-file", "runs.json=" + missing}, "no such file"},
	} {
		_, _, err := servelab(ctx, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("servelab %v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
