// Package probe is the HTTP health check servelab's images run on
// themselves (`servelab probe URL`), since they ship no curl or wget: a
// Docker healthcheck of the sim or the gateway execs the servelab binary.
package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/servelab/servelab/internal/engine"
)

// Options describe one check.
type Options struct {
	// URL to GET (http or https).
	URL string
	// Status is the status that means healthy (default 200).
	Status int
	// Timeout bounds the whole check (default 5 s).
	Timeout time.Duration
	// Model, when set, must be listed in the body, decoded as Kind says
	// (engine.ProbeOpenAIModels or engine.ProbeOllamaTags).
	Model string
	Kind  engine.ProbeKind
	// Body, when set, is POSTed as JSON instead of a GET (an Ollama model
	// load: {"model": M} to /api/generate).
	Body string
}

// ErrUnhealthy is wrapped by every failed check.
var ErrUnhealthy = errors.New("unhealthy")

// Validate reports the first bad option, named by its flag.
func (o Options) Validate() error {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("URL %q: want http(s)://host[:port]/path", o.URL)
	}
	if o.Status != 0 && (o.Status < 100 || o.Status > 599) {
		return fmt.Errorf("--status %d is not an HTTP status", o.Status)
	}
	if o.Timeout < 0 {
		return fmt.Errorf("--timeout must be > 0, got %s", o.Timeout)
	}
	if o.Model != "" && o.Kind != engine.ProbeOpenAIModels && o.Kind != engine.ProbeOllamaTags {
		return fmt.Errorf("--list %q: want %s or %s", o.Kind, engine.ProbeOpenAIModels, engine.ProbeOllamaTags)
	}
	if o.Body != "" && !json.Valid([]byte(o.Body)) {
		return fmt.Errorf("--body is not JSON: %q", o.Body)
	}
	return nil
}

// Check performs one GET and returns nil when the answer is healthy, else
// an error wrapping ErrUnhealthy that says why.
func Check(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if o.Status == 0 {
		o.Status = http.StatusOK
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	method, payload := http.MethodGet, io.Reader(nil)
	if o.Body != "" {
		method, payload = http.MethodPost, strings.NewReader(o.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, o.URL, payload)
	if err != nil {
		return fmt.Errorf("probe %s: %w", o.URL, err)
	}
	if o.Body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("probe %s: %w: %w", o.URL, ErrUnhealthy, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("probe %s: %w: read body: %w", o.URL, ErrUnhealthy, err)
	}
	if resp.StatusCode != o.Status {
		return fmt.Errorf("probe %s: %w: status %d, want %d", o.URL, ErrUnhealthy, resp.StatusCode, o.Status)
	}
	if o.Model != "" {
		ok, err := engine.ModelListed(o.Kind, body, o.Model)
		if err != nil {
			return fmt.Errorf("probe %s: %w: %w", o.URL, ErrUnhealthy, err)
		}
		if !ok {
			return fmt.Errorf("probe %s: %w: model %q not listed", o.URL, ErrUnhealthy, o.Model)
		}
	}
	return nil
}
