package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/record"
)

// Deliveries come out in the order they went in, across batches and ring
// wrap-arounds, with at most size slots filled, queued or being applied;
// stop makes a waiting producer give up and leaves the queue to take.
func TestHandoffOrderBoundStop(t *testing.T) {
	const size, total = 8, 1000
	h := newHandoff(size)
	var inUse atomic.Int64 // slots claimed by the producer and not yet released by take
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := h.claim()
		for i := 1; i <= total; i++ {
			if d == nil {
				t.Errorf("claim %d refused before stop", i)
				return
			}
			inUse.Add(1)
			d.rec.Invocation.DurationMS = float64(i)
			d = h.put()
		}
	}()
	next := 1
	prev := 0
	for next <= total {
		select {
		case <-h.ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up after %d deliveries", next-1)
		}
		inUse.Add(-int64(prev)) // take releases the previous batch
		a, b := h.take()
		prev = len(a) + len(b)
		if n := inUse.Load(); n > size {
			t.Fatalf("%d slots in use, bound %d", n, size)
		}
		for _, run := range [][]delivery{a, b} {
			for _, d := range run {
				if got := int(d.rec.Invocation.DurationMS); got != next {
					t.Fatalf("delivery %d out of order: got %d", next, got)
				}
				next++
			}
		}
	}
	h.take() // the last batch was applied: the producer's last claim gets room
	<-done
	h.take() // and its slot, never put, is not queued

	// Fill to the bound (the producer's own slot counts): the next put
	// queues its slot, waits for another until stop and gets none.
	d := h.claim()
	for i := 1; i < size; i++ {
		d.rec.Invocation.DurationMS = float64(i)
		if d = h.put(); d == nil {
			t.Fatal("put refused below the bound")
		}
	}
	refused := make(chan bool)
	go func() { refused <- h.put() == nil }()
	select {
	case <-refused:
		t.Fatal("put beyond the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	h.stop()
	if !<-refused {
		t.Fatal("put after stop returned a slot")
	}
	a, b := h.take()
	if got := len(a) + len(b); got != size {
		t.Fatalf("after stop take returned %d queued, want %d", got, size)
	}
	if h.claim() != nil {
		t.Fatal("claim after stop returned a slot")
	}
}

// decodingRecorder is a recorder that is also a Decoder: Decode puts the
// payload in TraceID (so HandleMessage can check it got its own message's
// record) and fails payloads starting with "bad".
type decodingRecorder struct {
	*recorder
	decodes atomic.Int64
	wrong   atomic.Int64 // HandleMessage saw no record, or another message's
}

func (r *decodingRecorder) Decode(data []byte, rec *record.Record) error {
	r.decodes.Add(1)
	rec.Reset()
	rec.TraceID = string(data)
	if strings.HasPrefix(rec.TraceID, "bad") {
		return errors.New("bad record")
	}
	return nil
}

func (r *decodingRecorder) HandleMessage(m *Message) Result {
	if m.Record == nil || m.Record.TraceID != string(m.Data) ||
		(m.DecodeErr != nil) != strings.HasPrefix(string(m.Data), "bad") {
		r.wrong.Add(1)
	}
	return r.recorder.HandleMessage(m)
}

// The pipelined consume loop with a Decoder handler: every record reaches
// HandleMessage once, in stream order, with its own decoded record (the
// ring of 50 slots wraps around many times); no ack ever passes a record
// not yet applied; a stop under load applies and acks what was handed
// over, and the next run continues after it with nothing lost or applied
// twice.
func TestJetStreamPipelinedDecodeApplyAck(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	cfg.BatchSize = 50
	ensureStream(t, nc, cfg)
	const n = 3000
	publishMany(t, nc, 0, n)

	h := &decodingRecorder{recorder: newRecorder()}
	var mu sync.Mutex
	applied := uint64(0) // highest stream seq handled; handled in order, so all below too
	h.onMsg = func(_ int, m *Message) {
		mu.Lock()
		defer mu.Unlock()
		if m.StreamSeq != applied+1 {
			t.Errorf("seq %d handled after %d", m.StreamSeq, applied)
		}
		applied = m.StreamSeq
	}
	checkAck := func(msg jetstream.Msg) error {
		mu.Lock()
		a := applied
		mu.Unlock()
		if s := ackSeq(msg); s > a {
			t.Errorf("ack of seq %d sent with only %d applied", s, a)
		}
		return msg.Ack()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopAt atomic.Uint64
	onMsg := h.onMsg
	h.onMsg = func(k int, m *Message) {
		onMsg(k, m)
		if k == 1100 {
			stopAt.Store(m.StreamSeq)
			cancel() // mid-stream: deliveries are queued in the ring and in the client
		}
	}
	c1, _ := newConsumer(t, nc, cfg, time.Second)
	c1.ack = checkAck
	if err := c1.Run(ctx, h); err != nil {
		t.Fatal(err)
	}
	first := h.distinct()
	if first < 1100 || first >= n {
		t.Fatalf("first run handled %d records, want between 1100 and %d", first, n)
	}
	info := consumerInfo(t, nc, cfg)
	if info.AckFloor.Stream != c1.LastApplied() || c1.LastApplied() != uint64(first) {
		t.Fatalf("after stop: server ack floor %d, LastApplied %d, handled %d: want all equal",
			info.AckFloor.Stream, c1.LastApplied(), first)
	}

	c2, _ := newConsumer(t, nc, cfg, time.Second)
	c2.ack = checkAck
	h.onMsg = onMsg
	stop := run(t, c2, h)
	waitFor(t, "every record handled", func() bool { return h.distinct() == n })
	waitFor(t, "all acked", acked(nc, cfg, n))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	order, count, _, _ := h.snapshot()
	if len(order) != n {
		t.Errorf("%d handler calls for %d records", len(order), n)
	}
	for seq := uint64(1); seq <= n; seq++ {
		if count[seq] != 1 {
			t.Fatalf("seq %d handled %d times over both runs, want 1", seq, count[seq])
		}
	}
	if w := h.wrong.Load(); w != 0 {
		t.Errorf("%d records reached HandleMessage without their own decoded record", w)
	}
	if d := h.decodes.Load(); d < n {
		t.Errorf("Decode called %d times for %d records", d, n)
	}
	t.Logf("stopped at seq %d, %d handled in the first run", stopAt.Load(), first)
}

// A record the Decoder rejects is dead-lettered like one the handler
// rejects; the records around it are applied.
func TestJetStreamPipelinedDecodeErrorDeadLetters(t *testing.T) {
	_, url := startEmbedded(t, 0, t.TempDir())
	nc := connect(t, url)
	cfg := testConfig()
	ensureStream(t, nc, cfg)
	dead := make(chan string, 4)
	sub, err := nc.Subscribe(cfg.DeadLetterSubject, func(m *nats.Msg) { dead <- string(m.Data) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	publishJS(t, nc, "audit.records.prod.a", "ok-1", "bad-2", "ok-3")

	h := &decodingRecorder{recorder: newRecorder()}
	c, _ := newConsumer(t, nc, cfg, time.Second)
	stop := run(t, c, h)
	select {
	case got := <-dead:
		if got != "bad-2" {
			t.Fatalf("dead-lettered %q, want bad-2", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing dead-lettered")
	}
	waitFor(t, "all acked", acked(nc, cfg, 3))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	_, _, data, _ := h.snapshot()
	if fmt.Sprint(data) != "[ok-1 bad-2 ok-3]" {
		t.Errorf("handled %v", data)
	}
	if h.wrong.Load() != 0 {
		t.Error("a record reached HandleMessage without its own decoded record")
	}
}
