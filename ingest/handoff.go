package ingest

import (
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/record"
)

// delivery is one JetStream message with its parsed metadata and, for a
// Decoder handler, its record decoded on the delivery goroutine.
type delivery struct {
	m   jetstream.Msg
	md  *jetstream.MsgMetadata
	err error

	decoded bool
	rec     record.Record
	decErr  error
}

// handoff carries deliveries, in order, from nats.go's delivery goroutine
// (the producer: metadata and decoding) to the Run goroutine (the
// consumer: apply and ack). It is a ring of recycled slots, so a record's
// decoded fields reuse their buffers and nothing is allocated per record.
// The producer pays one uncontended lock per message (publish the slot it
// filled, claim the next), the consumer one per batch: it takes every
// queued slot at once and is woken (ready) only when the queue goes from
// empty to non-empty or the producer waits for room. At most len(slots)
// deliveries are queued, being filled or being applied; beyond that the
// producer waits, so the records held unacked stay bounded (nats.go then
// holds back at most its prefetch).
type handoff struct {
	mu    sync.Mutex
	room  *sync.Cond // signalled when the consumer frees slots, or on stop
	slots []delivery
	// head is the first queued slot, n the number queued; the consumer's
	// busy slots precede head, the producer's slot follows the queue.
	head, n, busy int
	waiting       bool // the producer waits for room
	stopped       bool
	ready         chan struct{} // capacity 1
}

func newHandoff(size int) *handoff {
	h := &handoff{slots: make([]delivery, max(size, 2)), ready: make(chan struct{}, 1)}
	h.room = sync.NewCond(&h.mu)
	return h
}

// claim returns the slot the producer fills next, waiting for room; nil
// once stopped. Producer only; the slot is the producer's until put.
func (h *handoff) claim() *delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.claimLocked()
}

func (h *handoff) claimLocked() *delivery {
	// The producer's slot counts against the bound with the queue and the
	// busy slots.
	for h.n+h.busy+1 > len(h.slots) && !h.stopped {
		h.waiting = true
		h.signal() // the consumer frees room when it next takes
		h.room.Wait()
	}
	if h.stopped {
		return nil
	}
	return &h.slots[(h.head+h.n)%len(h.slots)]
}

// put queues the slot claim returned, filled, and claims the next one (nil
// once stopped: the filled slot is not queued either, and its message is
// left unacked). Producer only.
func (h *handoff) put() *delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil
	}
	h.n++
	if h.n == 1 {
		h.signal()
	}
	return h.claimLocked()
}

func (h *handoff) signal() {
	select {
	case h.ready <- struct{}{}:
	default:
	}
}

// take releases the batch the consumer applied last and returns the
// queued deliveries as up to two runs of the ring, in order. Consumer
// only; the slots stay the consumer's until the next take.
func (h *handoff) take() (a, b []delivery) {
	h.mu.Lock()
	start, n := h.head, h.n
	h.head = (h.head + n) % len(h.slots)
	h.n, h.busy = 0, n
	wake := h.waiting
	h.waiting = false
	h.mu.Unlock()
	if wake {
		h.room.Signal()
	}
	if end := start + n; end <= len(h.slots) {
		return h.slots[start:end], nil
	}
	return h.slots[start:], h.slots[:start+n-len(h.slots)]
}

// stop makes claim and put refuse from now on; what is queued can still be
// taken.
func (h *handoff) stop() {
	h.mu.Lock()
	h.stopped = true
	h.mu.Unlock()
	h.room.Broadcast()
}
