package monitoring_test

import (
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// loadConfig loads prometheus.yml with Prometheus's own config loader.
func loadConfig(t *testing.T, lab monitoring.Lab) *config.Config {
	t.Helper()
	out, err := monitoring.PrometheusConfig(lab)
	if err != nil {
		t.Fatalf("PrometheusConfig: %v", err)
	}
	cfg, err := config.Load(string(out), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("config.Load rejects the generated prometheus.yml: %v\n%s", err, out)
	}
	return cfg
}

type target struct {
	job, path, address string
	labels             map[string]string
}

func targets(cfg *config.Config) []target {
	var out []target
	for _, sc := range cfg.ScrapeConfigs {
		for _, tg := range staticGroups(sc) {
			for _, tl := range tg.Targets {
				labels := map[string]string{}
				for k, v := range tg.Labels {
					labels[string(k)] = string(v)
				}
				out = append(out, target{job: sc.JobName, path: sc.MetricsPath, address: string(tl[model.AddressLabel]), labels: labels})
			}
		}
	}
	return out
}

// TestPrometheusConfigLoads loads every lab's prometheus.yml with
// config.Load and checks its jobs, targets and labels.
func TestPrometheusConfigLoads(t *testing.T) {
	t.Parallel()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadConfig(t, c.lab)
			interval := c.lab.ScrapeInterval
			if interval == 0 {
				interval = monitoring.DefaultScrapeInterval
			}
			if time.Duration(cfg.GlobalConfig.ScrapeInterval) != interval || time.Duration(cfg.GlobalConfig.EvaluationInterval) != interval {
				t.Errorf("intervals = %s/%s, want %s", cfg.GlobalConfig.ScrapeInterval, cfg.GlobalConfig.EvaluationInterval, interval)
			}
			if got := cfg.GlobalConfig.ExternalLabels.Get("stack"); got != c.lab.Stack {
				t.Errorf("external label stack = %q, want %q", got, c.lab.Stack)
			}
			if !slices.Equal(cfg.RuleFiles, []string{monitoring.PrometheusRulesDir + "/*.yml"}) {
				t.Errorf("rule_files = %v", cfg.RuleFiles)
			}
			var want []target
			if c.lab.Gateway != nil {
				want = append(want, target{"gateway", "/metrics", c.lab.Gateway.Address, map[string]string{"host": c.lab.Gateway.Host}})
			}
			for _, f := range c.lab.Frameworks {
				kind := f.Engine
				if kind == engine.Sim {
					kind = f.Flavour
				}
				if kind == engine.Ollama {
					continue // no /metrics
				}
				labels := map[string]string{"framework": f.Name, "engine": string(kind), "host": f.Host}
				if f.Engine == engine.Sim {
					labels["sim"] = "true"
				}
				want = append(want, target{"framework-" + f.Name, "/metrics", f.Address, labels})
			}
			for _, d := range c.lab.DCGM {
				want = append(want, target{"dcgm-" + d.Host, "/metrics", d.Address, map[string]string{"host": d.Host}})
			}
			got := targets(cfg)
			if len(got) != len(want) {
				t.Fatalf("targets = %+v\nwant %+v", got, want)
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.job != w.job || g.path != w.path || g.address != w.address || !mapsEqual(g.labels, w.labels) {
					t.Errorf("target %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// staticGroups returns the static_configs of a scrape config, as loaded.
func staticGroups(sc *config.ScrapeConfig) []*targetgroup.Group {
	var out []*targetgroup.Group
	for _, c := range sc.ServiceDiscoveryConfigs {
		if s, ok := c.(discovery.StaticConfig); ok {
			out = append(out, s...)
		}
	}
	return out
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestRetargeting shows how an end-to-end test points the generated config
// at loopback addresses and a local rules directory.
func TestRetargeting(t *testing.T) {
	t.Parallel()
	lab := monitoring.Lab{
		Stack:          "e2e",
		ScrapeInterval: time.Second,
		RulesDir:       "/tmp/servelab-e2e/rules",
		Gateway:        &monitoring.Target{Host: "local", Address: "127.0.0.1:18080"},
		Frameworks: []monitoring.Framework{
			{Name: "sim-vllm", Engine: engine.Sim, Flavour: engine.VLLM, Host: "local", Address: "127.0.0.1:18000"},
		},
	}
	cfg := loadConfig(t, lab)
	if !slices.Equal(cfg.RuleFiles, []string{"/tmp/servelab-e2e/rules/*.yml"}) {
		t.Errorf("rule_files = %v", cfg.RuleFiles)
	}
	if got := time.Duration(cfg.GlobalConfig.ScrapeTimeout); got != time.Second {
		t.Errorf("scrape_timeout = %s, want 1s (never above the interval)", got)
	}
	got := targets(cfg)
	if len(got) != 2 || got[0].address != "127.0.0.1:18080" || got[1].address != "127.0.0.1:18000" {
		t.Errorf("targets = %+v", got)
	}
	files, err := monitoring.PrometheusFiles(lab)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{monitoring.PrometheusConfigPath, "/tmp/servelab-e2e/rules/recording.yml", "/tmp/servelab-e2e/rules/alerts.yml"} {
		if len(files[p]) == 0 {
			t.Errorf("PrometheusFiles lacks %s (has %v)", p, keys(files))
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestWebConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, user, hash string
		wantFields       []string
	}{
		{name: "ok", user: "grafana", hash: testHash},
		{name: "2b hash", user: "bench", hash: "$2b$12$" + strings.Repeat("a", 53)},
		{name: "empty user", user: "", hash: testHash, wantFields: []string{"user"}},
		{name: "user with colon", user: "a:b", hash: testHash, wantFields: []string{"user"}},
		{name: "clear password instead of hash", user: "grafana", hash: testPassword, wantFields: []string{"bcryptHash"}},
		{name: "truncated hash", user: "grafana", hash: testHash[:50], wantFields: []string{"bcryptHash"}},
		{name: "both bad", user: "", hash: "", wantFields: []string{"user", "bcryptHash"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := monitoring.WebConfig(tt.user, tt.hash)
			if len(tt.wantFields) > 0 {
				assertProblems(t, err, tt.wantFields)
				if err != nil && tt.hash != "" && strings.Contains(err.Error(), tt.hash) {
					t.Errorf("error echoes the hash: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var wc struct {
				BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
			}
			if err := yaml.Unmarshal(out, &wc); err != nil {
				t.Fatal(err)
			}
			if len(wc.BasicAuthUsers) != 1 || wc.BasicAuthUsers[tt.user] != tt.hash {
				t.Errorf("basic_auth_users = %v", wc.BasicAuthUsers)
			}
		})
	}
}

func TestPrometheusArgs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		retention time.Duration
		want      string
	}{
		{0, ""},
		{15 * 24 * time.Hour, "--storage.tsdb.retention.time=360h"},
		{90 * time.Minute, "--storage.tsdb.retention.time=1h30m"},
	}
	for _, tt := range tests {
		args := monitoring.PrometheusArgs(tt.retention)
		for _, a := range []string{
			"--config.file=" + monitoring.PrometheusConfigPath,
			"--web.config.file=" + monitoring.PrometheusWebConfigPath,
			"--storage.tsdb.path=/prometheus",
		} {
			if !slices.Contains(args, a) {
				t.Errorf("PrometheusArgs(%s) = %v lacks %s", tt.retention, args, a)
			}
		}
		last := args[len(args)-1]
		if tt.want == "" && strings.Contains(last, "retention") || tt.want != "" && last != tt.want {
			t.Errorf("PrometheusArgs(%s) = %v, want retention %q", tt.retention, args, tt.want)
		}
		if tt.want != "" {
			d, err := model.ParseDuration(strings.TrimPrefix(tt.want, "--storage.tsdb.retention.time="))
			if err != nil || time.Duration(d) != tt.retention {
				t.Errorf("retention flag %q does not parse back to %s: %v", tt.want, tt.retention, err)
			}
		}
	}
}

// assertProblems checks that err is a *ValidationError naming exactly the
// given fields.
func assertProblems(t *testing.T, err error, fields []string) {
	t.Helper()
	var ve *monitoring.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *ValidationError for %v", err, fields)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Field)
		if !strings.Contains(err.Error(), p.Field+": ") {
			t.Errorf("error text lacks %q: %v", p.Field, err)
		}
	}
	if !slices.Equal(got, fields) {
		t.Errorf("problem fields = %v, want %v (%v)", got, fields, err)
	}
}

// TestScrapeWithEngineKey: a framework whose metrics path needs its API key
// (llama.cpp) is scraped with a bearer token read from its key file;
// the others without credentials.
func TestScrapeWithEngineKey(t *testing.T) {
	t.Parallel()
	key := monitoring.EngineKeyFile("llama")
	cfg := loadConfig(t, monitoring.Lab{
		Stack: "s",
		Frameworks: []monitoring.Framework{
			{Name: "llama", Engine: engine.LlamaCpp, Host: "h", Address: "llama:8080", CredentialsFile: key},
			{Name: "vllm", Engine: engine.VLLM, Host: "h", Address: "vllm:8000"},
		},
	})
	for _, sc := range cfg.ScrapeConfigs {
		auth := sc.HTTPClientConfig.Authorization
		switch sc.JobName {
		case "framework-llama":
			if auth == nil || auth.Type != "Bearer" || auth.CredentialsFile != key {
				t.Errorf("llama job authorization %+v, want Bearer from %s", auth, key)
			}
		case "framework-vllm":
			if auth != nil {
				t.Errorf("vllm job sends credentials %+v; its /metrics is open", auth)
			}
		}
	}
	err := monitoring.Lab{Stack: "s", Frameworks: []monitoring.Framework{{Name: "l", Engine: engine.LlamaCpp, Host: "h", Address: "l:8080", CredentialsFile: "key"}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "frameworks[0].credentialsFile") {
		t.Errorf("relative credentials file: %v", err)
	}
}
