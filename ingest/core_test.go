package ingest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func coreConfig() Config {
	c := testConfig()
	c.Mode = ModeCore
	return c
}

// A consumer that falls behind: the client buffers pending_limit records,
// drops the rest, and every drop is counted.
func TestCoreSlowConsumerDropsCounted(t *testing.T) {
	url := startBinary(t)
	nc := connect(t, url)
	pnc := connect(t, url)
	cfg := coreConfig()
	cfg.PendingLimit = 10

	release := make(chan struct{})
	h := newRecorder()
	h.onMsg = func(n int, _ *Message) {
		if n == 1 {
			<-release // stuck on the first record while the rest arrive
		}
	}
	c, m := newConsumer(t, nc, cfg, 50*time.Millisecond)
	stop := run(t, c, h)
	waitFor(t, "subscribed", c.Ready)
	if err := nc.Flush(); err != nil { // the server has the subscription
		t.Fatal(err)
	}
	const n = 200
	for i := 0; i < n; i++ {
		if err := pnc.Publish("audit.records.a", []byte(fmt.Sprintf("rec-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pnc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "all records reached the client", func() bool { return nc.Stats().InMsgs >= n })
	close(release)
	waitFor(t, "applied + dropped = published", func() bool {
		return testutil.ToFloat64(m.applied)+testutil.ToFloat64(m.dropped) == n
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	applied, dropped := testutil.ToFloat64(m.applied), testutil.ToFloat64(m.dropped)
	if dropped < n-12 || applied > 12 || applied < 1 {
		t.Errorf("applied %v, dropped %v: want at most pending_limit+2 applied, the rest dropped", applied, dropped)
	}
	order, _, data, _ := h.snapshot()
	if int(applied) != len(order) || data[0] != "rec-0" {
		t.Errorf("handler saw %d records (first %q), metrics say %v applied", len(order), data[0], applied)
	}
	for _, seq := range order {
		if seq != 0 {
			t.Fatalf("core mode StreamSeq = %d, want 0", seq)
		}
	}
}

// Core mode: invalid records are dead-lettered unchanged with the reason;
// valid ones are applied; Idle runs when nothing arrives.
func TestCoreDeadLetterAndIdle(t *testing.T) {
	url := startBinary(t)
	nc := connect(t, url)
	cfg := coreConfig()
	cfg.QueueGroup = "detectors"
	dlq := make(chan *nats.Msg, 10)
	sub, err := nc.ChanSubscribe(cfg.DeadLetterSubject, dlq)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	c, m := newConsumer(t, nc, cfg, 20*time.Millisecond)
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "subscribed", c.Ready)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("audit.records.staging.b")
	msg.Data = []byte("bad record")
	msg.Header.Set("Traceparent", "00-abc")
	msg.Header.Set("Nats-Msg-Id", "x1")
	for _, mm := range []*nats.Msg{{Subject: "audit.records.a", Data: []byte("rec-1")}, msg, {Subject: "audit.records.a", Data: []byte("rec-2")}} {
		if err := nc.PublishMsg(mm); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "dead letter", func() bool { return len(dlq) == 1 })
	waitFor(t, "idle after the records", func() bool {
		_, _, _, idles := h.snapshot()
		return len(idles) > 0 && idles[len(idles)-1] == 3
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	d := <-dlq
	if string(d.Data) != "bad record" || d.Header.Get(HeaderReason) != "bad json  at byte 0" ||
		d.Header.Get(HeaderSubject) != "audit.records.staging.b" || d.Header.Get("Traceparent") != "00-abc" ||
		d.Header.Get("Nats-Msg-Id") != "" {
		t.Errorf("dead letter: data %q headers %v", d.Data, d.Header)
	}
	if a, i := testutil.ToFloat64(m.applied), testutil.ToFloat64(m.invalid); a != 2 || i != 1 {
		t.Errorf("applied %v invalid %v, want 2 and 1", a, i)
	}
}
