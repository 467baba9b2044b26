package app

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

// backlogConfig accepts records up to an hour old, so a producer's buffered
// backlog is applied rather than counted late.
func backlogConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("time:\n  idle_advance: 300ms\n  allowed_lateness: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The problem 1: on a first deployment (empty stream, no snapshot,
// no durable consumer) a backlog that producers buffered during an outage,
// stamped 40 minutes ago, must alert: no previous run processed it.
func TestFirstStartOldBacklogAlerts(t *testing.T) {
	info := daemon(t, Options{ConfigPath: backlogConfig(t)})
	p := newProducer(t, info.NATSURL)
	alerts := make(chan *nats.Msg, 8)
	if _, err := p.nc.ChanSubscribe("audit.alerts.latency.>", alerts); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-40 * time.Minute)
	const warm = 250
	for i := range warm {
		p.publish(base.Add(time.Duration(i)*time.Second), "a", "db-query", 150*math.Exp(0.3*p.rng.NormFloat64()))
	}
	p.publish(base.Add((warm+5)*time.Second), "a", "db-query", 30000)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-alerts:
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.AgentID != "a" || a.Observed != 30000 || a.Status != alert.StatusFiring {
			t.Errorf("alert: %s", m.Data)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no alert for a 40-minute-old backlog on a first start; withheld: %v",
			metricValue(t, info.HTTPAddr, "toolwatch_alerts_suppressed_rebuild_total"))
	}
	waitApplied(t, info.HTTPAddr, warm+1)
	if got := metricValue(t, info.HTTPAddr, "toolwatch_alerts_suppressed_rebuild_total"); got != 0 {
		t.Errorf("first start withheld %v alerts", got)
	}
}

// A rebuild withholds the alert the previous run delivered, but keeps it
// alive in the real Alertmanager (re-sent with a moving endsAt once the
// replay passes the previous run's position) instead of letting it expire
// there while it still fires.
func TestRebuildKeepsAlertmanagerAlertFiring(t *testing.T) {
	am := testserver.Alertmanager(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := "time:\n  idle_advance: 300ms\n  allowed_lateness: 15m\nsinks:\n  alertmanager:\n    resend_interval: 1s\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := Options{ConfigPath: cfgPath, DataDir: filepath.Join(dir, "data"), AlertmanagerURL: am}
	r := startInProc(t, opts)
	p := newProducer(t, r.info.NATSURL)
	last := p.warmUp("a", "db-query", 250)
	p.publish(last.Add(time.Second), "a", "db-query", 30000)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testserver.WaitAlerts(t, am, 20*time.Second, func(as []testserver.GettableAlert) bool { return len(as) == 1 })
	p.nc.Close()
	r.stop(t)

	snapPath := filepath.Join(dir, "data", "toolwatch.snapshot")
	for _, path := range []string{snapPath, snapPath + ".prev"} {
		if err := os.WriteFile(path, []byte("corrupt"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r = startInProc(t, opts)
	waitApplied(t, r.info.HTTPAddr, 251)
	if got := metricValue(t, r.info.HTTPAddr, "toolwatch_alerts_suppressed_rebuild_total"); got != 1 {
		t.Errorf("rebuild withheld %v alerts, want 1", got)
	}
	// endsAt was at most 4 × resend_interval ahead when run 1 stopped.
	time.Sleep(6 * time.Second)
	as := testserver.Alerts(t, am)
	if len(as) != 1 || as[0].Labels["agent_id"] != "a" || !as[0].EndsAt.After(time.Now()) {
		t.Fatalf("after the rebuild Alertmanager holds %+v, want the still-firing alert of agent a", as)
	}
	r.stop(t)
}
