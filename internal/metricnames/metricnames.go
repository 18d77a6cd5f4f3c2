// Package metricnames is the checked list of Prometheus series servelab
// produces or relies on: the gateway's own metrics, the engines' documented
// metrics (from package engine) and DCGM's GPU metrics. The gateway registers
// exactly the Gateway* names, the simulator exposes its flavour's engine
// names, and every PromQL expression servelab generates (recording rules,
// alerts, dashboards) may refer only to names listed here.
package metricnames

import (
	"slices"

	"github.com/servelab/servelab/internal/engine"
)

// Gateway metrics. Backend-level series carry the labels model, backend (the
// framework name from the stack) and engine (its kind or sim flavour).
const (
	// GatewayRequests counts finished requests; labels model, backend,
	// engine, code (HTTP status as sent to the client).
	GatewayRequests = "servelab_gateway_requests_total"
	// GatewayRequestDuration is a histogram of request wall time in seconds,
	// client's view (model, backend, engine).
	GatewayRequestDuration = "servelab_gateway_request_duration_seconds"
	// GatewayTTFT is a histogram of time to first content chunk of streamed
	// responses in seconds (model, backend, engine).
	GatewayTTFT = "servelab_gateway_ttft_seconds"
	// GatewayOutputTokens counts completion tokens from upstream usage when
	// present (model, backend, engine).
	GatewayOutputTokens = "servelab_gateway_output_tokens_total"
	// GatewayInFlight is the number of requests being served now (model,
	// backend, engine).
	GatewayInFlight = "servelab_gateway_in_flight_requests"
	// GatewayUpstreamErrors counts upstream failures (model, backend,
	// engine, reason: connect|timeout|status_5xx|stream_idle|stream_broken|
	// canceled).
	GatewayUpstreamErrors = "servelab_gateway_upstream_errors_total"
	// GatewayCacheRequests counts cacheable requests by result (model,
	// result: hit|miss|bypass).
	GatewayCacheRequests = "servelab_gateway_cache_requests_total"
	// GatewayBackendReady is 1 while a backend passes its readiness probe
	// and is not ejected, else 0 (model, backend, engine).
	GatewayBackendReady = "servelab_gateway_backend_ready"
	// GatewayOverhead is a histogram of time spent inside the gateway,
	// upstream time excluded, in seconds (model).
	GatewayOverhead = "servelab_gateway_overhead_seconds"
	// GatewayConnections is the number of client connections open now
	// (listener: api|metrics).
	GatewayConnections = "servelab_gateway_connections"
	// GatewayConnectionsRefused counts client connections closed at accept
	// because maxConnections were open (listener: api|metrics).
	GatewayConnectionsRefused = "servelab_gateway_connections_refused_total"
)

// Gateway lists every gateway metric, histograms by base name.
var Gateway = []string{
	GatewayRequests, GatewayRequestDuration, GatewayTTFT, GatewayOutputTokens,
	GatewayInFlight, GatewayUpstreamErrors, GatewayCacheRequests,
	GatewayBackendReady, GatewayOverhead, GatewayConnections,
	GatewayConnectionsRefused,
}

// DCGM exporter metrics (dcgm-exporter's default counters).
const (
	DCGMGPUUtil = "DCGM_FI_DEV_GPU_UTIL"
	DCGMFBUsed  = "DCGM_FI_DEV_FB_USED" // MiB
	DCGMFBFree  = "DCGM_FI_DEV_FB_FREE" // MiB
	DCGMPower   = "DCGM_FI_DEV_POWER_USAGE"
	DCGMTemp    = "DCGM_FI_DEV_GPU_TEMP"
)

// DCGM lists the DCGM series servelab uses.
var DCGM = []string{DCGMGPUUtil, DCGMFBUsed, DCGMFBFree, DCGMPower, DCGMTemp}

// Engines lists every documented engine metric name, sorted.
func Engines() []string {
	var out []string
	for _, k := range engine.Flavours {
		out = append(out, engine.MustSpec(k).Metrics.Names()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Known lists every name servelab may query: gateway, engines, DCGM and
// Prometheus's own "up". Recording-rule outputs are added by the package that
// generates them.
func Known() []string {
	out := slices.Concat(Gateway, Engines(), DCGM, []string{"up"})
	slices.Sort(out)
	return slices.Compact(out)
}
