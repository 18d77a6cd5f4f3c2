package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
)

// Sentinel errors. Every error the gateway answers with wraps one of these
// (or a context/net error), and statusOf maps them to an HTTP status.
var (
	// ErrConfig: the configuration is invalid.
	ErrConfig = errors.New("invalid gateway config")
	// ErrUnauthorized: missing or wrong API key.
	ErrUnauthorized = errors.New("invalid or missing API key")
	// ErrBadRequest: the body is not a JSON object with a string "model".
	ErrBadRequest = errors.New("bad request")
	// ErrBodyTooLarge: the body exceeds maxBodyBytes.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrRequestTimeout: the request did not arrive within
	// timeouts.requestRead.
	ErrRequestTimeout = errors.New("request not received in time")
	// ErrUnknownModel: no configured model has the requested name.
	ErrUnknownModel = errors.New("model not found")
	// ErrNoBackend: the model has no ready backend left to try.
	ErrNoBackend = errors.New("no ready backend")
	// ErrNotFound: no such endpoint.
	ErrNotFound = errors.New("not found")
	// ErrMethod: the endpoint does not accept this method.
	ErrMethod = errors.New("method not allowed")
	// ErrUpstream: a backend failed (connect error, broken response).
	ErrUpstream = errors.New("upstream error")
	// ErrUpstreamTimeout: a backend did not answer in time.
	ErrUpstreamTimeout = errors.New("upstream timeout")
)

// StatusClientClosedRequest is nginx's 499: the client went away.
const StatusClientClosedRequest = 499

// statusOf is the one mapping from an error to the HTTP status the client
// gets: gateway sentinels first, then timeout 504, canceled 499, else 502.
func statusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrRequestTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownModel), errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrMethod):
		return http.StatusMethodNotAllowed
	case errors.Is(err, ErrNoBackend):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return StatusClientClosedRequest
	case errors.Is(err, ErrUpstreamTimeout), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errorCode is the OpenAI-style "type" and "code" for a status.
func errorCode(err error, status int) (typ, code string) {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error", "invalid_api_key"
	case http.StatusRequestEntityTooLarge:
		return "invalid_request_error", "request_too_large"
	case http.StatusRequestTimeout:
		return "invalid_request_error", "request_timeout"
	case http.StatusBadRequest:
		return "invalid_request_error", "invalid_request"
	case http.StatusNotFound:
		if errors.Is(err, ErrUnknownModel) {
			return "invalid_request_error", "model_not_found"
		}
		return "invalid_request_error", "not_found"
	case http.StatusMethodNotAllowed:
		return "invalid_request_error", "method_not_allowed"
	case http.StatusServiceUnavailable:
		return "server_error", "no_ready_backend"
	case http.StatusGatewayTimeout:
		return "server_error", "upstream_timeout"
	case StatusClientClosedRequest:
		return "invalid_request_error", "client_closed_request"
	default:
		return "server_error", "upstream_error"
	}
}

// writeError answers err as an OpenAI-shaped error body and returns the
// status sent.
func writeError(w http.ResponseWriter, err error) int {
	status := statusOf(err)
	typ, code := errorCode(err, status)
	b, _ := json.Marshal(errorBody{Error: errorDetail{Message: err.Error(), Type: typ, Code: code}})
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	if status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return status
}

// errorBody is OpenAI's error shape: {"error":{"message","type","code"}}.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    string `json:"code"`
}
