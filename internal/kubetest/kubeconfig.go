//go:build unix

package kubetest

import (
	"encoding/json"
	"fmt"
)

// Kubeconfig returns a kubeconfig (JSON, which kubeconfig readers take as
// YAML) for the cluster's admin identity, certificates inline: what a
// client such as the pulumi-kubernetes provider needs to reach the API
// server. It holds the admin's private key: keep it out of logs.
func (c *Cluster) Kubeconfig() ([]byte, error) {
	const name = "servelab-kubetest"
	cfg := map[string]any{
		"apiVersion":      "v1",
		"kind":            "Config",
		"current-context": name,
		"clusters": []any{map[string]any{"name": name, "cluster": map[string]any{
			"server":                     c.URL,
			"certificate-authority-data": c.pki.caPEM, // []byte: base64 in JSON, as kubeconfig wants
		}}},
		"users": []any{map[string]any{"name": adminUser, "user": map[string]any{
			"client-certificate-data": c.pki.clientCertPEM,
			"client-key-data":         c.pki.clientKeyPEM,
		}}},
		"contexts": []any{map[string]any{"name": name, "context": map[string]any{
			"cluster": name,
			"user":    adminUser,
		}}},
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return b, nil
}
