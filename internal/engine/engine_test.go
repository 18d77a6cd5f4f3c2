package engine_test

import (
	"testing"

	"github.com/servelab/servelab/internal/engine"
)

// TestAuthProtects pins which paths each engine checks its API key on, as
// their sources do: the healthcheck paths stay open; llama.cpp's /metrics
// does not.
func TestAuthProtects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind engine.Kind
		path string
		want bool
	}{
		{engine.VLLM, "/v1/chat/completions", true},
		{engine.VLLM, "/v1/models", true},
		{engine.VLLM, "/health", false},
		{engine.VLLM, "/metrics", false},
		{engine.SGLang, "/v1/chat/completions", true},
		{engine.SGLang, "/generate", true},
		{engine.SGLang, "/health", false},
		{engine.SGLang, "/health_generate", false},
		{engine.SGLang, "/metrics", false},
		{engine.LlamaCpp, "/v1/chat/completions", true},
		{engine.LlamaCpp, "/metrics", true},
		{engine.LlamaCpp, "/health", false},
		{engine.LlamaCpp, "/v1/models", false},
		{engine.Ollama, "/api/generate", false},
	}
	for _, tt := range tests {
		if got := engine.MustSpec(tt.kind).Auth.Protects(tt.path); got != tt.want {
			t.Errorf("%s %s: protected = %v, want %v", tt.kind, tt.path, got, tt.want)
		}
	}
	if engine.MustSpec(engine.Ollama).Auth.Supported {
		t.Error("Ollama has no API keys")
	}
}
