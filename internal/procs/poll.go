package procs

import (
	"context"
	"fmt"
	"net"
	"time"
)

// FreeAddrs returns n distinct free loopback addresses (127.0.0.1:port).
// The listeners are held until all n are chosen and closed just before
// returning, so the addresses differ; another process could still take one
// before a child binds it, which the child then reports as "address
// already in use".
func FreeAddrs(n int) ([]string, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	addrs := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free loopback port: %w", err)
		}
		lns = append(lns, ln)
		addrs[i] = ln.Addr().String()
	}
	return addrs, nil
}

// Poll calls check every interval until it returns nil or the deadline
// passes; then it returns check's last error. alive, when not nil, is
// called first on each round and ends the polling at once with its error
// (a child process that died). It returns how long it polled.
func Poll(ctx context.Context, deadline, interval time.Duration, alive func() error, check func(context.Context) error) (time.Duration, error) {
	start := time.Now()
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var last error
	for {
		if alive != nil {
			if err := alive(); err != nil {
				return time.Since(start), err
			}
		}
		if last = check(ctx); last == nil {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			if err := parent.Err(); err != nil {
				return time.Since(start), err
			}
			return time.Since(start), fmt.Errorf("not within %s: %w", deadline, last)
		case <-time.After(interval):
		}
	}
}
