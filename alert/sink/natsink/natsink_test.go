package natsink

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/alert/sink"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startServer(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return nc
}

func TestPublishesAlertJSONOnPatternSeveritySubject(t *testing.T) {
	nc := startServer(t)
	sub, err := nc.SubscribeSync("audit.alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 23, 14, 30, 0, 0, time.UTC)
	a := alert.Alert{ID: "id-1", Fingerprint: "fp", Status: alert.StatusFiring, Pattern: "denial_spike", Severity: "warning",
		Score: 64, AgentID: "agent", Tool: "tool", Unit: "count", EventTime: at, StartsAt: at}
	q := NewSink(nc, sink.DefaultConfig().NATS, sink.QueueOptions{})
	q.Send(a)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "audit.alerts.denial_spike.warning" {
		t.Errorf("subject %q", msg.Subject)
	}
	want, _ := sink.MarshalAlert(a)
	if string(msg.Data) != string(want) {
		t.Errorf("data %s, want %s", msg.Data, want)
	}
	var back alert.Alert
	if err := json.Unmarshal(msg.Data, &back); err != nil || back.ID != "id-1" {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestClosedConnectionNotRetryable(t *testing.T) {
	nc := startServer(t)
	nc.Close()
	retry, err := New(nc, sink.NATSConfig{SubjectPrefix: "x"}).Notify(context.Background(), alert.Alert{Pattern: "latency", Severity: "info"})
	if err == nil || retry {
		t.Errorf("Notify on closed conn = %v, %v; want non-retryable error", retry, err)
	}
}

func TestSubject(t *testing.T) {
	for _, tc := range []struct{ prefix, pattern, severity, want string }{
		{"audit.alerts", "latency", "critical", "audit.alerts.latency.critical"},
		{"p", "a.b", "c d", "p.a_b.c_d"},
		{"p", "*", ">", "p._._"},
		{"p", "", "", "p._._"},
	} {
		if got := Subject(tc.prefix, alert.Alert{Pattern: tc.pattern, Severity: tc.severity}); got != tc.want {
			t.Errorf("Subject(%q,%q,%q) = %q, want %q", tc.prefix, tc.pattern, tc.severity, got, tc.want)
		}
	}
}
