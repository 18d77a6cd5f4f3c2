package programs

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
)

// BenchBinary is the servelab binary a runOn: local benchmark runs,
// relative to the project directory (`make build` writes it).
const BenchBinary = "bin/servelab"

// FileSHA256 is the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
