// Package retained lists what `pulumi destroy` of a servelab stack leaves
// on its hosts on purpose, from the stack's state (`pulumi stack export`):
// volumes marked retainOnDelete (model caches, Prometheus and Grafana
// data), images pulled with keepLocally, and the servelab image (the
// docker provider's Image never deletes what it built). `make destroy`
// exports the state before destroying and prints the list afterwards, with
// the command that removes each item. README's "What destroy keeps" table
// says why each is kept.
package retained

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/servelab/servelab/internal/shellquote"
)

// Item is one thing left on a host.
type Item struct {
	// Host is the stack's host name (the docker provider "<host>-docker").
	Host string
	// DockerHost is the provider's endpoint ("" for the local default).
	DockerHost string
	// Kind is "volume" or "image".
	Kind string
	// Name is the Docker name of the volume or image.
	Name string
}

// Remove is the command that removes the item.
func (it Item) Remove() string {
	argv := []string{"docker", it.Kind, "rm", it.Name}
	if it.DockerHost != "" {
		return "DOCKER_HOST=" + shellquote.Quote(it.DockerHost) + " " + shellquote.Join(argv...)
	}
	return shellquote.Join(argv...)
}

type exported struct {
	Deployment struct {
		Resources []struct {
			URN            string         `json:"urn"`
			ID             string         `json:"id"`
			Type           string         `json:"type"`
			Inputs         map[string]any `json:"inputs"`
			Outputs        map[string]any `json:"outputs"`
			Provider       string         `json:"provider"`
			RetainOnDelete bool           `json:"retainOnDelete"`
		} `json:"resources"`
	} `json:"deployment"`
}

// FromExport reads `pulumi stack export` output and returns what a destroy
// leaves behind, sorted by host, kind and name.
func FromExport(r io.Reader) ([]Item, error) {
	var doc exported
	if err := json.NewDecoder(r).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read the stack export: %w", err)
	}
	type provider struct{ host, endpoint string }
	providers := map[string]provider{} // "urn::id" → provider
	for _, res := range doc.Deployment.Resources {
		if res.Type == "pulumi:providers:docker" {
			endpoint, _ := res.Inputs["host"].(string)
			providers[res.URN+"::"+res.ID] = provider{strings.TrimSuffix(urnName(res.URN), "-docker"), endpoint}
		}
	}
	var items []Item
	for _, res := range doc.Deployment.Resources {
		var kind, name string
		switch {
		case res.Type == "docker:index/volume:Volume" && res.RetainOnDelete:
			kind, name = "volume", first("name", res.Outputs, res.Inputs)
		case res.Type == "docker:index/remoteImage:RemoteImage" && res.Inputs["keepLocally"] == true:
			kind, name = "image", first("name", res.Inputs, res.Outputs)
		case res.Type == "docker:index/image:Image":
			kind, name = "image", first("imageName", res.Outputs, res.Inputs)
		default:
			continue
		}
		if name == "" {
			return nil, fmt.Errorf("%s: no name in the stack export", res.URN)
		}
		p, ok := providers[res.Provider]
		if !ok {
			return nil, fmt.Errorf("%s: provider %q not in the stack export", res.URN, res.Provider)
		}
		items = append(items, Item{Host: p.host, DockerHost: p.endpoint, Kind: kind, Name: name})
	}
	slices.SortFunc(items, func(a, b Item) int {
		return strings.Compare(a.Host+"\x00"+a.Kind+"\x00"+a.Name, b.Host+"\x00"+b.Kind+"\x00"+b.Name)
	})
	return slices.Compact(items), nil
}

// Write prints items as `make destroy` shows them.
func Write(w io.Writer, items []Item) error {
	if len(items) == 0 {
		_, err := fmt.Fprintln(w, "destroy left nothing behind")
		return err
	}
	if _, err := fmt.Fprintf(w, "destroy kept %d item(s) on purpose (README: \"What destroy keeps\"); remove them with:\n", len(items)); err != nil {
		return err
	}
	for _, it := range items {
		where := "local Docker"
		if it.DockerHost != "" {
			where = it.DockerHost
		}
		if _, err := fmt.Fprintf(w, "  %s (%s) %s %s\n      %s\n", it.Host, where, it.Kind, it.Name, it.Remove()); err != nil {
			return err
		}
	}
	return nil
}

// first is the first non-empty string at key in ms.
func first(key string, ms ...map[string]any) string {
	for _, m := range ms {
		if s, ok := m[key].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func urnName(urn string) string {
	if i := strings.LastIndex(urn, "::"); i >= 0 {
		return urn[i+2:]
	}
	return urn
}
