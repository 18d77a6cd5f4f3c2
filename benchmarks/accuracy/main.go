// Command accuracy measures how faithfully `servelab bench` measures: it
// starts a simulated engine in a child process (TTFT 50 ms, ITL 10 ms, no
// jitter, unlimited capacity), benches it at several concurrency levels,
// and prints measured against configured TTFT, ITL and TPOT (mean and p99)
// with absolute and relative error, plus the CPU time the bench process
// (and, separately, the sim process) spent per 1,000 output tokens.
//
//	go run ./benchmarks/accuracy                       # levels 1,64,1000,2000
//	go run ./benchmarks/accuracy -levels 1,64 -waves 3
//
// It prints figures; it asserts nothing. See docs/bench.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/sim"
)

const (
	childEnv        = "SERVELAB_ACCURACY_SIM"
	childProfileEnv = "SERVELAB_ACCURACY_SIM_PROFILE"
)

func main() {
	if os.Getenv(childEnv) != "" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "accuracy sim:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "accuracy:", err)
		os.Exit(1)
	}
}

type options struct {
	levels       []int
	ttft, itl    time.Duration
	outputTokens int
	waves        int
	minPrompts   int
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("accuracy", flag.ContinueOnError)
	levels := fs.String("levels", "1,64,1000,2000", "concurrency levels, comma-separated")
	var o options
	fs.DurationVar(&o.ttft, "ttft", 50*time.Millisecond, "sim TTFT")
	fs.DurationVar(&o.itl, "itl", 10*time.Millisecond, "sim ITL")
	fs.IntVar(&o.outputTokens, "output-tokens", 100, "max_tokens of every request")
	fs.IntVar(&o.waves, "waves", 2, "requests per level = waves × level (at least -min-prompts)")
	fs.IntVar(&o.minPrompts, "min-prompts", 20, "fewest requests per level")
	cpuProfile := fs.String("cpuprofile", "", "write the bench process's CPU profile to this file")
	simProfile := fs.String("sim-cpuprofile", "", "write the sim process's CPU profile to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var err error
	if o.levels, err = benchmarks.ParseInts("-levels", *levels); err != nil {
		return err
	}

	child, addr, err := startChild(ctx, o, *simProfile)
	if err != nil {
		return err
	}
	defer func() {
		_ = child.Process.Signal(os.Interrupt)
		_ = child.Wait()
	}()

	fmt.Fprintf(out, "sim (child pid %d): flavour vllm, ttft %s, itl %s, jitter 0, capacity unlimited; %d output tokens per request; %d cores; load average before: %s\n\n",
		child.Process.Pid, o.ttft, o.itl, o.outputTokens, numCPU(), loadAvg())
	fmt.Fprintln(out, "| conc | requests | metric | configured ms | mean ms | mean err ms | mean err % | p99 ms | p99 err ms | p99 err % | sim-side mean ms |")
	fmt.Fprintln(out, "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	var cpuRows []string
	for _, level := range o.levels {
		n := max(o.waves*level, o.minPrompts)
		cfg := benchmarks.Config{
			Targets:         []benchmarks.Target{{Label: "sim", BaseURL: "http://" + addr, Model: "sim-model", Engine: "sim"}},
			Endpoint:        benchmarks.EndpointChat,
			Dataset:         dataset.Spec{Kind: dataset.Random, NumPrompts: n, Seed: 1, RandomInputLen: 32, RandomOutputLen: o.outputTokens},
			MaxConcurrency:  []int{level},
			Warmup:          level,
			MaxFailureRatio: 1, // failures are printed per level, not fatal
			Percentiles:     []float64{50, 99},
			Timeout:         5 * time.Minute,
			Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		}
		before, err := simMeans(ctx, addr)
		if err != nil {
			return err
		}
		benchCPU0, simCPU0 := selfCPU(), procCPU(child.Process.Pid)
		wall0 := time.Now()
		res, err := benchmarks.Run(ctx, cfg)
		wall := time.Since(wall0)
		benchCPU, simCPU := selfCPU()-benchCPU0, procCPU(child.Process.Pid)-simCPU0
		if err != nil {
			return fmt.Errorf("level %d: %w", level, err)
		}
		after, err := simMeans(ctx, addr)
		if err != nil {
			return err
		}
		simSide := after.minus(before)
		r := res[0]
		for _, m := range []struct {
			name string
			l    benchmarks.Latency
			want time.Duration
			sim  float64
		}{{"TTFT", r.TTFT, o.ttft, simSide.mean("ttft")}, {"ITL", r.ITL, o.itl, simSide.mean("itl")}, {"TPOT", r.TPOT, o.itl, simSide.mean("tpot")}} {
			want := float64(m.want) / float64(time.Millisecond)
			p99, _ := m.l.At(99)
			fmt.Fprintf(out, "| %d | %d | %s | %.1f | %.3f | %+.3f | %+.2f | %.3f | %+.3f | %+.2f | %.3f |\n",
				level, r.Completed, m.name, want, m.l.Mean, m.l.Mean-want, 100*(m.l.Mean-want)/want, p99, p99-want, 100*(p99-want)/want, m.sim)
		}
		// Tokens received in the whole call: warmup plus measured requests.
		tokens := float64(r.TotalOutputTokens) * float64(n+level) / float64(n)
		cpuRows = append(cpuRows, fmt.Sprintf("| %d | %.0f | %.2f | %.3f | %.0f%% | %s | %.0f%% |",
			level, tokens, wall.Seconds(), 1000*benchCPU.Seconds()/tokens*1000, 100*benchCPU.Seconds()/wall.Seconds(),
			cpuPer1k(simCPU, tokens), 100*simCPU.Seconds()/wall.Seconds()))
		if r.Failed > 0 {
			fmt.Fprintf(out, "| %d | | %d requests FAILED | | | | | | | |\n", level, r.Failed)
		}
	}
	fmt.Fprintf(out, "\nload average after: %s\n\n", loadAvg())
	fmt.Fprintln(out, "| conc | tokens (incl. warmup) | wall s | bench CPU ms / 1k tokens | bench CPU / wall | sim CPU ms / 1k tokens | sim CPU / wall |")
	fmt.Fprintln(out, "|---:|---:|---:|---:|---:|---:|---:|")
	for _, row := range cpuRows {
		fmt.Fprintln(out, row)
	}
	return nil
}

func cpuPer1k(cpu time.Duration, tokens float64) string {
	if cpu < 0 {
		return "n/a"
	}
	return strconv.FormatFloat(1000*cpu.Seconds()/tokens*1000, 'f', 3, 64)
}

// startChild re-executes this program as the sim and returns its address.
func startChild(ctx context.Context, o options, profile string) (*exec.Cmd, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", fmt.Errorf("find own executable: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+o.ttft.String()+","+o.itl.String(), childProfileEnv+"="+profile)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start sim child: %w", err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, "", fmt.Errorf("sim child did not report its address: %w", err)
	}
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, "ADDR ")), nil
}

// runChild serves the sim on a loopback port, printing "ADDR host:port".
func runChild() error {
	ttftS, itlS, ok := strings.Cut(os.Getenv(childEnv), ",")
	if !ok {
		return errors.New(childEnv + " must be TTFT,ITL")
	}
	ttft, err1 := time.ParseDuration(ttftS)
	itl, err2 := time.ParseDuration(itlS)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	s, err := sim.New(sim.Config{
		Flavour: engine.VLLM, Model: "sim-model", TTFT: ttft, ITL: itl, MaxOutputTokens: 100,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	if p := os.Getenv(childProfileEnv); p != "" {
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return s.Serve(ctx, ln)
}

// selfCPU returns this process's user+system CPU time (getrusage).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns a process's user+system CPU time from /proc (Linux), or
// -1 when unavailable.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration((ut + st) / clkTck * float64(time.Second))
}

func numCPU() int {
	n := 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n = strings.Count(string(b), "processor\t:")
	}
	return int(math.Max(float64(n), 1))
}

// loadAvg returns the 1, 5 and 15 minute load averages (Linux).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "n/a"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "n/a"
	}
	return strings.Join(f[:3], " ")
}

// histSums holds the sum and count of the sim's latency histograms.
type histSums map[string][2]float64

var simHistograms = map[string]string{
	"ttft": "vllm:time_to_first_token_seconds",
	"itl":  "vllm:inter_token_latency_seconds",
	"tpot": "vllm:request_time_per_output_token_seconds",
}

// simMeans scrapes the sim's /metrics for the sums and counts of its
// latency histograms (the sim's own view: request arrival to token write).
func simMeans(ctx context.Context, addr string) (histSums, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape sim: %w", err)
	}
	defer resp.Body.Close()
	out := histSums{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		for key, name := range simHistograms {
			for i, suffix := range []string{"_sum", "_count"} {
				if strings.HasPrefix(line, name+suffix) {
					f := strings.Fields(line)
					v, err := strconv.ParseFloat(f[len(f)-1], 64)
					if err != nil {
						return nil, fmt.Errorf("scrape sim: %q: %w", line, err)
					}
					e := out[key]
					e[i] = v
					out[key] = e
				}
			}
		}
	}
	return out, sc.Err()
}

func (h histSums) minus(o histSums) histSums {
	d := histSums{}
	for k, v := range h {
		d[k] = [2]float64{v[0] - o[k][0], v[1] - o[k][1]}
	}
	return d
}

// mean returns the mean in ms of the histogram's observations.
func (h histSums) mean(key string) float64 {
	v := h[key]
	if v[1] == 0 {
		return 0
	}
	return 1000 * v[0] / v[1]
}
