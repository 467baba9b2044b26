package app

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/internal/testserver"
)

// alerts.trace_url and alerts.runbook_urls reach the real Alertmanager
// (Debian's binary) as the trace_url and runbook_url annotations, and the
// status page's alerts carry them.
func TestDaemonSendsLinksToAlertmanager(t *testing.T) {
	am := testserver.Alertmanager(t)
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(`time:
  idle_advance: 300ms
  allowed_lateness: 15m
alerts:
  trace_url: "https://tempo.example/explore?traceId={trace_id}&span={span_id}"
  runbook_urls:
    latency: "https://runbooks.example/toolwatch/{pattern}?tool={tool}"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	info := daemon(t, Options{AlertmanagerURL: am, ConfigPath: cfg})
	p := newProducer(t, info.NATSURL)
	last := p.warmUp("support-agent-prod-01", "customer lookup", 300)
	p.publish(last.Add(time.Second), "support-agent-prod-01", "customer lookup", 30120)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	as := testserver.WaitAlerts(t, am, 20*time.Second, func(as []testserver.GettableAlert) bool { return len(as) > 0 })
	const wantTrace = "https://tempo.example/explore?traceId=trace-301&span=span-301"
	const wantRunbook = "https://runbooks.example/toolwatch/latency?tool=customer%20lookup"
	if got := as[0].Annotations["trace_url"]; got != wantTrace {
		t.Errorf("trace_url annotation %q, want %q (annotations %v)", got, wantTrace, as[0].Annotations)
	}
	if got := as[0].Annotations["runbook_url"]; got != wantRunbook {
		t.Errorf("runbook_url annotation %q, want %q", got, wantRunbook)
	}
	// The status page republishes at most once a second.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := getStatus(t, info.HTTPAddr)
		if len(st.Alerts) > 0 {
			if st.Alerts[0].TraceURL != wantTrace || st.Alerts[0].RunbookURL != wantRunbook {
				t.Errorf("status page alert links %q %q", st.Alerts[0].TraceURL, st.Alerts[0].RunbookURL)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert on the status page after 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
