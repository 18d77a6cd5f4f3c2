package monitoring

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/internal/engine"
)

// Job names. A framework's job is "framework-<name>", a DCGM exporter's
// "dcgm-<host>".
const (
	GatewayJob         = "gateway"
	frameworkJobPrefix = "framework-"
	dcgmJobPrefix      = "dcgm-"
	// GatewayMetricsPath is where the servelab gateway serves /metrics.
	GatewayMetricsPath = "/metrics"
	// DCGMMetricsPath is where dcgm-exporter serves its metrics.
	DCGMMetricsPath = "/metrics"
)

// Target labels, the schema every recorded series and dashboard relies on.
const (
	LabelFramework = "framework"
	LabelEngine    = "engine"
	LabelHost      = "host"
	LabelSim       = "sim"
)

// FrameworkJob is the scrape job name of a framework.
func FrameworkJob(name string) string { return frameworkJobPrefix + name }

// DCGMJob is the scrape job name of a host's DCGM exporter.
func DCGMJob(host string) string { return dcgmJobPrefix + host }

type promConfig struct {
	Global        promGlobal     `yaml:"global"`
	RuleFiles     []string       `yaml:"rule_files"`
	ScrapeConfigs []scrapeConfig `yaml:"scrape_configs"`
}

type promGlobal struct {
	ScrapeInterval     string            `yaml:"scrape_interval"`
	ScrapeTimeout      string            `yaml:"scrape_timeout"`
	EvaluationInterval string            `yaml:"evaluation_interval"`
	ExternalLabels     map[string]string `yaml:"external_labels"`
}

type scrapeConfig struct {
	JobName             string          `yaml:"job_name"`
	MetricsPath         string          `yaml:"metrics_path"`
	Authorization       *authorization  `yaml:"authorization,omitempty"`
	StaticConfigs       []staticConfig  `yaml:"static_configs,omitempty"`
	KubernetesSDConfigs []kubernetesSD  `yaml:"kubernetes_sd_configs,omitempty"`
	RelabelConfigs      []relabelConfig `yaml:"relabel_configs,omitempty"`
}

// authorization sends a bearer token read from a file.
type authorization struct {
	Type            string `yaml:"type"`
	CredentialsFile string `yaml:"credentials_file"`
}

type kubernetesSD struct {
	Role       string            `yaml:"role"`
	Namespaces map[string]any    `yaml:"namespaces"`
	Selectors  []kubernetesMatch `yaml:"selectors"`
}

type kubernetesMatch struct {
	Role  string `yaml:"role"`
	Label string `yaml:"label"`
}

type relabelConfig struct {
	SourceLabels []string `yaml:"source_labels,omitempty"`
	Regex        string   `yaml:"regex,omitempty"`
	Action       string   `yaml:"action,omitempty"`
	TargetLabel  string   `yaml:"target_label,omitempty"`
	Replacement  string   `yaml:"replacement,omitempty"`
}

type staticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels"`
}

// PrometheusConfig renders prometheus.yml: one job for the gateway, one per
// framework that exposes metrics (Ollama has none), one per DCGM exporter,
// and the rule files under lab.RulesDir. Target labels: framework, engine
// (a sim engine's flavour), host, and sim="true" for simulated engines; the
// gateway's job carries only host, because its series already have their own
// backend and engine labels, which a target label would overwrite.
func PrometheusConfig(lab Lab) ([]byte, error) {
	lab, err := lab.prepare()
	if err != nil {
		return nil, err
	}
	timeout := min(lab.ScrapeInterval, 10*time.Second)
	cfg := promConfig{
		Global: promGlobal{
			ScrapeInterval:     promDuration(lab.ScrapeInterval),
			ScrapeTimeout:      promDuration(timeout),
			EvaluationInterval: promDuration(lab.ScrapeInterval),
			ExternalLabels:     map[string]string{"stack": lab.Stack},
		},
		RuleFiles: []string{rulesGlob(lab.RulesDir)},
	}
	if lab.Gateway != nil {
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{
			JobName:     GatewayJob,
			MetricsPath: GatewayMetricsPath,
			StaticConfigs: []staticConfig{{
				Targets: []string{lab.Gateway.Address},
				Labels:  map[string]string{LabelHost: lab.Gateway.Host},
			}},
		})
	}
	for _, f := range lab.Frameworks {
		spec := engine.MustSpec(f.Kind())
		if !spec.HasMetrics() {
			continue
		}
		labels := map[string]string{
			LabelFramework: f.Name,
			LabelEngine:    string(f.Kind()),
			LabelHost:      f.Host,
		}
		if f.IsSim() {
			labels[LabelSim] = "true"
		}
		sc := scrapeConfig{
			JobName:       FrameworkJob(f.Name),
			MetricsPath:   spec.MetricsPath,
			StaticConfigs: []staticConfig{{Targets: []string{f.Address}, Labels: labels}},
		}
		if lab.Kubernetes != nil {
			sc = podScrapeConfig(*lab.Kubernetes, f, spec.MetricsPath, labels)
		}
		if f.CredentialsFile != "" {
			sc.Authorization = &authorization{Type: "Bearer", CredentialsFile: f.CredentialsFile}
		}
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, sc)
	}
	for _, t := range lab.DCGM {
		cfg.ScrapeConfigs = append(cfg.ScrapeConfigs, scrapeConfig{
			JobName:       DCGMJob(t.Host),
			MetricsPath:   DCGMMetricsPath,
			StaticConfigs: []staticConfig{{Targets: []string{t.Address}, Labels: map[string]string{LabelHost: t.Host}}},
		})
	}
	out, err := marshalYAML("# Generated by servelab for stack "+lab.Stack+". Do not edit.\n", cfg)
	if err != nil {
		return nil, fmt.Errorf("render prometheus.yml: %w", err)
	}
	return out, nil
}

// LabelPod names the pod a series was scraped from (Kubernetes discovery).
const LabelPod = "pod"

// podScrapeConfig scrapes every pod of a framework, found through the
// Kubernetes API in the lab's namespace by its pod label, on the metrics
// port. The target labels are those of a static target, except host: the
// node the pod runs on; pod names the pod.
func podScrapeConfig(k KubernetesSD, f Framework, path string, labels map[string]string) scrapeConfig {
	relabel := []relabelConfig{
		{SourceLabels: []string{"__meta_kubernetes_pod_container_port_name"}, Regex: k.PortName, Action: "keep"},
		{SourceLabels: []string{"__meta_kubernetes_pod_phase"}, Regex: "Succeeded|Failed", Action: "drop"},
		{SourceLabels: []string{"__meta_kubernetes_pod_node_name"}, TargetLabel: LabelHost},
		{SourceLabels: []string{"__meta_kubernetes_pod_name"}, TargetLabel: LabelPod},
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if k == LabelHost {
			continue
		}
		relabel = append(relabel, relabelConfig{TargetLabel: k, Replacement: labels[k]})
	}
	return scrapeConfig{
		JobName:     FrameworkJob(f.Name),
		MetricsPath: path,
		KubernetesSDConfigs: []kubernetesSD{{
			Role:       "pod",
			Namespaces: map[string]any{"names": []string{k.Namespace}},
			Selectors:  []kubernetesMatch{{Role: "pod", Label: k.PodLabel + "=" + f.Name}},
		}},
		RelabelConfigs: relabel,
	}
}

// bcryptPattern matches a bcrypt hash as produced by Go's x/crypto/bcrypt
// (pulumi-random's RandomPassword.bcryptHash): $2a$, $2b$ or $2y$, a two
// digit cost, 53 characters of salt and hash.
var bcryptPattern = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)

// userPattern is what a basic auth user name may look like. Grafana expands
// "$" in provisioning values, so the name is kept to plain characters.
var userPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

type webConfig struct {
	BasicAuthUsers map[string]string `yaml:"basic_auth_users"`
}

// WebConfig renders Prometheus's web config (--web.config.file) with one
// basic auth user. bcryptHash is the bcrypt hash of the user's password (from
// pulumi-random's RandomPassword bcryptHash output): the clear password never
// reaches this package. Basic auth then guards every Prometheus endpoint,
// /-/healthy included.
func WebConfig(user, bcryptHash string) ([]byte, error) {
	var ps problems
	if !userPattern.MatchString(user) {
		ps.add("user", "%q must be letters, digits, '_', '.' or '-', starting with a letter or digit", user)
	}
	if !bcryptPattern.MatchString(bcryptHash) {
		// The value is not echoed: it is a password hash.
		ps.add("bcryptHash", "is not a bcrypt hash ($2a$, $2b$ or $2y$, cost, 53 characters)")
	}
	if len(ps) > 0 {
		return nil, &ValidationError{Problems: ps}
	}
	out, err := marshalYAML("# Generated by servelab. Prometheus web config: basic auth users (bcrypt hashes).\n",
		webConfig{BasicAuthUsers: map[string]string{user: bcryptHash}})
	if err != nil {
		return nil, fmt.Errorf("render web config: %w", err)
	}
	return out, nil
}

// PrometheusFiles renders every Prometheus file but the web config (which
// needs the password hash, a Pulumi secret), keyed by its path in the
// container: prometheus.yml and the rule files in lab.RulesDir.
func PrometheusFiles(lab Lab) (map[string][]byte, error) {
	cfg, err := PrometheusConfig(lab)
	if err != nil {
		return nil, err
	}
	rec, err := RecordingRules(lab)
	if err != nil {
		return nil, err
	}
	alerts, err := AlertRules(lab)
	if err != nil {
		return nil, err
	}
	dir := lab.withDefaults().RulesDir
	return map[string][]byte{
		PrometheusConfigPath:               cfg,
		path.Join(dir, RecordingRulesFile): rec,
		path.Join(dir, AlertRulesFile):     alerts,
	}, nil
}

// marshalYAML renders v with two-space indentation after a header comment.
func marshalYAML(header string, v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// promDuration formats d as a Prometheus duration ("5s", "1m30s", "500ms").
// d is a whole number of milliseconds (Lab.Validate checks it).
func promDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b []byte
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.size; n > 0 {
			b = strconv.AppendInt(b, int64(n), 10)
			b = append(b, u.unit...)
			d -= n * u.size
		}
	}
	return string(b)
}
