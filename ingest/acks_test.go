package ingest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ackServer models a JetStream AckAll consumer's ack state as nats-server
// keeps it (consumer.go processAckMsgLocked): an ack is ignored when its
// delivery sequence is at or below adflr or its stream sequence at or
// below asflr; otherwise every delivered record up to it is acked.
type ackServer struct {
	adflr, asflr uint64
	dseq         uint64
	acks         []uint64 // stream seqs of the acks that moved the floor
}

func (s *ackServer) ack(sseq, dseq uint64) {
	if dseq <= s.adflr || sseq <= s.asflr {
		return
	}
	s.adflr, s.asflr = dseq, sseq
	s.acks = append(s.acks, sseq)
}

// fakeMsg is one delivery; only what process uses is implemented.
type fakeMsg struct {
	jetstream.Msg
	md   jetstream.MsgMetadata
	data []byte
}

func (m *fakeMsg) Metadata() (*jetstream.MsgMetadata, error) { return &m.md, nil }
func (m *fakeMsg) Subject() string                           { return "audit.records.prod.a" }
func (m *fakeMsg) Data() []byte                              { return m.data }
func (m *fakeMsg) Headers() nats.Header                      { return nil }

// Reply is no ack subject: the model sends no NAK for a lost delivery
// (nakLost; its redelivery is a step of the test).
func (m *fakeMsg) Reply() string { return "" }

// A delivery step: stream seq, and whether the client loses it in flight.
type step struct {
	seq  uint64
	lost bool
	// dropAcks: acks sent from this step on are lost until a step clears it.
	dropAcks, keepAcks bool
	// flush: the ack timer fires after this step.
	flush bool
}

func TestBatchedAcksNeverPassAGap(t *testing.T) {
	tests := []struct {
		name  string
		every int
		steps []step
		// stream: the seqs on the consumer's subject (the others are
		// another subject's, skipped by the server).
		last     uint64
		skip     []uint64
		wantAcks []uint64 // stream seqs of the acks that moved the server's floor
		wantAsfl uint64
	}{
		{name: "in order", every: 4, last: 10,
			steps:    seqSteps(1, 10, step{seq: 10, flush: true}),
			wantAcks: []uint64{4, 8, 10}, wantAsfl: 10},
		{name: "lost in flight, redelivered", every: 4, last: 10,
			steps: append(seqSteps(1, 10, step{seq: 3, lost: true}, step{seq: 10, flush: true}),
				step{seq: 3, flush: true}),
			wantAcks: []uint64{2, 10}, wantAsfl: 10},
		{name: "other subjects in the stream", every: 3, last: 12, skip: []uint64{3, 4, 7, 11},
			steps:    []step{{seq: 1}, {seq: 2}, {seq: 5}, {seq: 6}, {seq: 8}, {seq: 9}, {seq: 10}, {seq: 12, flush: true}},
			wantAcks: []uint64{5, 9, 12}, wantAsfl: 12},
		{name: "lost ack: redeliveries of applied records ack again", every: 100, last: 5,
			steps: append(seqSteps(1, 5, step{seq: 5, dropAcks: true, flush: true}),
				step{seq: 1, keepAcks: true}, step{seq: 2}, step{seq: 3}, step{seq: 4}, step{seq: 5, flush: true}),
			wantAcks: []uint64{5}, wantAsfl: 5},
		{name: "gap, then a redelivery above it", every: 2, last: 6,
			steps: []step{{seq: 1}, {seq: 2, lost: true}, {seq: 3}, {seq: 4}, {seq: 5, flush: true},
				{seq: 3, flush: true}, // ack_wait: 3 comes again before 2
				{seq: 2}, {seq: 6, flush: true}},
			wantAcks: []uint64{1, 6}, wantAsfl: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &ackServer{}
			c := &Consumer{m: NewMetrics(nil), tr: newSeqTracker(0), ak: acker{every: tt.every}}
			dropping := false
			c.ack = func(m jetstream.Msg) error {
				if !dropping {
					md, _ := m.Metadata()
					srv.ack(md.Sequence.Stream, md.Sequence.Consumer)
				}
				return nil
			}
			applied := map[uint64]bool{}
			h := handlerFunc(func(m *Message) Result {
				if applied[m.StreamSeq] {
					t.Errorf("seq %d applied twice", m.StreamSeq)
				}
				applied[m.StreamSeq] = true
				return Result{}
			})
			delivered := map[uint64]int{}
			for _, s := range tt.steps {
				if s.keepAcks {
					dropping = false
				}
				srv.dseq++
				delivered[s.seq]++
				if !s.lost {
					m := &fakeMsg{md: jetstream.MsgMetadata{
						Sequence:     jetstream.SequencePair{Stream: s.seq, Consumer: srv.dseq},
						NumDelivered: uint64(delivered[s.seq]),
					}}
					c.process(&delivery{m: m, md: &m.md}, h)
				}
				if s.dropAcks {
					dropping = true
				}
				if s.flush {
					c.flushAcks()
				}
				// Never acked past a record that was not processed.
				for q := uint64(1); q <= srv.asflr; q++ {
					if !applied[q] && !slices.Contains(tt.skip, q) {
						t.Fatalf("after delivering %d: server ack floor %d passes unprocessed seq %d", s.seq, srv.asflr, q)
					}
				}
			}
			if fmt.Sprint(srv.acks) != fmt.Sprint(tt.wantAcks) || srv.asflr != tt.wantAsfl {
				t.Errorf("acks %v, floor %d; want %v, %d", srv.acks, srv.asflr, tt.wantAcks, tt.wantAsfl)
			}
			if c.tr.floor != tt.last {
				t.Errorf("processed floor %d, want %d", c.tr.floor, tt.last)
			}
			if len(c.ak.held) != 0 {
				t.Errorf("%d handles still held", len(c.ak.held))
			}
		})
	}
}

// seqSteps is from..to in order, with the given steps replacing theirs.
func seqSteps(from, to uint64, over ...step) []step {
	var out []step
	for s := from; s <= to; s++ {
		st := step{seq: s}
		for _, o := range over {
			if o.seq == s {
				st = o
			}
		}
		out = append(out, st)
	}
	return out
}

type handlerFunc func(*Message) Result

func (f handlerFunc) HandleMessage(m *Message) Result { return f(m) }
func (handlerFunc) Idle(time.Time)                    {}
