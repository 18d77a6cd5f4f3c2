package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/servelab/servelab/internal/gateway"
)

// smallResponse is a typical non-streamed chat completion.
const smallResponse = `{"id":"chatcmpl-perf","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`

// runUpstream serves a fake engine as fast as it can: /v1/models for the
// gateway's vLLM readiness probe, and /v1/chat/completions answering small
// JSON at once, or an SSE stream paced by -first-token and -itl.
func runUpstream(ctx context.Context, o options) error {
	chunks := make([][]byte, o.tokens)
	for i := range chunks {
		chunks[i] = fmt.Appendf(nil, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"tok%d "},"finish_reason":null}]}`+"\n\n", i)
	}
	role := []byte(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
	usage := fmt.Appendf(nil, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}`+"\n\ndata: [DONE]\n\n", o.tokens, o.tokens+12)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"m","object":"model"}]}`)
	})
	small := []byte(smallResponse)
	smallLen := strconv.Itoa(len(small))
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		if !bytes.Contains(body, []byte(`"stream":true`)) {
			h := w.Header()
			h["Content-Type"] = []string{"application/json"}
			h["Content-Length"] = []string{smallLen}
			_, _ = w.Write(small)
			return
		}
		h := w.Header()
		h["Content-Type"] = []string{"text/event-stream"}
		h["Cache-Control"] = []string{"no-cache"}
		fl := w.(http.Flusher)
		_, _ = w.Write(role)
		fl.Flush()
		t := time.NewTimer(o.firstToken)
		defer t.Stop()
		for i := range chunks {
			select {
			case <-t.C:
			case <-r.Context().Done():
				return
			}
			if _, err := w.Write(chunks[i]); err != nil {
				return
			}
			fl.Flush()
			t.Reset(o.itl)
		}
		_, _ = w.Write(usage)
	})
	return serveRole(ctx, o.addr, &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second})
}

// serveRole listens, prints "ADDR host:port" for the harness and serves
// until ctx ends.
func serveRole(ctx context.Context, addr string, srv *http.Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

// runGateway runs the servelab gateway library with the config the harness
// wrote, logging warnings only (as nginx runs with access_log off).
func runGateway(ctx context.Context, o options) error {
	cfg, err := gateway.LoadConfig(o.config)
	if err != nil {
		return err
	}
	if o.profile != "" {
		f, err := os.Create(o.profile)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	level := slog.LevelWarn
	if o.soak > 0 {
		level = slog.LevelError // a soak cuts streams on purpose: their warnings are expected
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	opts := gateway.Options{Logger: log}
	switch o.variant {
	case "h1":
		cfg.Core = gateway.CoreH1
	case "nethttp":
		cfg.Core = gateway.CoreNetHTTP
	case "nethttp-direct":
		cfg.Core = gateway.CoreNetHTTP
		opts.Transport = gateway.NewDirectTransport(cfg)
	default:
		return fmt.Errorf("-gateways: unknown variant %q (want h1, nethttp or nethttp-direct)", o.variant)
	}
	g, err := gateway.New(cfg, opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	if err := g.Serve(ctx, ln, nil); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
