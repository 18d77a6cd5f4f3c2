package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/servelab/servelab/components/framework/frameworkspec"
	"github.com/servelab/servelab/internal/procs"
)

// run brings the lab up, benchmarks it, prints the summary and waits.
func (l *lab) run(ctx context.Context) error {
	stack, lab, err := LoadStack(l.o.Stack)
	if err != nil {
		return err
	}
	ports, moved, err := l.ports(lab)
	if err != nil {
		return err
	}
	for _, m := range moved {
		l.logf("%s", m)
	}
	files := Files{GatewayKey: l.path(gatewayKeyFile), Rules: l.path(rulesDir), EngineKeys: l.path(engineKeysDir)}
	if l.plan, err = NewPlan(stack, lab, ports, files); err != nil {
		return err
	}
	l.logf("stack %s (%s): %d simulated engines, the gateway, %s; work directory %s",
		stack, l.o.Stack, len(l.plan.Engines), l.promWhat(), l.o.Dir)

	if err := l.startEngines(); err != nil {
		return err
	}
	if err := l.startGateway(); err != nil {
		return err
	}
	if err := l.waitGateway(ctx); err != nil {
		return err
	}
	if err := l.readyEngines(ctx); err != nil {
		return err
	}
	if err := l.startPrometheus(ctx); err != nil {
		return err
	}
	if err := l.runBench(ctx); err != nil {
		return err
	}
	if err := l.writeReport(ctx); err != nil {
		return err
	}
	if l.prom != nil {
		l.prom.checkTargets(ctx, l)
	}
	l.printSummary(l.o.Stdout)
	if l.o.Exit {
		return nil
	}
	select {
	case <-ctx.Done():
		return nil
	case p := <-l.exited():
		return p.ExitError()
	}
}

// startEngines starts one simulated engine per framework instance, each
// engine that checks a key with one of its own, generated as the stack's
// are and written (0400) where its argv, the gateway and Prometheus read
// it.
func (l *lab) startEngines() error {
	l.engineKeys = map[string]string{}
	for _, e := range l.plan.Engines {
		if e.KeyFile == "" {
			continue
		}
		key, err := randomKey(engineKeyLen)
		if err != nil {
			return err
		}
		if err := os.WriteFile(e.KeyFile, []byte(frameworkspec.KeyFileContent(e.KeyFormat, key)), 0o400); err != nil {
			return fmt.Errorf("%s's key: %w", e.Name, err)
		}
		l.engineKeys[e.Name] = key
	}
	for _, e := range l.plan.Engines {
		if _, err := l.startProc(e.Name, append([]string{l.o.Servelab}, e.Args...)); err != nil {
			return err
		}
	}
	return nil
}

// startGateway writes the gateway's config and a generated key, and
// starts it.
func (l *lab) startGateway() error {
	key, err := randomKey(gatewayKeyLen)
	if err != nil {
		return err
	}
	l.gwKey = key
	if err := os.WriteFile(l.path(gatewayKeyFile), []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	cfg, err := json.MarshalIndent(l.plan.Gateway, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.path(gatewayConfig), append(cfg, '\n'), 0o600); err != nil {
		return err
	}
	_, err = l.startProc("gateway", []string{l.o.Servelab, "gateway", "--config", l.path(gatewayConfig)})
	return err
}

// waitGateway waits until the gateway reports every model ready: every
// engine behind it is ready (after its start-up delay).
func (l *lab) waitGateway(ctx context.Context) error {
	var longest time.Duration
	for _, in := range l.plan.Lab.Instances {
		if a := in.Instance.Args.Sim; a != nil && a.StartupDelay != "" {
			if d, err := time.ParseDuration(a.StartupDelay); err == nil {
				longest = max(longest, d)
			}
		}
	}
	l.logf("waiting for the engines (start-up delay up to %s) and the gateway at http://%s", longest, l.plan.GatewayAddr)
	took, err := procs.Poll(ctx, time.Minute+longest, pollEvery, l.alive, func(ctx context.Context) error {
		return expect200(ctx, l.client, "http://"+l.plan.GatewayAddr+"/readyz", nil)
	})
	if err != nil {
		return fmt.Errorf("the gateway did not report every engine ready: %w", err)
	}
	l.logf("gateway ready after %s: every engine behind it answers its readiness probe", took.Round(100*time.Millisecond))
	return nil
}

// readyEngines runs the engines' ready steps, as the stack does before it
// counts an engine ready (an Ollama-flavoured sim loads its model).
func (l *lab) readyEngines(ctx context.Context) error {
	for _, e := range l.plan.Engines {
		for _, step := range e.ReadySteps {
			started := time.Now()
			if err := l.runCommand(ctx, e.Name+"'s ready step", append([]string{l.o.Servelab}, step...)); err != nil {
				return err
			}
			l.logf("%s ready after `servelab %s` (%s), as the stack's ready step", e.Name, strings.Join(step, " "), time.Since(started).Round(100*time.Millisecond))
		}
	}
	return nil
}

// runCommand runs a short-lived command of the lab in the work directory
// (stopped if ctx ends first); its error carries the command's output.
func (l *lab) runCommand(ctx context.Context, what string, argv []string) error {
	p, err := procs.Start(what, argv, procs.Options{Dir: l.o.Dir})
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = l.stop(p)
		return ctx.Err()
	}
	if err := p.Wait(); err != nil {
		return fmt.Errorf("%s `%s` failed (%v):\n%s", what, strings.Join(argv, " "), err, p.Output())
	}
	return nil
}

// randomKey is n letters and digits from crypto/rand, each equally likely
// (the stack's keys are random.RandomPassword without special
// characters).
func randomKey(n int) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	const limit = 256 - 256%len(alphabet) // bytes at or above would favour the first letters
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// newClient talks to the lab: loopback only, no proxy from the
// environment.
func newClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
}

// expect200 GETs url (with basic auth when userPass is given) and wants a 200.
func expect200(ctx context.Context, client *http.Client, url string, userPass []string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if len(userPass) == 2 {
		req.SetBasicAuth(userPass[0], userPass[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
