// Package programs is servelab's Pulumi program. Run reads the servelab:
// config once into typed structs (config.go, load.go), validates and plans
// all of it (validate.go) and hands the plan to one of three programs —
// compare, serve, bench — which compose the components. Components never
// read config.
package programs

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/programs/stackconfig"
)

// Run is the servelab program: main.go calls pulumi.Run(programs.Run).
// Pulumi runs it from the repository root (DefaultPaths).
func Run(ctx *pulumi.Context) error { return RunWith(DefaultPaths())(ctx) }

// RunWith is the program with the repository and binary at p.
func RunWith(p Paths) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		return run(ctx, p)
	}
}

func run(ctx *pulumi.Context, p Paths) error {
	lab, err := stackconfig.CheckStack(ContextGetter(ctx), EnvConfigKeys())
	if err != nil {
		return configError(err)
	}
	// `make up` builds bin/servelab before it runs Pulumi; a plain
	// `pulumi up` must say so before it creates anything.
	if err := CheckLocalBinary(lab, p.Binary); err != nil {
		return err
	}
	secrets, err := ReadSecrets(ctx, lab)
	if err != nil {
		return configError(err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return fmt.Errorf("known_hosts files: %w", err)
	}
	if err := WriteKnownHosts(home, ctx.Stack(), lab); err != nil {
		return err
	}
	contextDir, tag, err := ImageSource(p)
	if err != nil {
		return err
	}
	opts := Options{ImageTag: tag, SourceDir: contextDir}
	if b := lab.Config.Benchmark; b.Enabled && b.RunOn == "local" {
		// The command runs bin/servelab by this relative path
		// (pulumi-command runs in the project directory, as this program
		// does), so the checkout's location is not among its inputs; the
		// binary's hash is. CheckLocalBinary made sure it exists.
		opts.BenchBinary = BenchBinary
		if opts.BenchBinarySHA256, err = FileSHA256(p.Binary); err != nil {
			return fmt.Errorf("servelab:benchmark.runOn local runs %s: %w (run `make build` first)", p.Binary, err)
		}
	}
	outputs, err := Deploy(ctx, lab, secrets, opts)
	if err != nil {
		return err
	}
	for k, v := range outputs {
		ctx.Export(k, v)
	}
	return nil
}

// ContextGetter reads servelab: keys from the running stack's config.
func ContextGetter(ctx *pulumi.Context) stackconfig.Getter {
	return func(key string) (string, bool) {
		return ctx.GetConfig(stackconfig.Namespace + ":" + key)
	}
}

// ConfigError lists every problem found in a stack's servelab: config.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "servelab config has %d problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - servelab:")
		b.WriteString(p)
	}
	return b.String()
}

func configError(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return err
	}
	var problems []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.TrimSpace(line) != "" {
			problems = append(problems, line)
		}
	}
	return &ConfigError{Problems: problems}
}

// Secrets are the stack's credentials, each a Pulumi secret output (nil
// when not set).
type Secrets struct {
	HFToken       pulumi.StringInput
	SSHPrivateKey pulumi.StringInput
	// TargetKeys are bench targets' API keys by target name.
	TargetKeys map[string]pulumi.StringInput
	// Kubeconfig is the cluster's kubeconfig (cluster stacks), or nil to
	// use your own with clusters[].context.
	Kubeconfig pulumi.StringInput
}

// ReadSecrets reads servelab:hfToken, servelab:sshPrivateKey and every
// target's apiKeySecret. A credential set in plain text is an error: it
// would sit unencrypted in the stack file.
func ReadSecrets(ctx *pulumi.Context, lab *stackconfig.Lab) (Secrets, error) {
	var errs []error
	read := func(key string) pulumi.StringInput {
		full := stackconfig.Namespace + ":" + key
		v, ok := ctx.GetConfig(full)
		if !ok {
			return nil
		}
		if !ctx.IsConfigSecret(full) {
			errs = append(errs, fmt.Errorf("%s: is stored in plain text; set it with `pulumi config set --secret %s` (and rotate it: it is in the stack file's history)", key, full))
			return nil
		}
		return pulumi.ToSecret(pulumi.String(v)).(pulumi.StringOutput)
	}
	s := Secrets{
		HFToken:       read("hfToken"),
		SSHPrivateKey: read("sshPrivateKey"),
		TargetKeys:    map[string]pulumi.StringInput{},
	}
	if lab.Cluster != nil {
		s.Kubeconfig = read("kubeconfig")
		if _, set := ctx.GetConfig(stackconfig.Namespace + ":kubeconfig"); !set && lab.Cluster.Context == "" {
			errs = append(errs, fmt.Errorf("clusters[0].context: set a kubeconfig context, or store a kubeconfig with `make secret STACK=%s KEY=kubeconfig < ~/.kube/config`: servelab does not deploy to whatever cluster kubectl points at", ctx.Stack()))
		}
	}
	for i, t := range lab.Config.Targets {
		if t.APIKeySecret == "" {
			continue
		}
		k := read(t.APIKeySecret)
		if k == nil {
			if _, ok := ctx.GetConfig(stackconfig.Namespace + ":" + t.APIKeySecret); !ok {
				errs = append(errs, fmt.Errorf("targets[%d].apiKeySecret: secret servelab:%s is not set (pulumi config set --secret servelab:%s)", i, t.APIKeySecret, t.APIKeySecret))
			}
			continue
		}
		s.TargetKeys[t.Name] = k
	}
	return s, errors.Join(errs...)
}
