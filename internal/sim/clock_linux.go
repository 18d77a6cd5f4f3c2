package sim

import (
	"time"

	"golang.org/x/sys/unix"
)

// setTimerSlack sets the calling thread's timer slack to 1 ns (the default,
// 50 µs, would add up to 50 µs to every precise sleep).
func setTimerSlack() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) }

// preciseSleep blocks the calling thread in nanosleep(2) for d.
func preciseSleep(d time.Duration) {
	if d <= 0 {
		return
	}
	ts := unix.NsecToTimespec(d.Nanoseconds())
	_ = unix.Nanosleep(&ts, nil) // EINTR: the loop re-checks the clock
}
