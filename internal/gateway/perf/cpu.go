package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux the harness runs on.
const clockTick = 100

// procCPU returns the CPU time (user + system) used so far by pid and its
// direct children (nginx's workers), from /proc. It returns 0 when /proc is
// not readable.
func procCPU(pid int) time.Duration {
	total := statCPU(pid)
	matches, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, m := range matches {
		fields := statFields(m)
		if len(fields) > 15 && fields[1] == strconv.Itoa(pid) {
			total += ticks(fields[11]) + ticks(fields[12])
		}
	}
	return total
}

func statCPU(pid int) time.Duration {
	fields := statFields(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if len(fields) < 13 {
		return 0
	}
	return ticks(fields[11]) + ticks(fields[12])
}

// statFields returns the fields of a /proc/PID/stat after the command name:
// [0] state, [1] ppid, ..., [11] utime, [12] stime.
func statFields(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

func ticks(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return time.Duration(n) * time.Second / clockTick
}
