package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// keySet holds the SHA-256 of each API key. Comparing digests keeps the
// comparison constant-time in the key's length too.
type keySet struct {
	digests [][sha256.Size]byte
}

// loadKeys reads the keys configured in a. It returns nil when auth is off,
// and an error when auth is configured but yields no key (a gateway that
// would refuse everything is a configuration mistake). Keys come from a file
// or an environment variable, never from argv.
func loadKeys(a Auth, getenv func(string) string) (*keySet, error) {
	if !a.Enabled() {
		return nil, nil
	}
	var keys []string
	if a.KeysFile != "" {
		b, err := os.ReadFile(a.KeysFile)
		if err != nil {
			return nil, fmt.Errorf("%w: auth.keysFile: %w", ErrConfig, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			keys = append(keys, line)
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: auth.keysFile: %w", ErrConfig, err)
		}
	}
	if a.KeysEnv != "" {
		v := getenv(a.KeysEnv)
		for k := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: auth: no API key found in keysFile %q or environment variable %q", ErrConfig, a.KeysFile, a.KeysEnv)
	}
	ks := &keySet{}
	for _, k := range keys {
		ks.digests = append(ks.digests, sha256.Sum256([]byte(k)))
	}
	return ks, nil
}

// allows reports whether r carries "Authorization: Bearer <key>" with a
// configured key.
func (ks *keySet) allows(r *http.Request) bool {
	if ks == nil {
		return true
	}
	return ks.allowsBearer([]byte(r.Header.Get("Authorization")))
}

// allowsBearer reports whether the Authorization value h is "Bearer <key>"
// with a configured key. Every key is compared, in constant time, whatever
// matches.
func (ks *keySet) allowsBearer(h []byte) bool {
	if ks == nil {
		return true
	}
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !bytes.EqualFold(h[:len(prefix)], []byte(prefix)) {
		return false
	}
	d := sha256.Sum256(bytes.TrimSpace(h[len(prefix):]))
	match := 0
	for i := range ks.digests {
		match |= subtle.ConstantTimeCompare(d[:], ks.digests[i][:])
	}
	return match == 1
}

// readBackendKey reads a backend's API key file: one line, the key, of
// visible ASCII characters without spaces (what a bearer token may hold).
// Errors name the file, never its content.
func readBackendKey(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("apiKeyFile: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if key == "" {
		return "", fmt.Errorf("apiKeyFile %s: no key in the file", path)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c > '~' {
			return "", fmt.Errorf("apiKeyFile %s: the key must be one line of visible ASCII characters without spaces", path)
		}
	}
	return key, nil
}
