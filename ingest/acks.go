package ingest

import (
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Batched acknowledgements. The durable uses AckAll: one ack of stream
// sequence S acknowledges every record the consumer delivered up to S, so
// the consumer acks only the record at the processed floor (tr.floor:
// every seq at or below it is done), at most every ackEvery records or
// ackInterval, instead of one ack publish per record. A record lost in
// flight keeps the floor below it, so no ack ever passes a record that was
// not processed. The server ignores an AckAll whose stream sequence is at
// or below its ack floor or whose delivery (consumer) sequence is at or
// below the one of the last ack (nats-server consumer.go,
// processAckMsgLocked), so a held handle is only used while its delivery
// sequence is above the last one sent.

const (
	// ackEveryMax bounds the records one ack covers; it is also kept well
	// below max_ack_pending (ackEvery), or delivery would stall until the
	// timer flushed.
	ackEveryMax = 256
	// ackInterval bounds how long a processed record stays unacked while
	// records keep arriving (the Run goroutine flushes on this tick).
	ackInterval = 20 * time.Millisecond
)

// ackEvery is the number of processed records after which the floor is
// acked.
func ackEvery(maxAckPending int) int {
	return max(1, min(ackEveryMax, maxAckPending/4))
}

// heldMsg is the handle of a record processed above a gap, kept until the
// floor reaches it (only while a gap exists).
type heldMsg struct {
	m    jetstream.Msg
	dseq uint64
}

// acker is the batched-ack state; used under Consumer.mu.
type acker struct {
	every int
	// msg is the handle to ack next (nil: nothing to ack): its stream seq
	// is at or below the floor and its delivery seq above sentD.
	msg       jetstream.Msg
	seq, dseq uint64
	n         int // records processed since the last ack
	// sentS, sentD: the stream and delivery sequence of the last ack sent.
	sentS, sentD uint64
	held         map[uint64]heldMsg
}

// reset forgets the handles (a new durable: its delivery sequences restart).
func (a *acker) reset() {
	a.msg, a.seq, a.dseq, a.n = nil, 0, 0, 0
	a.sentS, a.sentD = 0, 0
	clear(a.held)
}

// offer makes m (stream seq, delivery seq dseq, at or below the floor) the
// handle to ack if it covers more than the current one and the server
// would not ignore it.
func (a *acker) offer(m jetstream.Msg, seq, dseq uint64) {
	if dseq <= a.sentD || (a.msg != nil && seq <= a.seq) {
		return
	}
	a.msg, a.seq, a.dseq = m, seq, dseq
}

// applied records that the record (seq, dseq) was processed and the floor
// is now floor: the newest handle at the floor becomes the one to ack.
func (a *acker) applied(m jetstream.Msg, seq, dseq, floor uint64) {
	a.n++
	switch {
	case seq == floor:
		a.offer(m, seq, dseq)
	case seq > floor: // above a gap: kept until the floor reaches it
		if a.held == nil {
			a.held = map[uint64]heldMsg{}
		}
		a.held[seq] = heldMsg{m: m, dseq: dseq}
	default: // the floor moved past seq over records processed earlier
		if h, ok := a.held[floor]; ok && h.dseq > a.sentD {
			a.msg, a.seq, a.dseq = nil, 0, 0
			a.offer(h.m, floor, h.dseq)
		} else {
			a.offer(m, seq, dseq)
		}
	}
	a.dropHeld(floor)
}

// reached is told that the floor moved to floor without a delivery (gaps
// skipped): the held handle at the floor, if any, becomes the one to ack.
func (a *acker) reached(floor uint64) {
	if h, ok := a.held[floor]; ok && h.dseq > a.sentD {
		a.offer(h.m, floor, h.dseq)
	}
	a.dropHeld(floor)
}

// dropHeld forgets held handles at or below the floor.
func (a *acker) dropHeld(floor uint64) {
	if len(a.held) == 0 {
		return
	}
	for s := range a.held {
		if s <= floor {
			delete(a.held, s)
		}
	}
}

// due reports whether enough records wait for an ack.
func (a *acker) due() bool { return a.n >= a.every }

// take returns the handle to ack now (nil: none) and records it as sent.
func (a *acker) take() jetstream.Msg {
	m := a.msg
	a.n = 0
	if m == nil {
		return nil
	}
	a.sentS, a.sentD = max(a.sentS, a.seq), a.dseq
	a.msg, a.seq, a.dseq = nil, 0, 0
	return m
}

// sent records an ack sent outside take (a Term, which under AckAll acks
// every record up to seq too); a pending handle it covers is dropped.
func (a *acker) sent(seq, dseq uint64) {
	a.sentS, a.sentD = max(a.sentS, seq), max(a.sentD, dseq)
	if a.msg != nil && (a.seq <= seq || a.dseq <= a.sentD) {
		a.msg, a.seq, a.dseq = nil, 0, 0
	}
}

// chain infers, from the deliveries themselves, the stream seqs the
// server will never deliver. The server numbers every delivery
// (redeliveries too) with consecutive consumer sequences and makes first
// deliveries in stream order, skipping seqs not on the consumer's subject
// or deleted. So when every delivery since the last first delivery (stream
// seq last) arrived — no consumer sequence missing — the seqs between last
// and the next first delivery were skipped by the server. Without this a
// stream shared with other subjects would hold the floor, and the acks,
// below its first foreign message.
type chain struct {
	lastD    uint64 // consumer seq of the last delivery seen
	first    uint64 // stream seq of the last first delivery
	unbroken bool   // every delivery since first's was seen
}

// start sets the chain from the consumer's info: Delivered is the last
// delivery (consumer seq) and the last stream seq it delivered.
func (ch *chain) start(delivered jetstream.SequenceInfo) {
	ch.lastD, ch.first, ch.unbroken = delivered.Consumer, delivered.Stream, true
}

// next takes one delivery and returns the run of stream seqs [lo, hi] it
// shows to be skipped by the server (lo > hi: none).
func (ch *chain) next(seq, dseq, numDelivered uint64) (lo, hi uint64) {
	if dseq != ch.lastD+1 {
		ch.unbroken = false
	}
	ch.lastD = dseq
	if numDelivered != 1 {
		return 1, 0
	}
	lo, hi = 1, 0
	if ch.unbroken && seq > ch.first+1 {
		lo, hi = ch.first+1, seq-1
	}
	ch.first, ch.unbroken = seq, true
	return lo, hi
}
