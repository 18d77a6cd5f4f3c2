package sim

import (
	"container/heap"
	"context"
	"runtime"
	"sync"
	"time"
)

// Token emission is scheduled against absolute deadlines (start + ttft +
// i·itl), so sleep error never accumulates. Go's timers alone are not
// precise enough: an idle runtime waits in epoll with millisecond
// granularity and wakes a timer up to ~1 ms late. A stream therefore sleeps
// on an ordinary timer until coarseMargin before its deadline, then hands
// the last stretch to the pacer: one goroutine, locked to its OS thread
// with a 1 ns timer slack, that sleeps in short nanosleep slices and wakes
// each waiter at its deadline. Thousands of streams share that one thread;
// only waiters within coarseMargin of their deadline are in its heap.
const (
	coarseMargin = 1500 * time.Microsecond
	// paceSlice bounds one precise sleep so that a waiter registered while
	// the pacer sleeps is never woken more than this late.
	paceSlice = 200 * time.Microsecond
)

type wake struct {
	at time.Time
	ch chan struct{} // buffered(1), owned by the waiting stream
}

type wakeHeap []*wake

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(*wake)) }
func (h *wakeHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}

// pacer wakes registered waiters at their deadlines.
type pacer struct {
	reg      chan *wake
	done     chan struct{}
	stopOnce sync.Once
}

func newPacer() *pacer {
	p := &pacer{reg: make(chan *wake, 4096), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *pacer) stop() { p.stopOnce.Do(func() { close(p.done) }) }

func (p *pacer) loop() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setTimerSlack()
	var h wakeHeap
	for {
		if len(h) == 0 {
			select {
			case w := <-p.reg:
				heap.Push(&h, w)
			case <-p.done:
				return
			}
		}
	drain:
		for {
			select {
			case w := <-p.reg:
				heap.Push(&h, w)
			case <-p.done:
				return
			default:
				break drain
			}
		}
		now := time.Now()
		for len(h) > 0 && !h[0].at.After(now) {
			w := heap.Pop(&h).(*wake)
			w.ch <- struct{}{}
		}
		if len(h) == 0 {
			continue
		}
		preciseSleep(min(h[0].at.Sub(now), paceSlice))
	}
}

// streamClock is one stream's view of time: a reusable coarse timer and a
// wake channel for the pacer.
type streamClock struct {
	p     *pacer
	timer *time.Timer
	w     wake
}

func (p *pacer) clock() *streamClock {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &streamClock{p: p, timer: t, w: wake{ch: make(chan struct{}, 1)}}
}

// sleepUntil returns at (or as soon after as the machine allows) deadline,
// or ctx's error when ctx ends first; after an error the clock must not be
// used again.
func (c *streamClock) sleepUntil(ctx context.Context, deadline time.Time) error {
	if d := time.Until(deadline) - coarseMargin; d > 0 {
		c.timer.Reset(d)
		select {
		case <-c.timer.C:
		case <-ctx.Done():
			c.timer.Stop()
			return ctx.Err()
		}
	}
	if time.Until(deadline) <= 0 {
		return ctx.Err()
	}
	c.w.at = deadline
	select {
	case c.p.reg <- &c.w:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.w.ch:
		return nil
	case <-ctx.Done():
		// The pacer still holds &c.w and will send once into the buffered
		// channel, never blocking. The clock must not be reused.
		return ctx.Err()
	}
}
