package demo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/detect"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

var t0 = time.Date(2026, 3, 23, 14, 30, 0, 123e6, time.UTC)

func sampleAlert() alert.Alert {
	return alert.Alert{
		ID: "3f2a9c1d0b7e4a55", Fingerprint: "a1b2c3d4e5f60718", Status: alert.StatusFiring,
		Pattern: detect.PatternLatency, Severity: alert.SeverityCritical, Score: 91.54,
		AgentID: "support-agent-prod-01", Tool: "customer-lookup", ToolVersion: "2.3.1", Environment: "production",
		Observed: 30120, Expected: 210, Unit: "ms",
		Summary:   "customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms",
		Details:   map[string]any{"baseline_p50": 210.0, "baseline_p99": 410.0, "samples": 18250.0},
		EventTime: t0, StartsAt: t0,
		TraceID: "agent-task-2026-03-23-abc123", SpanID: "tool-call-007", TaskID: "support-ticket-45678",
	}
}

// alertSet is one alert of each severity and a resolved one.
func alertSet() []alert.Alert {
	crit := sampleAlert()
	warn := sampleAlert()
	warn.Pattern, warn.Severity, warn.Score, warn.Tool = detect.PatternFrequency, alert.SeverityWarning, 60, "customer-lookup"
	warn.Summary = "customer-lookup called 434 times in 5m by support-agent-prod-01; expected about 43.2 for this hour"
	warn.EventTime = t0.Add(-20 * time.Second)
	info := sampleAlert()
	info.Pattern, info.Severity, info.Score, info.Tool, info.AgentID = detect.PatternDenialSpike, alert.SeverityInfo, 40, "summarize", "support-agent-prod-02"
	info.Summary = "summarize was denied network:connect for support-agent-prod-02 in production (1 production denials in 5m)"
	info.TraceID = ""
	res := sampleAlert()
	res.Status = alert.StatusResolved
	end := t0.Add(30 * time.Minute)
	res.EndsAt, res.EventTime = &end, end
	chained := sampleAlert()
	chained.Pattern, chained.Score, chained.Tool, chained.AgentID = detect.PatternChainIntegrity, 100, "invoice-generator", "billing-agent-prod-01"
	chained.Summary = "chain billing-rt-tagd5c: record seq 4183 was altered: its content does not match chain.hash"
	chained.Details = map[string]any{"kind": "altered", "producer": "billing-rt-tagd5c", "seq": 4183.0}
	chained.EventTime = t0.Add(5 * time.Second)
	return []alert.Alert{crit, warn, info, chained, res}
}

func TestPrinter(t *testing.T) {
	for _, color := range []bool{false, true} {
		var b bytes.Buffer
		p := NewPrinter(&b, color)
		for _, a := range alertSet() {
			p.Print(a)
		}
		name := "print.txt"
		if color {
			name = "print_color.txt"
		}
		golden(t, name, b.Bytes())
		if !color && strings.Contains(b.String(), "\x1b[") {
			t.Errorf("uncolored output has ANSI escapes: %q", b.String())
		}
	}
}

func TestPrinterLine(t *testing.T) {
	var b bytes.Buffer
	NewPrinter(&b, false).Print(sampleAlert())
	want := "14:30:00  CRITICAL  latency         support-agent-prod-01 → customer-lookup  score 91.5\n" +
		"          customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms  trace agent-task-2026-03-23-abc123\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	NewPrinter(&b, true).Print(sampleAlert())
	want = "14:30:00  \x1b[1;31mCRITICAL\x1b[0m  latency         support-agent-prod-01 → customer-lookup  score 91.5\n" +
		"          customer-lookup took 30.1s for support-agent-prod-01; p99 baseline is 410ms  trace agent-task-2026-03-23-abc123\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestPrinterSummary(t *testing.T) {
	injected := []Injected{
		{Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Start: t0.Add(-time.Second), End: t0, Records: 3, Description: "customer-lookup (~200 ms) took ~30 s"},
		{Pattern: detect.PatternFrequency, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Start: t0.Add(-25 * time.Second), End: t0.Add(-20 * time.Second), Records: 1000, Description: "burst"},
		// An alert of its pattern fired for another tool, and one for its
		// tool before it started: neither detects it.
		{Pattern: detect.PatternDenialSpike, AgentID: "support-agent-prod-02", Tool: "calendar", Start: t0.Add(-time.Minute), End: t0, Records: 3, Description: "calendar denied"},
		{Pattern: detect.PatternOutputSize, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Start: t0, End: t0, Records: 3, Description: "100 MB"},
		{Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Start: t0.Add(time.Second), End: t0.Add(2 * time.Second), Records: 3, Description: "fired before it"},
		{Pattern: detect.PatternChainIntegrity, AgentID: "billing-agent-prod-01", Tool: "invoice-generator", Start: t0.Add(5 * time.Second), End: t0.Add(5 * time.Second), Records: 1, Description: "record altered after chaining"},
	}
	for _, color := range []bool{false, true} {
		p := NewPrinter(&bytes.Buffer{}, color)
		for _, a := range alertSet() {
			p.Print(a)
		}
		var b bytes.Buffer
		p.Summary(&b, injected)
		name := "summary.txt"
		if color {
			name = "summary_color.txt"
		}
		golden(t, name, b.Bytes())
		if !strings.Contains(b.String(), "3 of 6 injected anomalies detected") {
			t.Errorf("summary:\n%s\nwant 3 of 6 detected", b.String())
		}
	}
}

func TestSubscribe(t *testing.T) {
	nc := runServer(t, false)
	got := make(chan alert.Alert, 4)
	sub, err := Subscribe(nc, "audit.alerts.>", func(a alert.Alert) { got <- a })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	want := alertSet()
	if err := nc.Publish("audit.alerts.latency.critical", []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("audit.alerts.latency.critical", []byte(`{"id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if err := nc.Publish("audit.alerts."+want[i].Pattern+"."+want[i].Severity, alert.MarshalJSONLine(&want[i], nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish("audit.other", alert.MarshalJSONLine(&want[0], nil)); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		select {
		case a := <-got:
			if !reflect.DeepEqual(a, want[i]) {
				t.Errorf("alert %d decoded as\n%+v\nwant\n%+v", i, a, want[i])
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("alert %d not received", i)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-got:
		t.Errorf("unexpected extra alert %+v", a)
	case <-time.After(50 * time.Millisecond):
	}
}
