package pulumitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// KubeObject is a Kubernetes object a program registered under the mock
// engine, as the API server would receive it: apiVersion, kind, metadata
// and the rest of its inputs, secret values replaced by Redacted (a valid
// string wherever the object holds one: servelab puts secrets only in
// Secrets' stringData).
type KubeObject struct {
	Kind      string
	Name      string
	Namespace string
	Object    map[string]any
}

// applyOrder ranks kinds the way they can be applied one after the other:
// a namespace before what lives in it, RBAC and configuration before the
// workloads that use them.
var applyOrder = []string{
	"Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
	"Secret", "ConfigMap", "PersistentVolumeClaim", "Service", "Deployment", "StatefulSet", "DaemonSet", "Job",
}

// KubeObjects returns every Kubernetes object registered (reads and
// providers excluded) in apply order, then by namespace and name.
func (m *Mocks) KubeObjects() ([]KubeObject, error) {
	var out []KubeObject
	for _, r := range m.Resources() {
		if r.Read || !strings.HasPrefix(r.Type, "kubernetes:") {
			continue
		}
		obj, ok := manifestValue(resource.NewObjectProperty(r.Inputs), false).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s %s: inputs are not an object", r.Type, r.Name)
		}
		kind, _ := obj["kind"].(string)
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		if kind == "" || obj["apiVersion"] == nil || name == "" {
			return nil, fmt.Errorf("%s %s: no apiVersion, kind or metadata.name", r.Type, r.Name)
		}
		out = append(out, KubeObject{Kind: kind, Name: name, Namespace: ns, Object: obj})
	}
	rank := func(k string) int {
		if i := slices.Index(applyOrder, k); i >= 0 {
			return i
		}
		return len(applyOrder)
	}
	slices.SortStableFunc(out, func(a, b KubeObject) int {
		if d := rank(a.Kind) - rank(b.Kind); d != 0 {
			return d
		}
		if c := strings.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// manifestValue is plain data for a manifest: inside a secret, every
// string becomes Redacted and maps and lists keep their shape (a Secret's
// whole stringData is one secret, and the API server wants a map there).
func manifestValue(v resource.PropertyValue, secret bool) any {
	switch {
	case v.IsSecret():
		return manifestValue(v.SecretValue().Element, true)
	case v.IsOutput():
		o := v.OutputValue()
		if !o.Known {
			return "[unknown]"
		}
		return manifestValue(o.Element, secret || o.Secret)
	case v.IsString() && secret:
		return Redacted
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = manifestValue(e, secret)
		}
		return out
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if strings.HasPrefix(string(k), "__") {
				continue
			}
			out[string(k)] = manifestValue(e, secret)
		}
		return out
	}
	return plain(v, true)
}

// FileName is the object's golden file name at position i:
// <NN>-<kind>-<name>.json.
func (o KubeObject) FileName(i int) string {
	return fmt.Sprintf("%02d-%s-%s.json", i, strings.ToLower(o.Kind), o.Name)
}

// JSON renders the object, indented, with a final newline.
func (o KubeObject) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(o.Object); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
