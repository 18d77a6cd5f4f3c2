// Package e2e holds servelab's end-to-end tests: the real servelab binary
// (simulated engines and the gateway as separate processes on loopback
// ports), Debian's prometheus and promtool, and the files
// internal/monitoring generates, checked through Prometheus's HTTP API.
//
// The package has no code of its own; see docs/e2e.md for what the tests
// prove, how long they take and how to run them alone:
//
//	go test -race -count=1 -v ./internal/e2e/
//
// They need `prometheus` and `promtool` in PATH (`make deps`, or
// `apt-get update && apt-get install -y prometheus`) and fail, naming that
// command, when either is missing. They run on Unix only (process groups).
package e2e
