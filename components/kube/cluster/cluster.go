// Package cluster is the Cluster component: the Kubernetes cluster a stack
// deploys to. It owns the stack's two Kubernetes providers (passed
// explicitly to every object placed in the cluster), the namespace, the
// Hugging Face token Secret and, with a ReadWriteMany model cache, the one
// Hugging Face cache claim every vLLM and SGLang framework mounts.
//
// What must survive `destroy` — the namespace and the model-cache claims —
// is created with RetainOnDelete through a second provider that adopts an
// object that already exists (upsertExistingObjects): the next `up` after
// a destroy finds the claims with their downloaded weights. Adopting is
// safe there because Pulumi never deletes those objects; every other
// object goes through the main provider, which refuses to overwrite one
// it did not create.
package cluster

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/internal/imageref"
	"github.com/servelab/servelab/internal/kube"
)

// TypeToken is the component's Pulumi type.
const TypeToken = "servelab:kube:Cluster"

// Names of the objects the component creates in the namespace.
const (
	// HFTokenSecret holds the Hugging Face token under HFTokenKey.
	HFTokenSecret = "hf-token"
	HFTokenKey    = "token"
	// SharedHFCacheClaim is the shared Hugging Face cache (ReadWriteMany).
	SharedHFCacheClaim = "hf-cache"
)

// Access modes of the model-cache claims.
const (
	ReadWriteOnce    = "ReadWriteOnce"
	ReadWriteMany    = "ReadWriteMany"
	ReadWriteOncePod = "ReadWriteOncePod"
)

// ModelCache sizes the model-cache claims.
type ModelCache struct {
	// StorageClass is empty for the cluster's default class.
	StorageClass string
	SizeGiB      int
	AccessMode   string
}

// ClusterArgs declare the cluster.
type ClusterArgs struct {
	// Stack labels every object (servelab.dev/stack).
	Stack string
	// Context selects a kubeconfig context; Kubeconfig (a secret) is the
	// kubeconfig itself, nil for the user's own ($KUBECONFIG).
	Context    string
	Kubeconfig pulumi.StringInput
	Namespace  string
	// GPUResource is the extended resource GPU engines request;
	// RuntimeClassName is set on their pods when not empty.
	GPUResource      string
	RuntimeClassName string
	// Image is the servelab image (repository:tag) pods run.
	Image      string
	ModelCache ModelCache
	// HFToken is the Hugging Face token (a secret), or nil.
	HFToken pulumi.StringInput
}

// Cluster is a provisioned cluster namespace.
type Cluster struct {
	pulumi.ResourceState

	Name      string
	Stack     string
	Namespace string
	// Provider places every object; Retained only those that outlive
	// destroy (see the package doc).
	Provider *kubernetes.Provider
	Retained *kubernetes.Provider
	// NamespaceName is Namespace as an output of the Namespace object:
	// objects that use it are created after it.
	NamespaceName    pulumi.StringOutput
	GPUResource      string
	RuntimeClassName string
	Image            string
	ModelCache       ModelCache
	// HFToken is true when the Secret HFTokenSecret exists.
	HFToken bool
	// SharedHFCache is SharedHFCacheClaim with a ReadWriteMany cache, else "".
	SharedHFCache string
}

var dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// NewCluster creates the providers, the namespace, the HF token Secret and
// the shared cache claim.
func NewCluster(ctx *pulumi.Context, name string, args *ClusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	a, err := validate(name, args)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		Name: name, Stack: a.Stack, Namespace: a.Namespace, GPUResource: a.GPUResource,
		RuntimeClassName: a.RuntimeClassName, Image: a.Image, ModelCache: a.ModelCache,
		HFToken: a.HFToken != nil,
	}
	if err := ctx.RegisterComponentResource(TypeToken, name, c, opts...); err != nil {
		return nil, err
	}

	provider := func(pname string, adopt bool) (*kubernetes.Provider, error) {
		pa := &kubernetes.ProviderArgs{Namespace: pulumi.String(a.Namespace)}
		if a.Context != "" {
			pa.Context = pulumi.String(a.Context)
		}
		if a.Kubeconfig != nil {
			pa.Kubeconfig = pulumi.ToSecret(a.Kubeconfig).(pulumi.StringOutput)
		}
		if adopt {
			pa.UpsertExistingObjects = pulumi.Bool(true)
		}
		return kubernetes.NewProvider(ctx, pname, pa, pulumi.Parent(c))
	}
	if c.Provider, err = provider(name+"-k8s", false); err != nil {
		return nil, fmt.Errorf("cluster %s: provider: %w", name, err)
	}
	if c.Retained, err = provider(name+"-k8s-retained", true); err != nil {
		return nil, fmt.Errorf("cluster %s: retained provider: %w", name, err)
	}

	ns, err := corev1.NewNamespace(ctx, name+"-namespace", &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Name:   pulumi.String(a.Namespace),
			Labels: kube.Labels(a.Stack, a.Namespace, "namespace", nil),
		},
	}, pulumi.Parent(c), pulumi.Provider(c.Retained), pulumi.RetainOnDelete(true))
	if err != nil {
		return nil, fmt.Errorf("cluster %s: namespace: %w", name, err)
	}
	c.NamespaceName = ns.Metadata.Name().Elem()

	if a.HFToken != nil {
		_, err := corev1.NewSecret(ctx, name+"-hf-token", &corev1.SecretArgs{
			Metadata:   c.Meta(HFTokenSecret, "hf-token", nil),
			Type:       pulumi.String("Opaque"),
			StringData: pulumi.StringMap{HFTokenKey: pulumi.ToSecret(a.HFToken).(pulumi.StringOutput)},
		}, c.Opts(c)...)
		if err != nil {
			return nil, fmt.Errorf("cluster %s: hf token: %w", name, err)
		}
	}
	if a.ModelCache.AccessMode == ReadWriteMany {
		if _, err := c.Claim(ctx, c, name+"-hf-cache", SharedHFCacheClaim); err != nil {
			return nil, err
		}
		c.SharedHFCache = SharedHFCacheClaim
	}

	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{
		"namespace": c.NamespaceName,
		"image":     pulumi.String(c.Image),
	}); err != nil {
		return nil, err
	}
	return c, nil
}

// Meta is the metadata of an object in the namespace, labelled for role.
func (c *Cluster) Meta(name, role string, extra map[string]string) *metav1.ObjectMetaArgs {
	return kube.Meta(name, c.NamespaceName, kube.Labels(c.Stack, name, role, extra))
}

// Opts place a child of parent in the cluster through the main provider.
func (c *Cluster) Opts(parent pulumi.Resource) []pulumi.ResourceOption {
	return []pulumi.ResourceOption{pulumi.Parent(parent), pulumi.Provider(c.Provider)}
}

// Claim creates a model-cache claim named claim (the cluster's access
// mode and size), retained on destroy and adopted if it exists, as a child
// of parent.
func (c *Cluster) Claim(ctx *pulumi.Context, parent pulumi.Resource, resName, claim string) (pulumi.StringOutput, error) {
	return c.claim(ctx, parent, resName, claim, "model-cache", c.ModelCache.AccessMode, c.ModelCache.SizeGiB)
}

// DataClaim is Claim for a data volume (Prometheus, Grafana): its own
// size, ReadWriteOnce.
func (c *Cluster) DataClaim(ctx *pulumi.Context, parent pulumi.Resource, resName, claim string, sizeGiB int) (pulumi.StringOutput, error) {
	return c.claim(ctx, parent, resName, claim, "data", ReadWriteOnce, sizeGiB)
}

func (c *Cluster) claim(ctx *pulumi.Context, parent pulumi.Resource, resName, claim, role, mode string, sizeGiB int) (pulumi.StringOutput, error) {
	spec := &corev1.PersistentVolumeClaimSpecArgs{
		AccessModes: pulumi.ToStringArray([]string{mode}),
		Resources: &corev1.VolumeResourceRequirementsArgs{
			Requests: pulumi.StringMap{"storage": pulumi.String(strconv.Itoa(sizeGiB) + "Gi")},
		},
	}
	if c.ModelCache.StorageClass != "" {
		spec.StorageClassName = pulumi.String(c.ModelCache.StorageClass)
	}
	pvc, err := corev1.NewPersistentVolumeClaim(ctx, resName, &corev1.PersistentVolumeClaimArgs{
		Metadata: c.Meta(claim, role, nil),
		Spec:     spec,
	}, pulumi.Parent(parent), pulumi.Provider(c.Retained), pulumi.RetainOnDelete(true))
	if err != nil {
		return pulumi.StringOutput{}, fmt.Errorf("claim %s: %w", claim, err)
	}
	return pvc.Metadata.Name().Elem(), nil
}

func validate(name string, args *ClusterArgs) (ClusterArgs, error) {
	if args == nil {
		return ClusterArgs{}, fmt.Errorf("cluster %s: args are required", name)
	}
	a := *args
	var errs []error
	if name == "" {
		errs = append(errs, errors.New("cluster: name is empty"))
	}
	if a.Stack == "" {
		errs = append(errs, fmt.Errorf("cluster %s: stack is required", name))
	}
	if !dnsLabel.MatchString(a.Namespace) {
		errs = append(errs, fmt.Errorf("cluster %s: namespace %q is not a DNS label", name, a.Namespace))
	}
	if a.GPUResource == "" {
		a.GPUResource = "nvidia.com/gpu"
	}
	if a.Image == "" {
		errs = append(errs, fmt.Errorf("cluster %s: the servelab image is required", name))
	}
	// Fully qualified, as on Docker hosts: a runtime that refuses short
	// names (CRI-O's enforcing mode) pulls it too.
	a.Image = imageref.Qualify(a.Image)
	if a.ModelCache.SizeGiB <= 0 {
		errs = append(errs, fmt.Errorf("cluster %s: model cache size %d GiB must be positive", name, a.ModelCache.SizeGiB))
	}
	switch a.ModelCache.AccessMode {
	case "":
		a.ModelCache.AccessMode = ReadWriteOnce
	case ReadWriteOnce, ReadWriteMany, ReadWriteOncePod:
	default:
		errs = append(errs, fmt.Errorf("cluster %s: unknown access mode %q", name, a.ModelCache.AccessMode))
	}
	if a.Context == "" && a.Kubeconfig == nil {
		errs = append(errs, fmt.Errorf("cluster %s: set a kubeconfig context or a kubeconfig", name))
	}
	return a, errors.Join(errs...)
}
