package sim

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/servelab/servelab/internal/engine"
)

// authorized reports whether r may reach its path: always without a
// configured key, and on the paths the flavour's engine leaves open
// (engine.Auth: vLLM checks /v1 only, SGLang all but /health* and
// /metrics*, llama.cpp all but its health and model-list paths).
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.APIKey == "" || r.Method == http.MethodOptions || !s.spec.Auth.Protects(r.URL.Path) {
		return true
	}
	want := "Bearer " + s.cfg.APIKey
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte(want)) == 1
}

// unauthorized answers 401 with the flavour's body.
func (s *Server) unauthorized(w http.ResponseWriter) {
	if s.cfg.Flavour == engine.LlamaCpp {
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": map[string]any{"code": 401, "message": "Invalid API Key", "type": "authentication_error"},
		})
		return
	}
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Unauthorized"})
}

// ReadKeyFile reads an API key file: its first non-blank line, trimmed.
func ReadKeyFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k := strings.TrimSpace(line); k != "" {
			return k, nil
		}
	}
	return "", fmt.Errorf("%s holds no key", path)
}
