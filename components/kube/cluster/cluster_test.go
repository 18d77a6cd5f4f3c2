package cluster_test

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/kube/cluster"
	"github.com/servelab/servelab/internal/pulumitest"
)

func TestNewClusterArgs(t *testing.T) {
	t.Parallel()
	ok := cluster.ClusterArgs{Stack: "s", Context: "c", Namespace: "lab", Image: "servelab:x", ModelCache: cluster.ModelCache{SizeGiB: 10}}
	with := func(f func(*cluster.ClusterArgs)) *cluster.ClusterArgs { a := ok; f(&a); return &a }
	for _, tt := range []struct {
		name string
		args *cluster.ClusterArgs
		want string
	}{
		{"nil", nil, "args are required"},
		{"no context nor kubeconfig", with(func(a *cluster.ClusterArgs) { a.Context = "" }), "set a kubeconfig context or a kubeconfig"},
		{"bad namespace", with(func(a *cluster.ClusterArgs) { a.Namespace = "Lab" }), `namespace "Lab" is not a DNS label`},
		{"no image", with(func(a *cluster.ClusterArgs) { a.Image = "" }), "the servelab image is required"},
		{"no cache size", with(func(a *cluster.ClusterArgs) { a.ModelCache.SizeGiB = 0 }), "must be positive"},
		{"bad access mode", with(func(a *cluster.ClusterArgs) { a.ModelCache.AccessMode = "RWX" }), `unknown access mode "RWX"`},
		{"valid", &ok, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := pulumitest.New(nil).Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
				_, err := cluster.NewCluster(ctx, "lab", tt.args)
				return err
			})
			pulumitest.CheckErr(t, err, tt.want)
		})
	}
}

// TestClusterObjects: two providers (only the one for retained objects
// adopts existing objects), a retained namespace, the HF token as a
// secret Secret, and with ReadWriteMany the one shared HF cache claim.
func TestClusterObjects(t *testing.T) {
	t.Parallel()
	m := pulumitest.New(nil)
	err := m.Run("servelab", "s", nil, nil, func(ctx *pulumi.Context) error {
		_, err := cluster.NewCluster(ctx, "lab", &cluster.ClusterArgs{
			Stack: "s", Kubeconfig: pulumi.ToSecret(pulumi.String("kubeconfig")).(pulumi.StringOutput), Namespace: "lab", Image: "servelab:x",
			ModelCache: cluster.ModelCache{SizeGiB: 50, AccessMode: cluster.ReadWriteMany, StorageClass: "nfs"},
			HFToken:    pulumi.ToSecret(pulumi.String("hf_x")).(pulumi.StringOutput),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	providers := m.ByType("pulumi:providers:kubernetes")
	if len(providers) != 2 {
		t.Fatalf("%d providers", len(providers))
	}
	for _, p := range providers {
		adopt := p.Plain("upsertExistingObjects") == true
		if adopt != (p.Name == "lab-k8s-retained") {
			t.Errorf("%s: upsertExistingObjects %v", p.Name, adopt)
		}
		if len(p.Secrets()) == 0 || p.Secrets()[0] != "kubeconfig" {
			t.Errorf("%s: kubeconfig not secret (secrets %v)", p.Name, p.Secrets())
		}
	}
	ns, _ := m.Get("kubernetes:core/v1:Namespace", "lab-namespace")
	if !ns.RetainOnDelete || ns.ProviderName() != "lab-k8s-retained" {
		t.Errorf("namespace retained %v provider %s", ns.RetainOnDelete, ns.ProviderName())
	}
	secret, ok := m.Get("kubernetes:core/v1:Secret", "lab-hf-token")
	if !ok || len(secret.Secrets()) == 0 || secret.String("metadata.name") != cluster.HFTokenSecret {
		t.Errorf("hf token secret %v (secrets %v)", secret.Inputs, secret.Secrets())
	}
	pvc, ok := m.Get("kubernetes:core/v1:PersistentVolumeClaim", "lab-hf-cache")
	if !ok || !pvc.RetainOnDelete || pvc.String("spec.storageClassName") != "nfs" ||
		pvc.String("spec.resources.requests.storage") != "50Gi" || pvc.Strings("spec.accessModes")[0] != "ReadWriteMany" {
		t.Errorf("shared cache claim %v", pvc.Inputs)
	}
}
