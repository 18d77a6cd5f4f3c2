// Command stackcopy copies stack files into a directory without what a
// user's Pulumi CLI added to them — the encryption salt (make up, make
// preview) and the `secure:` values (make secret), which only the user's
// passphrase decrypts — so that scripts/check-stacks.sh checks them with a
// passphrase of its own (internal/stackfile):
//
//	go run ./scripts/stackcopy DIR stacks/Pulumi.*.yaml
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/servelab/servelab/internal/stackfile"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: stackcopy DIR STACKFILE...")
		os.Exit(2)
	}
	dir := os.Args[1]
	for _, src := range os.Args[2:] {
		if err := copyClean(dir, src); err != nil {
			fmt.Fprintln(os.Stderr, "stackcopy:", err)
			os.Exit(1)
		}
	}
}

func copyClean(dir, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	clean, removed, err := stackfile.Clean(b)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if len(removed) > 0 {
		fmt.Fprintf(os.Stderr, "stackcopy: %s: the copy leaves out your %s\n", filepath.Base(src), strings.Join(removed, ", "))
	}
	return os.WriteFile(filepath.Join(dir, filepath.Base(src)), clean, 0o644)
}
