package programs

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/servelab/servelab/components/framework"
)

// What decides a benchmark target's results, rendered as JSON for the
// benchmark's triggers: the engine's image (reference and resolved
// digest), argv, non-secret environment, runtime, GPU devices, memory
// fraction and replica count, and, through the gateway, the gateway's
// rendered config and image. Nothing else enters: no secret, no container
// ID (a rotated engine key replaces the container, and must not re-run the
// bench), nothing from monitoring.

// engineSpec is framework instance i's spec.
func (d *deployment) engineSpec(i int) pulumi.StringOutput {
	f, in := d.frameworks[i], d.lab.Instances[i]
	type spec struct {
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
	}
	s := spec{
		Instance: in.Instance.Name, Engine: string(in.Instance.Engine), Flavour: string(in.Instance.Flavour),
		Model: in.Instance.Model, ServedModelName: in.Instance.ServedModelName, Image: in.Framework.Image,
		Argv: f.Spec.Command, Env: f.Spec.Env, Runtime: f.Spec.Runtime, IPCHost: f.Spec.IPCHost,
		Devices: orEmpty(in.Instance.Devices), MemoryFraction: in.Instance.MemoryFraction, Replicas: in.Framework.Replicas,
	}
	return f.ImageDigest.ApplyT(func(digest string) (string, error) {
		s.ImageDigest = digest
		b, err := json.Marshal(s)
		return string(b), err
	}).(pulumi.StringOutput)
}

// gatewaySpec is the spec of a target through the gateway to framework
// instances idx.
func (d *deployment) gatewaySpec(idx ...int) pulumi.StringOutput {
	parts := []any{d.gateway.Config, d.images[d.lab.Config.Gateway.Host]}
	for _, i := range idx {
		parts = append(parts, d.engineSpec(i))
	}
	return pulumi.All(parts...).ApplyT(func(v []any) (string, error) {
		engines := make([]json.RawMessage, 0, len(idx))
		for _, e := range v[2:] {
			engines = append(engines, json.RawMessage(e.(string)))
		}
		b, err := json.Marshal(struct {
			Gateway      json.RawMessage   `json:"gateway"`
			GatewayImage string            `json:"gatewayImage"`
			Engines      []json.RawMessage `json:"engines"`
		}{json.RawMessage(v[0].(string)), v[1].(string), engines})
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
