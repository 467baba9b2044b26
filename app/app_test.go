package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink/webhook"
	"github.com/toolwatch/toolwatch/internal/testserver"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/statuspage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The embedded NATS server and client keep a few process-wide
		// goroutines (timers, flushers) that end asynchronously.
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start.func1"),
		// nats.go v1.55 jetstream: resetPendingAcksOnReconnect was seen blocked
		// forever receiving from a nil status channel (chan receive (nil chan))
		// after the connection closed; it is the library's goroutine, not ours.
		goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

// daemon runs app.Run in the background with an embedded NATS server on a
// free port and returns its addresses; the daemon is stopped at cleanup and
// must return nil.
func daemon(t *testing.T, opts Options) Info {
	t.Helper()
	opts.EmbeddedPort = -1
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.HTTPListen = "127.0.0.1:0"
	if opts.LogOutput == nil {
		opts.LogOutput = io.Discard
	}
	started := make(chan Info, 1)
	opts.Started = func(i Info) { started <- i }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon returned %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("daemon did not stop within 20s of cancellation")
		}
	})
	select {
	case info := <-started:
		return info
	case err := <-done:
		t.Fatalf("daemon failed to start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not start within 20s")
	}
	return Info{}
}

// producer publishes audit records the way an agent runtime does.
type producer struct {
	t   *testing.T
	nc  *nats.Conn
	rng *rand.Rand
	n   int
	buf []byte
}

func newProducer(t *testing.T, url string) *producer {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &producer{t: t, nc: nc, rng: rand.New(rand.NewPCG(1, 2))}
}

func (p *producer) publish(ts time.Time, agent, tool string, durationMS float64) {
	p.n++
	r := record.Record{
		TraceID: fmt.Sprintf("trace-%d", p.n), SpanID: fmt.Sprintf("span-%d", p.n), Timestamp: ts,
		AgentID:    agent,
		Tool:       record.Tool{Name: tool, Version: "1.0.0", TrustLevel: "gold", VerificationScore: record.Absent},
		Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: durationMS, OutputBytes: record.Absent, InputBytes: record.Absent},
		Context:    record.Context{Environment: "production", TaskID: "task-1"}, DataSubjectsAffected: record.Absent,
	}
	p.buf = r.AppendJSON(p.buf[:0])
	if err := p.nc.Publish("audit.records.production."+agent, p.buf); err != nil {
		p.t.Fatal(err)
	}
}

// warmUp publishes n calls of ~150 ms (log-normal) one second apart,
// ending a few seconds before now, and returns the time of the last one.
func (p *producer) warmUp(agent, tool string, n int) time.Time {
	start := time.Now().Add(-time.Duration(n+5) * time.Second)
	var ts time.Time
	for i := range n {
		ts = start.Add(time.Duration(i) * time.Second)
		p.publish(ts, agent, tool, 150*math.Exp(0.3*p.rng.NormFloat64()))
	}
	if err := p.nc.Flush(); err != nil {
		p.t.Fatal(err)
	}
	return ts
}

func getStatus(t *testing.T, addr string) statuspage.Snapshot {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s statuspage.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitApplied polls the status page until n records were applied.
func waitApplied(t *testing.T, addr string, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s := getStatus(t, addr); s.Daemon.Applied >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d records applied after 20s: %+v", n, getStatus(t, addr).Daemon)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// Records published on the embedded NATS server raise an alert that the real
// Alertmanager (Debian's binary) holds with the docs/design.md §5 labels and
// annotations; an invalid record is dead-lettered with its reason; the
// health, metrics and status endpoints reflect what happened.
func TestDaemonAlertsReachAlertmanager(t *testing.T) {
	am := testserver.Alertmanager(t)
	info := daemon(t, Options{AlertmanagerURL: am, ConfigPath: fastIdleConfig(t)})
	if !info.Embedded || !strings.HasPrefix(info.NATSURL, "nats://127.0.0.1:") {
		t.Fatalf("info %+v, want an embedded server on loopback", info)
	}
	p := newProducer(t, info.NATSURL)
	dead := make(chan *nats.Msg, 4)
	sub, err := p.nc.ChanSubscribe("audit.invalid", dead)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	last := p.warmUp("support-agent-prod-01", "customer-lookup", 300)
	p.publish(last.Add(time.Second), "support-agent-prod-01", "customer-lookup", 30120)
	if err := p.nc.Publish("audit.records.production.broken", []byte(`{"trace_id":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, info.HTTPAddr, 301)

	as := testserver.WaitAlerts(t, am, 20*time.Second, func(as []testserver.GettableAlert) bool { return len(as) > 0 })
	a := as[0]
	wantLabels := map[string]string{"alertname": "AgentToolAnomaly", "pattern": "latency", "agent_id": "support-agent-prod-01",
		"tool": "customer-lookup", "environment": "production"}
	for k, v := range wantLabels {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q (labels %v)", k, a.Labels[k], v, a.Labels)
		}
	}
	if a.Labels["severity"] != alert.SeverityCritical {
		t.Errorf("severity %q, want critical for 30 s against ~150 ms", a.Labels["severity"])
	}
	if !strings.Contains(a.Annotations["summary"], "customer-lookup took 30.1s") || a.Annotations["trace_id"] != "trace-301" ||
		a.Annotations["observed"] != "30120" || a.Annotations["score"] == "" || a.Annotations["expected"] == "" {
		t.Errorf("annotations %v", a.Annotations)
	}

	select {
	case m := <-dead:
		if got := m.Header.Get("Toolwatch-Reason"); !strings.Contains(got, "span_id: required") {
			t.Errorf("dead-letter reason %q", got)
		}
		if string(m.Data) != `{"trace_id":"x"}` {
			t.Errorf("dead letter not unchanged: %q", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("invalid record was not dead-lettered")
	}

	mt := metricsText(t, info.HTTPAddr)
	for _, want := range []string{
		`toolwatch_records_total{outcome="applied"} 301`,
		`toolwatch_records_total{outcome="dead_lettered"} 1`,
		`toolwatch_alerts_total{pattern="latency",severity="critical",status="firing"} 1`,
		`toolwatch_tool_invocations_total{status="success",tool="customer-lookup"} 301`,
		`toolwatch_audit_records_total{environment="production"} 301`,
		`toolwatch_audit_field_missing_total{field="invocation.input_hash"} 301`,
		`toolwatch_config_last_reload_successful 1`,
	} {
		if !strings.Contains(mt, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(mt, "support-agent-prod-01") || strings.Contains(mt, "trace-") {
		t.Error("/metrics exposes agent or trace ids as labels")
	}
	promtoolCheckMetrics(t, mt)
	resp, err := http.Get("http://" + info.HTTPAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %s while consuming", resp.Status)
	}
	st := getStatus(t, info.HTTPAddr)
	if len(st.Alerts) == 0 || st.Alerts[0].Pattern != "latency" || len(st.Tools) != 1 || st.Tools[0].Tool != "customer-lookup" || st.Tools[0].Agents != 1 {
		t.Errorf("status page snapshot: alerts %d tools %+v", len(st.Alerts), st.Tools)
	}
}

// A webhook receiver that fails once gets the alert on the retry, with the
// same webhook-id and a valid Standard Webhooks signature both times.
func TestDaemonWebhookSignedAndRetried(t *testing.T) {
	secret := "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := webhook.ParseSecret([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var ids []string
	var bodies [][]byte
	srv := httpTestServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(key, r.Header, body, 5*time.Minute, time.Now()); err != nil {
			t.Errorf("signature: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, r.Header.Get("webhook-id"))
		bodies = append(bodies, body)
		if len(ids) == 1 {
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	info := daemon(t, Options{WebhookURL: srv, WebhookSecretFile: secretFile, ConfigPath: fastIdleConfig(t)})
	p := newProducer(t, info.NATSURL)
	last := p.warmUp("billing-agent", "send-email", 300)
	p.publish(last.Add(time.Second), "billing-agent", "send-email", 45000)
	if err := p.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(ids)
		mu.Unlock()
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhook got %d requests, want a failure and a retry", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if ids[0] == "" || ids[0] != ids[1] {
		t.Errorf("webhook-id changed on retry: %q then %q", ids[0], ids[1])
	}
	var a alert.Alert
	if err := json.Unmarshal(bodies[1], &a); err != nil {
		t.Fatal(err)
	}
	if a.Pattern != "latency" || a.Tool != "send-email" || a.AgentID != "billing-agent" || a.TraceID != "trace-301" || a.ID != ids[1] {
		t.Errorf("webhook body %+v", a)
	}
}

// A reload that raises a threshold applies to the next records without
// losing the learned baseline; a broken file is rejected and the running
// configuration stays.
func TestDaemonReload(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	writeLatencyConfig := func(floorMS string) {
		cfgYAML := "time:\n  idle_advance: 300ms\n  allowed_lateness: 15m\nmetrics:\n  enable_lifecycle: true\ndetectors:\n  latency:\n    min_alert_ms: " + floorMS + "\n"
		if err := os.WriteFile(cfgPath, []byte(cfgYAML), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeLatencyConfig("400")
	info := daemon(t, Options{ConfigPath: cfgPath})
	p := newProducer(t, info.NATSURL)
	alerts := make(chan *nats.Msg, 16)
	sub, err := p.nc.ChanSubscribe("audit.alerts.latency.>", alerts)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	last := p.warmUp("a", "db-query", 300)
	waitApplied(t, info.HTTPAddr, 300)

	post := func() (int, string) { return postReload(t, info.HTTPAddr) }
	// An alert fires under the shipped threshold (agent b borrows the
	// tool's baseline) ...
	p.publish(last.Add(time.Second), "b", "db-query", 3000)
	p.nc.Flush()
	select {
	case <-alerts:
	case <-time.After(15 * time.Second):
		t.Fatal("no alert for 3 s against a ~150 ms baseline")
	}
	// ... and is not sent again because of a reload. Raise the floor so
	// far that 3 s (×20 the ~150 ms baseline) passes.
	writeLatencyConfig("10000")
	if code, body := post(); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	select {
	case m := <-alerts:
		t.Fatalf("alert re-sent after a reload: %s", m.Data)
	case <-time.After(time.Second):
	}
	p.publish(last.Add(time.Second), "a", "db-query", 3000)
	p.nc.Flush()
	waitApplied(t, info.HTTPAddr, 302)
	select {
	case m := <-alerts:
		t.Fatalf("alert after raising the threshold: %s", m.Data)
	case <-time.After(500 * time.Millisecond):
	}

	// A broken file is rejected with the key and line; the old config runs.
	if err := os.WriteFile(cfgPath, []byte("metrics:\n  enable_lifecycle: true\ndetectors:\n  latency:\n    p99_ration: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := post()
	if code != http.StatusBadRequest || !strings.Contains(body, "config.yaml:5: detectors.latency.p99_ration: unknown key") {
		t.Fatalf("broken reload answered %d %q", code, body)
	}
	if !strings.Contains(metricsText(t, info.HTTPAddr), "toolwatch_config_last_reload_successful 0") {
		t.Error("failed reload not reflected in toolwatch_config_last_reload_successful")
	}

	// Lower it again: the same kind of call alerts against the baseline
	// learned before both reloads.
	writeLatencyConfig("400")
	if code, body := post(); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	p.publish(last.Add(2*time.Second), "a", "db-query", 3000)
	p.nc.Flush()
	select {
	case m := <-alerts:
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if a.Observed != 3000 || a.Details["samples"] == nil {
			t.Errorf("alert after lowering the threshold: %s", m.Data)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alert after lowering the threshold: the baseline was lost or the reload not applied")
	}
}

// promtoolCheckMetrics runs `promtool check metrics` (Debian's prometheus
// package) over the daemon's whole exposition.
func promtoolCheckMetrics(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("promtool missing in CI (apt-get install prometheus): %v", err)
		}
		t.Skipf("promtool not installed (apt-get install prometheus): %v", err)
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics on /metrics: %v\n%s", err, out)
	}
}

// fastIdleConfig is the default configuration with a short idle advance,
// so the status page refreshes quickly once the test stops publishing, and
// a lateness that covers the tests' warm-up records (stamped up to ~5
// minutes in the past): on a slow machine the daemon catches up and idles
// between two publishes, and an idle advance would otherwise make the rest
// of the warm-up late.
func fastIdleConfig(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("time:\n  idle_advance: 300ms\n  allowed_lateness: 15m\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func httpTestServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := newLoopbackServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func newLoopbackServer(h http.Handler) *httptest.Server { return httptest.NewServer(h) }
