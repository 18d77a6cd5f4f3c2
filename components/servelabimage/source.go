package servelabimage

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/version"
)

// BinaryPackage is the package the image's binary is built from.
const BinaryPackage = "./cmd/servelab"

// Source is what goes into the servelab image, and nothing else: the files
// of every package of this module that cmd/servelab links (Go, assembly,
// embedded files — as the Go toolchain itself reports them with `go list
// -deps`), go.mod, go.sum and the Dockerfile. It is both the image's build
// context (WriteContext) and what its tag hashes (Tag), so the tag changes
// exactly when the binary can, and a stack file, the Pulumi program or the
// docs never reach the image or its tag.
type Source struct {
	// Root is the repository root the files are relative to.
	Root string
	// Files are slash-separated paths relative to Root, sorted.
	Files []string
	// Hash is the hex SHA-256 of every file's path and content.
	Hash string
}

// Sources lists and hashes the image's sources under root (the repository
// root, where go.mod is). It runs `go list` as the image build will compile
// (GOOS=linux, CGO_ENABLED=0), keeping files excluded only by build
// constraints too, so the list does not depend on the machine running it.
func Sources(root string) (*Source, error) {
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,CgoFiles,IgnoredGoFiles,SFiles,HFiles,CFiles,SysoFiles,EmbedFiles", BinaryPackage)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list -deps %s in %s: %w: %s", BinaryPackage, root, err, strings.TrimSpace(stderr.String()))
	}
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	files := []string{"go.mod", "go.sum", "Dockerfile"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list -deps %s: %w", BinaryPackage, err)
		}
		if p.Module == nil || !p.Module.Main {
			continue // the standard library and modules pinned by go.sum
		}
		rel, err := filepath.Rel(absRoot, p.Dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("package dir %s is outside %s", p.Dir, absRoot)
		}
		for _, f := range p.files() {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)

	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(b))
		h.Write(b)
	}
	return &Source{Root: root, Files: files, Hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// listedPackage is what Sources reads of one package from `go list -json`.
type listedPackage struct {
	Dir    string
	Module *struct{ Main bool }
	// The package's files, relative to Dir, by kind.
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string // excluded by build constraints (kept: the list must not depend on the machine)
	SFiles         []string
	HFiles         []string
	CFiles         []string
	SysoFiles      []string
	EmbedFiles     []string
}

func (p listedPackage) files() []string {
	return slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles, p.SFiles, p.HFiles, p.CFiles, p.SysoFiles, p.EmbedFiles)
}

// Tag is the image reference for these sources:
// localhost/servelab:<version>-<12 hex of Hash>. (localhost/ is how podman
// names a locally built image, and Docker keeps it as given.)
func (s *Source) Tag() string {
	return imageref.Local("servelab:" + version.Version + "-" + s.Hash[:12])
}

// WriteContext writes the build context — exactly Files — into
// dir/<12 hex of Hash> and returns that path. The directory is named by
// content: an existing one is reused as is, and a new one is written
// under a temporary name and renamed, so two programs running at once
// never see half of it.
func (s *Source) WriteContext(dir string) (string, error) {
	final := filepath.Join(dir, s.Hash[:12])
	if _, err := os.Stat(filepath.Join(final, "Dockerfile")); err == nil {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	for _, f := range s.Files {
		b, err := os.ReadFile(filepath.Join(s.Root, filepath.FromSlash(f)))
		if err != nil {
			return "", err
		}
		dst := filepath.Join(tmp, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(final, "Dockerfile")); statErr == nil {
			return final, nil // another run wrote the same content first
		}
		return "", fmt.Errorf("build context %s: %w", final, err)
	}
	return final, nil
}
