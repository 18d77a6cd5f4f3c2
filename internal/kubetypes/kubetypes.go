// Package kubetypes holds the Kubernetes values a stack file writes and
// the Kubernetes components render, as plain data: the stack's config
// (programs/stackconfig) reads them without Pulumi, internal/kube renders
// them for a pod spec.
package kubetypes

// Toleration is a Kubernetes toleration, as a stack file writes it.
type Toleration struct {
	Key               string `json:"key,omitempty"`
	Operator          string `json:"operator,omitempty"`
	Value             string `json:"value,omitempty"`
	Effect            string `json:"effect,omitempty"`
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}
