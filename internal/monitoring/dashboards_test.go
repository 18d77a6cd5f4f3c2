package monitoring_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/monitoring"
)

// grafanaVar matches a Grafana template variable reference: $name or
// ${name} / ${name:format}.
var grafanaVar = regexp.MustCompile(`\$(\w+)|\$\{(\w+)(?::\w+)?\}`)

// expandVariables replaces the dashboard variables in expr by what Grafana
// sends for "All" (".*"), so that the PromQL parser sees a real query. An
// unknown variable is an error.
func expandVariables(expr string, vars map[string]bool) (string, error) {
	var bad []string
	out := grafanaVar.ReplaceAllStringFunc(expr, func(m string) string {
		sub := grafanaVar.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if !vars[name] {
			bad = append(bad, name)
		}
		return ".*"
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown variables %v in %q", bad, expr)
	}
	return out, nil
}

// walkExprs calls f with the path and value of every "expr" string in a
// JSON document.
func walkExprs(v any, path string, f func(path, expr string)) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if s, ok := x[k].(string); ok && k == "expr" {
				f(path+"."+k, s)
				continue
			}
			walkExprs(x[k], path+"."+k, f)
		}
	case []any:
		for i, e := range x {
			walkExprs(e, fmt.Sprintf("%s[%d]", path, i), f)
		}
	}
}

// TestDashboardExpressions walks each generated dashboard's JSON: every
// PromQL expression parses (variables expanded) and uses only checked
// names, and every recorded series it draws is recorded for that lab.
func TestDashboardExpressions(t *testing.T) {
	t.Parallel()
	known := checkedNames()
	cases := append(labs(), labCase{"gateway without models", monitoring.Lab{
		Stack:      "s",
		Gateway:    &monitoring.Target{Host: "h", Address: "gw:8080"},
		Frameworks: []monitoring.Framework{{Name: "o", Engine: engine.Ollama, Host: "h"}},
	}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			records, _ := ruleSet(t, c.lab)
			dashboards, err := monitoring.Dashboards(c.lab)
			if err != nil {
				t.Fatal(err)
			}
			for file, content := range dashboards {
				var doc map[string]any
				if err := json.Unmarshal(content, &doc); err != nil {
					t.Fatalf("%s: %v", file, err)
				}
				vars := map[string]bool{}
				for _, v := range doc["templating"].(map[string]any)["list"].([]any) {
					vars[v.(map[string]any)["name"].(string)] = true
				}
				count := 0
				walkExprs(doc, file, func(path, expr string) {
					count++
					expanded, err := expandVariables(expr, vars)
					if err != nil {
						t.Errorf("%s: %v", path, err)
						return
					}
					checkExpr(t, known, path, expanded)
					names, _ := selectorNames(expanded)
					for _, n := range names {
						if strings.HasPrefix(n, "servelab:") {
							if _, ok := records[n]; !ok {
								t.Errorf("%s draws %s, which this lab's rules do not record", path, n)
							}
						}
					}
				})
				if count == 0 {
					t.Errorf("%s has no expression", file)
				}
			}
		})
	}
}

func TestExpandVariablesRejectsUnknown(t *testing.T) {
	t.Parallel()
	vars := map[string]bool{"framework": true}
	if got, err := expandVariables(`up{framework=~"${framework:regex}"}`, vars); err != nil || got != `up{framework=~".*"}` {
		t.Errorf("expandVariables = %q, %v", got, err)
	}
	if _, err := expandVariables(`up{x=~"$nope"}`, vars); err == nil {
		t.Error("unknown variable accepted")
	}
}

// TestDashboardStructure loads each dashboard with the foundation SDK's own
// types and checks uids, the framework variable, datasources and panel ids.
func TestDashboardStructure(t *testing.T) {
	t.Parallel()
	plugins.RegisterDefaultPlugins()
	for _, c := range labs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dashboards, err := monitoring.Dashboards(c.lab)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{monitoring.EnginesDashboardFile: monitoring.EnginesDashboardUID}
			if c.lab.Gateway != nil {
				want[monitoring.GatewayDashboardFile] = monitoring.GatewayDashboardUID
			}
			if got := slices.Sorted(maps.Keys(dashboards)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
				t.Fatalf("dashboards = %v, want %v", got, slices.Sorted(maps.Keys(want)))
			}
			var frameworks []string
			for _, f := range c.lab.Frameworks {
				frameworks = append(frameworks, f.Name)
			}
			for file, content := range dashboards {
				var d dashboard.Dashboard
				if err := json.Unmarshal(content, &d); err != nil {
					t.Fatalf("%s does not load as a dashboard: %v", file, err)
				}
				if d.Uid == nil || *d.Uid != want[file] {
					t.Errorf("%s uid = %v, want %s", file, d.Uid, want[file])
				}
				if d.Id != nil {
					t.Errorf("%s has an id: provisioned dashboards must not", file)
				}
				var fw *dashboard.VariableModel
				for i, v := range d.Templating.List {
					if v.Name == "framework" {
						fw = &d.Templating.List[i]
					}
				}
				if fw == nil || fw.Query == nil || fw.Query.String == nil {
					t.Fatalf("%s has no framework custom variable", file)
				}
				if got := strings.Split(*fw.Query.String, ","); !slices.Equal(got, frameworks) {
					t.Errorf("%s framework values = %v, want %v", file, got, frameworks)
				}
				ids := map[uint32]bool{}
				for _, p := range d.Panels {
					switch {
					case p.RowPanel != nil:
						if ids[p.RowPanel.Id] {
							t.Errorf("%s: duplicate panel id %d", file, p.RowPanel.Id)
						}
						ids[p.RowPanel.Id] = true
					case p.Panel != nil:
						if p.Panel.Id == nil || ids[*p.Panel.Id] {
							t.Errorf("%s: panel %v has a missing or duplicate id", file, p.Panel.Title)
							continue
						}
						ids[*p.Panel.Id] = true
						if p.Panel.Datasource == nil || p.Panel.Datasource.Uid == nil || *p.Panel.Datasource.Uid != monitoring.DatasourceUID {
							t.Errorf("%s: panel %v does not use datasource %s", file, *p.Panel.Title, monitoring.DatasourceUID)
						}
						if len(p.Panel.Targets) == 0 {
							t.Errorf("%s: panel %v has no query", file, *p.Panel.Title)
						}
					}
				}
			}
		})
	}
}

// TestEngineDashboardFollowsTheLab checks that panels exist only for what
// the lab measures: no KV cache panel without vLLM or SGLang, GPU panels
// only with DCGM.
func TestEngineDashboardFollowsTheLab(t *testing.T) {
	t.Parallel()
	titles := func(lab monitoring.Lab) []string {
		t.Helper()
		ds, err := monitoring.Dashboards(lab)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []struct {
				Title string `json:"title"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(ds[monitoring.EnginesDashboardFile], &d); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range d.Panels {
			out = append(out, p.Title)
		}
		return out
	}
	all := labs()
	tests := []struct {
		lab             monitoring.Lab
		want, mustNotBe []string
	}{
		{all[0].lab, []string{"Time to first token (p50, p99)", "Output tokens/s", "Requests running / waiting", "Scrape targets"},
			[]string{"KV cache usage", "Inter-token latency (p50, p99)", "GPU", "GPU memory used"}},
		{all[1].lab, []string{"KV cache usage", "Inter-token latency (p50, p99)", "GPU", "GPU memory used", "GPU utilisation"}, nil},
	}
	for i, tt := range tests {
		got := titles(tt.lab)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("lab %d: panels %v lack %q", i, got, w)
			}
		}
		for _, n := range tt.mustNotBe {
			if slices.Contains(got, n) {
				t.Errorf("lab %d: panels %v hold %q", i, got, n)
			}
		}
	}
}

// TestDashboardsQueryTheLabsDatasource: with DatasourceUID set (a
// cluster's own Grafana, e.g. kube-prometheus-stack's "prometheus"), every
// panel and every query uses it, and servelab's uid appears nowhere.
func TestDashboardsQueryTheLabsDatasource(t *testing.T) {
	t.Parallel()
	lab := labs()[0].lab
	lab.DatasourceUID = "prometheus"
	dashboards, err := monitoring.Dashboards(lab)
	if err != nil {
		t.Fatal(err)
	}
	for file, content := range dashboards {
		if strings.Contains(string(content), monitoring.DatasourceUID) {
			t.Errorf("%s still refers to %s", file, monitoring.DatasourceUID)
		}
		var d dashboard.Dashboard
		if err := json.Unmarshal(content, &d); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, p := range d.Panels {
			if p.Panel == nil {
				continue
			}
			n++
			if p.Panel.Datasource == nil || p.Panel.Datasource.Uid == nil || *p.Panel.Datasource.Uid != "prometheus" {
				t.Errorf("%s: panel %v uses %+v", file, *p.Panel.Title, p.Panel.Datasource)
			}
		}
		if n == 0 {
			t.Errorf("%s has no panels", file)
		}
	}
}
