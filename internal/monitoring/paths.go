package monitoring

import (
	"path"
	"slices"
	"time"
)

// Where the component puts the generated files inside the containers. The
// Prometheus image (prom/prometheus, runs as nobody) reads /etc/prometheus;
// the Grafana image (grafana/grafana) reads /etc/grafana/provisioning.
const (
	// PrometheusConfigPath is prometheus.yml (PrometheusConfig).
	PrometheusConfigPath = "/etc/prometheus/prometheus.yml"
	// PrometheusWebConfigPath is the web config with the basic auth users
	// (WebConfig), passed as --web.config.file.
	PrometheusWebConfigPath = "/etc/prometheus/web.yml"
	// PrometheusUser is the basic auth user of Prometheus's web config.
	PrometheusUser = "servelab"
	// PrometheusRulesDir holds the rule files; prometheus.yml loads
	// PrometheusRulesDir/*.yml.
	PrometheusRulesDir = "/etc/prometheus/rules"
	// RecordingRulesFile and AlertRulesFile are the rule files' names in
	// the rules directory.
	RecordingRulesFile = "recording.yml"
	AlertRulesFile     = "alerts.yml"
	// PrometheusDataDir is the TSDB directory (the image's volume).
	PrometheusDataDir = "/prometheus"

	// GrafanaDatasourcePath is the datasource provisioning file
	// (GrafanaDatasource).
	GrafanaDatasourcePath = "/etc/grafana/provisioning/datasources/servelab.yml"
	// GrafanaDashboardProviderPath is the dashboard provider file
	// (GrafanaDashboardProvider).
	GrafanaDashboardProviderPath = "/etc/grafana/provisioning/dashboards/servelab.yml"
	// GrafanaDashboardsDir holds the dashboards' JSON files (Dashboards).
	// It is outside /var/lib/grafana, the data volume, so that a dashboard
	// removed from the stack disappears with the next deployment.
	GrafanaDashboardsDir = "/etc/grafana/dashboards"
	// GrafanaSecretsDir holds the two password files the component writes
	// from Pulumi secrets; nothing generated here contains a password.
	GrafanaSecretsDir = "/etc/grafana/secrets"
	// GrafanaAdminPasswordFile is read through GF_SECURITY_ADMIN_PASSWORD__FILE,
	// only when Grafana creates its database (see docs/monitoring.md).
	GrafanaAdminPasswordFile = GrafanaSecretsDir + "/admin-password"
	// GrafanaPrometheusPasswordFile holds the clear password of the
	// Prometheus basic auth user Grafana queries as; the datasource file
	// references it as $__file{...}.
	GrafanaPrometheusPasswordFile = GrafanaSecretsDir + "/prometheus-password"

	// PrometheusEngineKeysDir holds the API keys of engines whose metrics
	// path needs one (llama.cpp), one file per framework, sent as a bearer
	// token (scrape config authorization.credentials_file).
	PrometheusEngineKeysDir = "/etc/prometheus/secrets/engine-keys"

	// DatasourceUID is the Prometheus datasource's uid; every dashboard
	// panel refers to it.
	DatasourceUID = "servelab-prometheus"
	// DashboardFolderUID is the Grafana folder holding the dashboards.
	DashboardFolderUID = "servelab"
)

// EngineKeyFile is where Prometheus reads a framework's API key.
func EngineKeyFile(framework string) string { return PrometheusEngineKeysDir + "/" + framework }

// RulesFiles lists the rule file names, in the order Prometheus loads them.
func RulesFiles() []string { return []string{AlertRulesFile, RecordingRulesFile} }

// PrometheusArgs is the Prometheus container's command (the image's
// entrypoint is /bin/prometheus). Setting a command replaces the image's
// default flags, so --config.file and --storage.tsdb.path are repeated here.
// retention 0 leaves Prometheus's default (15d).
func PrometheusArgs(retention time.Duration) []string {
	args := []string{
		"--config.file=" + PrometheusConfigPath,
		"--web.config.file=" + PrometheusWebConfigPath,
		"--storage.tsdb.path=" + PrometheusDataDir,
	}
	if retention > 0 {
		args = append(args, "--storage.tsdb.retention.time="+promDuration(retention))
	}
	return args
}

// GrafanaEnv is the Grafana container's environment, as sorted KEY=value
// strings. It names the admin password file; it holds no secret.
func GrafanaEnv() []string {
	env := []string{
		"GF_AUTH_ANONYMOUS_ENABLED=false",
		"GF_SECURITY_ADMIN_PASSWORD__FILE=" + GrafanaAdminPasswordFile,
		"GF_SECURITY_ADMIN_USER=admin",
		"GF_USERS_ALLOW_SIGN_UP=false",
	}
	slices.Sort(env)
	return env
}

// rulesGlob is the rule_files entry of prometheus.yml.
func rulesGlob(dir string) string { return path.Join(dir, "*.yml") }
