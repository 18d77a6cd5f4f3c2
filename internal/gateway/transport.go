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
// backend sent outside the answer to it; for https backends the TLS layer
// is set up below the guard, from TLSClientConfig, so that the guard sees
// the plaintext.
func NewTransport(cfg Config) *http.Transport {
	backends := 0
	for _, m := range cfg.Models {
		backends += len(m.Backends)
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	dialer := &net.Dialer{Timeout: cfg.Timeouts.Dial.D(), KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return newGuardedConn(c), nil
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}},
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
	tr.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		conf := tr.TLSClientConfig.Clone()
		conf.ServerName, _, _ = net.SplitHostPort(addr)
		tc := tls.Client(c, conf)
		hctx, cancel := context.WithTimeout(ctx, cfg.Timeouts.Dial.D())
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
		}
		return newGuardedConn(tc), nil
	}
	return tr
}
