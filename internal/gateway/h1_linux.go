//go:build linux

package gateway

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
)

// h1Available: the h1 core needs the hang-up watch below (epoll).
const h1Available = true

// epollET is EPOLLET as the uint32 the event mask is (syscall declares it
// negative).
const epollET = 1 << 31

// hangupWatch tells the h1 core, at once, when a client closes its
// connection while the gateway waits on a backend (the connection's
// goroutine is then blocked on the backend, not reading the client). Every
// client connection is registered once, for its lifetime, in an epoll set
// for EPOLLRDHUP (the peer's FIN) and errors, edge-triggered: it costs one
// epoll_ctl per connection and no work per request. The epoll descriptor is
// itself non-blocking and waited on through Go's poller, so no thread
// blocks and Close stops the watcher.
type hangupWatch struct {
	file *os.File // the epoll descriptor
	epfd int

	mu    sync.Mutex
	conns map[uint64]*h1Conn
	next  uint64
}

func newHangupWatch() (*hangupWatch, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("hangup watch: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("hangup watch: %w", err)
	}
	w := &hangupWatch{file: os.NewFile(uintptr(epfd), "epoll"), epfd: epfd, conns: map[uint64]*h1Conn{}}
	rc, err := w.file.SyscallConn()
	if err != nil {
		w.file.Close()
		return nil, fmt.Errorf("hangup watch: %w", err)
	}
	go w.run(rc)
	return w, nil
}

// run waits for hang-ups until the watch is closed.
func (w *hangupWatch) run(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 64)
	_ = rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil || n <= 0 {
				return false // wait for the epoll descriptor to be readable
			}
			for _, ev := range events[:n] {
				id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
				w.mu.Lock()
				c := w.conns[id]
				w.mu.Unlock()
				if c != nil {
					c.hungUp()
				}
			}
		}
	})
}

// add registers c's connection and returns its id for remove; 0 means it
// could not be watched (no socket under it).
func (w *hangupWatch) add(c *h1Conn, nc net.Conn) uint64 {
	rc, ok := socketOf(nc)
	if !ok {
		return 0
	}
	w.mu.Lock()
	w.next++
	id := w.next
	w.conns[id] = c
	w.mu.Unlock()
	var cerr error
	err := rc.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLERR | syscall.EPOLLHUP | epollET,
			Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		cerr = syscall.EpollCtl(w.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		w.remove(id)
		return 0
	}
	return id
}

// remove forgets id; call it before closing the connection (closing the
// descriptor takes it out of the epoll set).
func (w *hangupWatch) remove(id uint64) {
	if id == 0 {
		return
	}
	w.mu.Lock()
	delete(w.conns, id)
	w.mu.Unlock()
}

func (w *hangupWatch) close() error { return w.file.Close() }
