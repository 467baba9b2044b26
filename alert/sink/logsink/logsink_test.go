package logsink

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOneStructuredLinePerAlert(t *testing.T) {
	var buf bytes.Buffer
	at := time.Date(2026, 3, 23, 14, 30, 0, 123000000, time.UTC)
	end := at.Add(time.Hour)
	a := alert.Alert{ID: "id-1", Fingerprint: "fp", Status: alert.StatusResolved, Pattern: "latency", Severity: "critical",
		Score: 91.5, AgentID: "agent", Tool: "tool", Environment: "production", Observed: 30120, Expected: 210, Unit: "ms",
		Summary: "slow", EventTime: at, StartsAt: at, EndsAt: &end, TraceID: "trace", SpanID: "span"}
	b := a
	b.ID, b.Status, b.EndsAt, b.Environment = "id-2", alert.StatusFiring, nil, ""
	a.TraceURL, a.RunbookURL = "https://tempo.example/t/trace", "https://runbooks.example/latency"
	q := NewSink(zerolog.New(&buf), sink.QueueOptions{})
	q.Send(a, b)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("lines = %d, want 2:\n%s", len(lines), buf.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"level": "info", "message": "alert", "component": "sink", "sink": "log",
		"alert_id": "id-1", "fingerprint": "fp", "status": "resolved", "pattern": "latency", "severity": "critical",
		"score": 91.5, "agent_id": "agent", "tool": "tool", "environment": "production", "observed": 30120.0,
		"expected": 210.0, "unit": "ms", "summary": "slow", "event_time": "2026-03-23T14:30:00Z",
		"starts_at": "2026-03-23T14:30:00Z", "ends_at": "2026-03-23T15:30:00Z", "trace_id": "trace", "span_id": "span",
		"trace_url": "https://tempo.example/t/trace", "runbook_url": "https://runbooks.example/latency",
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("field %s = %v, want %v", k, first[k], v)
		}
	}
	if len(first) != len(want) {
		t.Errorf("fields %v, want exactly %v", first, want)
	}
	if strings.Contains(lines[1], "ends_at") || strings.Contains(lines[1], "environment") || strings.Contains(lines[1], "_url") || !strings.Contains(lines[1], `"alert_id":"id-2"`) {
		t.Errorf("second line: %s", lines[1])
	}
}
