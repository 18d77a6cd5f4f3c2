package gateway

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns the one http.Transport the gateway shares across
// backends: keep-alive with an idle pool of MaxIdleConnsPerHost per backend
// (Go's default of 2 would make every concurrent request beyond the second
// open a new connection), bounded dial and response-header waits, HTTP/1.1
// only, no proxy from the environment and no transparent compression (the
// gateway passes bytes through and reads SSE chunks itself).
func NewTransport(cfg Config) *http.Transport {
	backends := 0
	for _, m := range cfg.Models {
		backends += len(m.Backends)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   cfg.Timeouts.Dial.D(),
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          cfg.MaxIdleConnsPerHost * max(backends, 1),
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeouts.Dial.D(),
		ResponseHeaderTimeout: cfg.Timeouts.ResponseHeader.D(),
		ExpectContinueTimeout: 0,
		DisableCompression:    true,
		Protocols:             protocols,
		WriteBufferSize:       16 << 10,
		ReadBufferSize:        16 << 10,
	}
}
