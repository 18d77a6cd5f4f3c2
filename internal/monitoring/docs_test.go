package monitoring_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/servelab/servelab/internal/monitoring"
)

// TestDocsCoverEveryRuleAndPath keeps docs/monitoring.md in step with the
// code: every recorded name, alert and container path is documented.
func TestDocsCoverEveryRuleAndPath(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "monitoring.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	want := slices.Concat(monitoring.RecordedNames(), monitoring.AlertNames(), []string{
		monitoring.PrometheusConfigPath, monitoring.PrometheusWebConfigPath,
		monitoring.PrometheusRulesDir + "/" + monitoring.RecordingRulesFile,
		monitoring.PrometheusRulesDir + "/" + monitoring.AlertRulesFile,
		monitoring.GrafanaDatasourcePath, monitoring.GrafanaDashboardProviderPath,
		monitoring.GrafanaDashboardsDir, monitoring.GrafanaAdminPasswordFile,
		monitoring.GrafanaPrometheusPasswordFile,
		monitoring.EnginesDashboardUID, monitoring.GatewayDashboardUID,
		monitoring.EnginesDashboardFile, monitoring.GatewayDashboardFile,
		monitoring.DatasourceUID,
	})
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("docs/monitoring.md does not mention %s", w)
		}
	}
}
