package alert

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// designFinding is the finding behind the docs/design.md §5 example alert.
func designFinding() detect.Finding {
	return detect.Finding{
		Pattern: detect.PatternLatency, Detail: "p99", Score: 91.5,
		AgentID: "support-agent-prod-01", Tool: "customer-lookup",
		ToolVersion: "2.3.1", Environment: "production",
		Observed: 30120, Expected: 210, Unit: "ms",
		Summary:   "customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
		Details:   map[string]any{"baseline_p50": 210.0, "baseline_p99": 410.0, "samples": 18250},
		EventTime: time.Date(2026, 3, 23, 14, 30, 0, 123_000_000, time.UTC),
		TraceID:   "agent-task-2026-03-23-abc123", SpanID: "tool-call-007", TaskID: "support-ticket-45678",
	}
}

// TestGoldenAlertJSON pins the wire form (one JSON line each) of the DESIGN
// §5 example alert, a re-emission with folded repeats, and its resolve.
func TestGoldenAlertJSON(t *testing.T) {
	m := NewManager(DefaultConfig())
	f := designFinding()
	var alerts []Alert
	alerts = m.Add(f, alerts)
	for i := 1; i <= 3; i++ {
		g := designFinding()
		g.EventTime = g.EventTime.Add(time.Duration(i) * time.Minute)
		g.Score = 85 + float64(i)
		alerts = m.Add(g, alerts) // folded
	}
	g := designFinding()
	g.EventTime = g.EventTime.Add(20 * time.Minute)
	g.SpanID = "tool-call-042"
	g.Score = 84
	alerts = m.Add(g, alerts)                           // re-emitted with repeats 3
	alerts = m.Tick(g.EventTime.Add(time.Hour), alerts) // resolved at +50m
	if len(alerts) != 3 {
		t.Fatalf("%d alerts, want 3", len(alerts))
	}
	var buf []byte
	for i := range alerts {
		buf = MarshalJSONLine(&alerts[i], buf)
	}
	path := filepath.Join("testdata", "alert.golden.json")
	if *update {
		if err := os.WriteFile(path, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(buf, want) {
		t.Errorf("alert JSON differs from %s:\ngot:\n%s\nwant:\n%s", path, buf, want)
	}

	// The firing line carries exactly the DESIGN example's fields.
	line := bytes.SplitN(buf, []byte{'\n'}, 2)[0]
	var got map[string]any
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	design := `{"status":"firing","pattern":"latency","severity":"critical","score":91.5,
	 "agent_id":"support-agent-prod-01","tool":"customer-lookup","tool_version":"2.3.1",
	 "environment":"production","observed":30120,"expected":210,"unit":"ms",
	 "summary":"customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
	 "details":{"baseline_p50":210,"baseline_p99":410,"samples":18250},
	 "event_time":"2026-03-23T14:30:00.123Z","starts_at":"2026-03-23T14:30:00.123Z",
	 "trace_id":"agent-task-2026-03-23-abc123","span_id":"tool-call-007","task_id":"support-ticket-45678"}`
	var wantFields map[string]any
	if err := json.Unmarshal([]byte(design), &wantFields); err != nil {
		t.Fatal(err)
	}
	wantFields["id"] = alerts[0].ID
	wantFields["fingerprint"] = alerts[0].Fingerprint
	if !jsonEqual(got, wantFields) {
		t.Errorf("firing alert\n%s\ndoes not match DESIGN example", line)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// plain drops Alert's MarshalJSON so encoding/json uses the struct tags.
type plain Alert

func stdEncode(t testing.TB, a *Alert) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode((*plain)(a)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sampleAlert() Alert {
	end := time.Date(2026, 3, 23, 15, 0, 0, 0, time.UTC)
	return Alert{
		ID: "0123456789abcdef", Fingerprint: "fedcba9876543210", Status: StatusResolved,
		Pattern: detect.PatternInputNovelty, Severity: SeverityWarning, Score: 1e-7,
		AgentID: "a\"b\\c\n\t\x01<>&\u2028é", Tool: "bad\xffutf8",
		Observed: 1e21, Expected: -0.5, Unit: "shapes", Summary: "s",
		Details: map[string]any{
			"z": nil, "b": true, "f32": float32(0.1), "i": int64(-3), "u": uint64(7),
			"s": []string{"x", "y"}, "ns": []string(nil), "a": []any{1, "two", 3.5, nil},
			"m": map[string]any{"k": "v", "e": map[string]any{}}, "fl": []float64{1.5, 2},
			"i32": int32(5), "u32": uint32(6), "int": 42,
		},
		EventTime: end, StartsAt: end.Add(-time.Hour).In(time.FixedZone("CET", 3600)), EndsAt: &end,
		TraceID: "t", SpanID: "s",
	}
}

func TestMarshalMatchesEncodingJSON(t *testing.T) {
	a := sampleAlert()
	// encoding/json writes a time in its own zone; ours is always UTC.
	a.StartsAt = a.StartsAt.UTC()
	got := MarshalJSONLine(&a, nil)
	if want := stdEncode(t, &a); !bytes.Equal(got, want) {
		t.Errorf("MarshalJSONLine:\n%s\nencoding/json:\n%s", got, want)
	}
	// MarshalJSON is the same encoding, as json.Marshal (HTML-escaping) sees it.
	viaStd, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	// json.Marshal HTML-escapes a Marshaler's output; otherwise the bytes are ours.
	want := strings.NewReplacer("<", `\u003c`, ">", `\u003e`, "&", `\u0026`).Replace(string(got[:len(got)-1]))
	if string(viaStd) != want {
		t.Errorf("json.Marshal(Alert):\n%s\nwant\n%s", viaStd, want)
	}
	var back Alert
	if err := json.Unmarshal(viaStd, &back); err != nil || back.AgentID != a.AgentID || !back.EndsAt.Equal(*a.EndsAt) {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestMarshalUTCAndNonFinite(t *testing.T) {
	a := sampleAlert()
	a.Score, a.Observed, a.Expected = math.NaN(), math.Inf(1), math.Inf(-1)
	a.Details = map[string]any{"x": math.NaN(), "bad": func() {}}
	a.Severity = ""
	line := MarshalJSONLine(&a, []byte("prefix"))
	if !bytes.HasPrefix(line, []byte("prefix{")) || line[len(line)-1] != '\n' {
		t.Fatalf("not appended as one line: %q", line)
	}
	line = line[len("prefix") : len(line)-1]
	if !json.Valid(line) || bytes.Count(line, []byte{'\n'}) != 0 {
		t.Fatalf("invalid JSON line: %s", line)
	}
	var m map[string]any
	json.Unmarshal(line, &m)
	if m["score"] != nil || m["observed"] != nil || m["starts_at"] != "2026-03-23T14:00:00Z" {
		t.Errorf("got score %v observed %v starts_at %v", m["score"], m["observed"], m["starts_at"])
	}
	if d := m["details"].(map[string]any); d["x"] != nil || d["bad"] != nil {
		t.Errorf("details %v", d)
	}
}

func FuzzMarshalJSONLine(f *testing.F) {
	f.Add("agent", "tool\n", "détail", 91.5, 30120.0, int64(1774276200123000000), "k")
	f.Add("\xff\xfe", "\u2029", "<&>", 1e-9, -1e300, int64(0), "")
	f.Fuzz(func(t *testing.T, agent, tool, summary string, score, observed float64, ns int64, key string) {
		ts := time.Unix(0, ns).UTC()
		if ts.Year() < 0 || ts.Year() > 9999 {
			return // encoding/json rejects such times
		}
		a := Alert{
			ID: "id", Status: StatusFiring, AgentID: agent, Tool: tool, Summary: summary,
			Score: score, Observed: observed, EventTime: ts, StartsAt: ts,
			Details: map[string]any{key: summary, "n": observed},
		}
		got := MarshalJSONLine(&a, nil)
		if !json.Valid(got) {
			t.Fatalf("invalid JSON: %q", got)
		}
		if math.IsNaN(score) || math.IsInf(score, 0) || math.IsNaN(observed) || math.IsInf(observed, 0) {
			return
		}
		if want := stdEncode(t, &a); !bytes.Equal(got, want) {
			t.Fatalf("MarshalJSONLine:\n%q\nencoding/json:\n%q", got, want)
		}
	})
}

func BenchmarkMarshalJSONLine(b *testing.B) {
	m := NewManager(DefaultConfig())
	a := m.Add(designFinding(), nil)[0]
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = MarshalJSONLine(&a, buf[:0])
	}
}
