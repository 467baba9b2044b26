package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/chain"
	"github.com/toolwatch/toolwatch/chain/chaintest"
	runtime "github.com/toolwatch/toolwatch/producer"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape/dest"
)

// alertSink collects the firing alerts published on the NATS sink under
// subject (a wildcard).
type alertSink struct {
	mu     sync.Mutex
	alerts []alert.Alert
	sub    *nats.Subscription
}

func subscribeAlerts(t *testing.T, nc *nats.Conn, subject string) *alertSink {
	t.Helper()
	s := &alertSink{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Errorf("alert on %s: %v: %s", m.Subject, err, m.Data)
			return
		}
		if a.Status != alert.StatusFiring {
			return
		}
		s.mu.Lock()
		s.alerts = append(s.alerts, a)
		s.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	s.sub = sub
	t.Cleanup(func() { sub.Unsubscribe() })
	return s
}

func (s *alertSink) snapshot() []alert.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]alert.Alert(nil), s.alerts...)
}

// waitFor polls until ok holds for the alerts received, or fails after 20s.
func (s *alertSink) waitFor(t *testing.T, what string, ok func([]alert.Alert) bool) []alert.Alert {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		as := s.snapshot()
		if ok(as) {
			return as
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20s; alerts: %s", what, alertsJSON(as))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func alertsJSON(as []alert.Alert) string {
	var b strings.Builder
	for _, a := range as {
		j, _ := json.Marshal(a)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// settle waits until the daemon has applied n records and idled past
// them (one idle advance), so their alerts have been sent.
func settle(t *testing.T, addr string, n uint64) {
	t.Helper()
	waitApplied(t, addr, n)
	time.Sleep(time.Second)
}

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDaemonChainIntegrity: a runtime publishes chained, signed records
// with the producer library; a relay between it and the daemon's stream
// (the test) alters one record and deletes another. Exactly one
// chain_integrity alert of each kind, naming producer and seq, reaches the
// NATS sink; the compliance metrics count the chained and verified
// records; identical redeliveries and a restart from the snapshot raise
// no further chain alert.
func TestDaemonChainIntegrity(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k1.pem")
	if err := os.WriteFile(keyFile, chain.MarshalPublicKeyPEM(chaintest.PublicKey(1)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`time:
  idle_advance: 300ms
  allowed_lateness: 2s
  tick_interval: 1s
detectors:
  chain_integrity:
    gap_grace: 1s
    keys:
      k1: %s
`, keyFile))
	opts := Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data")}
	r := startInProc(t, opts)

	nc, err := nats.Connect(r.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The runtime publishes to a staging stream; the relay forwards to the
	// daemon's subjects, tampering on the way.
	stage, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "STAGE", Subjects: []string{"stage.records.>"},
		Storage: jetstream.FileStorage, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	const prod = "rt-chainwire"
	p, err := runtime.Open(js, runtime.Config{Producer: prod, StateFile: filepath.Join(dir, "head.json"),
		KeyID: "k1", Key: chaintest.Key(1), CheckpointEvery: 10, SubjectPrefix: "stage.records"})
	if err != nil {
		t.Fatal(err)
	}
	// Records 50ms apart from 2s ahead of the wall clock (max_clock_skew
	// allows it): the daemon may have idled (event time = now - lateness)
	// before the relay forwards them, and none must be late.
	start := time.Now().Add(2 * time.Second).UTC().Truncate(time.Millisecond)
	n, base := 0, 0
	publish := func(count int) {
		t.Helper()
		for range count {
			n++
			rc := new(record.Record)
			rc.Reset()
			rc.TraceID, rc.SpanID = fmt.Sprint("trace-", n/10), fmt.Sprint("span-", n)
			rc.Timestamp = start.Add(time.Duration(n-base) * 50 * time.Millisecond)
			rc.AgentID, rc.Tool.Name, rc.Tool.Version = "agent-a", "search", "1.0.0"
			rc.Invocation.DurationMS, rc.Invocation.Status = 40, record.StatusSuccess
			rc.Invocation.OutputBytes = int64(1000 + n)
			rc.Context.Environment = "production"
			if err := p.Publish(ctx, rc, []byte(fmt.Sprintf(`{"q":"item %d"}`, n))); err != nil {
				t.Fatal(err)
			}
		}
	}
	relayed := 0
	// relay forwards the staged records of seqs from..to, transforming
	// each (nil: dropped).
	relay := func(from, to int, edit func(seq int, data []byte) []byte) {
		for seq := from; seq <= to; seq++ {
			m, err := stage.GetMsg(ctx, uint64(seq))
			if err != nil {
				t.Fatal(err)
			}
			data := m.Data
			if edit != nil {
				data = edit(seq, data)
			}
			if data == nil {
				continue
			}
			if err := nc.Publish("audit.records.production.agent-a", data); err != nil {
				t.Fatal(err)
			}
			relayed++
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	const alteredSeq, deletedSeq = 12, 30
	sink := subscribeAlerts(t, nc, "audit.alerts.chain_integrity.>")

	publish(60)
	// One burst, so the redeliveries are within the allowed lateness
	// (older records are late: counted, not judged by any detector).
	relay(1, 40, func(seq int, data []byte) []byte {
		switch seq {
		case alteredSeq: // altered after signing: one more byte of output
			return bytes.Replace(data, []byte(`"output_bytes":1012`), []byte(`"output_bytes":1013`), 1)
		case deletedSeq:
			return nil
		}
		return data
	})
	relay(5, 5, nil) // at-least-once redeliveries
	relay(20, 20, nil)
	relay(41, 60, nil)
	as := sink.waitFor(t, "altered and gap alerts", func(as []alert.Alert) bool { return len(as) >= 2 })
	settle(t, r.info.HTTPAddr, uint64(relayed))
	as = sink.snapshot()
	kinds := map[string]int64{}
	for _, a := range as {
		k, _ := a.Details["kind"].(string)
		seq, _ := a.Details["seq"].(float64)
		if a.Pattern != "chain_integrity" || a.Details["producer"] != prod || a.Severity != alert.SeverityCritical ||
			!strings.Contains(a.Summary, prod) || a.AgentID != "agent-a" {
			t.Errorf("alert %s", alertsJSON([]alert.Alert{a}))
		}
		if _, dup := kinds[k]; dup {
			t.Errorf("second %s alert: %s", k, alertsJSON(as))
		}
		kinds[k] = int64(seq)
	}
	want := map[string]int64{"altered": alteredSeq, "gap": deletedSeq}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Fatalf("chain alerts by kind and seq %v, want %v:\n%s", kinds, want, alertsJSON(as))
	}
	// 59 chained records (redeliveries are not counted twice); unverified:
	// the altered record and seq 31 (its predecessor is missing; no
	// checkpoint).
	for series, want := range map[string]float64{
		`toolwatch_chain_records_total{producer="` + prod + `"}`:                            59,
		`toolwatch_chain_records_verified_total{producer="` + prod + `"}`:                   57,
		`toolwatch_chain_records_missing_total{producer="` + prod + `"}`:                    1,
		`toolwatch_chain_findings_total{kind="altered",producer="` + prod + `"}`:            1,
		`toolwatch_chain_findings_total{kind="gap",producer="` + prod + `"}`:                1,
		`toolwatch_chain_findings_total{kind="fork",producer="` + prod + `"}`:               0,
		`toolwatch_chain_findings_total{kind="prev_mismatch",producer="` + prod + `"}`:      0,
		`toolwatch_chain_alerts_total{kind="altered"}`:                                      1,
		`toolwatch_chain_alerts_total{kind="gap"}`:                                          1,
		`toolwatch_chain_alerts_total{kind="bad_signature"}`:                                0,
		`toolwatch_audit_records_total{environment="production"}`:                           float64(relayed),
		`toolwatch_chain_findings_total{kind="missing_checkpoint",producer="` + prod + `"}`: 0,
	} {
		if got := metricValue(t, r.info.HTTPAddr, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	st := getStatus(t, r.info.HTTPAddr)
	if st.Compliance == nil || st.Compliance.Chain.Records != 59 || st.Compliance.Chain.Verified != 57 {
		t.Errorf("status compliance chain %+v", st.Compliance)
	}

	// Restart from the snapshot written on shutdown, then more records
	// and redeliveries of old ones: no chain alert.
	r.stop(t)
	nc.Close()
	r = startInProc(t, opts)
	if !strings.Contains(r.log.String(), "baselines restored from snapshot") {
		t.Fatalf("no snapshot restored:\n%s", r.log)
	}
	nc, err = nats.Connect(r.info.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	if stage, err = js.Stream(ctx, "STAGE"); err != nil {
		t.Fatal(err)
	}
	if p, err = runtime.Open(js, runtime.Config{Producer: prod, StateFile: filepath.Join(dir, "head.json"),
		KeyID: "k1", Key: chaintest.Key(1), CheckpointEvery: 10, SubjectPrefix: "stage.records"}); err != nil {
		t.Fatal(err)
	}
	sink = subscribeAlerts(t, nc, "audit.alerts.chain_integrity.>")
	start, base = time.Now().Add(2*time.Second).UTC().Truncate(time.Millisecond), n
	publish(10)
	relay(61, 70, nil)
	relay(61, 64, nil) // redeliveries
	settle(t, r.info.HTTPAddr, uint64(relayed))
	// A gap would be declared once the watermark passes the last record
	// plus the grace (1s).
	last := start.Add(time.Duration(n-base) * 50 * time.Millisecond)
	deadline := time.Now().Add(30 * time.Second)
	for !getStatus(t, r.info.HTTPAddr).Daemon.Watermark.After(last.Add(2 * time.Second)) {
		if time.Now().After(deadline) {
			t.Fatalf("watermark %v did not pass %v", getStatus(t, r.info.HTTPAddr).Daemon.Watermark, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // the tick's alerts reach the sink
	if as := sink.snapshot(); len(as) > 0 {
		t.Fatalf("chain alerts after the restart:\n%s", alertsJSON(as))
	}
	for series, want := range map[string]float64{
		`toolwatch_chain_records_total{producer="` + prod + `"}`:          10,
		`toolwatch_chain_records_verified_total{producer="` + prod + `"}`: 10,
	} {
		if got := metricValue(t, r.info.HTTPAddr, series); got != want {
			t.Errorf("after the restart: %s = %v, want %v", series, got, want)
		}
	}
}

// TestDaemonEgressTriage: records carrying hashed destinations (shape/dest
// with a test key) at a closed-vocabulary tool. After the warm-up a new
// destination read from the task's own tool output raises an egress
// alert; GET /api/egress/triage lists it; POST accept makes it a known
// destination (no more alerts), a rejected one keeps alerting, and both
// decisions survive a restart from the snapshot.
func TestDaemonEgressTriage(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, `time:
  idle_advance: 300ms
  allowed_lateness: 15m
alerts:
  cooldown: 0s
detectors:
  egress:
    warmup_calls: 100
    warmup_age: 0s
`)
	opts := Options{ConfigPath: cfg, DataDir: filepath.Join(dir, "data"), EnableLifecycle: true}
	r := startInProc(t, opts)

	ex, err := dest.New(dest.DefaultDestinations(), []byte("chainwire-test-key-not-for-production"))
	if err != nil {
		t.Fatal(err)
	}
	hashes := func(dir dest.Direction, raw string) []string {
		res := ex.Extract("send_money", dir, []byte(raw))
		if len(res.Destinations) == 0 {
			t.Fatalf("no destinations in %s", raw)
		}
		return res.Destinations
	}
	payees := [][]string{
		hashes(dest.Input, `{"recipient":"GB33BUKB20201555555555","amount":10}`),
		hashes(dest.Input, `{"recipient":"DE89370400440532013000","amount":20}`),
	}
	attacker1 := hashes(dest.Input, `{"recipient":"US64SVBKUS6S3300958879","amount":999}`)
	attacker2 := hashes(dest.Input, `{"recipient":"FR7630006000011234567890189","amount":999}`)

	var nc *nats.Conn
	connect := func() {
		if nc, err = nats.Connect(r.info.NATSURL); err != nil {
			t.Fatal(err)
		}
	}
	connect()
	defer func() { nc.Close() }()
	start := time.Now().Add(-10 * time.Minute).UTC().Truncate(time.Millisecond)
	n := 0
	send := func(task, tool string, dests, outs []string) {
		n++
		rc := record.Record{
			TraceID: task, SpanID: fmt.Sprint("span-", n), Timestamp: start.Add(time.Duration(n) * time.Second),
			AgentID:    "agent-pay",
			Tool:       record.Tool{Name: tool, Version: "1.0.0", TrustLevel: "gold", VerificationScore: record.Absent},
			Invocation: record.Invocation{Status: record.StatusSuccess, DurationMS: 50, OutputBytes: record.Absent, InputBytes: record.Absent, Destinations: dests, OutputDestinations: outs},
			Context:    record.Context{Environment: "production", TaskID: task}, DataSubjectsAffected: record.Absent,
		}
		if err := nc.Publish("audit.records.production.agent-pay", rc.AppendJSON(nil)); err != nil {
			t.Fatal(err)
		}
	}
	// injected: the destination arrives in a tool output of the task,
	// then the payment goes there.
	injected := func(task string, d []string) {
		send(task, "read_inbox", nil, d)
		send(task, "send_money", d, nil)
	}
	for i := range 120 {
		send(fmt.Sprint("task-", i), "send_money", payees[i%2], nil)
	}
	sink := subscribeAlerts(t, nc, "audit.alerts.egress.>")
	injected("task-attack-1", attacker1)
	injected("task-attack-2", attacker2)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	alertsFor := func(as []alert.Alert, d []string) int {
		k := 0
		for _, a := range as {
			if a.Pattern == "egress" && a.Tool == "send_money" && a.Details["destination"] == d[0] {
				k++
			}
		}
		return k
	}
	as := sink.waitFor(t, "two egress alerts", func(as []alert.Alert) bool { return len(as) >= 2 })
	settle(t, r.info.HTTPAddr, uint64(n))
	as = sink.snapshot()
	if len(as) != 2 || alertsFor(as, attacker1) != 1 || alertsFor(as, attacker2) != 1 || as[0].Details["from_task_output"] != true {
		t.Fatalf("egress alerts after the warm-up:\n%s", alertsJSON(as))
	}

	triage := func(method, body string) (int, triageAnswer) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+r.info.HTTPAddr+"/api/egress/triage", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var a triageAnswer
		if resp.StatusCode == http.StatusOK {
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatalf("%s triage: %v: %s", method, err, b)
			}
		}
		return resp.StatusCode, a
	}
	status := func(a triageAnswer) map[string]string {
		m := map[string]string{}
		for _, e := range a.Entries {
			m[e.Destination] = e.Status
		}
		return m
	}
	code, list := triage("GET", "")
	if st := status(list); code != 200 || len(st) != 2 || st[attacker1[0]] == "" || st[attacker2[0]] == "" {
		t.Fatalf("GET triage: %d %+v", code, list)
	}
	for _, e := range list.Entries {
		if e.Tool != "send_money" || e.Agent != "agent-pay" || e.Fingerprint == "" {
			t.Errorf("triage entry %+v", e)
		}
	}
	decide := func(action string, d []string) {
		t.Helper()
		if code, _ := triage("POST", `{"action":"`+action+`","tool":"send_money","destination":"`+d[0]+`"}`); code != 200 {
			t.Fatalf("POST %s: %d", action, code)
		}
	}
	saves := metricValue(t, r.info.HTTPAddr, "toolwatch_snapshot_saves_total")
	decide("accept", attacker1)
	decide("reject", attacker2)
	// A decision is snapshotted at once, not at the end of the (1 min)
	// interval, so a crash right after it loses nothing.
	for deadline := time.Now().Add(20 * time.Second); metricValue(t, r.info.HTTPAddr, "toolwatch_snapshot_saves_total") <= saves; {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot saved within 20s of the triage decisions")
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, list = triage("GET", "")
	if st := status(list); code != 200 || len(st) != 1 || st[attacker2[0]] != "rejected" {
		t.Fatalf("GET triage after the decisions: %d %+v", code, list)
	}

	// check sends the accepted destination (read from a tool output: the
	// strongest case) and the rejected one (typed by the user): only the
	// rejected one alerts.
	check := func(phase string) {
		t.Helper()
		sink := subscribeAlerts(t, nc, "audit.alerts.egress.>")
		injected("task-"+phase+"-accepted", attacker1)
		send("task-"+phase+"-rejected", "send_money", attacker2, nil)
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, phase+": the rejected destination alerts", func(as []alert.Alert) bool { return alertsFor(as, attacker2) > 0 })
		settle(t, r.info.HTTPAddr, uint64(n))
		as := sink.snapshot()
		if alertsFor(as, attacker1) != 0 || alertsFor(as, attacker2) != 1 || len(as) != 1 || as[0].Severity != alert.SeverityCritical {
			t.Fatalf("%s: egress alerts:\n%s", phase, alertsJSON(as))
		}
	}
	check("decided")

	r.stop(t)
	nc.Close()
	r = startInProc(t, opts)
	if !strings.Contains(r.log.String(), "baselines restored from snapshot") {
		t.Fatalf("no snapshot restored:\n%s", r.log)
	}
	connect()
	code, list = triage("GET", "")
	if st := status(list); code != 200 || len(st) != 1 || st[attacker2[0]] != "rejected" {
		t.Fatalf("GET triage after the restart: %d %+v", code, list)
	}
	check("restart")
}
