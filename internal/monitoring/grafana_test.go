package monitoring_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/servelab/servelab/internal/monitoring"
)

func TestGrafanaDatasource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ds         monitoring.Datasource
		wantFile   string
		wantFields []string
	}{
		{name: "defaults", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "grafana"},
			wantFile: monitoring.GrafanaPrometheusPasswordFile},
		{name: "own password file", ds: monitoring.Datasource{URL: "https://prom.example:9090/", User: "g", PasswordFile: "/run/secrets/prom"},
			wantFile: "/run/secrets/prom"},
		{name: "credentials in url", ds: monitoring.Datasource{URL: "http://grafana:secret@prometheus:9090", User: "grafana"},
			wantFields: []string{"url"}},
		{name: "not a url", ds: monitoring.Datasource{URL: "prometheus:9090", User: "grafana"}, wantFields: []string{"url"}},
		{name: "env expansion in url", ds: monitoring.Datasource{URL: "http://$HOST:9090", User: "grafana"}, wantFields: []string{"url"}},
		{name: "user with $", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "$USER"}, wantFields: []string{"user"}},
		{name: "relative password file", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "g", PasswordFile: "secrets/p"},
			wantFields: []string{"passwordFile"}},
		{name: "password file closing the expansion", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "g", PasswordFile: "/a}b"},
			wantFields: []string{"passwordFile"}},
		{name: "unclean password file", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "g", PasswordFile: "/a/../b"},
			wantFields: []string{"passwordFile"}},
		{name: "sub-second interval", ds: monitoring.Datasource{URL: "http://prometheus:9090", User: "g", ScrapeInterval: time.Millisecond},
			wantFields: []string{"scrapeInterval"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := monitoring.GrafanaDatasource(tt.ds)
			if len(tt.wantFields) > 0 {
				assertProblems(t, err, tt.wantFields)
				if strings.Contains(tt.ds.URL, "secret") && strings.Contains(err.Error(), "secret") {
					t.Errorf("error echoes the credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var f struct {
				APIVersion  int `yaml:"apiVersion"`
				Datasources []struct {
					UID            string            `yaml:"uid"`
					Type           string            `yaml:"type"`
					URL            string            `yaml:"url"`
					BasicAuth      bool              `yaml:"basicAuth"`
					BasicAuthUser  string            `yaml:"basicAuthUser"`
					SecureJSONData map[string]string `yaml:"secureJsonData"`
					JSONData       map[string]string `yaml:"jsonData"`
				} `yaml:"datasources"`
			}
			if err := yaml.Unmarshal(out, &f); err != nil {
				t.Fatal(err)
			}
			if f.APIVersion != 1 || len(f.Datasources) != 1 {
				t.Fatalf("datasource file = %+v", f)
			}
			d := f.Datasources[0]
			if d.UID != monitoring.DatasourceUID || d.Type != "prometheus" || !d.BasicAuth || d.BasicAuthUser != tt.ds.User {
				t.Errorf("datasource = %+v", d)
			}
			if strings.HasSuffix(d.URL, "/") {
				t.Errorf("url %q keeps a trailing slash", d.URL)
			}
			if got, want := d.SecureJSONData["basicAuthPassword"], "$__file{"+tt.wantFile+"}"; got != want {
				t.Errorf("basicAuthPassword = %q, want %q", got, want)
			}
			if len(d.SecureJSONData) != 1 {
				t.Errorf("secureJsonData holds more than the password reference: %v", d.SecureJSONData)
			}
			if d.JSONData["timeInterval"] != "5s" {
				t.Errorf("timeInterval = %q, want the default 5s", d.JSONData["timeInterval"])
			}
		})
	}
}

func TestGrafanaDashboardProvider(t *testing.T) {
	t.Parallel()
	out, err := monitoring.GrafanaDashboardProvider()
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type           string `yaml:"type"`
			FolderUID      string `yaml:"folderUid"`
			AllowUIUpdates bool   `yaml:"allowUiUpdates"`
			Options        struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(out, &f); err != nil {
		t.Fatal(err)
	}
	if f.APIVersion != 1 || len(f.Providers) != 1 {
		t.Fatalf("provider file = %+v", f)
	}
	p := f.Providers[0]
	if p.Type != "file" || p.Options.Path != monitoring.GrafanaDashboardsDir || p.FolderUID != monitoring.DashboardFolderUID || p.AllowUIUpdates {
		t.Errorf("provider = %+v", p)
	}
}

// TestGrafanaFiles checks the file set and paths the component uploads, and
// that no generated file holds a password.
func TestGrafanaFiles(t *testing.T) {
	t.Parallel()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			files, err := monitoring.GrafanaFiles(c.lab, testDatasource)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				monitoring.GrafanaDashboardsDir + "/" + monitoring.EnginesDashboardFile,
				monitoring.GrafanaDashboardProviderPath,
				monitoring.GrafanaDatasourcePath,
			}
			if c.lab.Gateway != nil {
				want = append(want, monitoring.GrafanaDashboardsDir+"/"+monitoring.GatewayDashboardFile)
			}
			slices.Sort(want)
			if got := keys(files); !slices.Equal(got, want) {
				t.Errorf("files = %v, want %v", got, want)
			}
			for p, content := range labFiles(t, c.lab) {
				if bytes.Contains(content, []byte(testPassword)) {
					t.Errorf("%s holds the clear password", p)
				}
			}
			interval := "5s"
			if c.lab.ScrapeInterval != 0 {
				interval = c.lab.ScrapeInterval.String()
			}
			if !bytes.Contains(files[monitoring.GrafanaDatasourcePath], []byte("timeInterval: "+interval)) {
				t.Errorf("datasource timeInterval is not the lab's scrape interval %s:\n%s", interval, files[monitoring.GrafanaDatasourcePath])
			}
		})
	}
}

func TestGrafanaEnv(t *testing.T) {
	t.Parallel()
	env := monitoring.GrafanaEnv()
	for _, want := range []string{
		"GF_SECURITY_ADMIN_PASSWORD__FILE=" + monitoring.GrafanaAdminPasswordFile,
		"GF_AUTH_ANONYMOUS_ENABLED=false",
		"GF_USERS_ALLOW_SIGN_UP=false",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("GrafanaEnv() = %v lacks %s", env, want)
		}
	}
	for _, kv := range env {
		if strings.HasPrefix(kv, "GF_SECURITY_ADMIN_PASSWORD=") {
			t.Errorf("GrafanaEnv sets the admin password itself: %s", kv)
		}
	}
}
