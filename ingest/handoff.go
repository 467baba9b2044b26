package ingest

import (
	"errors"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/toolwatch/toolwatch/record"
)

// delivery is one JetStream message with its parsed metadata and, for a
// Decoder handler, its record decoded on the delivery goroutine.
type delivery struct {
	m   jetstream.Msg
	md  *jetstream.MsgMetadata // &mdv in a handoff slot
	mdv jetstream.MsgMetadata
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

// errNotAckReply: a delivery whose reply subject is not a JetStream ack
// subject (cannot happen on a pull consumer).
var errNotAckReply = errors.New("jetstream message without an ack subject")

// parseAckReply reads the delivery count, stream and consumer sequences and
// pending count from a delivery's ack subject into md, as the server reads
// them (nats-server ackReplyInfo: 9 tokens, or 11 and more with domain and
// account hash), without allocating: Msg.Metadata allocates per message on
// the delivery goroutine. Only those four fields of md are set.
func parseAckReply(reply string, md *jetstream.MsgMetadata) bool {
	const prefix = "$JS.ACK."
	if !strings.HasPrefix(reply, prefix) {
		return false
	}
	var starts [12]int // token starts; tokens 0 and 1 are the prefix
	n := 2
	starts[2] = len(prefix)
	for i := len(prefix); i < len(reply); i++ {
		if reply[i] == '.' {
			if n+1 < len(starts) {
				starts[n+1] = i + 1
			}
			n++
		}
	}
	n++ // token count
	off := 2
	switch {
	case n == 9:
	case n >= 11:
		off = 4
	default:
		return false
	}
	tok := func(i int) string {
		end := len(reply)
		if i+1 < n && i+1 < len(starts) {
			end = starts[i+1] - 1
		}
		return reply[starts[i]:end]
	}
	var ok [4]bool
	md.NumDelivered, ok[0] = parseUint(tok(off + 2))
	md.Sequence.Stream, ok[1] = parseUint(tok(off + 3))
	md.Sequence.Consumer, ok[2] = parseUint(tok(off + 4))
	md.NumPending, ok[3] = parseUint(tok(off + 6))
	return ok == [4]bool{true, true, true, true}
}

// parseUint is strconv.ParseUint(s, 10, 64) for decimal digits only.
func parseUint(s string) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			return 0, false
		}
		if v > (1<<64-1-uint64(c))/10 {
			return 0, false
		}
		v = v*10 + uint64(c)
	}
	return v, true
}
