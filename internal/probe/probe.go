// Package probe is the HTTP health check servelab's images run on
// themselves (`servelab probe URL`), since they ship no curl or wget: a
// Docker healthcheck of the sim or the gateway execs the servelab binary.
package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", o.URL, err)
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
