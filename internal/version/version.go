// Package version holds the servelab release string stamped into bench
// provenance, image tags and the gateway's /metrics build info.
package version

// Version is the servelab release. It is a constant, not an ldflags-set
// variable, so that a benchmark result and the stack that produced it always
// agree on it.
const Version = "0.1.0"
