package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/telemetry"
)

// lookTool finds an external checker; missing fails under CI and skips
// elsewhere (scripts/test installs it).
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("%s not found (Debian package %s: apt-get install %s)", name, pkg, pkg)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// run runs a checker in dir and returns its stdout and stderr; a non-zero
// exit fails the test.
func run(t *testing.T, dir, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, o.String(), e.String())
	}
	return o.String(), e.String()
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	out, _ := run(t, "prometheus", promtool, "check", "rules", "recording.rules.yml", "alerts.rules.yml")
	if strings.Count(out, "SUCCESS") != 2 {
		t.Fatalf("promtool check rules:\n%s", out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	run(t, "prometheus", promtool, "test", "rules", "rules_test.yml")

	// Every alert has a firing case and a not-firing case in the test file.
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string           `yaml:"alertname"`
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/rules_test.yml", &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				quiet[a.Alertname] = true
			}
		}
	}
	alerts := ruleNames(t, "prometheus/alerts.rules.yml", "alert")
	if len(alerts) < 6 {
		t.Fatalf("only %d alerts in alerts.rules.yml", len(alerts))
	}
	for _, a := range alerts {
		if !fires[a] || !quiet[a] {
			t.Errorf("alert %s: firing case %v, not-firing case %v in rules_test.yml", a, fires[a], quiet[a])
		}
	}
}

func TestAmtoolCheckConfig(t *testing.T) {
	amtool := lookTool(t, "amtool", "prometheus-alertmanager")
	out, _ := run(t, "alertmanager", amtool, "check-config", "alertmanager.yml")
	if !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "1 inhibit rules") {
		t.Fatalf("amtool check-config:\n%s", out)
	}
	for _, c := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=AgentToolAnomaly", "severity=critical", "tool=sql", "pattern=latency"}, "security-pager"},
		{[]string{"alertname=AgentToolAnomaly", "severity=warning", "tool=sql", "pattern=latency"}, "security-chat"},
		{[]string{"alertname=AgentToolAnomaly", "severity=info", "tool=sql", "pattern=frequency"}, "security-tickets"},
		{[]string{"alertname=ToolwatchNotConsuming", "severity=critical"}, "ops-pager"},
		{[]string{"alertname=ToolwatchSinkFailing", "severity=warning"}, "ops-chat"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager.yml"}, c.labels...)
		out, _ := run(t, "alertmanager", amtool, args...)
		if got := strings.TrimSpace(out); got != c.want {
			t.Errorf("route %v: receiver %q, want %q\n%s", c.labels, got, c.want, out)
		}
	}

	var cfg struct {
		InhibitRules []struct {
			Source []string `yaml:"source_matchers"`
			Target []string `yaml:"target_matchers"`
			Equal  []string `yaml:"equal"`
		} `yaml:"inhibit_rules"`
	}
	readYAML(t, "alertmanager/alertmanager.yml", &cfg)
	ir := cfg.InhibitRules[0]
	eq := append([]string(nil), ir.Equal...)
	sort.Strings(eq)
	if !strings.Contains(strings.Join(ir.Source, ","), `severity="critical"`) ||
		!strings.Contains(strings.Join(ir.Target, ","), `severity="warning"`) ||
		strings.Join(eq, ",") != "agent_id,pattern,tool" {
		t.Errorf("inhibit rule %+v: want critical inhibits warning on equal tool, agent_id, pattern", ir)
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Inputs        []struct {
		Name     string `json:"name"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
		} `json:"targets"`
	} `json:"panels"`
}

var dashboards = []string{"realtime", "security", "compliance"}

func loadDashboards(t *testing.T) map[string]dashboard {
	t.Helper()
	out := map[string]dashboard{}
	for _, name := range dashboards {
		path := filepath.Join("grafana", name+".json")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		dec := json.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&d); err != nil {
			t.Fatalf("parse %s: %v", path, err)
		}
		out[name] = d
	}
	return out
}

func TestDashboards(t *testing.T) {
	known := knownMetrics(t)
	uids := map[string]bool{}
	for name, d := range loadDashboards(t) {
		if d.SchemaVersion < 36 || d.UID == "" || d.Title == "" || uids[d.UID] {
			t.Errorf("%s: schemaVersion %d uid %q title %q", name, d.SchemaVersion, d.UID, d.Title)
		}
		uids[d.UID] = true
		if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
			t.Errorf("%s: want one DS_PROMETHEUS datasource input, got %+v", name, d.Inputs)
		}
		queries, ids := 0, map[int]bool{}
		for _, p := range d.Panels {
			if ids[p.ID] {
				t.Errorf("%s: duplicate panel id %d", name, p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("%s/%q: %d targets, datasource %q", name, p.Title, len(p.Targets), p.Datasource.UID)
			}
			for _, tg := range p.Targets {
				queries++
				if tg.Datasource.UID != "${DS_PROMETHEUS}" || tg.RefID == "" {
					t.Errorf("%s/%q: target datasource %q refId %q", name, p.Title, tg.Datasource.UID, tg.RefID)
				}
				checkMetricNames(t, name+"/"+p.Title, tg.Expr, known)
			}
		}
		if queries < 8 {
			t.Errorf("%s: only %d queries", name, queries)
		}
	}
}

// TestRuleMetricNames checks the rules query only exported metrics, the
// other half of the dashboard check (promtool does not know our names).
func TestRuleMetricNames(t *testing.T) {
	known := knownMetrics(t)
	for _, f := range []string{"prometheus/recording.rules.yml", "prometheus/alerts.rules.yml"} {
		for _, r := range rules(t, f) {
			checkMetricNames(t, f+"/"+r.Record+r.Alert, r.Expr, known)
		}
	}
}

// TestDashboardPromQL has promtool parse every dashboard query, with
// Grafana's variables replaced by values.
func TestDashboardPromQL(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	vars := strings.NewReplacer("$__rate_interval", "5m", "$__range", "1d", "$tool", ".*")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rs []rule
	for name, d := range loadDashboards(t) {
		for _, p := range d.Panels {
			for _, tg := range p.Targets {
				expr := vars.Replace(tg.Expr)
				if strings.Contains(expr, "$") {
					t.Errorf("%s/%q: unknown variable in %q", name, p.Title, tg.Expr)
				}
				rs = append(rs, rule{Record: fmt.Sprintf("dashboard:%s:%d%s", name, p.ID, tg.RefID), Expr: expr})
			}
		}
	}
	file := map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rs}}}
	data, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dash.yml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, dir, promtool, "check", "rules", "dash.yml")
	if !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(rs))) {
		t.Fatalf("promtool on the dashboard queries:\n%s", out)
	}
}

func TestSystemdUnit(t *testing.T) {
	data, err := os.ReadFile("systemd/toolwatch.service")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			set[k] = append(set[k], v)
		}
	}
	for k, want := range map[string]string{
		"DynamicUser": "yes", "ProtectSystem": "strict", "StateDirectory": "toolwatch",
		"ExecReload": "/bin/kill -HUP $MAINPID", "Restart": "on-failure", "NoNewPrivileges": "yes",
		"CapabilityBoundingSet": "", "PrivateTmp": "yes", "ProtectHome": "yes",
	} {
		if got := set[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := set["ExecStart"]; len(got) != 1 || !strings.Contains(got[0], "detector run --config /etc/toolwatch/config.yaml") {
		t.Errorf("ExecStart = %q", got)
	}

	// systemd-analyze verify needs the ExecStart binary to exist: point it
	// at /bin/true in a copy.
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not found: unit checked structurally only")
		return
	}
	dir := t.TempDir()
	unit := strings.Replace(string(data), "ExecStart=/usr/local/bin/detector", "ExecStart=/bin/true", 1)
	if err := os.WriteFile(filepath.Join(dir, "toolwatch.service"), []byte(unit), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut := run(t, dir, sa, "verify", "--man=no", "toolwatch.service")
	if strings.TrimSpace(out+errOut) != "" {
		t.Fatalf("systemd-analyze verify:\n%s%s", out, errOut)
	}
}

// metricName matches PromQL identifiers; those that contain ':' or start
// with "toolwatch_" are metric names (label names never do).
var (
	metricName = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
)

func checkMetricNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	unknown, n := unknownMetrics(expr, known)
	if n == 0 {
		t.Errorf("%s: %q queries no toolwatch metric", where, expr)
	}
	for _, id := range unknown {
		t.Errorf("%s: %q queries unknown metric %s", where, expr, id)
	}
}

// unknownMetrics returns the metric names in expr that are not known, and
// how many metric names it found. Quoted label values are ignored.
func unknownMetrics(expr string, known map[string]bool) (unknown []string, n int) {
	for _, id := range metricName.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
		if !strings.HasPrefix(id, "toolwatch_") && !strings.Contains(id, ":") {
			continue
		}
		n++
		if !known[id] {
			unknown = append(unknown, id)
		}
	}
	return unknown, n
}

func TestUnknownMetrics(t *testing.T) {
	known := map[string]bool{"toolwatch_a_total": true, "tool:toolwatch_a:rate5m": true}
	for _, c := range []struct {
		expr    string
		unknown string
		n       int
	}{
		{`sum by (tool) (rate(toolwatch_a_total{tool=~"toolwatch_zz"}[5m]))`, "", 1},
		{`tool:toolwatch_a:rate5m / on (tool) rate(toolwatch_a_totl[5m])`, "toolwatch_a_totl", 2},
		{`tool:toolwatch_b:rate5m`, "tool:toolwatch_b:rate5m", 1},
		{`time() - up{job="toolwatch_x"}`, "", 0},
	} {
		unknown, n := unknownMetrics(c.expr, known)
		if strings.Join(unknown, ",") != c.unknown || n != c.n {
			t.Errorf("%s: unknown %v n %d, want %q %d", c.expr, unknown, n, c.unknown, c.n)
		}
	}
}

// knownMetrics lists the series names Toolwatch exports: the telemetry and
// compliance registries (gathered, so exactly what /metrics shows), the ingest and sink
// metrics (read from their sources so a rename there fails here), the
// daemon's reload gauge, and the recording rules.
func knownMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{"toolwatch_config_last_reload_successful": true}
	reg := prometheus.NewPedanticRegistry()
	m := telemetry.New(reg, telemetry.Config{})
	var r record.Record
	r.Reset()
	r.TraceID, r.SpanID, r.AgentID, r.Timestamp = "t", "s", "a", time.Unix(1774276200, 0)
	r.Tool.Name, r.Invocation.Status, r.Invocation.DurationMS, r.Invocation.OutputBytes = "sql", "success", 5, 10
	m.ObserveRecord(&r)
	m.ObserveOutcome("applied")
	m.ObserveAlert("latency", "warning", "firing")
	m.SetDetectorKeys("latency", 1, 0, 0)
	m.SetWatermark(r.Timestamp)
	cv := compliance.New(reg, compliance.Config{})
	cv.ObserveRecord(&r)
	cv.Chained("runtime-a", true)
	cv.Finding("runtime-a", compliance.KindGap, 1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		known[mf.GetName()] = true
		if mf.GetMetric()[0].GetHistogram() != nil {
			for _, s := range []string{"_bucket", "_sum", "_count"} {
				known[mf.GetName()+s] = true
			}
		}
	}
	if len(mfs) < 25 {
		t.Fatalf("telemetry and compliance exported %d families, want 25", len(mfs))
	}
	nameField := regexp.MustCompile(`Name:\s+"(toolwatch_[a-z_]+)"`)
	for _, src := range []string{"../ingest/metrics.go", "../alert/sink/metrics.go"} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		ms := nameField.FindAllSubmatch(data, -1)
		if len(ms) < 5 {
			t.Fatalf("%s: found %d metric names", src, len(ms))
		}
		for _, m := range ms {
			name := string(m[1])
			known[name] = true
			if strings.HasSuffix(name, "_seconds") { // histograms there are latencies
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					known[name+s] = true
				}
			}
		}
	}
	for _, name := range ruleNames(t, "prometheus/recording.rules.yml", "record") {
		known[name] = true
	}
	return known
}

type promRule struct {
	Record string `yaml:"record"`
	Alert  string `yaml:"alert"`
	Expr   string `yaml:"expr"`
}

func rules(t *testing.T, path string) []promRule {
	t.Helper()
	var f struct {
		Groups []struct {
			Rules []promRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, path, &f)
	var out []promRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", path)
	}
	return out
}

// ruleNames returns the record or alert names of a rule file.
func ruleNames(t *testing.T, path, kind string) []string {
	t.Helper()
	var names []string
	for _, r := range rules(t, path) {
		if n := map[string]string{"record": r.Record, "alert": r.Alert}[kind]; n != "" {
			names = append(names, n)
		}
	}
	return names
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
}
