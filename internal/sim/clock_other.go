//go:build !linux

package sim

import "time"

func setTimerSlack() {}

func preciseSleep(d time.Duration) { time.Sleep(d) }
