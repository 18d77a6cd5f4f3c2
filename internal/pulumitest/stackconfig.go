package pulumitest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/servelab/servelab/internal/stackfile"
)

// LoadStackConfig reads a stack file (stacks/Pulumi.<env>.yaml) and returns
// its config the way the Pulumi CLI hands it to a program: every key fully
// qualified, scalars as text, structured values as JSON. What a user's
// Pulumi CLI added to the file — the encryption salt of `make up` and the
// `secure:` values of `make secret` — is left out (stackfile.Config): tests
// set secrets of their own, and pass in a checkout that holds the user's.
func LoadStackConfig(path string) (map[string]string, error) {
	return stackfile.Read(path)
}

// What the real Pulumi CLI (v3.274.1) wrote into a copy of
// stacks/Pulumi.sim.yaml for `pulumi stack init` with the passphrase
// secrets provider (make up, make preview) and `pulumi config set --secret
// servelab:hfToken …` (make secret), under a throw-away passphrase nobody
// has: the secure value and the salt line, exactly as written.
const (
	UserSecret = "  servelab:hfToken:\n    secure: v1:sC6HeIT4ehDqtEpY:Xb0KXWQj/en4uyYUwXJ/pbIkR4QcWsI6Nysi3/aTc1VMJMvy\n"
	UserSalt   = "encryptionsalt: v1:KSRv9Tp9EO4=:v1:ovLTCgNHN6d0qxve:P5ZE74TMBPYU5DlE9P6useV9f6e5UQ==\n"
)

// WithUserSecrets is the stack file at path as a user's checkout has it
// after `make up` and `make secret` (UserSecret at the end of its config,
// UserSalt after it), whatever salt and secrets the file holds already.
func WithUserSecrets(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b, _, err = stackfile.Clean(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(b, '\n')
	}
	return append(append(b, UserSecret...), UserSalt...)
}

// WriteWithUserSecrets writes WithUserSecrets(path) into a temporary
// directory under the same name and returns the copy's path.
func WriteWithUserSecrets(t testing.TB, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, WithUserSecrets(t, path), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
