package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func resumeConsumer(t *testing.T, nc *nats.Conn, cfg Config, after uint64) *Consumer {
	t.Helper()
	c, err := New(nc, cfg, Options{Log: quiet, IdleAfter: time.Second, Resume: true, ResumeAfter: after})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// runUntil runs c until the handler has seen want distinct records and the
// consumer's ack floor is at floor, then stops it.
func runUntil(t *testing.T, nc *nats.Conn, cfg Config, c *Consumer, h *recorder, want int, floor uint64) {
	t.Helper()
	stop := run(t, c, h)
	waitFor(t, fmt.Sprintf("%d records handled", want), func() bool { return h.distinct() >= want })
	waitFor(t, "all acked", acked(nc, cfg, floor))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// wantSeqs checks the handler saw exactly from..to, once each, in order.
func wantSeqs(t *testing.T, h *recorder, from, to uint64) {
	t.Helper()
	order, _, _, _ := h.snapshot()
	if uint64(len(order)) != to-from+1 {
		t.Fatalf("handler saw %d records, want %d (%d..%d)", len(order), to-from+1, from, to)
	}
	for i, seq := range order {
		if seq != from+uint64(i) {
			t.Fatalf("call %d: seq %d, want %d", i, seq, from+uint64(i))
		}
	}
}

// Resuming from a snapshot's sequence re-delivers what the durable had
// already acked after it (applied after the snapshot, lost in a crash),
// and resuming from 0 replays the whole stream.
func TestJetStreamResume(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	testResume(t, url)
}

// The same against Debian's nats-server binary (v2.9 with -js).
func TestJetStreamResumeDebianBinary(t *testing.T) {
	testResume(t, startBinary(t, "-js", "-sd", t.TempDir()))
}

func testResume(t *testing.T, url string) {
	nc := connect(t, url)
	cfg := testConfig()
	cfg.BatchSize = 50
	ensureStream(t, nc, cfg)
	publishMany(t, nc, 0, 500)

	// First run consumes (and acks) at least 300, then "crashes".
	h := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.onMsg = func(n int, _ *Message) {
		if n == 300 {
			cancel()
		}
	}
	c1 := resumeConsumer(t, nc, cfg, 0)
	if err := c1.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	// The acks reached the server before Run returned (flushed); the
	// server's consumer applies them on its own goroutine, so wait for it.
	var info1 *jetstream.ConsumerInfo
	waitFor(t, "the first run's acks applied by the server (ack floor >= 300)", func() bool {
		info1 = consumerInfo(t, nc, cfg)
		return info1.AckFloor.Stream >= 300
	})
	if c1.PriorAckFloor() != 0 || h.processed != 0 {
		t.Errorf("first start: prior ack floor %d, %d records flagged processed; want none", c1.PriorAckFloor(), h.processed)
	}
	prior := info1.AckFloor.Stream

	// The snapshot was taken at 200: 201..500 exactly once each.
	h = newRecorder()
	c2 := resumeConsumer(t, nc, cfg, 200)
	runUntil(t, nc, cfg, c2, h, 300, 500)
	wantSeqs(t, h, 201, 500)
	// The previous run's position was read before the durable was
	// recreated: records up to it are flagged, later ones are not.
	if c2.PriorAckFloor() != prior || h.processed != int(prior-200) {
		t.Errorf("resume: prior ack floor %d (want %d), %d records flagged processed (want %d)",
			c2.PriorAckFloor(), prior, h.processed, prior-200)
	}
	if c2.LastApplied() != 500 {
		t.Errorf("LastApplied = %d, want 500", c2.LastApplied())
	}
	info := consumerInfo(t, nc, cfg)
	if info.Config.DeliverPolicy != jetstream.DeliverByStartSequencePolicy || info.Config.OptStartSeq != 201 ||
		info.Config.Durable != cfg.Consumer || info.Config.AckPolicy != jetstream.AckAllPolicy {
		t.Errorf("recreated consumer config: %+v", info.Config)
	}

	// No snapshot: the whole stream.
	h = newRecorder()
	runUntil(t, nc, cfg, resumeConsumer(t, nc, cfg, 0), h, 500, 500)
	wantSeqs(t, h, 1, 500)
	if info := consumerInfo(t, nc, cfg); info.Config.DeliverPolicy != jetstream.DeliverAllPolicy {
		t.Errorf("deliver policy %v, want all", info.Config.DeliverPolicy)
	}

	// Without Resume the durable keeps its position (and the update keeps
	// a by-start-sequence deliver policy, which the server cannot change).
	h = newRecorder()
	runUntil(t, nc, cfg, resumeConsumer(t, nc, cfg, 400), h, 100, 500)
	c4, _ := newConsumer(t, nc, cfg, time.Second)
	h = newRecorder()
	stop := run(t, c4, h)
	waitFor(t, "ready", c4.Ready)
	publishMany(t, nc, 500, 1)
	waitFor(t, "record 501", func() bool { return h.calls() >= 1 })
	waitFor(t, "all acked", acked(nc, cfg, 501))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, h, 501, 501)
	if info := consumerInfo(t, nc, cfg); info.Config.OptStartSeq != 401 {
		t.Errorf("kept consumer: start seq %d, want 401", info.Config.OptStartSeq)
	}
}

// The stream is behind the snapshot (recreated): everything is consumed.
// Records after the snapshot expired: consumption starts at the stream's
// first record.
func TestJetStreamResumeStreamMismatch(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	ensureStream(t, nc, cfg)
	publishMany(t, nc, 0, 50)

	h := newRecorder()
	c := resumeConsumer(t, nc, cfg, 1000)
	runUntil(t, nc, cfg, c, h, 50, 50)
	wantSeqs(t, h, 1, 50)
	if c.LastApplied() != 50 {
		t.Errorf("recreated stream: LastApplied %d, want 50", c.LastApplied())
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, jetstream.WithPurgeSequence(31)); err != nil { // 1..30 expire
		t.Fatal(err)
	}
	h = newRecorder()
	c = resumeConsumer(t, nc, cfg, 10)
	runUntil(t, nc, cfg, c, h, 20, 50)
	wantSeqs(t, h, 31, 50)
	if c.LastApplied() != 50 {
		t.Errorf("expired gap: LastApplied %d, want 50", c.LastApplied())
	}
}

// SetLastApplied with Resume moves the start too.
func TestJetStreamResumeSetLastApplied(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	ensureStream(t, nc, cfg)
	publishMany(t, nc, 0, 20)
	h := newRecorder()
	c := resumeConsumer(t, nc, cfg, 5)
	c.SetLastApplied(12)
	runUntil(t, nc, cfg, c, h, 8, 20)
	wantSeqs(t, h, 13, 20)
}

// Core mode ignores Resume: every published record is handled.
func TestCoreIgnoresResume(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	cfg.Mode = ModeCore
	c, err := New(nc, cfg, Options{Log: quiet, Resume: true, ResumeAfter: 1000})
	if err != nil {
		t.Fatal(err)
	}
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "subscribed", c.Ready)
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := nc.Publish("audit.records.a", []byte("rec")); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "5 records", func() bool { return h.calls() == 5 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, cfg.Stream); err == nil {
		t.Error("core mode touched JetStream (stream exists)")
	}
}

func TestSnapshotPoint(t *testing.T) {
	c := &Consumer{tr: newSeqTracker(4)}
	c.publishFloor()
	check := func(wantSeq uint64, wantExact bool) {
		t.Helper()
		if seq, exact := c.SnapshotPoint(); seq != wantSeq || exact != wantExact {
			t.Errorf("SnapshotPoint = %d, %v; want %d, %v", seq, exact, wantSeq, wantExact)
		}
	}
	check(4, true)
	c.mark(6) // 5 lost in flight
	check(4, false)
	c.mark(5) // redelivered
	check(6, true)
	c.mark(9)
	c.raiseFloor(8) // 7, 8 deleted: the ack floor skips them
	check(9, true)
}
