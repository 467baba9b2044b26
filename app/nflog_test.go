package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/internal/testserver"
)

// The problem 7: the detector binary, on Debian's nats-server,
// delivers three alerts after its last snapshot and is killed with
// SIGKILL. The restart re-applies those records and regenerates the same
// alert ids; the notification log keeps every sink from delivering them
// again.
func TestCrashDoesNotResendDeliveredAlerts(t *testing.T) {
	url := testserver.StartNATS(t).URL()
	bin := buildDetector(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var hooks []string
	srv := httpTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hooks = append(hooks, r.Header.Get("webhook-id"))
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	webhooks := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), hooks...)
	}
	snapPath := filepath.Join(dir, "toolwatch.snapshot")
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgYAML := fmt.Sprintf(`time:
  idle_advance: 300ms
  allowed_lateness: 15m
snapshot:
  path: %s
  interval: 1h
sinks:
  webhook:
    enabled: true
    urls: [%q]
    secret_file: %s
`, snapPath, srv, secretFile)
	if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var amu sync.Mutex
	var natsAlerts []string
	if _, err := nc.Subscribe("audit.alerts.>", func(m *nats.Msg) {
		var a alert.Alert
		if json.Unmarshal(m.Data, &a) == nil {
			amu.Lock()
			natsAlerts = append(natsAlerts, a.ID)
			amu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	waitReady := func(p *detectorProc) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			resp, err := http.Get("http://" + p.addr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("detector not ready after 20s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Run 1 learns the baseline and stops cleanly: snapshot at 300.
	const warm = 300
	p := startDetector(t, bin, cfgPath, url)
	waitReady(p)
	prod := newProducer(t, url)
	last := prod.warmUp("a", "send-email", warm)
	waitApplied(t, p.addr, warm)
	p.stop(t)

	// Run 2 delivers three alerts, takes no snapshot (interval 1h) and is
	// killed.
	p = startDetector(t, bin, cfgPath, url)
	waitReady(p)
	for i, agent := range []string{"a", "b", "c"} {
		prod.publish(last.Add(time.Duration(i+1)*time.Second), agent, "send-email", 45000)
	}
	if err := prod.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(webhooks()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("run 2: %d webhook deliveries, want 3", len(webhooks()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitApplied(t, p.addr, warm+3)
	// The log entry follows the receiver's answer: give it a moment.
	time.Sleep(500 * time.Millisecond)
	if s, err := readSnapshot(snapPath); err != nil || s.LastAppliedSeq != warm {
		t.Fatalf("snapshot before the kill: %v (seq %d), want seq %d", err, s.LastAppliedSeq, warm)
	}
	p.kill(t)
	delivered := webhooks()

	// Run 3 re-applies the three records: same ids, nothing re-sent.
	p = startDetector(t, bin, cfgPath, url)
	waitReady(p)
	waitApplied(t, p.addr, warm+3)
	deadline = time.Now().Add(10 * time.Second)
	sink := `{sink="webhook:` + strings.TrimPrefix(srv, "http://") + `"}`
	for metricValue(t, p.addr, "toolwatch_sink_deduplicated_total"+sink) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("run 3: %v webhook alerts deduplicated, want 3; webhook got %v after %v",
				metricValue(t, p.addr, "toolwatch_sink_deduplicated_total"+sink), webhooks(), delivered)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if got := webhooks(); len(got) != 3 {
		t.Errorf("webhook deliveries over both runs %v, want the 3 of run 2 once", got)
	}
	amu.Lock()
	n := len(natsAlerts)
	amu.Unlock()
	if n != 3 {
		t.Errorf("%d alerts on NATS over both runs, want 3", n)
	}
	if got := metricValue(t, p.addr, `toolwatch_sink_deduplicated_total{sink="nats"}`); got != 3 {
		t.Errorf("nats sink deduplicated %v, want 3", got)
	}
	p.stop(t)
}
