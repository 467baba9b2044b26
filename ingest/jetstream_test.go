package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Records are handled once each, in stream order, and all acked.
func TestJetStreamAppliesInOrderAndAcks(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	testAppliesInOrderAndAcks(t, url)
}

// The same against Debian's nats-server binary (v2.9 with -js).
func TestJetStreamDebianBinary(t *testing.T) {
	url := startBinary(t, "-js", "-sd", t.TempDir())
	testAppliesInOrderAndAcks(t, url)
}

func testAppliesInOrderAndAcks(t *testing.T, url string) {
	nc := connect(t, url)
	cfg := testConfig()
	cfg.BatchSize = 64 // several batches
	ensureStream(t, nc, cfg)
	const n = 300
	publishMany(t, nc, 0, n)

	c, m := newConsumer(t, nc, cfg, time.Second)
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "all records handled", func() bool { return h.calls() >= n })
	waitFor(t, "ready", c.Ready)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if c.Ready() {
		t.Error("Ready after Run returned")
	}

	order, count, data, _ := h.snapshot()
	if len(order) != n {
		t.Fatalf("handler calls = %d, want %d", len(order), n)
	}
	for i, seq := range order {
		if seq != uint64(i+1) || count[seq] != 1 {
			t.Fatalf("call %d: seq %d (seen %d times), want seq %d once", i, seq, count[seq], i+1)
		}
		if want := fmt.Sprintf("rec-%d", i); data[i] != want {
			t.Fatalf("call %d: data %q, want %q", i, data[i], want)
		}
	}
	if h.pending[n-1] != 0 || h.pending[0] != n-1 {
		t.Errorf("Pending first/last = %d/%d, want %d/0", h.pending[0], h.pending[n-1], n-1)
	}
	// Acks were flushed before Run returned; the server's consumer applies
	// them on its own goroutine.
	var info *jetstream.ConsumerInfo
	waitFor(t, "every ack applied by the server", func() bool {
		info = consumerInfo(t, nc, cfg)
		return info.NumAckPending == 0 && info.AckFloor.Stream == n
	})
	if info.NumAckPending != 0 || info.NumPending != 0 || info.AckFloor.Stream != n {
		t.Errorf("consumer: ack pending %d, pending %d, ack floor %d; want 0, 0, %d",
			info.NumAckPending, info.NumPending, info.AckFloor.Stream, n)
	}
	if info.Config.AckPolicy != jetstream.AckAllPolicy || info.Config.Durable != "toolwatch-detector" {
		t.Errorf("consumer config: %+v", info.Config)
	}
	if got := testutil.ToFloat64(m.applied); got != n {
		t.Errorf("applied = %v, want %d", got, n)
	}
	if c.LastApplied() != n {
		t.Errorf("LastApplied = %d, want %d", c.LastApplied(), n)
	}
}

// A malformed record is dead-lettered once, unchanged, with the reason and
// original subject in headers, terminated, and the stream keeps flowing.
func TestJetStreamDeadLetter(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	dlq := make(chan *nats.Msg, 10)
	sub, err := nc.ChanSubscribe(cfg.DeadLetterSubject, dlq)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	c, m := newConsumer(t, nc, cfg, time.Second)
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "stream created", c.Ready)
	ensureNoErr := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	ensureNoErr(nc.Flush())
	publishJS(t, nc, "audit.records.prod.a", "rec-1", "bad {", "late-1", "rec-2")
	waitFor(t, "4 records handled", func() bool { return h.calls() >= 4 })
	waitFor(t, "acks", acked(nc, cfg, 4))
	ensureNoErr(stop())

	var got []*nats.Msg
	for len(dlq) > 0 {
		got = append(got, <-dlq)
	}
	if len(got) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(got))
	}
	d := got[0]
	if string(d.Data) != "bad {" || d.Header.Get(HeaderReason) != "bad json  at byte 0" ||
		d.Header.Get(HeaderSubject) != "audit.records.prod.a" {
		t.Errorf("dead letter: data %q headers %v", d.Data, d.Header)
	}
	info := consumerInfo(t, nc, cfg)
	if info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("after term: ack pending %d, redelivered %d; want 0, 0", info.NumAckPending, info.NumRedelivered)
	}
	_, count, _, _ := h.snapshot()
	for seq := uint64(1); seq <= 4; seq++ {
		if count[seq] != 1 {
			t.Errorf("seq %d handled %d times, want 1", seq, count[seq])
		}
	}
	for name, want := range map[string]float64{"applied": 2, "late": 1, "invalid": 1, "duplicate": 0} {
		if got := testutil.ToFloat64(m.outcomeByName(name)); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := testutil.ToFloat64(m.deadLettered); got != 1 {
		t.Errorf("dead_lettered = %v, want 1", got)
	}
}

// When the dead-letter publish fails the record is not lost: it is nak'ed,
// redelivered, and dead-lettered on the retry.
func TestJetStreamDeadLetterPublishFailureRetries(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	dlq := make(chan *nats.Msg, 10)
	sub, err := nc.ChanSubscribe(cfg.DeadLetterSubject, dlq)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	ensureStream(t, nc, cfg)
	publishJS(t, nc, "audit.records.x", "bad-1", "rec-2")

	c, m := newConsumer(t, nc, cfg, time.Second)
	var fails atomic.Int32
	c.publish = func(msg *nats.Msg) error {
		if fails.Add(1) == 1 {
			return errors.New("injected publish failure")
		}
		return nc.PublishMsg(msg)
	}
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "dead letter", func() bool { return len(dlq) == 1 })
	waitFor(t, "all acked", acked(nc, cfg, 2))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, count, _, _ := h.snapshot()
	if count[1] != 2 || count[2] != 1 {
		t.Errorf("handler calls per seq = %v, want seq 1 twice (retry), seq 2 once", count)
	}
	if got := testutil.ToFloat64(m.deadLetterFailed); got != 1 {
		t.Errorf("dead_letter_failed = %v, want 1", got)
	}
	if got, want := testutil.ToFloat64(m.invalid), 1.0; got != want {
		t.Errorf("invalid = %v, want %v", got, want)
	}
	if len(dlq) != 1 {
		t.Errorf("dead letters = %d, want 1", len(dlq))
	}
}

// A redelivery of a record already applied is acked without calling the
// handler: records covered by a restored snapshot, and a record whose ack
// was lost.
func TestJetStreamRedeliveryOfAppliedIsSkipped(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc, cfg := publishedStream(t, url, 10)

	c, m := newConsumer(t, nc, cfg, time.Second)
	c.SetLastApplied(4) // a snapshot covers 1..4
	var dropped atomic.Bool
	c.ack = func(msg jetstream.Msg) error {
		md, _ := msg.Metadata()
		if md.Sequence.Stream >= 7 && dropped.CompareAndSwap(false, true) {
			return nil // the ack is lost: the records it covered come back after ack_wait
		}
		return msg.Ack()
	}
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "the lost ack's records redelivered and acked", acked(nc, cfg, 10))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !dropped.Load() {
		t.Fatal("no ack covering seq 7 was sent")
	}
	order, count, _, _ := h.snapshot()
	if want := []uint64{5, 6, 7, 8, 9, 10}; fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("handled %v, want %v", order, want)
	}
	for seq, n := range count {
		if n != 1 {
			t.Errorf("seq %d handled %d times", seq, n)
		}
	}
	// 1..4 (the snapshot) and every redelivery (at least seq 7..10) are
	// skipped as duplicates.
	red := testutil.ToFloat64(m.redelivered)
	if red < 4 {
		t.Errorf("redelivered = %v, want >= 4 (7..10)", red)
	}
	if got := testutil.ToFloat64(m.duplicate); got != 4+red {
		t.Errorf("duplicate = %v, want 4 + redelivered (%v)", got, red)
	}
}

// A server restart mid-stream (same store, same port): consumption resumes
// and every record is applied exactly once.
func TestJetStreamServerRestart(t *testing.T) {
	dir := t.TempDir()
	s, url := startEmbedded(t, 0, dir)
	port := portOf(t, s)
	nc := connect(t, url)  // the consumer's connection
	pnc := connect(t, url) // the producer's
	cfg := testConfig()
	ensureStream(t, nc, cfg)
	publishMany(t, pnc, 0, 300)

	reached, release := make(chan struct{}), make(chan struct{})
	h := newRecorder()
	h.onMsg = func(n int, _ *Message) {
		if n == 100 {
			close(reached)
			<-release // the server goes down while record 100 is being applied
		}
	}
	c, m := newConsumer(t, nc, cfg, time.Second)
	stop := run(t, c, h)
	<-reached
	s.Shutdown()
	s.WaitForShutdown()
	waitFor(t, "not ready while the server is down", func() bool { return !c.Ready() })
	close(release)

	startEmbedded(t, port, dir)
	waitFor(t, "ready again", c.Ready)
	publishMany(t, pnc, 300, 300)
	waitFor(t, "all 600 records handled", func() bool { return h.distinct() == 600 })
	waitFor(t, "all acked", acked(nc, cfg, 600))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, count, _, _ := h.snapshot()
	for seq := uint64(1); seq <= 600; seq++ {
		if count[seq] != 1 {
			t.Errorf("seq %d handled %d times, want 1", seq, count[seq])
		}
	}
	if got := testutil.ToFloat64(m.applied); got != 600 {
		t.Errorf("applied = %v, want 600", got)
	}
	t.Logf("redelivered %v, skipped as duplicates %v", testutil.ToFloat64(m.redelivered), testutil.ToFloat64(m.duplicate))
}

// Cancelling Run under load: every acked record was handled, and a second
// run (restoring LastApplied as a snapshot would) handles the rest, so
// every record is handled exactly once overall.
func TestJetStreamCancelDuringLoad(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	cfg.BatchSize = 100
	ensureStream(t, nc, cfg)
	const n = 1500
	publishMany(t, nc, 0, n)

	h := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.onMsg = func(k int, _ *Message) {
		if k == 450 {
			cancel() // mid-batch
		}
	}
	c1, _ := newConsumer(t, nc, cfg, time.Second)
	if err := c1.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	_, count1, _, _ := h.snapshot()
	if len(count1) < 450 || len(count1) >= n {
		t.Fatalf("first run handled %d records, want between 450 and %d", len(count1), n)
	}
	info := consumerInfo(t, nc, cfg)
	for seq := uint64(1); seq <= info.AckFloor.Stream; seq++ {
		if count1[seq] != 1 {
			t.Fatalf("seq %d is acked (ack floor %d) but was handled %d times", seq, info.AckFloor.Stream, count1[seq])
		}
	}
	if c1.LastApplied() < 450 {
		t.Errorf("LastApplied = %d, want >= 450", c1.LastApplied())
	}

	c2, _ := newConsumer(t, nc, cfg, time.Second)
	c2.SetLastApplied(c1.LastApplied())
	h.onMsg = nil
	stop := run(t, c2, h)
	waitFor(t, "every record handled", func() bool { return h.distinct() == n })
	waitFor(t, "all acked", acked(nc, cfg, n))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, count, _, _ := h.snapshot()
	for seq := uint64(1); seq <= n; seq++ {
		if count[seq] != 1 {
			t.Fatalf("seq %d handled %d times over both runs, want 1", seq, count[seq])
		}
	}
}

// Idle runs only once the backlog is consumed (nothing pending or unacked).
func TestJetStreamIdleOnlyWhenCaughtUp(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	cfg.BatchSize = 50
	ensureStream(t, nc, cfg)
	const n = 400
	publishMany(t, nc, 0, n)

	c, _ := newConsumer(t, nc, cfg, 20*time.Millisecond)
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "two idle calls", func() bool {
		_, _, _, idles := h.snapshot()
		return len(idles) >= 2
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, _, _, idles := h.snapshot()
	for i, seen := range idles {
		if seen != n {
			t.Errorf("Idle call %d after %d records, want only after all %d", i, seen, n)
		}
	}
}

// With create_stream false and no stream, Run keeps retrying (not ready)
// until the stream appears.
func TestJetStreamWaitsForStream(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	cfg.CreateStream = false
	c, _ := newConsumer(t, nc, cfg, time.Second)
	h := newRecorder()
	stop := run(t, c, h)
	js, _ := jetstream.New(nc)
	waitFor(t, "a setup attempt", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.Stream(ctx, cfg.Stream)
		return errors.Is(err, jetstream.ErrStreamNotFound)
	})
	if c.Ready() {
		t.Fatal("ready without a stream")
	}
	ensureStream(t, nc, cfg)
	publishJS(t, nc, "audit.records.a", "rec-0")
	waitFor(t, "record handled", func() bool { return h.calls() == 1 })
	if !c.Ready() {
		t.Error("not ready while consuming")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func (m *Metrics) outcomeByName(name string) prometheus.Counter {
	return map[string]prometheus.Counter{"applied": m.applied, "late": m.late, "invalid": m.invalid, "duplicate": m.duplicate}[name]
}

// The durable deleted under a running consumer: the pull subscription
// stops, the durable is set up again and consumption goes on; the records
// it redelivers from the start are skipped, none is applied twice.
func TestJetStreamConsumerDeletedIsRecreated(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc, cfg := publishedStream(t, url, 50)
	c, m := newConsumer(t, nc, cfg, time.Second)
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "first 50 acked", acked(nc, cfg, 50))

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteConsumer(ctx, cfg.Stream, cfg.Consumer); err != nil {
		t.Fatal(err)
	}
	publishMany(t, nc, 50, 50)
	waitFor(t, "all 100 handled", func() bool { return h.distinct() == 100 })
	waitFor(t, "the recreated durable acked all", acked(nc, cfg, 100))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, count, _, _ := h.snapshot()
	for seq := uint64(1); seq <= 100; seq++ {
		if count[seq] != 1 {
			t.Errorf("seq %d handled %d times, want 1", seq, count[seq])
		}
	}
	if got := testutil.ToFloat64(m.duplicate); got != 50 {
		t.Errorf("duplicate = %v, want 50 (the recreated durable redelivers 1..50)", got)
	}
}
