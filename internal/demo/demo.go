// Package demo is `make demo`: a stack's whole data path on this machine's
// loopback interface, with no Docker, no GPU, no Pulumi and nothing to
// download. It runs what the stack's containers run, as processes of the
// servelab binary — one simulated engine per framework, the gateway in
// front of them with a generated key, Prometheus (when installed) with
// the stack's generated config and rules — then a short benchmark through
// the gateway and directly, and writes the HTML report. It prints the
// gateway's URL and key, Prometheus's URL and credentials and the report's
// path, and keeps the lab running until it is told to stop (Ctrl-C), when
// it stops every process it started; a second Ctrl-C kills them at once.
//
// The lab is the stack's (stacks/Pulumi.sim.yaml by default), read with
// programs' own Load and Validate and rendered by the functions the
// components use (plan.go): one source of truth with `make up STACK=sim`.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/servelab/servelab/internal/procs"
)

// Options configure a demo run.
type Options struct {
	// Stack is the stack file (default stacks/Pulumi.sim.yaml).
	Stack string
	// Servelab is the servelab binary the processes run (default
	// bin/servelab).
	Servelab string
	// Dir is the work directory: configs, keys, logs, Prometheus's data,
	// the results and the report (default bin/demo). It is emptied first,
	// and only if it is a previous demo's (or empty).
	Dir string
	// NumPrompts is the benchmark's requests per run (default 16).
	NumPrompts int
	// MaxConcurrency replaces the stack's concurrency levels when set.
	MaxConcurrency []int
	// FreePorts uses free ports instead of the stack's.
	FreePorts bool
	// Prometheus is the prometheus binary ("" = looked up in PATH).
	Prometheus string
	// NoPrometheus runs without Prometheus even when it is installed.
	NoPrometheus bool
	// Exit stops the lab once the summary is printed instead of keeping it
	// running until ctx ends.
	Exit bool
	// Abort, when closed, kills every process at once (a second Ctrl-C).
	Abort <-chan struct{}
	// Stdout receives the summary; Stderr progress and the benchmark's
	// own progress (default os.Stdout, os.Stderr).
	Stdout, Stderr io.Writer
}

// Defaults.
const (
	DefaultStack      = "stacks/Pulumi.sim.yaml"
	DefaultServelab   = "bin/servelab"
	DefaultDir        = "bin/demo"
	DefaultNumPrompts = 16
	// stopGrace is how long a process may take to stop before it is
	// killed.
	stopGrace = 5 * time.Second
	// pollEvery is the period of the readiness checks.
	pollEvery = 200 * time.Millisecond
)

// Files in the work directory.
const (
	markerFile      = ".servelab-demo"
	gatewayConfig   = "gateway.json"
	gatewayKeyFile  = "gateway-key"
	engineKeysDir   = "engine-keys"
	prometheusFile  = "prometheus.yml"
	webConfigFile   = "prometheus-web.yml"
	promPassFile    = "prometheus-password"
	rulesDir        = "rules"
	promDataDir     = "prometheus-data"
	logsDir         = "logs"
	targetsFile     = "targets.json"
	benchRunsFile   = "bench-runs.json"
	outputsFile     = "outputs.json"
	reportFile      = "report.html"
	prometheusUser  = "servelab"
	gatewayKeyLen   = 48
	engineKeyLen    = 48
	promPasswordLen = 32
)

func (o *Options) defaults() {
	if o.Stack == "" {
		o.Stack = DefaultStack
	}
	if o.Servelab == "" {
		o.Servelab = DefaultServelab
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	if o.NumPrompts == 0 {
		o.NumPrompts = DefaultNumPrompts
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
}

// Run runs the demo until ctx ends (or, with Exit, until the summary is
// printed), then stops every process it started. It returns ctx's error
// only when ctx ended before the lab was up.
func Run(ctx context.Context, o Options) error {
	o.defaults()
	if o.NumPrompts < 1 {
		return fmt.Errorf("--num-prompts must be ≥ 1, got %d", o.NumPrompts)
	}
	start := time.Now()
	servelab, err := filepath.Abs(o.Servelab)
	if err != nil {
		return err
	}
	if st, err := os.Stat(servelab); err != nil || st.IsDir() {
		return fmt.Errorf("no servelab binary at %s: run `make build` first (make demo does)", o.Servelab)
	}
	o.Servelab = servelab
	if o.Dir, err = prepareDir(o.Dir); err != nil {
		return err
	}
	l := &lab{o: o, start: start, grace: stopGrace, client: newClient()}
	defer func() {
		if err := l.stopAll(); err != nil {
			fmt.Fprintf(o.Stderr, "demo: %v\n", err)
		}
	}()
	return l.run(ctx)
}

// prepareDir empties dir if it is a previous demo's work directory (or
// creates it) and marks it as the demo's. It returns dir as an absolute
// path.
func prepareDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return "", err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(abs, markerFile)); err != nil {
			return "", fmt.Errorf("--dir %s is not empty and not a previous demo's work directory (no %s): refusing to empty it", dir, markerFile)
		}
		if err := os.RemoveAll(abs); err != nil {
			return "", fmt.Errorf("empty the previous demo's %s: %w", dir, err)
		}
	}
	for _, d := range []string{abs, filepath.Join(abs, logsDir), filepath.Join(abs, rulesDir), filepath.Join(abs, engineKeysDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", err
		}
	}
	return abs, os.WriteFile(filepath.Join(abs, markerFile), []byte("servelab demo work directory: make demo empties it\n"), 0o600)
}

// lab is a demo's running processes.
type lab struct {
	o      Options
	start  time.Time
	grace  time.Duration // how long a process may take to stop
	client *http.Client  // to the lab's processes
	plan   *Plan

	procs      []*procs.Proc // every long-running process started, in order
	gwKey      string
	engineKeys map[string]string // by engine, for those that check a key
	prom       *promRun          // nil without Prometheus
	outputs    string
	report     string
	bench      benchSummary
}

// path is a file of the work directory.
func (l *lab) path(name ...string) string {
	return filepath.Join(append([]string{l.o.Dir}, name...)...)
}

func (l *lab) logf(format string, args ...any) {
	fmt.Fprintf(l.o.Stderr, "demo: "+format+"\n", args...)
}

// startProc starts a long-running process of the lab, its output in
// logs/<name>.log, with the work directory as its working directory.
func (l *lab) startProc(name string, argv []string) (*procs.Proc, error) {
	log, err := os.OpenFile(l.path(logsDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	p, err := procs.Start(name, argv, procs.Options{Dir: l.o.Dir, Log: log})
	if err != nil {
		log.Close()
		return nil, err
	}
	go func() { <-p.Done(); log.Close() }()
	l.procs = append(l.procs, p)
	return p, nil
}

// alive is an error naming the first process of the lab that has exited.
func (l *lab) alive() error {
	for _, p := range l.procs {
		if err := p.ExitError(); err != nil {
			return err
		}
	}
	return nil
}

// stopAll stops every process (SIGTERM, then SIGKILL after the grace),
// all at once; Abort kills them at once.
func (l *lab) stopAll() error {
	errs := make([]error, len(l.procs))
	var wg sync.WaitGroup
	for i, p := range l.procs {
		wg.Go(func() { errs[i] = l.stop(p) })
	}
	wg.Wait()
	l.procs = nil
	return errors.Join(errs...)
}

// stop stops p (SIGTERM, then SIGKILL after the grace); Abort kills it at
// once.
func (l *lab) stop(p *procs.Proc) error {
	stopped := make(chan error, 1)
	go func() { stopped <- p.Stop(l.grace) }()
	select {
	case err := <-stopped:
		return err
	case <-l.o.Abort:
		if err := p.Kill(); err != nil {
			return err
		}
		return <-stopped
	}
}

// exited is closed when any process of the lab exits.
func (l *lab) exited() <-chan *procs.Proc {
	ch := make(chan *procs.Proc, len(l.procs))
	for _, p := range l.procs {
		go func() { <-p.Done(); ch <- p }()
	}
	return ch
}
