// Package gatewayconfig is the gateway's config as the stack renders it,
// without Pulumi: the gateway container's paths and ports, and Render,
// which builds the config of the backends in front of which it runs. The
// Gateway component (components/gateway), the Kubernetes target and
// `make demo` all render through it.
package gatewayconfig

import (
	"fmt"
	"strconv"

	"github.com/servelab/servelab/internal/engine"
	gw "github.com/servelab/servelab/internal/gateway"
)

// Paths and ports inside the gateway container.
const (
	ConfigPath = "/etc/servelab/gateway.json"
	KeysPath   = "/run/servelab/gateway-keys"
	// BackendKeysDir holds one key file per backend with an API key,
	// named after the backend (mode 0400).
	BackendKeysDir = "/run/servelab/backend-keys"
	APIPort        = 8080
	MetricsPort    = 9091
	// Alias is the gateway's name on the lab network.
	Alias = "gateway"
	// InternalBaseURL is the gateway's URL on the lab network.
	InternalBaseURL = "http://gateway:8080"
)

// Upstream is a backend as the gateway's config describes it: plain data,
// whatever runs it (a container on a Docker host, a Service in a cluster,
// a process on loopback under `make demo`), so that every target renders
// its gateway config with the same code.
type Upstream struct {
	// Name is the backend's name (the framework instance).
	Name string
	// Engine is the API it speaks (a sim's flavour).
	Engine engine.Kind
	// URL is its base URL as the gateway reaches it.
	URL string
	// PublicModel is the model name clients send; UpstreamModel the name
	// the engine serves.
	PublicModel, UpstreamModel string
	// Weight is its share under weighted routing (0 = 1).
	Weight int
	// APIKeyFile is where the gateway reads the key it sends to this
	// upstream ("" = the engine takes no key).
	APIKeyFile string
}

// Listeners are where the gateway listens and reads its keys.
type Listeners struct {
	Listen, MetricsListen, KeysFile string
}

// ContainerListeners are the gateway container's.
func ContainerListeners() Listeners {
	return Listeners{
		Listen:        "0.0.0.0:" + strconv.Itoa(APIPort),
		MetricsListen: "0.0.0.0:" + strconv.Itoa(MetricsPort),
		KeysFile:      KeysPath,
	}
}

// Render builds the gateway config of settings (nil = the gateway's
// defaults) in front of upstreams, one model per public model name in
// order, and checks it with the gateway's own validation. The Docker
// target (gateway.RenderConfig), the Kubernetes target (components/kube/gateway)
// and `make demo` (internal/demo) all render through it.
func Render(settings *gw.Config, at Listeners, upstreams []Upstream) (gw.Config, error) {
	cfg := gw.DefaultConfig()
	if settings != nil {
		cfg = *settings
	}
	cfg.Listen = at.Listen
	cfg.MetricsListen = at.MetricsListen
	cfg.Auth = gw.Auth{KeysFile: at.KeysFile}
	cfg.Models = nil
	index := map[string]int{}
	for _, u := range upstreams {
		be := gw.Backend{Name: u.Name, Engine: u.Engine, URL: u.URL, Weight: u.Weight, APIKeyFile: u.APIKeyFile}
		if u.UpstreamModel != u.PublicModel {
			be.Model = u.UpstreamModel
		}
		i, ok := index[u.PublicModel]
		if !ok {
			i = len(cfg.Models)
			index[u.PublicModel] = i
			cfg.Models = append(cfg.Models, gw.Model{Name: u.PublicModel})
		}
		cfg.Models[i].Backends = append(cfg.Models[i].Backends, be)
	}
	if err := cfg.Check(); err != nil {
		return gw.Config{}, fmt.Errorf("gateway config: %w", err)
	}
	return cfg, nil
}

// BackendKeyFile is where the gateway container holds a backend's key.
func BackendKeyFile(backend string) string { return BackendKeysDir + "/" + backend }
