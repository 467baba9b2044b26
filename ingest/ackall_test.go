package ingest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// ackSeq is the stream sequence an ack handle covers.
func ackSeq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

// publishedStream connects to url, creates the records stream of
// testConfig and publishes n records to it (publishMany).
func publishedStream(t *testing.T, url string, n int) (*nats.Conn, Config) {
	t.Helper()
	nc := connect(t, url)
	cfg := testConfig()
	ensureStream(t, nc, cfg)
	publishMany(t, nc, 0, n)
	return nc, cfg
}

// sharedStream starts a server whose records stream also takes the other
// subjects under audit.> ("audit.other", seqs no consumer is given).
func sharedStream(t *testing.T) (*nats.Conn, Config, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	url := startBinary(t, "-js", "-sd", t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc := (&Consumer{cfg: cfg}).streamConfig()
	sc.Subjects = []string{"audit.>"}
	stream, err := js.CreateStream(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, cfg, js, stream
}

// A delivery lost in flight (seq 5) keeps every ack below it until its
// redelivery is applied; then one ack covers everything.
func TestJetStreamLostDeliveryIsNeverAckedPast(t *testing.T) {
	url := startBinary(t, "-js", "-sd", t.TempDir())
	nc, cfg := publishedStream(t, url, 20)

	c, m := newConsumer(t, nc, cfg, time.Second)
	h, _, applied5 := loseFirstDelivery(t, c, 5)
	stop := run(t, c, h)
	// The floor's ack reaches the server; 6..20 wait, unacked.
	waitFor(t, "ack floor 4 with 6..20 applied", func() bool {
		i, err := tryConsumerInfo(nc, cfg)
		return h.calls() >= 19 && err == nil && (i.AckFloor.Stream == 4 || applied5.Load())
	})
	waitFor(t, "seq 5 redelivered and everything acked", acked(nc, cfg, 20))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	order, count, _, _ := h.snapshot()
	want := []uint64{1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 5}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("handled %v, want %v", order, want)
	}
	for seq, n := range count {
		if n != 1 {
			t.Errorf("seq %d handled %d times", seq, n)
		}
	}
	// The gap is NAKed and filled at once (nakLost), often before the first
	// ack is due: one ack or a few.
	if got := testutil.ToFloat64(m.acks); got < 1 || got >= 20 {
		t.Errorf("acks = %v, want a few batches (>= 1, < 20)", got)
	}
}

// The process dies after applying records whose acks never left it: the
// next run starts after the last ack that reached the server, flags
// nothing above it as processed, and skips what its snapshot covers.
func TestJetStreamRestartAfterUnflushedAcks(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc, cfg := publishedStream(t, url, 30)

	c1, _ := newConsumer(t, nc, cfg, time.Second)
	var (
		mu      sync.Mutex
		dead    bool
		flushed uint64 // the highest seq acked before the "kill"
	)
	c1.ack = func(msg jetstream.Msg) error {
		mu.Lock()
		defer mu.Unlock()
		if dead {
			return nil // the process is gone: the ack never leaves it
		}
		flushed = max(flushed, ackSeq(msg))
		return msg.Ack()
	}
	h1 := newRecorder()
	h1.onMsg = func(n int, _ *Message) {
		if n == 10 {
			mu.Lock()
			dead = true
			mu.Unlock()
		}
	}
	stop := run(t, c1, h1)
	waitFor(t, "30 records handled", func() bool { return h1.calls() >= 30 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	floor := flushed
	mu.Unlock()
	if floor >= 10 {
		t.Fatalf("ack of seq %d sent after the kill", floor)
	}
	waitFor(t, "server ack floor at the last sent ack", func() bool {
		i, err := tryConsumerInfo(nc, cfg)
		return err == nil && i.AckFloor.Stream == floor
	})

	// The next run restores a snapshot taken at 20.
	nc2 := connect(t, url)
	c2, m2 := newConsumer(t, nc2, cfg, time.Second)
	c2.SetLastApplied(20)
	h2 := newRecorder()
	stop2 := run(t, c2, h2)
	waitFor(t, "21..30 handled", func() bool { return h2.calls() >= 10 })
	waitFor(t, "everything acked", acked(nc2, cfg, 30))
	if err := stop2(); err != nil {
		t.Fatal(err)
	}
	if c2.PriorAckFloor() != floor {
		t.Errorf("PriorAckFloor = %d, want %d (the last ack that reached the server)", c2.PriorAckFloor(), floor)
	}
	wantSeqs(t, h2, 21, 30)
	if h2.processed != 0 {
		t.Errorf("%d records above the prior ack floor flagged processed", h2.processed)
	}
	// Each of floor+1..20 comes back at least once and is skipped (the
	// snapshot covers it). With ack_wait 1s a loaded machine may see the
	// server redeliver some again before run 2's batched ack lands: more
	// duplicates, still skipped (wantSeqs above: 21..30 handled once each).
	if got := testutil.ToFloat64(m2.duplicate); got < float64(20-floor) {
		t.Errorf("duplicates = %v, want at least %d (redelivered %d..20, covered by the snapshot)", got, 20-floor, floor+1)
	}
}

// A durable left with AckExplicit by an earlier version is recreated with
// AckAll and keeps its position: what it acked is not delivered again,
// what it delivered without an ack is.
func TestJetStreamUpgradeFromAckExplicit(t *testing.T) {
	for _, srv := range []string{"embedded", "debian"} {
		t.Run(srv, func(t *testing.T) {
			var url string
			if srv == "embedded" {
				_, url = startEmbedded(t, 0, t.TempDir())
			} else {
				url = startBinary(t, "-js", "-sd", t.TempDir())
			}
			nc, cfg := publishedStream(t, url, 20)

			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			old := (&Consumer{cfg: cfg}).consumerConfig(1)
			old.AckPolicy = jetstream.AckExplicitPolicy
			cons, err := js.CreateConsumer(ctx, cfg.Stream, old)
			if err != nil {
				t.Fatal(err)
			}
			batch, err := cons.Fetch(13, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for msg := range batch.Messages() {
				if n++; n <= 10 { // 11..13 delivered, never acked
					if err := msg.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n != 13 {
				t.Fatalf("fetched %d, want 13", n)
			}

			c, _ := newConsumer(t, nc, cfg, time.Second)
			h := newRecorder()
			runUntil(t, nc, cfg, c, h, 10, 20)
			if c.PriorAckFloor() != 10 {
				t.Errorf("PriorAckFloor = %d, want 10", c.PriorAckFloor())
			}
			wantSeqs(t, h, 11, 20)
			if info := consumerInfo(t, nc, cfg); info.Config.AckPolicy != jetstream.AckAllPolicy {
				t.Errorf("ack policy %v after the upgrade, want all", info.Config.AckPolicy)
			}
		})
	}
}

// With the ack timer out of the way, the only ack is the one sent on stop:
// it covers every record.
func TestJetStreamStopFlushesAcks(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc, cfg := publishedStream(t, url, 50)

	c, m := newConsumer(t, nc, cfg, time.Hour)
	c.ackInterval = time.Hour
	h := newRecorder()
	stop := run(t, c, h)
	waitFor(t, "50 records handled", func() bool { return h.calls() >= 50 })
	if i := consumerInfo(t, nc, cfg); i.AckFloor.Stream != 0 {
		t.Fatalf("ack floor %d before stop, want 0 (50 records are fewer than a batch)", i.AckFloor.Stream)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the stop's ack applied", acked(nc, cfg, 50))
	if got := testutil.ToFloat64(m.acks); got != 1 {
		t.Errorf("acks = %v, want 1", got)
	}
}

// A stream that also holds other subjects (and a deleted message): the
// floor and the acks pass the seqs the consumer is never given.
func TestJetStreamSharedStreamFloorPassesForeignSeqs(t *testing.T) {
	nc, cfg, js, stream := sharedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var records []uint64
	for i := range 40 {
		subj := "audit.records.prod.a"
		if i%3 == 1 || (i > 20 && i < 30) {
			subj = "audit.other"
		}
		ack, err := js.Publish(ctx, subj, fmt.Appendf(nil, "rec-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		if subj != "audit.other" {
			records = append(records, ack.Sequence)
		}
	}
	if err := stream.DeleteMsg(ctx, records[5]); err != nil {
		t.Fatal(err)
	}
	last := records[len(records)-1]

	c, _ := newConsumer(t, nc, cfg, time.Second)
	h := newRecorder()
	runUntil(t, nc, cfg, c, h, len(records)-1, last)
	if c.LastApplied() != last {
		t.Errorf("LastApplied = %d, want %d", c.LastApplied(), last)
	}
	if _, exact := c.SnapshotPoint(); !exact {
		t.Error("snapshot point not exact after every record was applied")
	}
}

// A delivery lost right before a foreign seq breaks the inference from
// delivery sequences; the next-by-subject lookup passes the foreign seq
// once the lost record is applied.
func TestJetStreamLostDeliveryBeforeForeignSeq(t *testing.T) {
	nc, cfg, js, _ := sharedStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// 1 rec, 2 rec (lost once), 3 foreign, 4 rec, 5 foreign, 6 rec
	for i, subj := range []string{"audit.records.prod.a", "audit.records.prod.a", "audit.other",
		"audit.records.prod.a", "audit.other", "audit.records.prod.a"} {
		if _, err := js.Publish(ctx, subj, fmt.Appendf(nil, "rec-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c, _ := newConsumer(t, nc, cfg, 200*time.Millisecond)
	var lost atomic.Bool
	c.lose = func(md *jetstream.MsgMetadata) bool {
		return md.Sequence.Stream == 2 && lost.CompareAndSwap(false, true)
	}
	h := newRecorder()
	runUntil(t, nc, cfg, c, h, 4, 6)
	order, _, _, _ := h.snapshot()
	if fmt.Sprint(order) != "[1 4 6 2]" {
		t.Errorf("handled %v, want [1 4 6 2]", order)
	}
	if c.LastApplied() != 6 {
		t.Errorf("LastApplied = %d, want 6", c.LastApplied())
	}
}

// loseFirstDelivery makes c lose the first delivery of stream seq seq and
// fail the test on any ack at or above seq sent before seq was applied. It
// returns the recorder to run c with and flags for "lost" and "applied".
func loseFirstDelivery(t *testing.T, c *Consumer, seq uint64) (h *recorder, lost, applied *atomic.Bool) {
	t.Helper()
	lost, applied = new(atomic.Bool), new(atomic.Bool)
	c.lose = func(md *jetstream.MsgMetadata) bool {
		return md.Sequence.Stream == seq && lost.CompareAndSwap(false, true)
	}
	c.ack = func(msg jetstream.Msg) error {
		if s := ackSeq(msg); s >= seq && !applied.Load() {
			t.Errorf("ack of seq %d sent before seq %d was applied", s, seq)
		}
		return msg.Ack()
	}
	h = newRecorder()
	h.onMsg = func(_ int, msg *Message) {
		if msg.StreamSeq == seq {
			applied.Store(true)
		}
	}
	return h, lost, applied
}
