package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC)

// testPatterns are the shipped detectors' pattern labels.
var testPatterns = registry.Default.Patterns()

// Pattern labels are the configured patterns, "other" once and last.
func TestPatternLabels(t *testing.T) {
	m := New(nil, Config{Patterns: []string{"b", "other", "a", "x\xff"}})
	if got := strings.Join(m.patterns, ","); got != "b,a,other" {
		t.Errorf("patterns %q, want b,a,other", got)
	}
	m.SetDetectorKeys("a", 3, 0, 0)
	m.SetDetectorKeys("c", 4, 0, 0)
	if a, o := testutil.ToFloat64(m.detectors["a"].live), testutil.ToFloat64(m.detectors["other"].live); a != 3 || o != 4 {
		t.Errorf("keys a %v, other %v; want 3, 4", a, o)
	}
}

// rec builds a complete record of tool; callers blank fields as needed.
func rec(i int, tool, status string, ms float64) *record.Record {
	var r record.Record
	r.Reset()
	r.TraceID = fmt.Sprintf("trace-x9id-%d", i)
	r.SpanID = fmt.Sprintf("span-%d", i)
	r.Timestamp = base.Add(time.Duration(i) * time.Second)
	r.AgentID = "agent-x9id-007"
	r.Tool.Name = tool
	r.Tool.TrustLevel = "gold"
	r.Tool.VerificationScore = 94
	r.Invocation.DurationMS = ms
	r.Invocation.Status = status
	r.Invocation.InputHash = "sha256:aa"
	r.Invocation.OutputHash = "sha256:bb"
	r.Invocation.OutputBytes = 1042
	r.Context.UserID = "user-x9id-jane"
	r.Context.DataClassification = "internal"
	r.Context.Environment = "production"
	return &r
}

// handful is six records over two tools covering every record field the
// metrics read.
func handful() []*record.Record {
	a := rec(0, "customer-lookup", record.StatusSuccess, 234)
	b := rec(1, "customer-lookup", record.StatusError, 4)
	b.Invocation.PermissionsDenied = []string{"network:connect", "secrets:read", "weird"}
	b.Invocation.OutputBytes = record.Absent
	c := rec(2, "customer-lookup", record.StatusSuccess, 30000)
	c.Tool.TrustLevel, c.Tool.VerificationScore = "", record.Absent
	c.Context.DataClassification = ""
	d := rec(3, "sql", record.StatusDenied, 12)
	d.Invocation.PermissionsDenied = []string{"data_access:write"}
	d.Tool.TrustLevel, d.Tool.VerificationScore = "bronze", 49.9
	d.Invocation.InputHash = ""
	e := rec(4, "sql", record.StatusTimeout, 60000)
	e.Tool.VerificationScore = 80
	e.Context.Environment = "lab-7"
	f := rec(5, "sql", record.StatusSuccess, 0)
	f.Tool.TrustLevel, f.Tool.VerificationScore = "silver", 79
	f.Context.DataClassification, f.Context.Environment = "restricted", ""
	return []*record.Record{a, b, c, d, e, f}
}

func TestObserveRecordCounts(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Config{Patterns: testPatterns})
	for _, r := range handful() {
		m.ObserveRecord(r)
	}
	want := `
# HELP toolwatch_tool_invocations_total Tool invocations seen in valid audit records, by tool (capped, see toolwatch_tool_labels_overflow_total) and status.
# TYPE toolwatch_tool_invocations_total counter
toolwatch_tool_invocations_total{status="denied",tool="customer-lookup"} 0
toolwatch_tool_invocations_total{status="denied",tool="sql"} 1
toolwatch_tool_invocations_total{status="error",tool="customer-lookup"} 1
toolwatch_tool_invocations_total{status="error",tool="sql"} 0
toolwatch_tool_invocations_total{status="success",tool="customer-lookup"} 2
toolwatch_tool_invocations_total{status="success",tool="sql"} 1
toolwatch_tool_invocations_total{status="timeout",tool="customer-lookup"} 0
toolwatch_tool_invocations_total{status="timeout",tool="sql"} 1
# HELP toolwatch_permission_denials_total Entries of invocation.permissions_denied, by type (the part before ':').
# TYPE toolwatch_permission_denials_total counter
toolwatch_permission_denials_total{type="code_execution"} 0
toolwatch_permission_denials_total{type="data_access"} 1
toolwatch_permission_denials_total{type="email"} 0
toolwatch_permission_denials_total{type="filesystem"} 0
toolwatch_permission_denials_total{type="network"} 1
toolwatch_permission_denials_total{type="other"} 1
toolwatch_permission_denials_total{type="payments"} 0
toolwatch_permission_denials_total{type="secrets"} 1
# HELP toolwatch_tool_permission_denials_total Entries of invocation.permissions_denied, by tool.
# TYPE toolwatch_tool_permission_denials_total counter
toolwatch_tool_permission_denials_total{tool="customer-lookup"} 3
toolwatch_tool_permission_denials_total{tool="sql"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"toolwatch_tool_invocations_total", "toolwatch_permission_denials_total",
		"toolwatch_tool_permission_denials_total"); err != nil {
		t.Fatal(err)
	}

	trust := func(level, band string) float64 {
		return testutil.ToFloat64(m.trust[trustIndex(level)][index(scoreBands, band)])
	}
	for _, c := range []struct {
		level, band string
		want        float64
	}{
		{"gold", "90-100", 2}, {"none", "none", 1}, {"bronze", "0-49", 1},
		{"gold", "80-89", 1}, {"silver", "50-79", 1}, {"gold", "50-79", 0},
	} {
		if got := trust(c.level, c.band); got != c.want {
			t.Errorf("trust %s/%s = %v, want %v", c.level, c.band, got, c.want)
		}
	}

	// Histograms: sample counts and sums per tool, and bucket placement at
	// the edges (0ms and the 60s top bucket).
	hist := func(name, tool string) (count uint64, sum float64, buckets map[float64]uint64) {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, mt := range mf.GetMetric() {
				if mt.GetLabel()[0].GetValue() != tool {
					continue
				}
				h := mt.GetHistogram()
				buckets = map[float64]uint64{}
				for _, b := range h.GetBucket() {
					buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
				return h.GetSampleCount(), h.GetSampleSum(), buckets
			}
		}
		t.Fatalf("%s{tool=%q} not gathered", name, tool)
		return
	}
	n, sum, b := hist("toolwatch_tool_duration_seconds", "sql")
	if n != 3 || sum != 60.012 || b[0.005] != 1 || b[0.025] != 2 || b[30] != 2 || b[60] != 3 {
		t.Errorf("sql duration: count %d sum %v buckets %v", n, sum, b)
	}
	if n, sum, _ = hist("toolwatch_tool_output_bytes", "customer-lookup"); n != 2 || sum != 2084 {
		t.Errorf("customer-lookup output (absent skipped): count %d sum %v, want 2, 2084", n, sum)
	}
}

func TestToolLabelCap(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := New(reg, Config{MaxTools: 2})
	for i, tool := range []string{"a", "b", "c", "a", "d", "c", "b"} {
		m.ObserveRecord(rec(i, tool, record.StatusSuccess, 10))
	}
	for tool, want := range map[string]float64{"a": 2, "b": 2, "other": 3} {
		if got := testutil.ToFloat64(m.invocations.WithLabelValues(tool, "success")); got != want {
			t.Errorf("tool %s: %v invocations, want %v", tool, got, want)
		}
	}
	if got := testutil.ToFloat64(m.overflow); got != 3 {
		t.Errorf("overflow = %v, want 3", got)
	}
	// 3 tool labels x 4 statuses; no series for c or d.
	if n := testutil.CollectAndCount(m.invocations); n != 12 {
		t.Errorf("invocation series = %d, want 12", n)
	}
	if len(m.tools) != 2 {
		t.Errorf("map holds %d tools, want 2 (overflow names must not be kept)", len(m.tools))
	}
	// Empty or non-UTF-8 names (impossible from the decoder) go to "other"
	// without taking a slot or counting as overflow.
	fresh := New(nil, Config{MaxTools: 2})
	fresh.ObserveRecord(rec(0, "bad\xff", record.StatusSuccess, 1))
	fresh.ObserveRecord(rec(1, "", record.StatusSuccess, 1))
	if len(fresh.tools) != 0 || testutil.ToFloat64(fresh.overflow) != 0 ||
		testutil.ToFloat64(fresh.invocations.WithLabelValues("other", "success")) != 2 {
		t.Errorf("invalid names: %d tools, overflow %v", len(fresh.tools), testutil.ToFloat64(fresh.overflow))
	}
	if def := New(nil, Config{}); def.maxTools != DefaultMaxTools {
		t.Errorf("default cap %d", def.maxTools)
	}
}

// allowedLabels are every label name the package may export.
var allowedLabels = map[string]bool{
	"tool": true, "status": true, "type": true, "trust_level": true, "score_band": true,
	"outcome": true, "pattern": true,
	"severity": true, "detector": true,
}

func TestNoIdentityLabels(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	exercise(reg)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) < 13 {
		t.Fatalf("gathered %d metric families, want all 13", len(mfs))
	}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if !allowedLabels[l.GetName()] {
					t.Errorf("%s has label %q", mf.GetName(), l.GetName())
				}
				if v := l.GetValue(); strings.Contains(v, "x9id") {
					t.Errorf("%s label %s=%q carries an id", mf.GetName(), l.GetName(), v)
				}
			}
		}
	}
}

// exercise calls every method once so every family has a series.
func exercise(reg prometheus.Registerer) *Metrics {
	m := New(reg, Config{MaxTools: 1})
	for _, r := range handful() {
		m.ObserveRecord(r)
	}
	m.ObserveOutcome("applied")
	m.ObserveAlert("latency", "critical", "firing")
	m.SetDetectorKeys("latency", 3, 1, 2)
	m.SetWatermark(base)
	return m
}

func TestOutcomesAlertsWatermark(t *testing.T) {
	m := New(nil, Config{Patterns: testPatterns})
	for _, o := range []string{"applied", "applied", "late", "invalid", "dead_lettered", "bogus", "duplicate", ""} {
		m.ObserveOutcome(o)
	}
	for o, want := range map[string]float64{"applied": 2, "late": 1, "invalid": 1, "dead_lettered": 1, "duplicate": 1, "other": 2} {
		if got := testutil.ToFloat64(m.outcome[index(outcomes, o)]); got != want {
			t.Errorf("outcome %s = %v, want %v", o, got, want)
		}
	}

	m.ObserveAlert("latency", "critical", "firing")
	m.ObserveAlert("latency", "critical", "firing")
	m.ObserveAlert("latency", "critical", "resolved")
	m.ObserveAlert("agent-42", "extreme", "")
	for _, c := range []struct {
		p, s, st string
		want     float64
	}{
		{"latency", "critical", "firing", 2}, {"latency", "critical", "resolved", 1},
		{"other", "other", "other", 1},
	} {
		if got := testutil.ToFloat64(m.alerts.WithLabelValues(c.p, c.s, c.st)); got != c.want {
			t.Errorf("alerts %v = %v", c, got)
		}
	}
	if n := testutil.CollectAndCount(m.alerts); n != 3 {
		t.Errorf("alert series = %d, want 3", n)
	}

	m.SetWatermark(time.Time{})
	if got := testutil.ToFloat64(m.watermark); got != 0 {
		t.Errorf("zero watermark set gauge to %v", got)
	}
	m.SetWatermark(base.Add(500 * time.Millisecond))
	if got, want := testutil.ToFloat64(m.watermark), float64(base.Unix())+0.5; got != want {
		t.Errorf("watermark = %v, want %v", got, want)
	}
}

func TestSetDetectorKeys(t *testing.T) {
	m := New(nil, Config{Patterns: testPatterns})
	steps := []struct {
		live              int
		rejected, evicted uint64
		wantRej, wantEvi  float64
	}{
		{10, 0, 0, 0, 0},
		{12, 5, 1, 5, 1},
		{12, 7, 1, 7, 1},
		{3, 2, 0, 9, 1}, // detector rebuilt: counts restart
		{4, 4, 6, 11, 7},
	}
	for i, s := range steps {
		m.SetDetectorKeys("frequency", s.live, s.rejected, s.evicted)
		d := m.detectors["frequency"]
		if got := testutil.ToFloat64(d.live); got != float64(s.live) {
			t.Errorf("step %d: live %v", i, got)
		}
		if got := testutil.ToFloat64(d.rejected); got != s.wantRej {
			t.Errorf("step %d: rejected %v, want %v", i, got, s.wantRej)
		}
		if got := testutil.ToFloat64(d.evicted); got != s.wantEvi {
			t.Errorf("step %d: evicted %v, want %v", i, got, s.wantEvi)
		}
	}
	m.SetDetectorKeys("agent-xyz", 1, 1, 1)
	if got := testutil.ToFloat64(m.detectors["other"].live); got != 1 {
		t.Errorf("unknown detector not counted as other: %v", got)
	}
}

func TestObserveRecordDoesNotAllocate(t *testing.T) {
	m := New(prometheus.NewRegistry(), Config{Patterns: testPatterns})
	recs := handful()
	for _, r := range recs {
		m.ObserveRecord(r) // create the tools' children
	}
	allocs := testing.AllocsPerRun(100, func() {
		for _, r := range recs {
			m.ObserveRecord(r)
		}
	})
	if allocs != 0 {
		t.Fatalf("ObserveRecord allocates %v per run", allocs)
	}
	// Past the cap too: overflow names are not stored, so no allocation.
	capped := New(nil, Config{MaxTools: 1})
	capped.ObserveRecord(rec(0, "a", record.StatusSuccess, 1))
	over := rec(1, "b", record.StatusSuccess, 1)
	capped.ObserveRecord(over)
	if a := testing.AllocsPerRun(100, func() { capped.ObserveRecord(over) }); a != 0 {
		t.Fatalf("overflow ObserveRecord allocates %v per run", a)
	}
}

func BenchmarkObserveRecord(b *testing.B) {
	m := New(prometheus.NewRegistry(), Config{Patterns: testPatterns})
	recs := handful()
	for _, r := range recs {
		m.ObserveRecord(r)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.ObserveRecord(recs[i%len(recs)])
	}
}

// Exposition returns the text exposition of reg as /metrics serves it.
func exposition(t *testing.T, reg prometheus.Gatherer) []byte {
	t.Helper()
	w := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("/metrics: %d %s", w.Code, w.Body)
	}
	return w.Body.Bytes()
}

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

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := lookTool(t, "promtool", "prometheus")
	reg := prometheus.NewPedanticRegistry()
	exercise(reg)
	text := exposition(t, reg)
	if !bytes.Contains(text, []byte("toolwatch_tool_duration_seconds_bucket")) {
		t.Fatalf("exposition lacks the histograms:\n%s", text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	// The checker must be able to fail: a counter without _total.
	bad := exec.CommandContext(ctx, promtool, "check", "metrics")
	bad.Stdin = strings.NewReader("# HELP toolwatch_bad_count x\n# TYPE toolwatch_bad_count counter\ntoolwatch_bad_count 1\n")
	if out, err := bad.CombinedOutput(); err == nil {
		t.Fatalf("promtool accepted a bad counter name: %s", out)
	}
}
