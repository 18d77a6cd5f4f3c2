//go:build !linux

package gateway

import (
	"errors"
	"net"
)

// h1Available: the h1 core needs an epoll disconnect watcher; elsewhere the
// gateway serves with the nethttp core.
const h1Available = false

type hangupWatch struct{}

func newHangupWatch() (*hangupWatch, error) {
	return nil, errors.New("the h1 core needs Linux")
}

func (w *hangupWatch) add(*h1Conn, net.Conn) uint64 { return 0 }
func (w *hangupWatch) remove(uint64)                {}
func (w *hangupWatch) close() error                 { return nil }
