package stackconfig

import (
	"time"

	gw "github.com/servelab/servelab/internal/gateway"
)

// GatewaySettings maps the stack's gateway keys onto the gateway's config
// (routing, retries, timeouts, cache); the gateway component adds
// listeners, auth and models.
func GatewaySettings(g Gateway) *gw.Config {
	cfg := gw.DefaultConfig()
	cfg.Routing = gw.Routing(g.Routing)
	if g.UpstreamClient != "" {
		// upstreamClient is the nethttp core's client: naming one runs the
		// gateway on that core (the default h1 core has its own client).
		cfg.Core = gw.CoreNetHTTP
		cfg.UpstreamClient = g.UpstreamClient
	}
	if g.Retries != nil {
		cfg.Retries = *g.Retries
	}
	if g.MaxBodyBytes > 0 {
		cfg.MaxBodyBytes = g.MaxBodyBytes
	}
	if g.StreamIdleTimeout != "" {
		idle, _ := time.ParseDuration(g.StreamIdleTimeout) // validated
		cfg.Timeouts.StreamIdle = gw.Duration(idle)
	}
	if g.MaxConnections > 0 {
		cfg.MaxConnections = g.MaxConnections
	}
	if g.RequestReadTimeout != "" {
		read, _ := time.ParseDuration(g.RequestReadTimeout) // validated
		cfg.Timeouts.RequestRead = gw.Duration(read)
	}
	cfg.Cache.Enabled = g.Cache.Enabled
	if g.Cache.TTL != "" {
		ttl, _ := time.ParseDuration(g.Cache.TTL)
		cfg.Cache.TTL = gw.Duration(ttl)
	}
	if g.Cache.MaxEntries > 0 {
		cfg.Cache.MaxEntries = g.Cache.MaxEntries
	}
	if g.Cache.MaxBytes > 0 {
		cfg.Cache.MaxBytes = g.Cache.MaxBytes
	}
	return &cfg
}
