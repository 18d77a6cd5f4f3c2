package programs

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
	"github.com/servelab/servelab/programs/stackconfig"
)

// What decides a benchmark target's results, rendered as JSON for the
// benchmark's triggers: the engine's image (reference and resolved
// digest), argv, non-secret environment, runtime, GPU devices, memory
// fraction and replica count, and, through the gateway, the gateway's
// rendered config and image. Nothing else enters: no secret, no container
// ID (a rotated engine key replaces the container, and must not re-run the
// bench), nothing from monitoring.

// engineSpecDoc is an engine's spec as the triggers digest it. The
// Kubernetes fields say where its pods run; they are empty on Docker hosts,
// whose JSON is unchanged by them.
type engineSpecDoc struct {
	Instance        string   `json:"instance"`
	Engine          string   `json:"engine"`
	Flavour         string   `json:"flavour,omitempty"`
	Model           string   `json:"model"`
	ServedModelName string   `json:"servedModelName"`
	Image           string   `json:"image"`
	ImageDigest     string   `json:"imageDigest"`
	Argv            []string `json:"argv"`
	Env             []string `json:"env"`
	Runtime         string   `json:"runtime,omitempty"`
	IPCHost         bool     `json:"ipcHost,omitempty"`
	Devices         []int    `json:"devices"`
	MemoryFraction  float64  `json:"memoryFraction"`
	Replicas        int      `json:"replicas"`

	GPUResource  string                   `json:"gpuResource,omitempty"`
	GPUs         int                      `json:"gpus,omitempty"`
	RuntimeClass string                   `json:"runtimeClass,omitempty"`
	NodeSelector map[string]string        `json:"nodeSelector,omitempty"`
	Tolerations  []stackconfig.Toleration `json:"tolerations,omitempty"`
	SharedGPU    bool                     `json:"sharedGpu,omitempty"`
}

// specDoc is instance in's spec document, without what depends on the
// target (image digest, runtime, placement).
func specDoc(in stackconfig.InstancePlan, argv, env []string, ipcHost bool, replicas int) engineSpecDoc {
	return engineSpecDoc{
		Instance: in.Instance.Name, Engine: string(in.Instance.Engine), Flavour: string(in.Instance.Flavour),
		Model: in.Instance.Model, ServedModelName: in.Instance.ServedModelName, Image: in.Framework.Image,
		Argv: argv, Env: env, IPCHost: ipcHost,
		Devices: orEmpty(in.Instance.Devices), MemoryFraction: in.Instance.MemoryFraction, Replicas: replicas,
	}
}

// render is the document as JSON once the image digest (nil: not known)
// is.
func (s engineSpecDoc) render(digest pulumi.StringInput) pulumi.StringOutput {
	if digest == nil {
		digest = pulumi.String("")
	}
	return digest.ToStringOutput().ApplyT(func(d string) (string, error) {
		s.ImageDigest = d
		b, err := json.Marshal(s)
		return string(b), err
	}).(pulumi.StringOutput)
}

// engineSpec is framework instance i's spec.
func (d *deployment) engineSpec(i int) pulumi.StringOutput {
	f, in := d.frameworks[i], d.lab.Instances[i]
	s := specDoc(in, f.Spec.Command, f.Spec.Env, f.Spec.IPCHost, in.Framework.Replicas)
	s.Runtime = f.Spec.Runtime
	return s.render(f.ImageDigest)
}

// gatewaySpec is the spec of a target through the gateway to framework
// instances idx.
func (d *deployment) gatewaySpec(idx ...int) pulumi.StringOutput {
	engines := make([]pulumi.StringOutput, len(idx))
	for j, i := range idx {
		engines[j] = d.engineSpec(i)
	}
	return gatewaySpec(d.gateway.Config, d.images[d.lab.Config.Gateway.Host], engines)
}

// gatewaySpec is the spec of a target through a gateway with config and
// image to engines (their specs).
func gatewaySpec(config pulumi.StringOutput, image pulumi.StringInput, engines []pulumi.StringOutput) pulumi.StringOutput {
	parts := []any{config, image}
	for _, e := range engines {
		parts = append(parts, e)
	}
	return pulumi.All(parts...).ApplyT(func(v []any) (string, error) {
		specs := make([]json.RawMessage, 0, len(engines))
		for _, e := range v[2:] {
			specs = append(specs, json.RawMessage(e.(string)))
		}
		b, err := json.Marshal(struct {
			Gateway      json.RawMessage   `json:"gateway"`
			GatewayImage string            `json:"gatewayImage"`
			Engines      []json.RawMessage `json:"engines"`
		}{json.RawMessage(v[0].(string)), v[1].(string), specs})
		return string(b), err
	}).(pulumi.StringOutput)
}

// engineKeyFunc gives the API key a direct target sends to framework f's
// engine, nil for an engine without auth (tests substitute their own).
type engineKeyFunc func(f *framework.Framework) pulumi.StringInput

// frameworkKey is the engine's own key (Framework.APIKey, a secret), nil
// for an engine that takes none (Ollama).
func frameworkKey(f *framework.Framework) pulumi.StringInput {
	if !f.HasAPIKey {
		return nil
	}
	return f.APIKey
}
