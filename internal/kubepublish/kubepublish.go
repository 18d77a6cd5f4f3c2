// Package kubepublish writes a file into a ConfigMap from inside a pod:
// how the Kubernetes target's benchmark Job hands its results back to the
// Pulumi program (docs/kubernetes.md). It speaks to the API server with
// the pod's service-account token and CA, one merge patch, nothing else:
// the Role the Job runs with may patch that one ConfigMap and nothing more
// (RBAC can name the object for patch, not for create, so the program
// creates the ConfigMap empty and the Job fills it).
package kubepublish

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// ServiceAccountDir is where the kubelet mounts a pod's service account:
// token, ca.crt and namespace.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// MaxConfigMapBytes is the API server's limit on a ConfigMap's data.
const MaxConfigMapBytes = 1 << 20

// ErrTooLarge is returned for data a ConfigMap cannot hold.
var ErrTooLarge = errors.New("data exceeds a ConfigMap's 1 MiB")

// Client patches ConfigMaps through the Kubernetes API.
type Client struct {
	// Server is the API server's base URL, e.g. https://10.96.0.1:443.
	Server string
	// Token is the bearer token.
	Token string
	HTTP  *http.Client
}

// InCluster is a Client for the pod it runs in, from the API server's
// address in the environment (KUBERNETES_SERVICE_HOST and _PORT) and the
// service account files in dir, and the pod's namespace.
func InCluster(getenv func(string) string, dir string) (*Client, string, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, "", errors.New("not in a Kubernetes pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
	}
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("service account: %w", err)
		}
		return b, nil
	}
	token, err := read("token")
	if err != nil {
		return nil, "", err
	}
	ca, err := read("ca.crt")
	if err != nil {
		return nil, "", err
	}
	ns, err := read("namespace")
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, "", fmt.Errorf("service account: %s holds no PEM certificate", filepath.Join(dir, "ca.crt"))
	}
	c := &Client{
		Server: "https://" + net.JoinHostPort(host, port),
		Token:  strings.TrimSpace(string(token)),
		HTTP: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}
	return c, strings.TrimSpace(string(ns)), nil
}

var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$`)

// configMapKey is what a ConfigMap data key may be.
var configMapKey = regexp.MustCompile(`^[-._a-zA-Z0-9]{1,253}$`)

// PatchConfigMapData merges data into the data of the ConfigMap
// namespace/name, which must exist.
func (c *Client) PatchConfigMapData(ctx context.Context, namespace, name string, data map[string]string) error {
	if !dnsSubdomain.MatchString(namespace) || !dnsSubdomain.MatchString(name) {
		return fmt.Errorf("configmap %q/%q: not Kubernetes names", namespace, name)
	}
	size := 0
	for k, v := range data {
		if !configMapKey.MatchString(k) {
			return fmt.Errorf("configmap %s/%s: %q is not a data key", namespace, name, k)
		}
		size += len(k) + len(v)
	}
	if size > MaxConfigMapBytes {
		return fmt.Errorf("configmap %s/%s: %d bytes: %w", namespace, name, size, ErrTooLarge)
	}
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return err
	}
	u := c.Server + "/api/v1/namespaces/" + url.PathEscape(namespace) + "/configmaps/" + url.PathEscape(name) + "?fieldManager=servelab-publish"
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/merge-patch+json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("patch configmap %s/%s: %w", namespace, name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	var status struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(msg, &status) == nil && status.Message != "" {
		return fmt.Errorf("patch configmap %s/%s: %s: %s", namespace, name, resp.Status, status.Message)
	}
	return fmt.Errorf("patch configmap %s/%s: %s", namespace, name, resp.Status)
}
