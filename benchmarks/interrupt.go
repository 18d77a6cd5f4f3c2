package benchmarks

import (
	"context"
	"log/slog"
	"os"
	"sync"
)

// Interrupts turns a stream of signals (Ctrl-C, SIGTERM) into the bench's
// two-step stop: the first cancels the returned context (dispatch stops,
// in-flight requests get Config.Grace, the results so far are kept); the
// second closes abort (pass it as Config.Abort: in-flight requests are
// aborted at once). stop ends the watch.
func Interrupts(ctx context.Context, sigs <-chan os.Signal, log *slog.Logger) (runCtx context.Context, abort <-chan struct{}, stop func()) {
	runCtx, cancel := context.WithCancel(ctx)
	ab := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				n++
				if n == 1 {
					log.Warn("interrupted: no new requests; in-flight ones may finish within --grace (interrupt again to abort them now)", "signal", s.String())
					cancel()
					continue
				}
				log.Warn("interrupted again: aborting in-flight requests", "signal", s.String())
				close(ab)
				return
			}
		}
	})
	return runCtx, ab, func() { close(done); wg.Wait(); cancel() }
}
