//go:build ignore

// servelab-preview runs servelab's real program (programs.Run) under the real
// Pulumi engine as an Automation API inline program: the engine talks to a
// language runtime served from this process, so no pulumi-language-go plugin
// is needed. scripts/check-stacks.sh --program builds it in a scratch module
// (this file is excluded from the tools module by the build tag) and runs
//
//	servelab-preview -pulumi tools/bin/pulumi -dir <project copy> -stack <env> \
//	    -repo <work tree> -binary <bin/servelab> -context <scratch dir>
//
// with the same PULUMI_* environment as the CLI checks. It prints the
// engine's preview output and exits 1 when the preview fails (on these
// machines: at the first missing resource plugin, unless the program's own
// config validation fails first).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"

	"github.com/servelab/servelab/programs"
)

func main() {
	pulumiBin := flag.String("pulumi", "", "path to the pulumi CLI (…/bin/pulumi)")
	dir := flag.String("dir", "", "directory holding Pulumi.yaml (and stacks/)")
	stack := flag.String("stack", "", "stack name (already initialised)")
	var paths programs.Paths
	flag.StringVar(&paths.Root, "repo", "", "the servelab work tree (the image's sources)")
	flag.StringVar(&paths.Binary, "binary", "", "bin/servelab for benchmark.runOn: local (a preview never runs it)")
	flag.StringVar(&paths.ContextDir, "context", "", "where to write the image's build context")
	flag.Parse()
	if *pulumiBin == "" || *dir == "" || *stack == "" || paths.Root == "" || paths.Binary == "" || paths.ContextDir == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*pulumiBin, *dir, *stack, paths); err != nil {
		fmt.Fprintf(os.Stderr, "servelab-preview: %v\n", err)
		os.Exit(1)
	}
}

func run(pulumiBin, dir, stackName string, paths programs.Paths) error {
	ctx := context.Background()
	abs, err := filepath.Abs(pulumiBin)
	if err != nil {
		return err
	}
	if filepath.Base(filepath.Dir(abs)) != "bin" {
		return fmt.Errorf("-pulumi must be …/bin/pulumi, got %s", abs)
	}
	// The Automation API looks for <Root>/bin/pulumi and checks its version.
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(filepath.Dir(abs))})
	if err != nil {
		return fmt.Errorf("pulumi CLI: %w", err)
	}
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(dir), auto.Program(programs.RunWith(paths)), auto.Pulumi(cmd))
	if err != nil {
		return fmt.Errorf("workspace: %w", err)
	}
	s, err := auto.SelectStack(ctx, stackName, ws)
	if err != nil {
		return fmt.Errorf("select stack %s: %w", stackName, err)
	}
	_, err = s.Preview(ctx,
		optpreview.ProgressStreams(os.Stdout),
		optpreview.ErrorProgressStreams(os.Stderr),
		optpreview.SuppressProgress(),
	)
	if err != nil {
		// The engine's output went to the streams above; don't repeat it.
		return fmt.Errorf("preview failed")
	}
	return nil
}
