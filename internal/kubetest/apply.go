//go:build unix

package kubetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// FieldManager is the field manager of every apply.
const FieldManager = "servelab-kubetest"

// Applied is the API server's answer to an apply.
type Applied struct {
	// Object is the object as the server would store it: defaulted, and
	// changed by the mutating admission plugins.
	Object map[string]any
	// Warnings are the server's Warning headers (deprecated APIs or
	// fields, PodSecurity warnings, ...).
	Warnings []string
}

// StatusError is an API server's refusal.
type StatusError struct {
	Object  string // Object.String() of the object refused
	Code    int    // HTTP status
	Reason  string // metav1.Status reason: Invalid, BadRequest, Forbidden, NotFound, ...
	Message string // the server's message
}

func (e *StatusError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = http.StatusText(e.Code)
	}
	msg := fmt.Sprintf("HTTP %d %s: %s", e.Code, reason, e.Message)
	if e.Object == "" {
		return msg
	}
	return e.Object + ": " + msg
}

// DryRunApply server-side-applies o with dryRun=All: the server decodes
// it strictly (fieldValidation=Strict: unknown and duplicate fields are
// errors), defaults and validates it and runs every admission plugin,
// then stores nothing. force=true takes over fields other managers own,
// as a first apply from this manager would. Refusals are *StatusError.
func (c *Cluster) DryRunApply(ctx context.Context, o *Object) (*Applied, error) {
	return c.apply(ctx, o, true)
}

// Apply server-side-applies o for real (EnsureNamespaces uses it for
// namespaces).
func (c *Cluster) Apply(ctx context.Context, o *Object) (*Applied, error) {
	return c.apply(ctx, o, false)
}

func (c *Cluster) apply(ctx context.Context, o *Object, dryRun bool) (*Applied, error) {
	path, err := c.objectPath(ctx, o)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("fieldManager", FieldManager)
	q.Set("force", "true")
	q.Set("fieldValidation", "Strict")
	if dryRun {
		q.Set("dryRun", "All")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, c.URL+path+"?"+q.Encode(), bytes.NewReader(o.Body))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o, err)
	}
	// JSON is YAML: an apply patch may be either.
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	req.Header.Set("Accept", "application/json")
	var obj map[string]any
	warnings, err := c.do(req, &obj)
	if err != nil {
		return nil, objectError(o, err)
	}
	return &Applied{Object: obj, Warnings: warnings}, nil
}

// Exists reports whether the object named like o is stored.
func (c *Cluster) Exists(ctx context.Context, o *Object) (bool, error) {
	path, err := c.objectPath(ctx, o)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+path, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", o, err)
	}
	req.Header.Set("Accept", "application/json")
	_, err = c.do(req, nil)
	var se *StatusError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return false, nil
	default:
		return false, objectError(o, err)
	}
}

// objectError puts o first in err: a *StatusError gets o as its Object,
// anything else is wrapped.
func objectError(o *Object, err error) error {
	var se *StatusError
	if errors.As(err, &se) {
		se.Object = o.String()
		return se
	}
	return fmt.Errorf("%s: %w", o, err)
}

// do sends req; on 2xx it decodes the body into out (when not nil) and
// returns the Warning headers, otherwise a *StatusError.
func (c *Cluster) do(req *http.Request, out any) ([]string, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("read the answer to %s %s: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp.StatusCode, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return nil, fmt.Errorf("decode the answer to %s %s: %w", req.Method, req.URL.Path, err)
		}
	}
	return warnings(resp.Header), nil
}

// statusError builds the error from a metav1.Status body (or the raw body
// when it is not one).
func statusError(code int, body []byte) *StatusError {
	var st struct {
		Kind    string `json:"kind"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	e := &StatusError{Code: code}
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		e.Reason, e.Message = st.Reason, st.Message
	} else {
		e.Message = strings.TrimSpace(string(body))
	}
	return e
}

// warnings extracts the texts of Warning headers (RFC 7234 form
// `299 - "text"`, as the API server sends them).
func warnings(h http.Header) []string {
	var out []string
	for _, w := range h.Values("Warning") {
		text := w
		if _, rest, ok := strings.Cut(w, " - "); ok {
			if s, err := strconv.Unquote(rest); err == nil {
				text = s
			}
		}
		out = append(out, text)
	}
	return out
}

// EnsureNamespaces creates, for real, every namespace the objects use:
// the Namespace objects among them as they are (a namespace's labels, such
// as PodSecurity's, change what admission does to the others), then a
// plain one for every other metadata.namespace. In each it creates the
// "default" ServiceAccount, as a cluster's service-account controller
// would (a Pod naming no service account needs it to pass admission).
func (c *Cluster) EnsureNamespaces(ctx context.Context, objs []*Object) error {
	var errs []error
	have := map[string]bool{}
	for _, o := range objs {
		if o.APIVersion == "v1" && o.Kind == "Namespace" {
			if _, err := c.Apply(ctx, o); err != nil {
				errs = append(errs, err)
			}
			have[o.Name] = true
		}
	}
	var names []string
	for _, o := range objs {
		if o.Namespace != "" && !slices.Contains(names, o.Namespace) {
			names = append(names, o.Namespace)
		}
	}
	for _, ns := range names {
		if !have[ns] {
			nsObj := generated("Namespace", "", ns)
			if _, err := c.Apply(ctx, nsObj); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		if _, err := c.Apply(ctx, generated("ServiceAccount", ns, "default")); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// generated is a minimal core/v1 object EnsureNamespaces creates.
func generated(kind, namespace, name string) *Object {
	meta := map[string]string{"name": name}
	if namespace != "" {
		meta["namespace"] = namespace
	}
	body, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": kind, "metadata": meta})
	return &Object{Source: "(kubetest: created for the objects' namespaces)", APIVersion: "v1", Kind: kind, Namespace: namespace, Name: name, Body: body}
}
