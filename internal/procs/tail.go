package procs

import (
	"fmt"
	"sync"
)

// TailBuffer keeps the last Max bytes written to it; safe for concurrent
// use (a child's stdout and stderr both write to it).
type TailBuffer struct {
	Max int

	mu    sync.Mutex
	buf   []byte
	total int
}

func (b *TailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += len(p)
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.Max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

// String is what is kept, noting how much was dropped before it.
func (b *TailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total > len(b.buf) {
		return fmt.Sprintf("[... %d earlier bytes dropped ...]\n%s", b.total-len(b.buf), b.buf)
	}
	return string(b.buf)
}
