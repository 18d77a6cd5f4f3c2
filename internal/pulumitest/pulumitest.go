// Package pulumitest runs servelab programs and components under Pulumi's
// own mock engine (pulumi.RunErr + pulumi.WithMocks) and records every
// resource registered, so a test can ask "which resources of type T, with
// which inputs, parent, provider and dependencies". It is shared by every
// component's and program's tests; nothing here substitutes for the engine.
package pulumitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one registration the mock engine saw.
type Resource struct {
	Type   string
	Name   string
	Custom bool
	// Parent is the parent's URN ("" for the stack's direct children).
	Parent string
	// Provider is the provider reference ("urn::id"), "" for the default.
	Provider string
	// Dependencies are URNs this resource depends on explicitly.
	Dependencies []string
	Inputs       resource.PropertyMap
	// RetainOnDelete and the custom timeouts as requested.
	RetainOnDelete bool
	CreateTimeout  string
	// IgnoreChanges are the input paths Pulumi is told to ignore in diffs.
	IgnoreChanges       []string
	DeleteBeforeReplace bool
	// PropertyDependencies are, per input, the URNs its value came from.
	PropertyDependencies map[string][]string
}

// ParentName is the name part of Parent's URN.
func (r Resource) ParentName() string { return urnName(r.Parent) }

// ProviderName is the provider's resource name. A provider reference is
// "<urn>::<id>", so the name is the part before the id.
func (r Resource) ProviderName() string {
	parts := strings.Split(r.Provider, "::")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// Input returns an input by dotted path ("healthcheck.tests"), unwrapping
// secrets, and reports whether it was present.
func (r Resource) Input(path string) (resource.PropertyValue, bool) {
	v := resource.NewObjectProperty(r.Inputs)
	for _, key := range strings.Split(path, ".") {
		for v.IsSecret() {
			v = v.SecretValue().Element
		}
		if !v.IsObject() {
			return resource.PropertyValue{}, false
		}
		next, ok := v.ObjectValue()[resource.PropertyKey(key)]
		if !ok {
			return resource.PropertyValue{}, false
		}
		v = next
	}
	return v, true
}

// String is an input as a string ("" when absent or not a string).
func (r Resource) String(path string) string {
	v, ok := r.Input(path)
	for ok && v.IsSecret() {
		v = v.SecretValue().Element
	}
	if !ok || !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// Strings is a string-array input.
func (r Resource) Strings(path string) []string {
	v, ok := r.Input(path)
	if !ok || !v.IsArray() {
		return nil
	}
	out := make([]string, 0, len(v.ArrayValue()))
	for _, e := range v.ArrayValue() {
		for e.IsSecret() {
			e = e.SecretValue().Element
		}
		if e.IsString() {
			out = append(out, e.StringValue())
		}
	}
	return out
}

// Plain is an input as plain Go data (secrets unwrapped), for assertions.
func (r Resource) Plain(path string) any {
	v, ok := r.Input(path)
	if !ok {
		return nil
	}
	return plain(v, false)
}

// OutputsFunc gives a resource outputs beyond its inputs (a command's
// stdout, an image's id). It returns nil for "inputs only".
type OutputsFunc func(args pulumi.MockResourceArgs) resource.PropertyMap

// Mocks implements pulumi.MockResourceMonitor and records registrations.
type Mocks struct {
	outputs OutputsFunc

	mu        sync.Mutex
	resources []Resource
}

var _ pulumi.MockResourceMonitor = (*Mocks)(nil)

// New returns a recording mock; outputs may be nil.
func New(outputs OutputsFunc) *Mocks { return &Mocks{outputs: outputs} }

// NewResource records the registration and returns its inputs as state,
// plus DefaultOutputs and the test's outputs.
func (m *Mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r := Resource{
		Type:     args.TypeToken,
		Name:     args.Name,
		Custom:   args.Custom,
		Provider: args.Provider,
		Inputs:   args.Inputs,
	}
	if rpc := args.RegisterRPC; rpc != nil {
		r.Parent = rpc.GetParent()
		r.Dependencies = slices.Sorted(slices.Values(rpc.GetDependencies()))
		r.RetainOnDelete = rpc.GetRetainOnDelete()
		r.IgnoreChanges = rpc.GetIgnoreChanges()
		r.DeleteBeforeReplace = rpc.GetDeleteBeforeReplace()
		if t := rpc.GetCustomTimeouts(); t != nil {
			r.CreateTimeout = t.GetCreate()
		}
		for k, deps := range rpc.GetPropertyDependencies() {
			if r.PropertyDependencies == nil {
				r.PropertyDependencies = map[string][]string{}
			}
			r.PropertyDependencies[k] = slices.Sorted(slices.Values(deps.GetUrns()))
		}
	}
	state := args.Inputs.Copy()
	maps.Copy(state, DefaultOutputs(args))
	if m.outputs != nil {
		maps.Copy(state, m.outputs(args))
	}
	m.mu.Lock()
	m.resources = append(m.resources, r)
	m.mu.Unlock()
	return args.Name + "-id", state, nil
}

// Call answers provider functions; servelab calls none.
func (m *Mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return nil, fmt.Errorf("unexpected call to %s", args.Token)
}

// ProbeDocker is the docker section of a host probe's output (gpuhost's
// ProbeScript) from Docker 28.2 (Engine API 1.50); tests append it to the
// GPU and runtime sections they need.
const ProbeDocker = "### servelab:docker\n" +
	`{"Version":"28.2.2","ApiVersion":"1.50","MinAPIVersion":"1.24","Components":[{"Name":"Engine","Version":"28.2.2"}]}` + "\n"

// CPUProbe is a whole probe output of a CPU-only host with Docker 28.2.
const CPUProbe = "### servelab:gpus\nsh: nvidia-smi: not found\n### servelab:exit=127\n" +
	"### servelab:runtimes\n" + `{"runc":{"path":"runc"}}` + "\n" + ProbeDocker

// DefaultOutputs are the computed outputs servelab reads from provider
// resources, made deterministic: a remote image's id is its name, a
// generated password is "<name>-password" (the real provider makes it
// secret), a host probe (a command named "<host>-probe") answers CPUProbe,
// any other command prints nothing.
func DefaultOutputs(args pulumi.MockResourceArgs) resource.PropertyMap {
	switch args.TypeToken {
	case "docker:index/remoteImage:RemoteImage":
		return resource.PropertyMap{"imageId": args.Inputs["name"], "repoDigest": args.Inputs["name"]}
	case "docker:index/image:Image":
		return resource.PropertyMap{"imageName": args.Inputs["imageName"], "repoDigest": args.Inputs["imageName"]}
	case "random:index/randomPassword:RandomPassword":
		return resource.PropertyMap{
			"result":     resource.MakeSecret(resource.NewProperty(args.Name + "-password")),
			"bcryptHash": resource.MakeSecret(resource.NewProperty(mockBcrypt(args.Name))),
		}
	case "command:local:Command", "command:remote:Command":
		stdout := ""
		if strings.HasSuffix(args.Name, "-probe") {
			stdout = CPUProbe
		}
		return resource.PropertyMap{"stdout": resource.NewProperty(stdout), "stderr": resource.NewProperty("")}
	}
	return nil
}

// mockBcrypt is a well-formed bcrypt hash ($2a$, cost 10, 53 characters of
// bcrypt's base64) that depends only on name. It matches no password.
func mockBcrypt(name string) string {
	const alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 53)
	for i := range b {
		c := byte(i)
		if len(name) > 0 {
			c += name[i%len(name)]
		}
		b[i] = alphabet[int(c)%len(alphabet)]
	}
	return "$2a$10$" + string(b)
}

// Resources returns every registration, in registration order.
func (m *Mocks) Resources() []Resource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.resources)
}

// ByType returns the registrations of one type token, sorted by name.
func (m *Mocks) ByType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources() {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Get returns the registration of type typ named name.
func (m *Mocks) Get(typ, name string) (Resource, bool) {
	for _, r := range m.Resources() {
		if r.Type == typ && r.Name == name {
			return r, true
		}
	}
	return Resource{}, false
}

// Run runs body under the mock engine for project/stack with config
// (fully-qualified keys, values as Pulumi passes them: strings, JSON for
// structured values) and the given secret keys.
func (m *Mocks) Run(project, stack string, config map[string]string, secretKeys []string, body pulumi.RunFunc) error {
	return pulumi.RunErr(body, pulumi.WithMocks(project, stack, m), func(info *pulumi.RunInfo) {
		info.Config = config
		info.ConfigSecretKeys = secretKeys
	})
}

// PlanEntry is one resource of a Plan: what a reviewer would look for in a
// `pulumi preview`.
type PlanEntry struct {
	Type                string         `json:"type"`
	Name                string         `json:"name"`
	Parent              string         `json:"parent,omitempty"`
	Provider            string         `json:"provider,omitempty"`
	DependsOn           []string       `json:"dependsOn,omitempty"`
	RetainOnDelete      bool           `json:"retainOnDelete,omitempty"`
	DeleteBeforeReplace bool           `json:"deleteBeforeReplace,omitempty"`
	IgnoreChanges       []string       `json:"ignoreChanges,omitempty"`
	CreateTimeout       string         `json:"createTimeout,omitempty"`
	Inputs              map[string]any `json:"inputs,omitempty"`
}

// Redacted replaces every secret value in a plan.
const Redacted = "[secret]"

// Plan renders the recorded resources as a stable, reviewable JSON
// document: sorted by type and name, secrets redacted, URNs shortened to
// names. Provider references and the stack resource are kept by name.
func (m *Mocks) Plan() ([]byte, error) {
	rs := m.Resources()
	entries := make([]PlanEntry, 0, len(rs))
	for _, r := range rs {
		e := PlanEntry{
			Type:                r.Type,
			Name:                r.Name,
			Parent:              r.ParentName(),
			Provider:            r.ProviderName(),
			RetainOnDelete:      r.RetainOnDelete,
			DeleteBeforeReplace: r.DeleteBeforeReplace,
			IgnoreChanges:       r.IgnoreChanges,
			CreateTimeout:       r.CreateTimeout,
		}
		for _, d := range r.Dependencies {
			e.DependsOn = append(e.DependsOn, urnName(d))
		}
		if len(r.Inputs) > 0 {
			e.Inputs = plain(resource.NewObjectProperty(r.Inputs), true).(map[string]any)
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Type != entries[j].Type {
			return entries[i].Type < entries[j].Type
		}
		return entries[i].Name < entries[j].Name
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep && and <> readable in command lines
	enc.SetIndent("", "  ")
	if err := enc.Encode(entries); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Secrets returns the dotted paths of every secret input of r.
func (r Resource) Secrets() []string {
	var out []string
	var walk func(prefix string, v resource.PropertyValue)
	walk = func(prefix string, v resource.PropertyValue) {
		switch {
		case v.IsSecret():
			out = append(out, prefix)
		case v.IsObject():
			for _, k := range slices.Sorted(maps.Keys(v.ObjectValue())) {
				walk(join(prefix, string(k)), v.ObjectValue()[k])
			}
		case v.IsArray():
			for i, e := range v.ArrayValue() {
				walk(fmt.Sprintf("%s[%d]", prefix, i), e)
			}
		case v.IsOutput() && v.OutputValue().Secret:
			out = append(out, prefix)
		}
	}
	walk("", resource.NewObjectProperty(r.Inputs))
	return out
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

func plain(v resource.PropertyValue, redact bool) any {
	switch {
	case v.IsSecret():
		if redact {
			return Redacted
		}
		return plain(v.SecretValue().Element, redact)
	case v.IsOutput():
		o := v.OutputValue()
		if o.Secret && redact {
			return Redacted
		}
		if !o.Known {
			return "[unknown]"
		}
		return plain(o.Element, redact)
	case v.IsComputed():
		return "[unknown]"
	case v.IsNull():
		return nil
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	case v.IsArray():
		arr := v.ArrayValue()
		out := make([]any, len(arr))
		for i, e := range arr {
			out[i] = plain(e, redact)
		}
		return out
	case v.IsObject():
		obj := v.ObjectValue()
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if strings.HasPrefix(string(k), "__") {
				continue // engine bookkeeping
			}
			out[string(k)] = plain(e, redact)
		}
		return out
	case v.IsResourceReference():
		return urnName(string(v.ResourceReferenceValue().URN))
	case v.IsAsset(), v.IsArchive():
		return "[asset]"
	}
	return fmt.Sprint(v)
}

// urnName is the last "::"-separated part of a URN: the resource's name.
func urnName(urn string) string {
	if urn == "" {
		return ""
	}
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}

// CheckErr is the error check of a table-driven component test: with want
// set, err must contain it; with want empty, err must be nil. It reports
// whether the case expected an error (the test then has nothing more to
// check).
func CheckErr(t testing.TB, err error, want string) (expectedError bool) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatal(err)
		}
		return false
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want one containing %q", err, want)
	}
	return true
}
