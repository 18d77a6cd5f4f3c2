package programs_test

import (
	"path/filepath"
	"testing"

	"github.com/servelab/servelab/internal/pulumitest"
)

// TestStacksWithUserSecrets: a checkout where `make up` wrote the stack's
// encryption salt and `make secret` a secure value into every stack file
// still passes the stack tests — each stack plans exactly its golden plan.
// (Before, reading such a file failed: "servelab:hfToken is an encrypted
// secret".)
func TestStacksWithUserSecrets(t *testing.T) {
	t.Parallel()
	for stack, path := range stackFiles(t) {
		t.Run(stack, func(t *testing.T) {
			t.Parallel()
			run, err := runStack(t, stack, pulumitest.WriteWithUserSecrets(t, path), 0)
			if err != nil {
				t.Fatalf("pulumi run: %v", err)
			}
			plan, err := run.mocks.Plan()
			if err != nil {
				t.Fatal(err)
			}
			pulumitest.Golden(t, filepath.Join("testdata", "plans", stack+".json"), plan, false)
		})
	}
}
