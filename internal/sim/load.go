package sim

import (
	"context"
	"sync"
	"time"
)

// modelLoad is an Ollama model's lazy load: nothing is loaded at start;
// the first request that needs the model starts the load, which takes
// Config.LoadDelay, and every request arriving meanwhile waits for it.
type modelLoad struct {
	mu    sync.Mutex
	start time.Time // zero: not loaded
}

// ensure starts the load if needed and waits until the model is loaded or
// ctx ends. It returns how long it waited (0 when already loaded).
func (m *modelLoad) ensure(ctx context.Context, delay time.Duration) (time.Duration, error) {
	begin := time.Now()
	m.mu.Lock()
	if m.start.IsZero() {
		m.start = time.Now()
	}
	wait := time.Until(m.start.Add(delay))
	m.mu.Unlock()
	if wait <= 0 {
		return 0, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return time.Since(begin), nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// loadedSince returns when the model finished loading, and false when it
// is not loaded (or still loading).
func (m *modelLoad) loadedSince(delay time.Duration) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.start.IsZero() {
		return time.Time{}, false
	}
	at := m.start.Add(delay)
	return at, !time.Now().Before(at)
}

// unload drops the model (keep_alive 0).
func (m *modelLoad) unload() {
	m.mu.Lock()
	m.start = time.Time{}
	m.mu.Unlock()
}
