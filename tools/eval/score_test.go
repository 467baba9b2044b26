package eval

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/tools/sim"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

var t0 = time.Date(2026, 3, 24, 0, 0, 0, 0, time.UTC)

func at(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

func fa(pattern, agent, tool string, ts time.Time) alert.Alert {
	return alert.Alert{ID: pattern + "@" + ts.Format("1504"), Status: alert.StatusFiring, Pattern: pattern,
		AgentID: agent, Tool: tool, EventTime: ts, StartsAt: ts, Score: 75, Summary: "s"}
}

func fixture() ([]sim.Anomaly, []alert.Alert) {
	plan := []sim.Anomaly{
		{ID: "frequency-1", Pattern: "frequency", AgentID: "a1", Tool: "t1", Start: at(10, 0), End: at(10, 10)},
		{ID: "latency-1", Pattern: "latency", AgentID: "a2", Tool: "t2", Start: at(12, 0), End: at(12, 5)},
		{ID: "latency-2", Pattern: "latency", AgentID: "a3", Tool: "t3", Start: at(14, 0), End: at(14, 5)},
		{ID: "input_novelty-1", Pattern: "input_novelty", Tool: "t4", Start: at(16, 0), End: at(16, 5)},
	}
	resolved := fa("frequency", "a1", "t1", at(10, 30))
	resolved.Status = alert.StatusResolved
	alerts := []alert.Alert{
		fa("frequency", "a1", "t1", at(10, 2)),     // detects frequency-1
		fa("latency", "a1", "t1", at(10, 5)),       // other pattern, same key and time: true positive
		resolved,                                   // not an alert
		fa("latency", "a2", "t2", at(12, 10)),      // End+grace exactly: detects latency-1
		fa("latency", "a3", "t3", at(14, 11)),      // past End+grace: false, latency-2 missed
		fa("input_novelty", "zz", "t4", at(16, 0)), // anomaly names no agent; Start exactly
		fa("denial_spike", "a9", "t9", at(20, 0)),  // nothing there
		fa("latency", "a2", "t2", at(11, 59)),      // before Start
		fa("latency", "a3", "t2", at(12, 1)),       // wrong agent
		fa("output_size", "a1", "t2", at(10, 3)),   // wrong tool
		fa("frequency", "a1", "t1", at(10, 12)),    // a second hit on frequency-1
		fa("frequency", "", "t1", at(10, 4)),       // tool-wide: true positive, but recall needs the agent
		fa("latency", "", "t3", at(14, 2)),         // tool-wide: true positive, does not detect latency-2
	}
	return plan, alerts
}

func TestScore(t *testing.T) {
	plan, alerts := fixture()
	r := Score(plan, alerts, 250000, 5*time.Minute)

	if r.Firing != 12 || r.TruePositive != 7 || r.FalsePositive != 5 {
		t.Fatalf("firing %d tp %d fp %d, want 12 7 5", r.Firing, r.TruePositive, r.FalsePositive)
	}
	if r.Precision != 7.0/12 {
		t.Errorf("precision %v, want 7/12", r.Precision)
	}
	if r.FalsePer100k != 2 {
		t.Errorf("false per 100k %v, want 2", r.FalsePer100k)
	}
	want := []PatternResult{
		{Pattern: "frequency", Anomalies: 1, Detected: 1, Recall: 1, MaxDelay: 2 * time.Minute},
		{Pattern: "input_novelty", Anomalies: 1, Detected: 1, Recall: 1},
		{Pattern: "denial_spike", Recall: 1},
		{Pattern: "output_size", Recall: 1},
		{Pattern: "latency", Anomalies: 2, Detected: 1, Recall: 0.5, MaxDelay: 10 * time.Minute, Missed: []string{"latency-2"}},
		{Pattern: "chain_integrity", Recall: 1},
		{Pattern: "egress", Recall: 1},
	}
	if !slices.EqualFunc(r.Patterns, want, func(a, b PatternResult) bool {
		return a.Pattern == b.Pattern && a.Anomalies == b.Anomalies && a.Detected == b.Detected &&
			a.Recall == b.Recall && a.MaxDelay == b.MaxDelay && slices.Equal(a.Missed, b.Missed)
	}) {
		t.Errorf("patterns:\n got %+v\nwant %+v", r.Patterns, want)
	}
	if got := r.Pattern("latency").Recall; got != 0.5 {
		t.Errorf("Pattern(latency).Recall = %v", got)
	}
	var falseTimes []time.Time
	for _, a := range r.FalseAlerts {
		falseTimes = append(falseTimes, a.EventTime)
	}
	if !slices.EqualFunc(falseTimes, []time.Time{at(10, 3), at(11, 59), at(12, 1), at(14, 11), at(20, 0)}, time.Time.Equal) {
		t.Errorf("false alerts at %v", falseTimes)
	}

	// Without grace the alert at End+5m no longer detects latency-1.
	r0 := Score(plan, alerts, 250000, 0)
	if got := r0.Pattern("latency"); got.Detected != 0 || got.Recall != 0 {
		t.Errorf("grace 0: latency %+v", got)
	}
	if r0.TruePositive != 5 { // 12:10 and the second hit at 10:12 are now false
		t.Errorf("grace 0: tp %d, want 5", r0.TruePositive)
	}

	golden(t, "score.golden", r.String())
}

func TestScoreEmpty(t *testing.T) {
	r := Score(nil, nil, 0, time.Minute)
	if r.Precision != 1 || r.FalsePer100k != 0 || r.Firing != 0 || len(r.Patterns) != len(Patterns) {
		t.Fatalf("empty score %+v", r)
	}
	for _, p := range r.Patterns {
		if p.Recall != 1 {
			t.Fatalf("empty recall %+v", p)
		}
	}
	plan, _ := fixture()
	r = Score(plan, nil, 1000, time.Minute)
	if r.Pattern("frequency").Recall != 0 || r.Pattern("latency").Detected != 0 || r.Precision != 1 {
		t.Fatalf("no alerts: %+v", r)
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestParseAlerts(t *testing.T) {
	_, alerts := fixture()
	alerts[0].Details = map[string]any{"baseline_p99": 410.0}
	ends := at(11, 0)
	alerts[2].EndsAt = &ends
	var buf bytes.Buffer
	for _, a := range alerts {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteString("\n\n")
	}
	got, err := ParseAlerts(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(alerts) {
		t.Fatalf("parsed %d alerts, want %d", len(got), len(alerts))
	}
	for i := range got {
		if got[i].ID != alerts[i].ID || got[i].Status != alerts[i].Status || !got[i].EventTime.Equal(alerts[i].EventTime) || got[i].Tool != alerts[i].Tool {
			t.Fatalf("alert %d: got %+v want %+v", i, got[i], alerts[i])
		}
	}
	if got[0].Details["baseline_p99"] != 410.0 || got[2].EndsAt == nil || !got[2].EndsAt.Equal(ends) {
		t.Fatalf("details/ends_at lost: %+v %+v", got[0].Details, got[2].EndsAt)
	}

	_, err = ParseAlerts(strings.NewReader("{\"id\":\"x\"}\n{\"id\":\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad line: err = %v", err)
	}
}

func TestWriteJSONL(t *testing.T) {
	cfg := sim.Config{Seed: 9, Duration: 4 * time.Hour, WarmUp: 30 * time.Minute, Jitter: 2 * time.Second}
	var a, b bytes.Buffer
	plan, normal, total, err := WriteJSONL(cfg, &a)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := WriteJSONL(cfg, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("WriteJSONL is not deterministic")
	}
	if !slices.Equal(plan, sim.Plan(cfg)) || len(plan) == 0 {
		t.Fatalf("plan %d anomalies, want sim.Plan's %d", len(plan), len(sim.Plan(cfg)))
	}
	if normal >= total || normal < total/2 {
		t.Fatalf("normal %d of %d", normal, total)
	}
	dec := record.NewDecoder(record.DefaultLimits())
	var r record.Record
	lines := bytes.Split(bytes.TrimSuffix(a.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != total {
		t.Fatalf("%d lines, total %d", len(lines), total)
	}
	inPlan := 0
	for i, l := range lines {
		if err := dec.Decode(l, &r); err != nil {
			t.Fatalf("line %d does not decode: %v\n%s", i+1, err, l)
		}
		for _, an := range plan {
			if r.AgentID == an.AgentID && r.Tool.Name == an.Tool && !r.Timestamp.Before(an.Start) && r.Timestamp.Before(an.End) {
				inPlan++
				break
			}
		}
	}
	// Every anomaly record is inside its window; normal records of the same
	// key may be too, so this is a lower bound.
	if inPlan < total-normal {
		t.Fatalf("%d records inside anomaly windows, want >= %d anomaly records", inPlan, total-normal)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWriteJSONLError(t *testing.T) {
	_, _, _, err := WriteJSONL(sim.Config{Seed: 1, Duration: time.Hour}, failWriter{})
	if err == nil || !strings.Contains(err.Error(), "write simulated records") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkWriteJSONL(b *testing.B) {
	cfg := sim.Config{Seed: 1, Duration: time.Hour}
	var buf bytes.Buffer
	total := 0
	for b.Loop() {
		buf.Reset()
		var err error
		if _, _, total, err = WriteJSONL(cfg, &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/record")
}

func TestScoreSeverityStormsSustained(t *testing.T) {
	plan := []sim.Anomaly{
		{ID: "latency-1", Pattern: "latency", AgentID: "a1", Tool: "t1", Start: at(10, 0), End: at(11, 0), Sustained: true, Kind: "latency_shift", Detail: "level_shift"},
		{ID: "frequency-1", Pattern: "frequency", AgentID: "a2", Tool: "t2", Start: at(10, 0), End: at(11, 0), Kind: "drop", Detail: "drop"},
	}
	sev := func(a alert.Alert, s string) alert.Alert { a.Severity = s; return a }
	alerts := []alert.Alert{
		sev(fa("latency", "a1", "t1", at(10, 20)), "warning"), // detects latency-1
		sev(fa("latency", "a1", "t1", at(11, 55)), "info"),    // recovery of a sustained shift: true
		sev(fa("latency", "a1", "t1", at(12, 15)), "info"),    // past End + duration + grace: false
		sev(fa("frequency", "a2", "t2", at(11, 20)), "info"),  // not sustained: past End+grace, false
		sev(fa("output_size", "a3", "t3", at(20, 0)), "critical"),
		sev(fa("output_size", "a3", "t3", at(21, 0)), "warning"),
		sev(fa("input_novelty", "a3", "t3", at(22, 0)), "info"),
		sev(fa("input_novelty", "a3", "t3", t0.Add(25*time.Hour)), "info"), // next day
	}
	r := Score(plan, alerts, 200000, 10*time.Minute)
	if r.TruePositive != 2 || r.FalsePositive != 6 || r.FalseWarning != 2 {
		t.Fatalf("tp %d fp %d false warning+ %d, want 2 6 2", r.TruePositive, r.FalsePositive, r.FalseWarning)
	}
	if r.FalsePer100k != 3 || r.FalseWarningPer100k != 1 {
		t.Fatalf("per 100k %v / warning+ %v, want 3 / 1", r.FalsePer100k, r.FalseWarningPer100k)
	}
	if fmt.Sprint(r.ByKind) != "[{frequency/drop 1 0 0 0s [frequency-1]} {latency/latency_shift 1 1 1 20m0s []}]" {
		t.Fatalf("by detail %v", r.ByKind)
	}
	if r.MaxKeyDay != 3 || r.MaxKey != "a1/t1 2026-03-24" {
		t.Fatalf("max key-day %d %q", r.MaxKeyDay, r.MaxKey)
	}

	bs := []sim.Behaviour{
		{Class: "incident", Tool: "t3", Start: at(19, 0), End: at(20, 30), Patterns: []string{"output_size"}},
		{Class: "heavy", Tool: "t3", Patterns: []string{"output_size", "input_novelty"}},
		{Class: "never", AgentID: "zz", Patterns: []string{"latency", "frequency"}},
	}
	r.Attribute(bs, 10*time.Minute)
	got := fmt.Sprint(r.FalseByClass)
	// "other" comes last
	want := "[{incident 1 1 map[output_size:1]} {heavy 3 1 map[input_novelty:2 output_size:1]} {other 2 0 map[frequency:1 latency:1]}]"
	if got != want {
		t.Fatalf("classes\n got %s\nwant %s", got, want)
	}

	m := Merge(r, r)
	if m.Firing != 16 || m.FalsePositive != 12 || m.FalseWarning != 4 || m.NormalRecords != 400000 ||
		m.FalsePer100k != 3 || m.FalseWarningPer100k != 1 || m.MaxKeyDay != 3 || m.Precision != 0.25 {
		t.Fatalf("merge %+v", m)
	}
	if p := m.Pattern("latency"); p.Anomalies != 2 || p.Detected != 2 || p.Recall != 1 {
		t.Fatalf("merged latency %+v", p)
	}
	if p := m.Pattern("frequency"); p.Anomalies != 2 || p.Detected != 0 || len(p.Missed) != 2 {
		t.Fatalf("merged frequency %+v", p)
	}
	if fmt.Sprint(m.ByKind) != "[{frequency/drop 2 0 0 0s [frequency-1 frequency-1]} {latency/latency_shift 2 2 1 20m0s []}]" {
		t.Fatalf("merged by detail %v", m.ByKind)
	}
	if fmt.Sprint(m.FalseByClass) != "[{incident 2 2 map[output_size:2]} {heavy 6 2 map[input_novelty:4 output_size:2]} {other 4 0 map[frequency:2 latency:2]}]" {
		t.Fatalf("merged classes %v", m.FalseByClass)
	}
}
