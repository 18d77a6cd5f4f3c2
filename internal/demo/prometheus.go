package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"golang.org/x/crypto/bcrypt"

	mon "github.com/servelab/servelab/internal/monitoring"
	"github.com/servelab/servelab/internal/procs"
)

// howToGetPrometheus is said when Prometheus is not installed.
const howToGetPrometheus = "Prometheus is not installed, so the demo goes on without it. To get it: " +
	"`sudo apt-get install prometheus` (Debian, Ubuntu), `brew install prometheus` (macOS), " +
	"or a release from https://prometheus.io/download/ in your PATH; then `make demo` again"

// promRun is the running Prometheus.
type promRun struct {
	url, user, password string
	client              *http.Client
	targets             string // "N of M targets up", after the bench
}

// prometheus is the prometheus binary to run, or "" (with why) when
// there is none.
func (l *lab) prometheus() (string, string) {
	if l.o.NoPrometheus {
		return "", "--no-prometheus"
	}
	if l.o.Prometheus != "" {
		return l.o.Prometheus, ""
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		return "", "not installed"
	}
	return p, ""
}

func (l *lab) promWhat() string {
	if bin, why := l.prometheus(); bin == "" {
		return "no Prometheus (" + why + ")"
	}
	return "Prometheus with the stack's generated config and rules"
}

// startPrometheus writes the stack's Prometheus config and rules (for
// this lab's addresses), a web config guarding every endpoint with a
// generated password, starts Prometheus and waits until it is ready.
func (l *lab) startPrometheus(ctx context.Context) error {
	bin, why := l.prometheus()
	if bin == "" {
		if why == "not installed" {
			l.logf("%s", howToGetPrometheus)
		}
		return nil
	}
	files, err := mon.PrometheusFiles(l.plan.Monitoring)
	if err != nil {
		return err
	}
	for p, content := range files {
		dst := p
		if p == mon.PrometheusConfigPath {
			dst = l.path(prometheusFile)
		}
		if err := os.WriteFile(dst, content, 0o600); err != nil {
			return err
		}
	}
	password, err := randomKey(promPasswordLen)
	if err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	web, err := mon.WebConfig(mon.PrometheusUser, string(hash))
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.path(webConfigFile), web, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(l.path(promPassFile), []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	argv := []string{bin,
		"--config.file=" + l.path(prometheusFile),
		"--web.config.file=" + l.path(webConfigFile),
		"--storage.tsdb.path=" + l.path(promDataDir),
		"--web.listen-address=" + l.plan.PrometheusAddr,
	}
	if r := l.plan.Lab.Config.Monitoring.Prometheus.Retention; r != "" {
		argv = append(argv, "--storage.tsdb.retention.time="+r)
	}
	if _, err := l.startProc("prometheus", argv); err != nil {
		return err
	}
	pr := &promRun{url: "http://" + l.plan.PrometheusAddr, user: mon.PrometheusUser, password: password, client: l.client}
	took, err := procs.Poll(ctx, time.Minute, pollEvery, l.alive, func(ctx context.Context) error {
		return expect200(ctx, l.client, pr.url+"/-/ready", []string{pr.user, pr.password})
	})
	if err != nil {
		return fmt.Errorf("prometheus did not become ready: %w", err)
	}
	l.prom = pr
	every := l.plan.Monitoring.ScrapeInterval
	if every == 0 {
		every = mon.DefaultScrapeInterval
	}
	l.logf("Prometheus ready after %s at %s (basic auth), scraping every %s", took.Round(100*time.Millisecond), pr.url, every)
	return nil
}

// checkTargets waits (a little) until Prometheus scrapes every target of
// its config and records how many are up and which rules it loaded.
func (p *promRun) checkTargets(ctx context.Context, l *lab) {
	var up, total int
	_, err := procs.Poll(ctx, 20*time.Second, 500*time.Millisecond, l.alive, func(ctx context.Context) error {
		var data struct {
			ActiveTargets []struct {
				Health string `json:"health"`
			} `json:"activeTargets"`
		}
		if err := p.get(ctx, "/api/v1/targets?state=active", &data); err != nil {
			return err
		}
		up, total = 0, len(data.ActiveTargets)
		for _, t := range data.ActiveTargets {
			if t.Health == "up" {
				up++
			}
		}
		if total == 0 || up < total {
			return fmt.Errorf("%d of %d scrape targets up", up, total)
		}
		return nil
	})
	if err != nil {
		l.logf("Prometheus: %v", err)
	}
	p.targets = fmt.Sprintf("%d of %d scrape targets up", up, total)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Type string `json:"type"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := p.get(ctx, "/api/v1/rules", &rules); err != nil {
		l.logf("Prometheus rules: %v", err)
		return
	}
	n := map[string]int{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n[r.Type]++
		}
	}
	p.targets += fmt.Sprintf("; %d recording rules and %d alerts loaded", n["recording"], n["alerting"])
}

// get GETs a Prometheus API path with basic auth and decodes the answer's
// "data" into data.
func (p *promRun) get(ctx context.Context, path string, data any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(p.user, p.password)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return json.Unmarshal(env.Data, data)
}
