package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/servelab/servelab/benchmarks/chunk"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/benchmarks/sse"
)

// ErrInterrupted marks requests aborted because the run was interrupted
// (its context cancelled and the grace period over).
var ErrInterrupted = errors.New("interrupted")

// newClient returns an HTTP/1.1 client whose idle pool holds pool
// connections per host (Go's default of 2 would make every extra concurrent
// stream open a new connection). Proxies from the environment are not used:
// a proxy would distort the measurements.
func newClient(pool int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: max(pool, 2),
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableCompression:  true,
		ReadBufferSize:      16 << 10,
		WriteBufferSize:     16 << 10,
	}
	return &http.Client{Transport: tr}
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type requestBody struct {
	Model         string        `json:"model"`
	Messages      []message     `json:"messages,omitempty"`
	Prompt        *string       `json:"prompt,omitempty"`
	MaxTokens     int           `json:"max_tokens"`
	Temperature   float64       `json:"temperature"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
	IgnoreEOS     bool          `json:"ignore_eos,omitempty"`
}

// buildBody encodes one request. Every request streams with
// stream_options.include_usage, and limits output with max_tokens (which
// every engine accepts; Ollama has no max_completion_tokens).
func buildBody(endpoint, model string, r dataset.Request, temperature float64, ignoreEOS bool) ([]byte, error) {
	b := requestBody{
		Model: model, MaxTokens: r.MaxTokens, Temperature: temperature,
		Stream: true, StreamOptions: streamOptions{IncludeUsage: true}, IgnoreEOS: ignoreEOS,
	}
	if endpoint == EndpointChat {
		b.Messages = []message{{Role: "user", Content: r.Prompt}}
	} else {
		p := r.Prompt
		b.Prompt = &p
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return out, nil
}

// record is one request's outcome, sent by its worker to the aggregator.
type record struct {
	index    int
	language string
	start    time.Time // just before the request was written
	end      time.Time // when it completed or failed
	ttft     time.Duration
	itls     []time.Duration
	e2el     time.Duration
	output   int
	outUsage bool // output count from usage (else content chunks)
	input    int
	inUsage  bool // input count from usage (else approx)
	err      string
}

func (r *record) ok() bool { return r.err == "" }

// requester sends the requests of one target.
type requester struct {
	client *http.Client
	url    string
	apiKey string
	// timeout bounds each request.
	timeout time.Duration
	// maxEvent bounds one SSE event's data, in bytes.
	maxEvent int
}

// maxEvents bounds the data events of one stream for a request of
// maxTokens: every engine sends at most one chunk per token plus a few
// without content (role, finish reason, usage); twice the tokens and 16
// more leave room for engines that split a token's text.
func maxEvents(maxTokens int) int { return 2*max(maxTokens, 1) + 16 }

// do sends one streaming request and measures it: TTFT at the first chunk
// with content, one ITL per later content chunk, E2EL at the last content
// chunk. It never returns an error: failures are recorded in rec.err. A
// stream fails when it breaks the rules of a well-behaved server: an
// event over the size bound, more chunks than max_tokens allows, an end
// without "data: [DONE]", or usage no server can produce for the request
// (negative, out of the int32 range, more completion tokens than
// max_tokens).
func (q *requester) do(ctx context.Context, body []byte, req dataset.Request) (rec record) {
	rec.itls = make([]time.Duration, 0, max(req.MaxTokens-1, 0))
	rec.language = req.Language
	ctx, cancel := context.WithTimeout(ctx, q.timeout)
	defer cancel()
	defer func() {
		rec.end = time.Now()
		if rec.err != "" {
			rec.itls = nil
			switch {
			case errors.Is(context.Cause(ctx), ErrInterrupted):
				rec.err = "interrupted: " + rec.err
			case errors.Is(context.Cause(ctx), ErrDeadline):
				rec.err = "deadline: " + rec.err
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				rec.err = fmt.Sprintf("timeout after %s: %s", q.timeout, rec.err)
			}
		}
	}()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, q.url, bytes.NewReader(body))
	if err != nil {
		rec.err = err.Error()
		return rec
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	if q.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+q.apiKey)
	}
	rec.start = time.Now()
	resp, err := q.client.Do(hreq)
	if err != nil {
		rec.err = transportError(err)
		return rec
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rec.err = statusError(resp)
		return rec
	}
	var (
		usage    chunk.Usage
		hasUsage bool
		chunks   int // data events with content
		events   int // data events
		done     bool
		last     time.Time
		rd       = sse.NewReaderSize(resp.Body, q.maxEvent)
		limit    = maxEvents(req.MaxTokens)
	)
	for !done {
		ev, err := rd.Next()
		switch {
		case errors.Is(err, io.EOF):
			rec.err = "stream ended without [DONE]"
			return rec
		case errors.Is(err, sse.ErrEventTooLarge):
			rec.err = "SSE event larger than " + byteSize(q.maxEvent) + " (--max-event-bytes)"
			return rec
		case err != nil:
			rec.err = "read stream: " + err.Error()
			return rec
		}
		if ev.Type == "error" {
			rec.err = "error event: " + errorText(ev.Data)
			return rec
		}
		if string(ev.Data) == "[DONE]" {
			done = true
			continue
		}
		if events++; events > limit {
			rec.err = fmt.Sprintf("stream sent more than %d chunks for max_tokens %d", limit, req.MaxTokens)
			return rec
		}
		c, err := chunk.Parse(ev.Data)
		if err != nil {
			rec.err = "malformed chunk: " + err.Error()
			return rec
		}
		if c.Error != "" {
			rec.err = "error chunk: " + c.Error
			return rec
		}
		if c.Content {
			now := time.Now()
			if chunks == 0 {
				rec.ttft = now.Sub(rec.start)
			} else {
				rec.itls = append(rec.itls, now.Sub(last))
			}
			last = now
			chunks++
		}
		if c.HasUsage && !c.Usage.Zero() {
			usage, hasUsage = c.Usage, true
		}
	}
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	if chunks == 0 {
		rec.err = "stream ended without content"
		return rec
	}
	if hasUsage {
		if msg := impossibleUsage(usage, req.MaxTokens); msg != "" {
			rec.err = "impossible usage: " + msg
			return rec
		}
	}
	rec.e2el = last.Sub(rec.start)
	rec.output, rec.outUsage = chunks, false
	if hasUsage && usage.CompletionTokens > 0 {
		rec.output, rec.outUsage = usage.CompletionTokens, true
	}
	rec.input, rec.inUsage = req.InputTokens, false
	if hasUsage && usage.PromptTokens > 0 {
		rec.input, rec.inUsage = usage.PromptTokens, true
	}
	return rec
}

// impossibleUsage describes what is wrong with a usage block for a request
// of maxTokens, or returns "" when nothing is.
func impossibleUsage(u chunk.Usage, maxTokens int) string {
	switch {
	case u.OutOfRange:
		return "a token count is out of range (beyond ±2^31)"
	case u.CompletionTokens < 0:
		return fmt.Sprintf("completion_tokens %d", u.CompletionTokens)
	case u.PromptTokens < 0:
		return fmt.Sprintf("prompt_tokens %d", u.PromptTokens)
	case maxTokens > 0 && u.CompletionTokens > maxTokens:
		return fmt.Sprintf("completion_tokens %d > max_tokens %d", u.CompletionTokens, maxTokens)
	}
	return ""
}

// byteSize formats a byte count in KiB or MiB when it is a whole number of
// them.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// statusError describes a non-200 answer, with the OpenAI error message
// when the body has one.
func statusError(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	msg := errorText(b)
	return fmt.Sprintf("HTTP %d: %s", resp.StatusCode, msg)
}

// errorText extracts an error message from a JSON body, else returns the
// body itself (trimmed).
func errorText(b []byte) string {
	if c, err := chunk.Parse(b); err == nil && c.Error != "" {
		return c.Error
	}
	var m struct {
		Message string `json:"message"`
		Detail  string `json:"detail"`
	}
	if json.Unmarshal(b, &m) == nil && (m.Message != "" || m.Detail != "") {
		return m.Message + m.Detail
	}
	s := string(bytes.TrimSpace(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	return s
}

// firstModel returns the first model a server's /v1/models lists.
func firstModel(ctx context.Context, client *http.Client, base, apiKey string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return "", err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("list models: %s", transportError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("list models: %s", statusError(resp))
	}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return "", fmt.Errorf("list models: %w", err)
	}
	if len(list.Data) == 0 || list.Data[0].ID == "" {
		return "", errors.New("list models: the server lists no model; pass --model")
	}
	return list.Data[0].ID, nil
}
