package monitoring

import (
	"strconv"

	"gopkg.in/yaml.v3"

	mon "github.com/servelab/servelab/internal/monitoring"
)

// The checks that say Prometheus and Grafana are up, as argv run inside
// their containers: Docker healthchecks here, Kubernetes probes in
// components/kube/monitoring.

// PrometheusHealthcheck checks /-/healthy, which basic auth guards too:
// promtool (in the image) reads the password from a file
// (HealthHTTPConfig), never from argv.
func PrometheusHealthcheck() []string {
	return []string{"promtool", "check", "healthy",
		"--url=http://127.0.0.1:" + strconv.Itoa(PrometheusPort), "--http.config.file=" + PrometheusHealthHTTPConfig}
}

// GrafanaHealthcheck checks /api/health, which needs no login; the image
// has busybox wget.
func GrafanaHealthcheck() []string {
	return []string{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:" + strconv.Itoa(GrafanaPort) + "/api/health"}
}

// HealthHTTPConfig is promtool's HTTP client config for the healthcheck:
// basic auth with the password in PrometheusPasswordFile. It holds no
// secret.
func HealthHTTPConfig() (string, error) {
	b, err := yaml.Marshal(map[string]any{
		"basic_auth": map[string]string{"username": mon.PrometheusUser, "password_file": PrometheusPasswordFile},
	})
	return string(b), err
}
