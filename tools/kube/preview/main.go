//go:build ignore

// kube-preview previews Kubernetes objects through the real Pulumi engine
// and the real pulumi-kubernetes provider plugin against a real API server:
// it starts etcd + kube-apiserver (internal/kubetest), creates the objects'
// namespaces, then runs an Automation API inline program that registers a
// kubernetes provider (the cluster's kubeconfig, as a secret) and every
// object as the provider's resource of its kind, and runs `pulumi preview`.
// scripts/kube-preview.sh builds it in a scratch module (this file is
// excluded from every module by the build tag) and runs
//
//	kube-preview -pulumi tools/bin/pulumi -bins tools/bin [-prereqs DIR] DIR...
//
// with PULUMI_HOME, PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE set to
// throw-away values and the provider plugin on PATH. Exit 1 when the
// preview fails.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/internal/kubetest"
)

func main() {
	pulumiBin := flag.String("pulumi", "", "path to the pulumi CLI (…/bin/pulumi)")
	binDir := flag.String("bins", "", "directory holding kube-apiserver and etcd")
	prereqs := flag.String("prereqs", "", "directory of objects created for real first (cluster prerequisites)")
	flag.Parse()
	if *pulumiBin == "" || *binDir == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*pulumiBin, *binDir, *prereqs, flag.Args()); err != nil {
		fmt.Fprintf(os.Stderr, "kube-preview: %v\n", err)
		os.Exit(1)
	}
}

func run(pulumiBin, binDir, prereqDir string, dirs []string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	var objs []*kubetest.Object
	for _, d := range dirs {
		o, err := kubetest.ReadDir(d)
		if err != nil {
			return err
		}
		objs = append(objs, o...)
	}
	if len(objs) == 0 {
		return fmt.Errorf("no *.json objects under %s", strings.Join(dirs, " "))
	}

	bins, err := kubetest.BinsIn(binDir)
	if err != nil {
		return err
	}
	state, err := os.MkdirTemp("", "kube-preview-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(state)
	start := time.Now()
	c, err := kubetest.Start(ctx, kubetest.Config{Bins: bins, Dir: state})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("kube-preview: kube-apiserver ready at %s in %s\n", c.URL, time.Since(start).Round(time.Millisecond))
	if prereqDir != "" {
		pre, err := kubetest.ReadDir(prereqDir)
		if err != nil {
			return err
		}
		for _, o := range pre {
			if _, err := c.Apply(ctx, o); err != nil {
				return fmt.Errorf("prerequisite: %w", err)
			}
		}
	}
	if err := c.EnsureNamespaces(ctx, objs); err != nil {
		return fmt.Errorf("namespaces: %w", err)
	}
	kubeconfig, err := c.Kubeconfig()
	if err != nil {
		return err
	}

	abs, err := filepath.Abs(pulumiBin)
	if err != nil {
		return err
	}
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(filepath.Dir(abs))})
	if err != nil {
		return fmt.Errorf("pulumi CLI: %w", err)
	}
	program := func(pctx *pulumi.Context) error { return register(pctx, string(kubeconfig), objs) }
	s, err := auto.UpsertStackInlineSource(ctx, "kubecheck", "servelab-kubecheck", program, auto.Pulumi(cmd))
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	res, err := s.Preview(ctx,
		optpreview.ProgressStreams(os.Stdout),
		optpreview.ErrorProgressStreams(os.Stderr),
		optpreview.SuppressProgress(),
	)
	if err != nil {
		return fmt.Errorf("preview failed")
	}
	fmt.Printf("kube-preview: preview succeeded: %v\n", res.ChangeSummary)
	return nil
}

// provider is the kubernetes provider resource.
type provider struct{ pulumi.ProviderResourceState }

// object is any Kubernetes object registered through the provider.
type object struct{ pulumi.CustomResourceState }

// register registers the provider and every object, named after its file.
func register(ctx *pulumi.Context, kubeconfig string, objs []*kubetest.Object) error {
	var prov provider
	if err := ctx.RegisterResource("pulumi:providers:kubernetes", "kubetest", pulumi.Map{
		"kubeconfig":            pulumi.ToSecret(pulumi.String(kubeconfig)),
		"enableServerSideApply": pulumi.Bool(true),
	}, &prov); err != nil {
		return err
	}
	for _, o := range objs {
		var body map[string]any
		if err := json.Unmarshal(o.Body, &body); err != nil {
			return fmt.Errorf("%s: %w", o.Source, err)
		}
		name := filepath.Base(filepath.Dir(o.Source)) + "-" + strings.TrimSuffix(filepath.Base(o.Source), ".json")
		var res object
		if err := ctx.RegisterResource(typeToken(o.APIVersion, o.Kind), name, pulumi.ToMap(body), &res, pulumi.Provider(&prov)); err != nil {
			return fmt.Errorf("%s: %w", o.Source, err)
		}
	}
	return nil
}

// typeToken is the provider's type for a kind: kubernetes:core/v1:Service,
// kubernetes:apps/v1:Deployment, kubernetes:rbac.authorization.k8s.io/v1:Role
// (and so for a CRD's kind, which the provider handles generically).
func typeToken(apiVersion, kind string) string {
	if !strings.Contains(apiVersion, "/") {
		apiVersion = "core/" + apiVersion
	}
	return "kubernetes:" + apiVersion + ":" + kind
}
