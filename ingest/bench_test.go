package ingest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The tracker on the normal path (in-order seqs) allocates nothing.
func BenchmarkSeqTrackerInOrder(b *testing.B) {
	tr := newSeqTracker(0)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		s := uint64(i + 1)
		if tr.done(s) {
			b.Fatal("done before mark")
		}
		tr.mark(s)
	}
}

type countHandler struct {
	n      int
	want   int
	cancel context.CancelFunc
}

func (h *countHandler) HandleMessage(*Message) Result {
	if h.n++; h.n == h.want {
		h.cancel()
	}
	return Result{}
}
func (h *countHandler) Idle(time.Time) {}

// End to end against the embedded server: fetch, handle, ack. Per-op
// numbers are per record (nats.go allocates each message).
func BenchmarkJetStreamConsume(b *testing.B) {
	_, url := startEmbedded(b, 0, b.TempDir())
	nc := connect(b, url)
	cfg := testConfig()
	ensureStream(b, nc, cfg)
	publishMany(b, nc, 0, b.N)
	c, err := New(nc, cfg, Options{Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &countHandler{want: b.N, cancel: cancel}
	b.ReportAllocs()
	b.ResetTimer()
	if err := c.Run(ctx, h); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if h.n != b.N {
		b.Fatalf("handled %d, want %d", h.n, b.N)
	}
}

// The per-record ack path (tracker, delivery-sequence inference, batched
// AckAll) on in-order deliveries, without a server: no allocation.
func BenchmarkProcessAckPath(b *testing.B) {
	c := &Consumer{m: NewMetrics(nil), tr: newSeqTracker(0), ak: acker{every: ackEvery(1000)}}
	acks := 0
	c.ack = func(jetstream.Msg) error { acks++; return nil }
	h := handlerFunc(func(*Message) Result { return Result{} })
	msgs := make([]fakeMsg, 512)
	var d delivery // a handoff slot, reused as the ring reuses them
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		m := &msgs[i%len(msgs)]
		s := uint64(i + 1)
		m.md.Sequence.Stream, m.md.Sequence.Consumer, m.md.NumDelivered = s, s, 1
		d.m, d.md = m, &m.md
		c.process(&d, h)
		if i%256 == 255 {
			c.flushCounts() // once per handed-over batch, as consume does
		}
	}
	b.StopTimer()
	if b.N >= 1000 && (acks == 0 || acks > b.N/100) {
		b.Fatalf("%d acks for %d records", acks, b.N)
	}
}

// The hand-off from the delivery goroutine to the Run goroutine alone
// (claim/put on one side, take on the other, ring of 256): its cost per
// record, locks and wake-ups included, without decoding or applying.
func BenchmarkHandoff(b *testing.B) {
	h := newHandoff(256)
	b.ReportAllocs()
	go func() {
		d := h.claim()
		for i := 0; i < b.N && d != nil; i++ {
			d.rec.Invocation.DurationMS = float64(i)
			d = h.put()
		}
	}()
	for n := 0; n < b.N; {
		<-h.ready
		x, y := h.take()
		n += len(x) + len(y)
	}
	b.StopTimer()
	h.take()
	h.stop()
}

// Reading a delivery's metadata from its ack subject on the delivery
// goroutine (Msg.Metadata allocated a MsgMetadata per message).
func BenchmarkParseAckReply(b *testing.B) {
	const reply = "$JS.ACK.AUDIT.toolwatch-detector.1.600000.600123.1764892800000000000.41"
	var md jetstream.MsgMetadata
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !parseAckReply(reply, &md) {
			b.Fatal("refused")
		}
	}
}
