package alertmanager

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

func TestIntegrationRealAlertmanager(t *testing.T) {
	baseURL := testserver.Alertmanager(t)
	cfg := testConfig(baseURL)
	cfg.GeneratorURL = "http://toolwatch.test/alerts"
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer closeSink(t, s)

	now := time.Now().UTC().Truncate(time.Millisecond)
	a := firing("fp1", "critical", now.Add(-time.Minute))
	b := firing("fp2", "warning", now.Add(-time.Minute))
	b.Pattern, b.Score, b.Observed, b.Expected = "denial_spike", 72.25, 14, 0.5
	a.TraceURL = "https://tempo.example/explore?traceId=agent-task-2026-03-23-abc123"
	a.RunbookURL = "https://runbooks.example/toolwatch/latency"
	sentAt := time.Now()
	s.Send(a, b)

	as := testserver.WaitAlerts(t, baseURL, 10*time.Second, func(as []testserver.GettableAlert) bool { return len(as) == 2 })
	byTool := map[string]testserver.GettableAlert{}
	for _, g := range as {
		byTool[g.Labels["tool"]] = g
	}
	for _, want := range []alert.Alert{a, b} {
		g, ok := byTool[want.Tool]
		if !ok {
			t.Fatalf("alert for %s missing: %+v", want.Tool, as)
		}
		wantLabels := map[string]string{
			"alertname": "AgentToolAnomaly", "pattern": want.Pattern, "severity": want.Severity,
			"agent_id": want.AgentID, "tool": want.Tool, "environment": want.Environment,
		}
		if !reflect.DeepEqual(g.Labels, wantLabels) {
			t.Errorf("labels %v, want %v", g.Labels, wantLabels)
		}
		wantAnn := map[string]string{
			"summary": want.Summary, "score": fmt.Sprint(want.Score), "observed": fmt.Sprint(want.Observed),
			"expected": fmt.Sprint(want.Expected), "trace_id": want.TraceID,
		}
		if want.TraceURL != "" { // b has no links: no empty annotations
			wantAnn["trace_url"], wantAnn["runbook_url"] = want.TraceURL, want.RunbookURL
		}
		if !reflect.DeepEqual(g.Annotations, wantAnn) {
			t.Errorf("annotations %v, want %v", g.Annotations, wantAnn)
		}
		if !g.StartsAt.Equal(want.StartsAt) {
			t.Errorf("startsAt %v, want %v", g.StartsAt, want.StartsAt)
		}
		// endsAt = send time + 4×resend_interval (1m).
		if lo, hi := sentAt.Add(4*time.Minute-time.Second), time.Now().Add(4*time.Minute+time.Second); g.EndsAt.Before(lo) || g.EndsAt.After(hi) {
			t.Errorf("endsAt %v, want about now+4m", g.EndsAt)
		}
		if g.Status.State != "active" || g.GeneratorURL != "http://toolwatch.test/alerts?fingerprint="+want.Fingerprint {
			t.Errorf("state %q generatorURL %q", g.Status.State, g.GeneratorURL)
		}
	}

	// Resolving b removes it from the active alerts; a keeps firing.
	s.Send(resolved(b, time.Now().Add(-time.Second)))
	as = testserver.WaitAlerts(t, baseURL, 10*time.Second, func(as []testserver.GettableAlert) bool { return len(as) == 1 })
	if as[0].Labels["tool"] != a.Tool {
		t.Errorf("after resolve, active = %+v, want only %s", as, a.Tool)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
