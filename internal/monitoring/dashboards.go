package monitoring

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"

	"github.com/servelab/servelab/internal/engine"
	"github.com/servelab/servelab/internal/metricnames"
)

// Dashboard uids and file names.
const (
	EnginesDashboardUID  = "servelab-engines"
	EnginesDashboardFile = "engine-comparison.json"
	GatewayDashboardUID  = "servelab-gateway"
	GatewayDashboardFile = "gateway.json"
)

// Template variables. Grafana replaces an "All" selection with allValue.
const (
	frameworkVar = "$framework"
	modelVar     = "$model"
	allValue     = ".*"
)

// Dashboards renders the lab's dashboards, keyed by file name (to be put in
// GrafanaDashboardsDir): "Engine comparison" always, "Gateway" when the lab
// has a gateway. Panels are drawn only for the signals the lab's recording
// rules produce.
func Dashboards(lab Lab) (map[string][]byte, error) {
	lab, err := lab.prepare()
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	engines, err := renderDashboard(enginesDashboard(lab))
	if err != nil {
		return nil, fmt.Errorf("render engine comparison dashboard: %w", err)
	}
	out[EnginesDashboardFile] = engines
	if lab.Gateway != nil {
		gw, err := renderDashboard(gatewayDashboard(lab))
		if err != nil {
			return nil, fmt.Errorf("render gateway dashboard: %w", err)
		}
		out[GatewayDashboardFile] = gw
	}
	return out, nil
}

func renderDashboard(b *dashboard.DashboardBuilder) ([]byte, error) {
	d, err := b.Build()
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// query is one PromQL target of a panel.
type query struct {
	expr   string
	legend string
}

// panel describes one panel before it is built.
type panel struct {
	title       string
	description string
	unit        string
	queries     []query
	stat        bool
	// ratio panels are drawn from 0 to 1.
	ratio bool
	// threshold, when set, draws a red line (time series) or turns the
	// value red (stat) from that value up.
	threshold *float64
	// upDown maps 0/1 to the given texts, red/green (stat only).
	upDown [2]string
}

// row is a titled group of panels; a row with no panel is left out.
type row struct {
	title  string
	panels []panel
}

// board assigns stable panel ids in layout order and builds the dashboard.
type board struct {
	b      *dashboard.DashboardBuilder
	nextID uint32
	// datasource is the uid of the Prometheus datasource panels query.
	datasource string
}

func newBoard(uid, title, description string, lab Lab) *board {
	return &board{
		b: dashboard.NewDashboardBuilder(title).
			Uid(uid).
			Description(description).
			Tags([]string{"servelab", lab.Stack}).
			Readonly().
			Refresh("10s").
			Time("now-30m", "now").
			Timezone(common.TimeZoneBrowser).
			Tooltip(dashboard.DashboardCursorSyncCrosshair),
		nextID:     1,
		datasource: lab.DatasourceUID,
	}
}

func (bd *board) add(rows ...row) {
	for _, r := range rows {
		if len(r.panels) == 0 {
			continue
		}
		bd.b.WithRow(dashboard.NewRowBuilder(r.title).Id(bd.id()))
		for _, p := range r.panels {
			bd.b.WithPanel(bd.build(p))
		}
	}
}

func (bd *board) id() uint32 {
	id := bd.nextID
	bd.nextID++
	return id
}

func (bd *board) datasourceRef() dashboard.DataSourceRef {
	return dashboard.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr(bd.datasource)}
}

func (bd *board) build(p panel) cog.Builder[dashboard.Panel] {
	targets := make([]cog.Builder[variants.Dataquery], len(p.queries))
	for i, q := range p.queries {
		targets[i] = prometheus.NewDataqueryBuilder().
			Datasource(common.DataSourceRef(bd.datasourceRef())).
			Expr(q.expr).
			LegendFormat(q.legend).
			Range().
			RefId(string(rune('A' + i)))
	}
	var thresholds *dashboard.ThresholdsConfigBuilder
	if p.threshold != nil {
		thresholds = dashboard.NewThresholdsConfigBuilder().
			Mode(dashboard.ThresholdsModeAbsolute).
			Steps([]dashboard.Threshold{{Value: nil, Color: "green"}, {Value: p.threshold, Color: "red"}})
	}
	if p.stat {
		s := stat.NewPanelBuilder().
			Id(bd.id()).Title(p.title).Description(p.description).
			Datasource(bd.datasourceRef()).Targets(targets).
			Unit(p.unit).Height(8).Span(12).
			GraphMode(common.BigValueGraphModeNone).
			ColorMode(common.BigValueColorModeBackground).
			TextMode(common.BigValueTextModeValueAndName).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Values(false))
		if p.upDown[0] != "" {
			s.Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
				Type: dashboard.MappingTypeValueToText,
				Options: map[string]dashboard.ValueMappingResult{
					"0": {Text: cog.ToPtr(p.upDown[0]), Color: cog.ToPtr("red"), Index: cog.ToPtr[int32](0)},
					"1": {Text: cog.ToPtr(p.upDown[1]), Color: cog.ToPtr("green"), Index: cog.ToPtr[int32](1)},
				},
			}}})
		}
		if thresholds != nil {
			s.Thresholds(thresholds)
		}
		return s
	}
	ts := timeseries.NewPanelBuilder().
		Id(bd.id()).Title(p.title).Description(p.description).
		Datasource(bd.datasourceRef()).Targets(targets).
		Unit(p.unit).Height(8).Span(12).Min(0).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"mean", "max", "lastNotNull"})).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	if p.ratio {
		ts.Max(1)
	}
	if thresholds != nil {
		ts.Thresholds(thresholds).
			ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeLine))
	}
	return ts
}

// customVariable is a multi-value variable over a fixed list (from the
// lab), with "All" matching everything.
func customVariable(name, label string, values []string) *dashboard.CustomVariableBuilder {
	joined := strings.Join(values, ",")
	all := "$__all"
	return dashboard.NewCustomVariableBuilder(name).
		Label(label).
		Values(dashboard.StringOrMap{String: &joined}).
		Multi(true).
		IncludeAll(true).
		AllValue(allValue).
		AllowCustomValue(false).
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{all}},
		})
}

func frameworkNames(lab Lab) []string {
	names := make([]string, len(lab.Frameworks))
	for i, f := range lab.Frameworks {
		names[i] = f.Name
	}
	return names
}

// sources describes, for a panel's description, where each engine of the
// lab gets a signal from.
func sources(lab Lab, record string) string {
	i := slices.IndexFunc(engineSignals, func(s engineSignal) bool { return s.record == record })
	if i < 0 {
		return ""
	}
	s := engineSignals[i]
	var parts []string
	for _, k := range labKinds(lab) {
		switch m := s.fromEngine(engine.MustSpec(k).Metrics); {
		case m != "":
			parts = append(parts, fmt.Sprintf("%s: %s", k, m))
		case lab.Gateway != nil && s.fromGateway != "":
			parts = append(parts, fmt.Sprintf("%s: gateway %s", k, s.fromGateway))
		default:
			parts = append(parts, fmt.Sprintf("%s: not exposed", k))
		}
	}
	return "Sources — " + strings.Join(parts, "; ") + "."
}

func enginesDashboard(lab Lab) *dashboard.DashboardBuilder {
	rec := recordedBy(lab)
	sel := fmt.Sprintf(`{framework=~%q}`, frameworkVar)
	// series returns a query of a recorded engine series when the lab
	// records it.
	series := func(record, legend string) []query {
		if !rec[record] {
			return nil
		}
		return []query{{expr: record + sel, legend: legend}}
	}
	// one builds a panel of the given series, or none when none is
	// recorded.
	one := func(p panel, qs ...[]query) []panel {
		for _, q := range qs {
			p.queries = append(p.queries, q...)
		}
		if len(p.queries) == 0 {
			return nil
		}
		return []panel{p}
	}
	cat := func(ps ...[]panel) []panel {
		var out []panel
		for _, p := range ps {
			out = append(out, p...)
		}
		return out
	}
	ttftSLO := lab.SLO.TTFTP99.Seconds()

	bd := newBoard(EnginesDashboardUID, "Engine comparison",
		"Each framework of stack "+lab.Stack+" side by side, from the servelab:engine_* recording rules. Engines without a signal are filled from the gateway's per-backend metrics where it can; see docs/monitoring.md.", lab)
	bd.b.WithVariable(customVariable("framework", "Framework", frameworkNames(lab)))
	bd.add(
		row{title: "Throughput", panels: cat(
			one(panel{title: "Output tokens/s", unit: "short", description: "Generated tokens per second over 1m. " + sources(lab, EngineOutputTokens)},
				series(EngineOutputTokens, "{{framework}}")),
			one(panel{title: "Prompt tokens/s", unit: "short", description: "Prompt tokens processed per second over 1m. " + sources(lab, EnginePromptTokens)},
				series(EnginePromptTokens, "{{framework}}")),
			one(panel{title: "Requests/s", unit: "reqps", description: "Finished requests per second over 1m. " + sources(lab, EngineRequests)},
				series(EngineRequests, "{{framework}}")),
		)},
		row{title: "Latency", panels: cat(
			one(panel{title: "Time to first token (p50, p99)", unit: "s", threshold: &ttftSLO,
				description: fmt.Sprintf("The red line is the p99 SLO (%s). %s", lab.SLO.TTFTP99, sources(lab, EngineTTFTP99))},
				series(EngineTTFTP50, "{{framework}} p50"), series(EngineTTFTP99, "{{framework}} p99")),
			one(panel{title: "Inter-token latency (p50, p99)", unit: "s", description: sources(lab, EngineITLP99)},
				series(EngineITLP50, "{{framework}} p50"), series(EngineITLP99, "{{framework}} p99")),
			one(panel{title: "End-to-end latency (p50, p99)", unit: "s", description: sources(lab, EngineE2EP99)},
				series(EngineE2EP50, "{{framework}} p50"), series(EngineE2EP99, "{{framework}} p99")),
		)},
		row{title: "Load", panels: cat(
			one(panel{title: "Requests running / waiting", unit: "short",
				description: "Running: " + sources(lab, EngineRequestsRunning) + " Waiting: " + sources(lab, EngineRequestsWaiting)},
				series(EngineRequestsRunning, "{{framework}} running"), series(EngineRequestsWaiting, "{{framework}} waiting")),
			one(panel{title: "KV cache usage", unit: "percentunit", ratio: true, description: sources(lab, EngineKVCacheUsage)},
				series(EngineKVCacheUsage, "{{framework}}")),
			scrapedPanel(lab, sel),
		)},
		row{title: "GPU", panels: gpuPanels(lab, rec)},
	)
	return bd.b
}

// scrapedPanel shows whether Prometheus reaches each scraped framework.
func scrapedPanel(lab Lab, sel string) []panel {
	for _, f := range lab.Frameworks {
		if engine.MustSpec(f.Kind()).HasMetrics() {
			return []panel{{
				title:       "Scrape targets",
				description: "Prometheus's up series of each framework job. Engines without /metrics (Ollama) are not scraped: see the gateway dashboard's backend readiness.",
				stat:        true,
				upDown:      [2]string{"down", "up"},
				queries:     []query{{expr: "up" + sel, legend: "{{framework}}"}},
			}}
		}
	}
	return nil
}

func gpuPanels(lab Lab, rec map[string]bool) []panel {
	if !rec[GPUMemoryUsedRatio] {
		return nil
	}
	memSLO := lab.SLO.GPUMemoryRatio
	legend := "{{host}} GPU {{gpu}}"
	return []panel{
		{title: "GPU utilisation", unit: "percentunit", ratio: true,
			description: "DCGM " + metricnames.DCGMGPUUtil + " per GPU.",
			queries:     []query{{expr: GPUUtilizationRatio, legend: legend}}},
		{title: "GPU memory used", unit: "percentunit", ratio: true, threshold: &memSLO,
			description: "DCGM framebuffer used/(used+free) per GPU; the red line is the alert threshold.",
			queries:     []query{{expr: GPUMemoryUsedRatio, legend: legend}}},
		{title: "GPU power", unit: "watt",
			description: "DCGM " + metricnames.DCGMPower + " per GPU.",
			queries:     []query{{expr: "sum by (host, gpu) (" + metricnames.DCGMPower + ")", legend: legend}}},
		{title: "GPU temperature", unit: "celsius",
			description: "DCGM " + metricnames.DCGMTemp + " per GPU.",
			queries:     []query{{expr: "max by (host, gpu) (" + metricnames.DCGMTemp + ")", legend: legend}}},
	}
}

func gatewayDashboard(lab Lab) *dashboard.DashboardBuilder {
	both := fmt.Sprintf(`{model=~%q, backend=~%q}`, modelVar, frameworkVar)
	byModel := fmt.Sprintf(`{model=~%q}`, modelVar)
	slo5xx := lab.SLO.Gateway5xxRatio

	bd := newBoard(GatewayDashboardUID, "Gateway",
		"The servelab gateway of stack "+lab.Stack+": traffic, latency, its own overhead, errors, cache and backend readiness, from the servelab:gateway_* recording rules.", lab)
	bd.b.WithVariable(customVariable("model", "Model", lab.Models))
	bd.b.WithVariable(customVariable("framework", "Backend", frameworkNames(lab)))
	bd.add(
		row{title: "Traffic", panels: []panel{
			{title: "Requests/s by model and backend", unit: "reqps",
				description: "Finished requests per second over 1m, every status.",
				queries:     []query{{expr: "sum by (model, backend) (" + GatewayRequestsRate + both + ")", legend: "{{model}} → {{backend}}"}}},
			{title: "Responses/s by status", unit: "reqps",
				description: "HTTP status as sent to the client.",
				queries:     []query{{expr: "sum by (code) (" + GatewayRequestsRate + both + ")", legend: "{{code}}"}}},
		}},
		row{title: "Latency", panels: []panel{
			{title: "Request latency (p50, p99)", unit: "s",
				description: "Request wall time as the client sees it.",
				queries: []query{
					{expr: GatewayLatencyP50 + both, legend: "{{model}} → {{backend}} p50"},
					{expr: GatewayLatencyP99 + both, legend: "{{model}} → {{backend}} p99"},
				}},
			{title: "Gateway overhead (p50, p99)", unit: "s",
				description: "Time spent inside the gateway, upstream time excluded.",
				queries: []query{
					{expr: GatewayOverheadP50 + byModel, legend: "{{model}} p50"},
					{expr: GatewayOverheadP99 + byModel, legend: "{{model}} p99"},
				}},
		}},
		row{title: "Errors and cache", panels: []panel{
			{title: "Upstream errors/s by reason", unit: "short",
				description: "connect, timeout, status_5xx, stream_idle, stream_broken, canceled.",
				queries:     []query{{expr: "sum by (backend, reason) (" + GatewayUpstreamErrorsRate + both + ")", legend: "{{backend}}: {{reason}}"}}},
			{title: "5xx ratio", unit: "percentunit", ratio: true, threshold: &slo5xx,
				description: fmt.Sprintf("Share of responses with a 5xx status; the red line is the SLO (%s).", percent(slo5xx)),
				queries:     []query{{expr: Gateway5xxRatio + byModel, legend: "{{model}}"}}},
			{title: "Cache hit ratio", unit: "percentunit", ratio: true,
				description: "Hits among cacheable requests (hit + miss); bypassed requests are not counted.",
				queries:     []query{{expr: GatewayCacheHitRatio + byModel, legend: "{{model}}"}}},
		}},
		row{title: "Backends", panels: []panel{
			{title: "Backend readiness", stat: true, upDown: [2]string{"not ready", "ready"},
				description: "1 while a backend passes its readiness probe and is not ejected.",
				queries:     []query{{expr: metricnames.GatewayBackendReady + both, legend: "{{backend}} ({{model}})"}}},
		}},
	)
	return bd.b
}
