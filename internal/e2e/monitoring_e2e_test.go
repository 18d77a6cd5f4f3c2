//go:build unix

package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/servelab/servelab/benchmarks"
	"github.com/servelab/servelab/benchmarks/dataset"
	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/gateway"
	"github.com/servelab/servelab/internal/metricnames"
	"github.com/servelab/servelab/internal/monitoring"
)

const (
	// labHost is the lab's host name: the "host" target label.
	labHost = "loopback"
	// promUser is Prometheus's basic auth user.
	promUser = "servelab-e2e"
	// deadline bounds every "eventually" condition. Nothing is asserted on
	// time: the durations are logged.
	deadline = 60 * time.Second
	// rulesDeadline bounds the wait for the recording rules' series after
	// the bench: their 1m windows must still hold its traffic.
	rulesDeadline = 40 * time.Second
	// pollEvery is the polling period of those conditions.
	pollEvery = 250 * time.Millisecond

	// Bench through the gateway, per model: benchPrompts requests at
	// benchRate requests/s, so that each model's traffic spans several 1s
	// scrapes and every rate() sees counters grow.
	benchPrompts   = 24
	benchRate      = 8
	benchInputLen  = 32
	benchOutputLen = 16
)

// stoppedFlavour is the simulated engine the test stops to fire the alerts.
const stoppedFlavour = engine.SGLang

// framework is one simulated engine of the lab.
type framework struct {
	flavour engine.Kind
	name    string // framework name = gateway backend name
	model   string // the one model it serves, through the gateway
	addr    string // 127.0.0.1:port
	proc    *proc
}

// The recording rules the lab must produce, per engine flavour, from
// docs/monitoring.md ("Engine schema"): the engine's own metric, or the
// gateway's per-backend series for an engine lacking the signal (Ollama has
// no /metrics at all; llama.cpp has no latency histograms and no KV
// metrics). Written out here rather than derived from internal/engine, so
// that a generator that drops or duplicates a source fails the test.
var (
	allFlavours = []engine.Kind{engine.VLLM, engine.SGLang, engine.Ollama, engine.LlamaCpp}
	withQueue   = []engine.Kind{engine.VLLM, engine.SGLang, engine.LlamaCpp}
	withKV      = []engine.Kind{engine.VLLM, engine.SGLang}

	engineExpectations = []struct {
		record   string
		flavours []engine.Kind
		value    valueCheck
	}{
		{monitoring.EngineTTFTP50, allFlavours, positive},
		{monitoring.EngineTTFTP99, allFlavours, positive},
		{monitoring.EngineITLP50, withKV, positive},
		{monitoring.EngineITLP99, withKV, positive},
		{monitoring.EngineE2EP50, allFlavours, positive},
		{monitoring.EngineE2EP99, allFlavours, positive},
		{monitoring.EngineOutputTokens, allFlavours, positive},
		{monitoring.EnginePromptTokens, withQueue, positive},
		{monitoring.EngineRequests, allFlavours, positive},
		{monitoring.EngineRequestsRunning, allFlavours, nonNegative},
		{monitoring.EngineRequestsWaiting, withQueue, nonNegative},
		{monitoring.EngineKVCacheUsage, withKV, unitInterval},
	}
)

// valueCheck says what a recorded value must be.
type valueCheck struct {
	name string
	ok   func(float64) bool
}

var (
	positive     = valueCheck{"finite and > 0", func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }}
	nonNegative  = valueCheck{"finite and >= 0", func(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }}
	unitInterval = valueCheck{"in [0, 1]", func(v float64) bool { return v >= 0 && v <= 1 }}
	openUnit     = valueCheck{"in (0, 1)", func(v float64) bool { return v > 0 && v < 1 }}
	zero         = valueCheck{"exactly 0", func(v float64) bool { return v == 0 }}
)

// TestMonitoringEndToEnd runs the lab on loopback: four simulated engines
// (one per flavour) and the gateway as servelab processes, Prometheus with
// the files internal/monitoring generates for that lab, a bench through the
// gateway; then it checks through Prometheus's HTTP API that every target
// is up, every recording rule yields exactly the series docs/monitoring.md
// promises, basic auth is enforced, and stopping the SGLang sim fires
// exactly the alerts for it. See docs/e2e.md.
func TestMonitoringEndToEnd(t *testing.T) {
	promtool := requireTool(t, "promtool")
	prometheus := requireTool(t, "prometheus")
	dir := t.TempDir()
	bin := buildServelab(t, dir)
	ctx := t.Context()

	addrs := freePorts(t, len(allFlavours)+3)
	gwAddr, gwMetricsAddr, promAddr := addrs[len(allFlavours)], addrs[len(allFlavours)+1], addrs[len(allFlavours)+2]

	// Every child's output is shown when the test fails (this cleanup runs
	// after the children are stopped: cleanups run last-in first-out).
	var procs []*proc
	stopped := map[*proc]bool{}
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range procs {
				t.Log(p.report())
			}
		}
	})
	alive := func() error {
		for _, p := range procs {
			if done, err := p.exited(); done && !stopped[p] {
				return fmt.Errorf("%s exited unexpectedly (%v)", p.name, err)
			}
		}
		return nil
	}
	waitFor := func(what string, check func(context.Context) error) time.Duration {
		t.Helper()
		took, err := poll(ctx, deadline, pollEvery, alive, check)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return took
	}

	// ---- simulated engines and the gateway -------------------------------
	fws := make([]*framework, len(allFlavours))
	for i, k := range allFlavours {
		fws[i] = &framework{flavour: k, name: "sim-" + string(k), model: "model-" + string(k), addr: addrs[i]}
	}
	for i, f := range fws {
		f.proc = startProc(t, f.name, bin, "sim",
			"--flavour", string(f.flavour), "--listen", f.addr, "--model", f.model,
			"--ttft", "20ms", "--itl", "5ms", "--seed", strconv.Itoa(i+1))
		procs = append(procs, f.proc)
	}

	apiKey := randomHex(t, 16)
	keysFile := filepath.Join(dir, "gateway-keys")
	writeFile(t, keysFile, []byte(apiKey+"\n"), 0o600)
	gcfg := gateway.DefaultConfig()
	gcfg.Listen = gwAddr
	gcfg.MetricsListen = gwMetricsAddr
	gcfg.ProbeInterval = gateway.Duration(500 * time.Millisecond)
	gcfg.Timeouts.Shutdown = gateway.Duration(2 * time.Second)
	gcfg.Cache.Enabled = true
	gcfg.Auth.KeysFile = keysFile
	for _, f := range fws {
		gcfg.Models = append(gcfg.Models, gateway.Model{
			Name:     f.model,
			Backends: []gateway.Backend{{Name: f.name, Engine: f.flavour, URL: "http://" + f.addr}},
		})
	}
	if err := gcfg.Check(); err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	gcfgJSON, err := json.Marshal(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	gcfgFile := filepath.Join(dir, "gateway.json")
	writeFile(t, gcfgFile, gcfgJSON, 0o600)
	gw := startProc(t, "gateway", bin, "gateway", "--config", gcfgFile)
	procs = append(procs, gw)

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	tookGatewayReady := waitFor("gateway /readyz (every sim ready behind it)", func(ctx context.Context) error {
		code, body, err := httpGet(ctx, hc, "http://"+gwAddr+"/readyz", apiKey) // model names only with a key
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/readyz: %d %s", code, body)
		}
		return nil
	})

	// ---- monitoring files, checked by promtool ---------------------------
	lab := monitoring.Lab{
		Stack:          "e2e",
		ScrapeInterval: time.Second,
		Gateway:        &monitoring.Target{Host: labHost, Address: gwMetricsAddr},
		Alerting: monitoring.Alerting{
			TargetDownFor:     time.Second,
			NoReadyBackendFor: time.Second,
		},
		RulesDir: filepath.Join(dir, "rules"),
	}
	for _, f := range fws {
		fw := monitoring.Framework{Name: f.name, Engine: engine.Sim, Flavour: f.flavour, Host: labHost, Address: f.addr}
		if f.flavour == engine.Ollama {
			fw.Address = "" // no /metrics: not scraped, needs no address
		}
		lab.Frameworks = append(lab.Frameworks, fw)
		lab.Models = append(lab.Models, f.model)
	}
	files, err := monitoring.PrometheusFiles(lab)
	if err != nil {
		t.Fatalf("PrometheusFiles: %v", err)
	}
	promCfg := filepath.Join(dir, "prometheus.yml")
	recRules := filepath.Join(lab.RulesDir, monitoring.RecordingRulesFile)
	alertRules := filepath.Join(lab.RulesDir, monitoring.AlertRulesFile)
	if got, want := sortedKeys(files), sortedKeys(map[string][]byte{monitoring.PrometheusConfigPath: nil, recRules: nil, alertRules: nil}); !slices.Equal(got, want) {
		t.Fatalf("PrometheusFiles keys = %v, want %v", got, want)
	}
	writeFile(t, promCfg, files[monitoring.PrometheusConfigPath], 0o644)
	writeFile(t, recRules, files[recRules], 0o644)
	writeFile(t, alertRules, files[alertRules], 0o644)

	promPass := randomHex(t, 16)
	hash, err := bcrypt.GenerateFromPassword([]byte(promPass), bcrypt.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	web, err := monitoring.WebConfig(promUser, string(hash))
	if err != nil {
		t.Fatalf("WebConfig: %v", err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	writeFile(t, webCfg, web, 0o600)

	if out := runTool(t, promtool, "check", "config", promCfg); !strings.Contains(out, "SUCCESS: 2 rule files found") {
		t.Errorf("promtool check config did not load both rule files:\n%s", out)
	}
	runTool(t, promtool, "check", "rules", recRules, alertRules)
	runTool(t, promtool, "check", "web-config", webCfg)

	// ---- Prometheus -------------------------------------------------------
	promProc := startProc(t, "prometheus", prometheus,
		"--config.file="+promCfg,
		"--web.config.file="+webCfg,
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	procs = append(procs, promProc)
	prom := newPromClient(promAddr, promUser, promPass)
	tookPromReady := waitFor("prometheus /-/ready (with basic auth)", func(ctx context.Context) error {
		code, err := prom.status(ctx, "/-/ready", promUser, promPass)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("/-/ready: status %d", code)
		}
		return nil
	})

	// Basic auth guards the API and the health endpoint.
	for _, c := range []struct{ path, user, pass string }{
		{"/api/v1/query?query=up", "", ""},
		{"/api/v1/query?query=up", promUser, promPass + "x"},
		{"/api/v1/query?query=up", "admin", promPass},
		{"/-/healthy", "", ""},
	} {
		code, err := prom.status(ctx, c.path, c.user, c.pass)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusUnauthorized {
			t.Errorf("GET %s as %q: status %d, want 401", c.path, c.user, code)
		}
	}
	if code, err := prom.status(ctx, "/-/healthy", promUser, promPass); err != nil || code != http.StatusOK {
		t.Errorf("GET /-/healthy with the right password: status %d, err %v; want 200", code, err)
	}

	// The loaded rules are exactly those that apply to this lab: no GPU
	// group (no DCGM), hence no DCGM or GPU memory alert.
	wantRecords := slices.DeleteFunc(monitoring.RecordedNames(), func(n string) bool {
		return n == monitoring.GPUMemoryUsedRatio || n == monitoring.GPUUtilizationRatio
	})
	wantAlerts := slices.DeleteFunc(monitoring.AlertNames(), func(n string) bool {
		return n == monitoring.AlertDCGMExporterDown || n == monitoring.AlertGPUMemoryHigh
	})
	loaded, err := prom.rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var gotRecords, gotAlerts []string
	for _, r := range loaded {
		if r.Type == "recording" {
			gotRecords = append(gotRecords, r.Name)
		} else {
			gotAlerts = append(gotAlerts, r.Name)
		}
	}
	slices.Sort(gotRecords)
	slices.Sort(wantRecords)
	slices.Sort(gotAlerts)
	slices.Sort(wantAlerts)
	if !slices.Equal(gotRecords, wantRecords) {
		t.Errorf("recording rules loaded by Prometheus:\n got %v\nwant %v", gotRecords, wantRecords)
	}
	if !slices.Equal(gotAlerts, wantAlerts) {
		t.Errorf("alerting rules loaded by Prometheus:\n got %v\nwant %v", gotAlerts, wantAlerts)
	}

	// ---- every target up, with the label schema ---------------------------
	wantJobs := map[string]map[string]string{monitoring.GatewayJob: {"host": labHost}}
	for _, f := range fws {
		if f.flavour == engine.Ollama {
			continue
		}
		wantJobs[monitoring.FrameworkJob(f.name)] = map[string]string{
			"framework": f.name, "engine": string(f.flavour), "host": labHost, "sim": "true",
		}
	}
	tookTargetsUp := waitFor("every scrape target up", func(ctx context.Context) error {
		ts, err := prom.targets(ctx)
		if err != nil {
			return err
		}
		var problems []string
		seen := map[string]bool{}
		for _, tg := range ts {
			job := tg.Labels["job"]
			want, ok := wantJobs[job]
			if !ok {
				problems = append(problems, "unexpected target "+labelString(tg.Labels))
				continue
			}
			seen[job] = true
			for k, v := range want {
				if tg.Labels[k] != v {
					problems = append(problems, fmt.Sprintf("target %s: label %s=%q, want %q", job, k, tg.Labels[k], v))
				}
			}
			if job == monitoring.GatewayJob && tg.Labels["framework"] != "" {
				problems = append(problems, "the gateway's target has a framework label: "+labelString(tg.Labels))
			}
			if tg.Health != "up" {
				problems = append(problems, fmt.Sprintf("target %s (%s) is %s: %s", job, tg.ScrapeURL, tg.Health, tg.LastError))
			}
		}
		for job := range wantJobs {
			if !seen[job] {
				problems = append(problems, "no target for job "+job)
			}
		}
		return joinProblems(problems)
	})

	// Before any traffic, the gateway exports each backend's request
	// counter at 0, as the engines their histograms: a counter that first
	// appears already incremented hides those requests from rate(), and the
	// request rate of Ollama and llama.cpp comes from this counter.
	ss, err := prom.query(ctx, metricnames.GatewayRequests+`{code="200"}`)
	if err != nil {
		t.Fatal(err)
	}
	var gotZero []string
	for _, s := range ss {
		if s.Value == 0 {
			gotZero = append(gotZero, s.Labels["backend"])
		}
	}
	wantZero := make([]string, 0, len(fws))
	for _, f := range fws {
		wantZero = append(wantZero, f.name)
	}
	slices.Sort(gotZero)
	slices.Sort(wantZero)
	if !slices.Equal(gotZero, wantZero) {
		t.Errorf("before traffic, %s{code=\"200\"} at 0 for backends %v, want %v (series: %v)", metricnames.GatewayRequests, gotZero, wantZero, ss)
	}

	// ---- traffic: a bench per model through the gateway -------------------
	// Unauthenticated requests are refused by the gateway.
	if code, body, err := httpPost(ctx, hc, "http://"+gwAddr+"/v1/chat/completions", "",
		fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, fws[0].model)); err != nil || code != http.StatusUnauthorized {
		t.Errorf("gateway request without API key: status %d (%s), err %v; want 401", code, body, err)
	}
	benchStart := time.Now()
	results := runBench(t, ctx, gwAddr, keysFile, fws)
	benchTook := time.Since(benchStart)
	for i, r := range results {
		if r.Completed != benchPrompts || r.Failed != 0 || r.Partial {
			t.Errorf("bench %s: completed %d, failed %d, partial %v; want %d, 0, false", fws[i].model, r.Completed, r.Failed, r.Partial, benchPrompts)
		}
	}
	// Two identical non-streamed deterministic requests per model: a cache
	// miss then a hit, so that the cache hit ratio has a value.
	for _, f := range fws {
		body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"cache probe"}],"max_tokens":4,"temperature":0}`, f.model)
		for i, want := range []string{"miss", "hit"} {
			req, cancel := context.WithTimeout(ctx, 10*time.Second)
			code, hdr, err := postCache(req, hc, "http://"+gwAddr+"/v1/chat/completions", apiKey, body)
			cancel()
			if err != nil || code != http.StatusOK || hdr != want {
				t.Errorf("%s non-streamed request %d: status %d, X-Servelab-Cache %q, err %v; want 200, %q", f.model, i+1, code, hdr, err, want)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// ---- recording rules: exactly the documented series -------------------
	// The rates and quantiles cover the last minute: the check must pass
	// well before the bench's traffic leaves the 1m window.
	tookRules, err := poll(ctx, rulesDeadline, pollEvery, alive, func(ctx context.Context) error {
		return checkRecorded(ctx, prom, fws)
	})
	if err != nil {
		t.Fatalf("recording rules produce the documented series: %v", err)
	}
	tookQuiet := waitFor("no alert firing while every engine runs", func(ctx context.Context) error {
		firing, err := prom.firing(ctx)
		if err != nil {
			return err
		}
		if len(firing) > 0 {
			return fmt.Errorf("firing: %v", firing)
		}
		return nil
	})

	// ---- stop one engine: its alerts, and only its, fire ------------------
	var down *framework
	for _, f := range fws {
		if f.flavour == stoppedFlavour {
			down = f
		}
	}
	stopped[down.proc] = true
	stopAt := time.Now()
	if err := down.proc.stop(10 * time.Second); err != nil {
		t.Fatalf("stop %s: %v", down.name, err)
	}
	if c, err := net.DialTimeout("tcp", down.addr, 2*time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections at %s after it was stopped", down.name, down.addr)
	}

	wantFiring := []wantAlert{
		{monitoring.AlertFrameworkDown, map[string]string{"framework": down.name, "engine": string(down.flavour), "severity": "critical"}},
		{monitoring.AlertBackendNotReady, map[string]string{"backend": down.name, "model": down.model, "engine": string(down.flavour), "severity": "warning"}},
		{monitoring.AlertNoReadyBackend, map[string]string{"model": down.model, "severity": "critical"}},
	}
	firedAfter := map[string]time.Duration{}
	var lastFiring []alert
	waitFor("the stopped engine's alerts fire", func(ctx context.Context) error {
		firing, err := prom.firing(ctx)
		if err != nil {
			return err
		}
		lastFiring = firing
		var missing []string
		for _, w := range wantFiring {
			if slices.ContainsFunc(firing, func(a alert) bool { return matches(a, w.name, w.labels) }) {
				if _, ok := firedAfter[w.name]; !ok {
					firedAfter[w.name] = time.Since(stopAt)
				}
			} else {
				missing = append(missing, w.name+labelString(w.labels))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not firing yet: %v (firing: %v)", missing, firing)
		}
		return nil
	})
	for _, a := range lastFiring {
		if !slices.ContainsFunc(wantFiring, func(w wantAlert) bool { return matches(a, w.name, w.labels) }) {
			t.Errorf("unexpected firing alert after stopping %s: %v", down.name, a)
		}
	}

	// The gateway reports the stopped backend not ready, the others ready.
	tookNotReady := waitFor("servelab_gateway_backend_ready of the stopped backend is 0", func(ctx context.Context) error {
		ss, err := prom.query(ctx, metricnames.GatewayBackendReady)
		if err != nil {
			return err
		}
		var problems []string
		for _, f := range fws {
			want := 1.0
			if f == down {
				want = 0
			}
			i := slices.IndexFunc(ss, func(s sample) bool { return s.Labels["backend"] == f.name })
			switch {
			case i < 0:
				problems = append(problems, "no series for backend "+f.name)
			case ss[i].Value != want || ss[i].Labels["model"] != f.model || ss[i].Labels["engine"] != string(f.flavour):
				problems = append(problems, fmt.Sprintf("%v, want value %v, model %q, engine %q", ss[i], want, f.model, f.flavour))
			}
		}
		if len(ss) != len(fws) {
			problems = append(problems, fmt.Sprintf("%d series, want %d: %v", len(ss), len(fws), ss))
		}
		return joinProblems(problems)
	})
	code, body, err := httpGet(ctx, hc, "http://"+gwAddr+"/readyz", apiKey) // model names only with a key
	var rz struct {
		Ready    bool     `json:"ready"`
		NotReady []string `json:"notReady"`
	}
	if err != nil || code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &rz) != nil || rz.Ready || !slices.Equal(rz.NotReady, []string{down.model}) {
		t.Errorf("gateway /readyz after stopping %s: %d %s (err %v); want 503 with notReady [%s]", down.name, code, body, err, down.model)
	}

	// ---- what it measured (logged, not asserted) --------------------------
	t.Logf("gateway ready %s after start; prometheus ready in %s; every target up %s later",
		tookGatewayReady.Round(time.Millisecond), tookPromReady.Round(time.Millisecond), tookTargetsUp.Round(time.Millisecond))
	t.Logf("bench: %d requests per model at %d/s on %d models in %s",
		benchPrompts, benchRate, len(fws), benchTook.Round(time.Millisecond))
	t.Logf("recording rules produced every documented series %s after the traffic ended; no alert firing %s later",
		tookRules.Round(time.Millisecond), tookQuiet.Round(time.Millisecond))
	for _, w := range wantFiring {
		t.Logf("%s fired %s after %s was stopped", w.name, firedAfter[w.name].Round(time.Millisecond), down.name)
	}
	t.Logf("servelab_gateway_backend_ready{backend=%q} == 0 seen %s after the alerts fired", down.name, tookNotReady.Round(time.Millisecond))
}

// checkRecorded compares every recorded series in Prometheus with the
// documented schema: each engine signal for exactly the frameworks that
// have a source for it, labelled framework and engine only, with a
// plausible value; the gateway group per model or backend; and no rule
// evaluation error.
func checkRecorded(ctx context.Context, prom *promClient, fws []*framework) error {
	rules, err := prom.rules(ctx)
	if err != nil {
		return err
	}
	var problems []string
	for _, r := range rules {
		if r.Health != "ok" {
			problems = append(problems, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError))
		}
	}
	all, err := prom.query(ctx, `{__name__=~"servelab:.+"}`)
	if err != nil {
		return err
	}
	byName := map[string][]sample{}
	for _, s := range all {
		byName[s.Labels["__name__"]] = append(byName[s.Labels["__name__"]], s)
	}
	byFlavour := map[engine.Kind]*framework{}
	for _, f := range fws {
		byFlavour[f.flavour] = f
	}
	expected := map[string]bool{}

	for _, e := range engineExpectations {
		expected[e.record] = true
		want := map[string]*framework{}
		for _, k := range e.flavours {
			want[byFlavour[k].name] = byFlavour[k]
		}
		got := map[string]bool{}
		for _, s := range byName[e.record] {
			name := s.Labels["framework"]
			f, ok := want[name]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s: unexpected series %v", e.record, s))
				continue
			case got[name]:
				problems = append(problems, fmt.Sprintf("%s: more than one series for %s: %v", e.record, name, s))
			}
			got[name] = true
			if len(s.Labels) != 3 || s.Labels["engine"] != string(f.flavour) {
				problems = append(problems, fmt.Sprintf("%s: series %v, want labels exactly framework=%q, engine=%q", e.record, s, name, f.flavour))
			}
			if !e.value.ok(s.Value) {
				problems = append(problems, fmt.Sprintf("%s: %v, want a value %s", e.record, s, e.value.name))
			}
		}
		for name := range want {
			if !got[name] {
				problems = append(problems, fmt.Sprintf("%s: no series for framework %s", e.record, name))
			}
		}
	}

	// Gateway group. Per backend: every framework's backend has a series;
	// the gateway's pseudo backends ("none": answered by the gateway itself,
	// "cache": cache hits) may have series too.
	backends := map[string]bool{"none": true, "cache": true}
	for _, f := range fws {
		backends[f.name] = true
	}
	perBackend := func(record string, check valueCheck, extra map[string]string) {
		expected[record] = true
		for _, s := range byName[record] {
			if !backends[s.Labels["backend"]] {
				problems = append(problems, fmt.Sprintf("%s: series for an unknown backend: %v", record, s))
			}
		}
		for _, f := range fws {
			found := false
			for _, s := range byName[record] {
				if s.Labels["backend"] != f.name {
					continue
				}
				if s.Labels["model"] != f.model || s.Labels["engine"] != string(f.flavour) {
					problems = append(problems, fmt.Sprintf("%s: %v, want model %q, engine %q", record, s, f.model, f.flavour))
				}
				if !labelsMatch(s.Labels, extra) {
					continue
				}
				found = true
				if !check.ok(s.Value) {
					problems = append(problems, fmt.Sprintf("%s: %v, want a value %s", record, s, check.name))
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s: no series for backend %s %v", record, f.name, extra))
			}
		}
	}
	// Per model; extra lists other model labels allowed (with any value).
	perModel := func(record string, check valueCheck, extra ...string) {
		expected[record] = true
		want := map[string]bool{}
		for _, f := range fws {
			want[f.model] = true
		}
		got := map[string]bool{}
		for _, s := range byName[record] {
			m := s.Labels["model"]
			if slices.Contains(extra, m) && len(s.Labels) == 2 {
				continue
			}
			if !want[m] || got[m] || len(s.Labels) != 2 {
				problems = append(problems, fmt.Sprintf("%s: unexpected series %v (want one per model, labelled model only)", record, s))
				continue
			}
			got[m] = true
			if !check.ok(s.Value) {
				problems = append(problems, fmt.Sprintf("%s: %v, want a value %s", record, s, check.name))
			}
		}
		for m := range want {
			if !got[m] {
				problems = append(problems, fmt.Sprintf("%s: no series for model %s", record, m))
			}
		}
	}
	perBackend(monitoring.GatewayRequestsRate, positive, map[string]string{"code": "200"})
	perBackend(monitoring.GatewayLatencyP50, positive, nil)
	perBackend(monitoring.GatewayLatencyP99, positive, nil)
	perBackend(monitoring.GatewayUpstreamErrorsRate, zero, nil)
	perModel(monitoring.GatewayOverheadP50, positive)
	perModel(monitoring.GatewayOverheadP99, positive)
	// The gateway counts requests naming no configured model (here: the
	// unauthenticated one) under model "unknown".
	perModel(monitoring.Gateway5xxRatio, zero, "unknown")
	perModel(monitoring.GatewayCacheHitRatio, openUnit)

	for name := range byName {
		if !expected[name] {
			problems = append(problems, fmt.Sprintf("unexpected recorded series %s: %v", name, byName[name]))
		}
	}
	return joinProblems(problems)
}

// runBench runs one benchmark per model through the gateway, all at once,
// and returns one result per framework, in order.
func runBench(t *testing.T, ctx context.Context, gwAddr, keysFile string, fws []*framework) []benchmarks.Result {
	t.Helper()
	results := make([]benchmarks.Result, len(fws))
	errs := make([]error, len(fws))
	var wg sync.WaitGroup
	for i, f := range fws {
		wg.Go(func() {
			cfg := benchmarks.Config{
				Targets: []benchmarks.Target{{
					Label: f.name, BaseURL: "http://" + gwAddr, Model: f.model,
					Engine: "gateway", APIKeyFile: keysFile,
				}},
				Dataset: dataset.Spec{
					Kind: dataset.Random, NumPrompts: benchPrompts, Seed: int64(i + 1),
					RandomInputLen: benchInputLen, RandomOutputLen: benchOutputLen,
				},
				MaxConcurrency: []int{4},
				RequestRates:   []float64{benchRate},
				Timeout:        30 * time.Second,
				Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
			}
			rs, err := benchmarks.Run(ctx, cfg)
			switch {
			case err != nil:
				errs[i] = fmt.Errorf("bench %s: %w", f.model, err)
			case len(rs) != 1:
				errs[i] = fmt.Errorf("bench %s: %d results, want 1", f.model, len(rs))
			default:
				results[i] = rs[0]
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	return results
}

// wantAlert is an alert expected to fire: its name and (some of) its labels.
type wantAlert struct {
	name   string
	labels map[string]string
}

// matches reports whether a is the named alert with (at least) labels.
func matches(a alert, name string, labels map[string]string) bool {
	return a.Labels["alertname"] == name && labelsMatch(a.Labels, labels)
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func joinProblems(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func writeFile(t *testing.T, path string, content []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, content, mode); err != nil {
		t.Fatal(err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// runTool runs a command and fails the test with its output when it exits
// non-zero.
func runTool(t *testing.T, bin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func httpGet(ctx context.Context, hc *http.Client, url, apiKey string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	return do(hc, req)
}

func httpPost(ctx context.Context, hc *http.Client, url, apiKey, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	return do(hc, req)
}

func do(hc *http.Client, req *http.Request) (int, string, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// postCache sends a request and returns its status and X-Servelab-Cache
// header.
func postCache(ctx context.Context, hc *http.Client, url, apiKey, body string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("X-Servelab-Cache"), err
}
