//go:build unix

package kubetest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// apiResource is what discovery says about a kind.
type apiResource struct {
	name       string // the plural in the URL: deployments, configmaps, ...
	namespaced bool
}

// objectPath is the REST path of o: /api/v1/namespaces/<ns>/<resource>/<name>
// for a namespaced core kind, /apis/<group>/<version>/<resource>/<name> for a
// cluster-scoped one of a group, and so on. A namespaced object without a
// namespace goes to "default", as kubectl and Pulumi send it.
func (c *Cluster) objectPath(ctx context.Context, o *Object) (string, error) {
	res, err := c.resource(ctx, o)
	if err != nil {
		return "", err
	}
	p := groupVersionPath(o.APIVersion)
	if res.namespaced {
		ns := o.Namespace
		if ns == "" {
			ns = "default"
		}
		p += "/namespaces/" + url.PathEscape(ns)
	}
	return p + "/" + res.name + "/" + url.PathEscape(o.Name), nil
}

// groupVersionPath is /api/v1 for the core group, /apis/<group>/<version>
// otherwise.
func groupVersionPath(apiVersion string) string {
	if !strings.Contains(apiVersion, "/") {
		return "/api/" + apiVersion
	}
	return "/apis/" + apiVersion
}

// resource looks o's kind up in its group version's discovery document
// (fetched once per group version).
func (c *Cluster) resource(ctx context.Context, o *Object) (apiResource, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	kinds, ok := c.discovery[o.APIVersion]
	if !ok {
		var err error
		if kinds, err = c.discover(ctx, o); err != nil {
			return apiResource{}, err
		}
		c.discovery[o.APIVersion] = kinds
	}
	res, ok := kinds[o.Kind]
	if !ok {
		return apiResource{}, fmt.Errorf("%s: kind %s is not served in %s by this API server (a CRD's kind needs the CRD installed)", o, o.Kind, o.APIVersion)
	}
	return res, nil
}

// discover reads the APIResourceList of o's group version.
func (c *Cluster) discover(ctx context.Context, o *Object) (map[string]apiResource, error) {
	path := groupVersionPath(o.APIVersion)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o, err)
	}
	req.Header.Set("Accept", "application/json")
	var list struct {
		Resources []struct {
			Name       string `json:"name"`
			Kind       string `json:"kind"`
			Namespaced bool   `json:"namespaced"`
		} `json:"resources"`
	}
	if _, err := c.do(req, &list); err != nil {
		return nil, fmt.Errorf("%s: discovery of apiVersion %s (GET %s): %w", o, o.APIVersion, path, err)
	}
	kinds := map[string]apiResource{}
	for _, r := range list.Resources {
		if strings.Contains(r.Name, "/") { // a subresource: deployments/scale, pods/log, ...
			continue
		}
		kinds[r.Kind] = apiResource{name: r.Name, namespaced: r.Namespaced}
	}
	return kinds, nil
}
