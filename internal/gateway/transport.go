package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
)

// NewTransport returns the one http.Transport the gateway shares across
// backends: keep-alive with an idle pool of MaxIdleConnsPerHost per backend
// (Go's default of 2 would make every concurrent request beyond the second
// open a new connection), bounded dial and response-header waits, HTTP/1.1
// only, no proxy from the environment and no transparent compression (the
// gateway passes bytes through and reads SSE chunks itself). Every
// connection is a guardedConn, so that one request never gets bytes a
// backend sent outside the answer to it.
func NewTransport(cfg Config) *http.Transport {
	backends := 0
	for _, m := range cfg.Models {
		backends += len(m.Backends)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	dialer := &net.Dialer{Timeout: cfg.Timeouts.Dial.D(), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newGuardedConn(c), nil
		},
		// TLS is set up here rather than by the transport so that the guard
		// sees the plaintext responses.
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			host, _, _ := net.SplitHostPort(addr)
			tc := tls.Client(c, &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, NextProtos: []string{"http/1.1"}})
			hctx, cancel := context.WithTimeout(ctx, cfg.Timeouts.Dial.D())
			defer cancel()
			if err := tc.HandshakeContext(hctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
			}
			return newGuardedConn(tc), nil
		},
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
