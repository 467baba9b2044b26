package ingest

import (
	"testing"
	"time"
)

// Deliveries come out in the order they went in, across batches, with at
// most max queued or being applied; stop makes a waiting put give up.
func TestHandoffOrderBoundStop(t *testing.T) {
	const max, total = 8, 1000
	h := newHandoff(max)
	done := make(chan struct{})
	go func() {
		defer close(done)
		d := new(delivery)
		for i := 1; i <= total; i++ {
			d.rec.Invocation.DurationMS = float64(i)
			var ok bool
			if d, ok = h.put(d); !ok {
				t.Errorf("put %d refused before stop", i)
				return
			}
		}
	}()
	var batch []*delivery
	next := 1
	for next <= total {
		select {
		case <-h.ready:
		case <-time.After(10 * time.Second):
			t.Fatalf("no wake-up after %d deliveries", next-1)
		}
		batch = h.take(batch)
		if len(batch) > max {
			t.Fatalf("batch of %d, bound %d", len(batch), max)
		}
		for _, d := range batch {
			if got := int(d.rec.Invocation.DurationMS); got != next {
				t.Fatalf("delivery %d out of order: got %d", next, got)
			}
			next++
		}
	}
	<-done
	h.take(batch) // the last batch is applied: nothing busy

	// Fill to the bound; the next put waits until stop and is refused.
	for i := 0; i < max; i++ {
		if _, ok := h.put(new(delivery)); !ok {
			t.Fatal("put refused below the bound")
		}
	}
	refused := make(chan bool)
	go func() {
		_, ok := h.put(new(delivery))
		refused <- !ok
	}()
	select {
	case <-refused:
		t.Fatal("put beyond the bound did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	h.stop()
	if !<-refused {
		t.Fatal("put after stop was queued")
	}
	if got := len(h.take(nil)); got != max {
		t.Fatalf("after stop take returned %d queued, want %d", got, max)
	}
}
