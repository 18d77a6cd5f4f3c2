package programs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/servelab/servelab/components/servelabimage"
	"github.com/servelab/servelab/programs/stackconfig"
)

// Paths locate what the program needs beside the stack: the repository
// (the servelab sources the image is built from) and the local binary.
type Paths struct {
	// Root is the repository root ("." when Pulumi runs from it, as
	// `make up` does).
	Root string
	// Binary is bin/servelab, which benchmark.runOn: local runs.
	Binary string
	// ContextDir is where the image's build context is written (one
	// directory per source hash); Root/bin/image-context by default.
	ContextDir string
}

// DefaultPaths are the paths of `make up`, run from the repository root.
func DefaultPaths() Paths {
	return Paths{Root: ".", Binary: filepath.Join("bin", "servelab"), ContextDir: filepath.Join("bin", "image-context")}
}

// ImageSource writes the servelab image's build context (only what the
// binary is built from: servelabimage.Sources) and returns its directory
// and the image tag, which hashes the same files.
func ImageSource(p Paths) (contextDir, tag string, err error) {
	src, err := servelabimage.Sources(p.Root)
	if err != nil {
		return "", "", fmt.Errorf("list the servelab image's sources: %w", err)
	}
	dir := p.ContextDir
	if dir == "" {
		dir = filepath.Join(p.Root, "bin", "image-context")
	}
	contextDir, err = src.WriteContext(dir)
	if err != nil {
		return "", "", fmt.Errorf("write the servelab image's build context: %w", err)
	}
	return contextDir, src.Tag(), nil
}

// CheckLocalBinary fails, before anything is created, when the benchmark
// runs on this machine (benchmark.runOn: local) and the servelab binary is
// not there: `make up` builds it, a plain `pulumi up` does not.
func CheckLocalBinary(lab *stackconfig.Lab, bin string) error {
	b := lab.Config.Benchmark
	if !b.Enabled || b.RunOn != "local" {
		return nil
	}
	abs, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("benchmark.runOn: local runs %s on this machine, and it does not exist: run `make build` first (`make up` does)", abs)
	case err != nil:
		return fmt.Errorf("benchmark.runOn: local runs %s on this machine: %w", abs, err)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("benchmark.runOn: local runs %s on this machine, and it is not an executable file: run `make build`", abs)
	}
	return nil
}
