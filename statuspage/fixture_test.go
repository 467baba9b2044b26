package statuspage

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/compliance"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/registry"
	"github.com/toolwatch/toolwatch/record"
)

// Hostile strings: untrusted text from audit records that must render as
// text, never as markup.
const (
	evilTool    = "<script>alert(1)</script>"
	evilSummary = `"<img src=x onerror=alert(2)>" called 412 times in 5m; baseline is 40`
	evilAgent   = "agent-<b>bold</b>"
)

var watermark = time.Date(2026, 3, 23, 14, 30, 0, 123e6, time.UTC)

func at(d time.Duration) time.Time { return watermark.Add(-d) }

func timePtr(t time.Time) *time.Time { return &t }

// fixtureSnapshot is a realistic snapshot: 5 tools (one with a script tag
// as its name) and 8 alerts covering every pattern and severity, firing
// and resolved, newest first.
func fixtureSnapshot() Snapshot {
	alerts := []alert.Alert{
		{
			ID: "a1b2c3d4e5f60718", Fingerprint: "9f1c2e3d4b5a6978", Status: alert.StatusFiring,
			Pattern: detect.PatternLatency, Severity: alert.SeverityCritical, Score: 91.5,
			AgentID: "support-agent-prod-01", Tool: "customer-lookup", ToolVersion: "2.3.1", Environment: "production",
			Observed: 30120, Expected: 210, Unit: "ms",
			Summary: "customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
			Details: map[string]any{"baseline_p50": 210.0, "baseline_p99": 410.0, "baseline_p999": 520.0, "threshold": 3280.0,
				"samples": 18250.0, "baseline_scope": "agent"},
			EventTime: at(20 * time.Second), StartsAt: at(20 * time.Second),
			TraceID: "agent-task-2026-03-23-abc123", SpanID: "tool-call-007", TaskID: "support-ticket-45678",
			TraceURL:   "https://tempo.example/explore?traceId=agent-task-2026-03-23-abc123",
			RunbookURL: "https://runbooks.example/toolwatch/latency",
		},
		{
			ID: "b2c3d4e5f6071829", Fingerprint: "1a2b3c4d5e6f7081", Status: alert.StatusFiring,
			Pattern: detect.PatternInputNovelty, Severity: alert.SeverityCritical, Score: 88,
			AgentID: "analytics-agent-02", Tool: "sql-query", ToolVersion: "1.0.4", Environment: "production",
			Observed: 8, Expected: 7, Unit: "shapes",
			Summary: "sql-query received a never-seen input shape (sql-injection-like) from analytics-agent-02",
			Details: map[string]any{"shape": "{query:str/sql-injection-like}", "known_shapes": 7.0, "class": "sql-injection-like",
				"first_seen": true, "known_kinds": []any{"json", "text"}},
			EventTime: at(110 * time.Second), StartsAt: at(110 * time.Second),
			TraceID: "agent-task-2026-03-23-def456", SpanID: "tool-call-019", TaskID: "report-991",
		},
		{
			ID: "c3d4e5f607182930", Fingerprint: "2b3c4d5e6f708192", Status: alert.StatusFiring,
			Pattern: detect.PatternDenialSpike, Severity: alert.SeverityWarning, Score: 67.2,
			AgentID: "support-agent-prod-03", Tool: "send-email", Environment: "production",
			Observed: 14, Expected: 0.6, Unit: "denials/5m",
			Summary: "send-email denied 14 times in 5m for support-agent-prod-03 (permission email.external); baseline 0.6",
			Details: map[string]any{"permission": "email.external", "window": "5m", "expected": 0.6, "threshold": 6.0,
				"hour_slot": 14.0, "slot_peak": 2.0},
			EventTime: at(4 * time.Minute), StartsAt: at(9 * time.Minute),
			TraceID: "agent-task-2026-03-23-ghi789", SpanID: "tool-call-044",
		},
		{
			ID: "d4e5f60718293a4b", Fingerprint: "3c4d5e6f708192a3", Status: alert.StatusFiring,
			Pattern: detect.PatternFrequency, Severity: alert.SeverityWarning, Score: 58,
			AgentID: evilAgent, Tool: evilTool, Environment: "staging",
			Observed: 412, Expected: 40, Unit: "calls/5m",
			Summary: evilSummary,
			Details: map[string]any{"detail": "spike", "note": "<i>not markup</i>", "expected": 40.0, "threshold": 160.0,
				"slot_peak": 75.0, "hour_slot": 14.0},
			// A hostile link is shown as text at most, never as a javascript: href.
			TraceURL:  "javascript:alert(3)",
			EventTime: at(6 * time.Minute), StartsAt: at(6 * time.Minute),
			TraceID: "trace-<u>x</u>", SpanID: "span-1",
		},
		{
			ID: "e5f60718293a4b5c", Fingerprint: "4d5e6f708192a3b4", Status: alert.StatusFiring,
			Pattern: detect.PatternOutputSize, Severity: alert.SeverityInfo, Score: 34,
			AgentID: "research-agent-07", Tool: "kb-search", ToolVersion: "0.9.0", Environment: "production",
			Observed: 2.4e6, Expected: 18e3, Unit: "bytes",
			Summary:   "kb-search returned 2.3 MB to research-agent-07; p99 baseline is 18 KB",
			Details:   map[string]any{"baseline_p50": 5200.0, "baseline_p99": 18000.0, "baseline_p999": 31000.0, "threshold": 144000.0},
			EventTime: at(12 * time.Minute), StartsAt: at(12 * time.Minute),
			TraceID: "agent-task-2026-03-23-jkl012", SpanID: "tool-call-102", TaskID: "research-311",
		},
		{
			ID: "f60718293a4b5c6d", Fingerprint: "5e6f708192a3b4c5", Status: alert.StatusResolved,
			Pattern: detect.PatternLatency, Severity: alert.SeverityWarning, Score: 61,
			AgentID: "research-agent-07", Tool: "kb-search", ToolVersion: "0.9.0", Environment: "production",
			Observed: 4200, Expected: 380, Unit: "ms",
			Summary: "kb-search took 4.2s for research-agent-07; p99 baseline is 380ms",
			Details: map[string]any{"baseline_p50": 120.0, "baseline_p99": 380.0, "baseline_p999": 610.0, "threshold": 3040.0,
				"repeats": 3.0, "max_score": 64.0},
			EventTime: at(15 * time.Minute), StartsAt: at(35 * time.Minute), EndsAt: timePtr(at(15 * time.Minute)),
			TraceID: "agent-task-2026-03-23-mno345", SpanID: "tool-call-088",
		},
		{
			ID: "0718293a4b5c6d7e", Fingerprint: "6f708192a3b4c5d6", Status: alert.StatusResolved,
			Pattern: detect.PatternFrequency, Severity: alert.SeverityCritical, Score: 96,
			AgentID: "support-agent-prod-01", Tool: "customer-lookup", ToolVersion: "2.3.1", Environment: "production",
			Observed: 25, Expected: 1, Unit: "calls/5m",
			Summary:   "support-agent-prod-01 called customer-lookup 25 times with the same input in 5m (loop)",
			Details:   map[string]any{"detail": "loop", "same_input_peak": 3.0, "threshold": 12.0, "same_input_calls": 25.0},
			EventTime: at(22 * time.Minute), StartsAt: at(40 * time.Minute), EndsAt: timePtr(at(22 * time.Minute)),
			TraceID: "agent-task-2026-03-23-pqr678", SpanID: "tool-call-311", TaskID: "support-ticket-45601",
		},
		{
			// The firing emission of the kb-search latency episode resolved above.
			ID: "18293a4b5c6d7e8f", Fingerprint: "5e6f708192a3b4c5", Status: alert.StatusFiring,
			Pattern: detect.PatternLatency, Severity: alert.SeverityWarning, Score: 61,
			AgentID: "research-agent-07", Tool: "kb-search", ToolVersion: "0.9.0", Environment: "production",
			Observed: 4200, Expected: 380, Unit: "ms",
			Summary:   "kb-search took 4.2s for research-agent-07; p99 baseline is 380ms",
			Details:   map[string]any{"baseline_p50": 120.0, "baseline_p99": 380.0, "baseline_p999": 610.0, "threshold": 3040.0},
			EventTime: at(35 * time.Minute), StartsAt: at(35 * time.Minute),
			TraceID: "agent-task-2026-03-23-mno345", SpanID: "tool-call-071",
		},
		{
			// A flood of new shapes: one vocabulary_opening finding, judged
			// against the tool's long-term reference vocabulary.
			ID: "293a4b5c6d7e8f90", Fingerprint: "708192a3b4c5d6e7", Status: alert.StatusFiring,
			Pattern: detect.PatternInputNovelty, Severity: alert.SeverityWarning, Score: 66,
			AgentID: "qa-agent-04", Tool: "kb-search", Environment: "staging",
			Observed: 214, Expected: 12, Unit: "shapes",
			Summary: "kb-search's input vocabulary is opening: 214 shapes in use against 12 in its reference",
			Details: map[string]any{"kind": "vocabulary_opening", "new_shapes": 202.0, "reference_shapes": 12.0,
				"shapes_in_window": 214.0, "openness": 1.0, "reference_openness": 0.1},
			EventTime: at(50 * time.Minute), StartsAt: at(50 * time.Minute),
			TraceID: "agent-task-2026-03-23-stu901", SpanID: "tool-call-402",
		},
	}
	tools := []ToolStatus{
		{Tool: evilTool, Calls: 82.4, LatencyP50: 12, LatencyP99: 95, OutputP50: 310, OutputP99: 2048, Shapes: 2, Agents: 1},
		{Tool: "customer-lookup", Calls: 36.2, LatencyP50: 210, LatencyP99: 410, OutputP50: 1800, OutputP99: 6400, Shapes: 4, Agents: 12},
		{Tool: "kb-search", Calls: 19.5, LatencyP50: 120, LatencyP99: 380, OutputP50: 5200, OutputP99: 18000, Shapes: 3, Agents: 5},
		{Tool: "send-email", Calls: 2.3, LatencyP50: 640, LatencyP99: 1900, OutputP50: 96, OutputP99: 240, Shapes: 2, Agents: 8},
		{Tool: "sql-query", Calls: 7.8, LatencyP50: 45, LatencyP99: 1250, OutputP50: 12000, OutputP99: 240000, Shapes: 8, Agents: 3},
	}
	for i := range tools {
		tools[i].History = history(i, tools[i].Calls, tools[i].LatencyP99)
	}
	return Snapshot{
		Daemon: Daemon{
			Version:   "toolwatch 0.3.0 (go1.26.8)",
			StartedAt: watermark.Add(-3*time.Hour - 12*time.Minute),
			Watermark: watermark,
			Applied:   1284312, Late: 37, Invalid: 5,
			AlertsFiring: 5,
			// The shipped table plus one: the filter lists what the daemon
			// reports, not a fixed set.
			Patterns: append(registry.Default.Patterns(), "toy"),
		},
		Alerts:     alerts,
		Tools:      tools,
		Compliance: fixtureCompliance(),
	}
}

// Hostile free-text compliance labels.
const (
	evilProducer  = "<img src=x onerror=alert(5)>"
	evilRetention = "<b>keep-forever</b>"
)

// fixtureCompliance counts 12,000 records through a compliance.View:
// 90 % complete, the rest missing a field or two, three retention
// policies, and three hash-chained producers, one with a gap and an
// altered record, one (hostile name) with a fork.
func fixtureCompliance() *compliance.Summary {
	v := compliance.New(nil, compliance.Config{})
	var r record.Record
	for i := range 12000 {
		r.Reset()
		r.TraceID, r.SpanID, r.AgentID, r.Timestamp = "t", "s", "a", watermark
		r.Tool.Name, r.Tool.Version, r.Tool.TrustLevel = "customer-lookup", "2.3.1", "gold"
		r.Invocation.InputHash, r.Invocation.OutputHash = "sha256:aa", "sha256:bb"
		r.Invocation.DurationMS, r.Invocation.Status = 200, record.StatusSuccess
		r.Invocation.PermissionsUsed = append(r.Invocation.PermissionsUsed[:0], "data_access:read")
		r.Context.DataClassification, r.Context.Environment = "internal", "production"
		r.RetentionPolicy = "7y-sox"
		switch {
		case i%20 == 1:
			r.Tool.Version = ""
		case i%40 == 2:
			r.Invocation.PermissionsUsed = r.Invocation.PermissionsUsed[:0]
		case i%50 == 3:
			r.Context.DataClassification, r.RetentionPolicy = "", ""
		case i%200 == 4:
			r.Invocation.OutputHash, r.Tool.TrustLevel = "", ""
		}
		switch {
		case i%5 == 0:
			r.Context.DataClassification, r.Context.Environment, r.RetentionPolicy = "confidential", "staging", "gdpr-30d"
		case i%7 == 0:
			r.Context.DataClassification = "restricted"
		case i%97 == 0:
			r.RetentionPolicy = evilRetention
		}
		v.ObserveRecord(&r)
	}
	for i := range 9000 {
		switch {
		case i < 5000:
			v.Chained("runtime-eu-1", true)
		case i < 8990:
			v.Chained("runtime-us-2", i%400 != 0)
		default:
			v.Chained(evilProducer, true)
		}
	}
	v.Finding("runtime-us-2", compliance.KindGap, 4)
	v.Finding("runtime-us-2", compliance.KindGap, 3)
	v.Finding("runtime-us-2", compliance.KindAltered, 0)
	v.Finding(evilProducer, compliance.KindFork, 0)
	for _, k := range []string{compliance.KindGap, compliance.KindGap, compliance.KindAltered, compliance.KindFork} {
		v.ObserveAlert(&alert.Alert{Pattern: compliance.ChainPattern, Status: alert.StatusFiring,
			Details: map[string]any{compliance.ChainKindKey: k}})
	}
	s := v.Summary()
	return &s
}

// history makes 30 deterministic one-minute points around rate and p99,
// with a burst near the end for tools with firing alerts.
func history(seed int, rate, p99 float64) []Point {
	const n = 30
	pts := make([]Point, n)
	for i := range pts {
		f := float64(i)
		wave := 1 + 0.25*math.Sin(f/3+float64(seed)) + 0.1*math.Sin(f*1.7+float64(seed)*2)
		lat := p99 * (0.85 + 0.2*math.Cos(f/4+float64(seed)))
		if seed%2 == 1 && i >= n-4 {
			lat *= 2.5 // a recent latency excursion
		}
		pts[i] = Point{
			Time:       watermark.Add(time.Duration(i-n+1) * time.Minute).Truncate(time.Minute),
			Calls:      math.Round(rate*wave*10) / 10,
			LatencyP99: math.Round(lat),
		}
	}
	return pts
}
