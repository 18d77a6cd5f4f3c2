package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procRSS returns the resident set size in bytes of pid and its direct
// children (nginx's workers), from /proc; 0 when unreadable.
func procRSS(pid int) int64 {
	total := statusRSS(pid)
	for _, c := range children(pid) {
		total += statusRSS(c)
	}
	return total
}

func statusRSS(pid int) int64 {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// children lists the direct children of pid.
func children(pid int) []int {
	matches, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	want := strconv.Itoa(pid)
	for _, m := range matches {
		fields := statFields(m)
		if len(fields) > 1 && fields[1] == want {
			if c, err := strconv.Atoi(filepath.Base(filepath.Dir(m))); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// rssPeak samples a process's RSS every interval until stopped.
type rssPeak struct {
	stop chan struct{}
	wg   sync.WaitGroup
	peak int64
}

func watchRSS(pid int, interval time.Duration) *rssPeak {
	p := &rssPeak{stop: make(chan struct{})}
	if pid == 0 {
		return p
	}
	p.wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			p.peak = max(p.peak, procRSS(pid))
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	})
	return p
}

// end stops sampling and returns the peak in MiB.
func (p *rssPeak) end() float64 {
	close(p.stop)
	p.wg.Wait()
	return float64(p.peak) / (1 << 20)
}
