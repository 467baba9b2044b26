package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// StateVersion is the record version this package writes. It is the
// first explicit record of the verifier (the gob encoding before it never
// shipped in a release and is not read).
const StateVersion = 1

// StateV1 is the snapshot record of a Verifier (the section
// detector/chain_integrity), written field by field in the order declared
// (internal/encoding), then a CRC-32C:
//
//	uvarint version 1, uvarint Rejected, uvarint Evicted,
//	9 × uvarint Stats (in the order of Stats' fields),
//	uvarint count, Producers; uvarint count, Agents
//	producer: str Name, varint LastSeen, varint Next, 32 bytes Head,
//	          bool HeadKnown, varint LastCkpt, time CkptAt, bool CkptDue,
//	          uvarint count, History; uvarint count, Pending
//	history:  varint Seq, 32 bytes Hash, bool OK, varint Ref
//	pending:  varint Seq, 32 bytes Prev, 32 bytes Hash, bool OK, bool Ckpt,
//	          varint Ref, time Time, str Agent Tool ToolVersion Environment
//	          Trace Span Task
//	agent:    str Name, varint LastSeen, bool Stopped
//
// Producers and agents are in their store's recency order
// (baseline.Store.RangeSeen), history in ring-slot order and pending by
// seq, so equal states encode equally. Params and keys are not stored.
type StateV1 struct {
	Rejected, Evicted uint64 // producer capacity and idle evictions
	Stats             Stats
	Producers         []ProducerV1
	Agents            []AgentV1
}

// ProducerV1 is one producer's chain state.
type ProducerV1 struct {
	Name      string
	LastSeen  int64 // store idle clock, unix seconds
	Next      int64
	Head      [32]byte
	HeadKnown bool
	LastCkpt  int64
	CkptAt    time.Time
	CkptDue   bool
	History   []HistV1 // non-empty ring slots
	Pending   []PendingV1
}

// HistV1 is one remembered seq.
type HistV1 struct {
	Seq  int64
	Hash [32]byte
	OK   bool
	Ref  int64
}

// PendingV1 is one record held out of order, with the identity a later
// finding names.
type PendingV1 struct {
	Seq                                                      int64
	Prev, Hash                                               [32]byte
	OK, Ckpt                                                 bool
	Ref                                                      int64
	Time                                                     time.Time
	Agent, Tool, ToolVersion, Environment, Trace, Span, Task string
}

// AgentV1 is one agent whose records are chained.
type AgentV1 struct {
	Name     string
	LastSeen int64
	Stopped  bool
}

// Smallest encodings, bounding the counts a record may claim.
const (
	minHist     = 1 + 32 + 1 + 1
	minPending  = 1 + 32 + 32 + 1 + 1 + 1 + 1 + 7
	minProducer = 1 + 1 + 1 + 32 + 1 + 1 + 1 + 1 + 1 + 1
	minAgent    = 1 + 1 + 1
)

func (s *Stats) fields() [9]*uint64 {
	return [9]*uint64{&s.Records, &s.Unchained, &s.Chained, &s.Accepted, &s.Duplicates, &s.Stale,
		&s.CheckpointsValid, &s.CheckpointsBad, &s.CheckpointsUnknownKey}
}

func (st *StateV1) put(e *encoding.Encbuf) {
	e.PutUvarint(st.Rejected)
	e.PutUvarint(st.Evicted)
	for _, n := range st.Stats.fields() {
		e.PutUvarint(*n)
	}
	e.PutUvarint(uint64(len(st.Producers)))
	for i := range st.Producers {
		p := &st.Producers[i]
		e.PutUvarintStr(p.Name)
		e.PutVarint(p.LastSeen)
		e.PutVarint(p.Next)
		e.B = append(e.B, p.Head[:]...)
		e.PutBool(p.HeadKnown)
		e.PutVarint(p.LastCkpt)
		e.PutTime(p.CkptAt)
		e.PutBool(p.CkptDue)
		e.PutUvarint(uint64(len(p.History)))
		for _, h := range p.History {
			e.PutVarint(h.Seq)
			e.B = append(e.B, h.Hash[:]...)
			e.PutBool(h.OK)
			e.PutVarint(h.Ref)
		}
		e.PutUvarint(uint64(len(p.Pending)))
		for j := range p.Pending {
			q := &p.Pending[j]
			e.PutVarint(q.Seq)
			e.B = append(e.B, q.Prev[:]...)
			e.B = append(e.B, q.Hash[:]...)
			e.PutBool(q.OK)
			e.PutBool(q.Ckpt)
			e.PutVarint(q.Ref)
			e.PutTime(q.Time)
			for _, s := range [...]string{q.Agent, q.Tool, q.ToolVersion, q.Environment, q.Trace, q.Span, q.Task} {
				e.PutUvarintStr(s)
			}
		}
	}
	e.PutUvarint(uint64(len(st.Agents)))
	for _, a := range st.Agents {
		e.PutUvarintStr(a.Name)
		e.PutVarint(a.LastSeen)
		e.PutBool(a.Stopped)
	}
}

// getHash reads 32 bytes as four big-endian words (the bytes in order).
func getHash(d *encoding.Decbuf, h *[32]byte) {
	for i := 0; i < len(h); i += 8 {
		binary.BigEndian.PutUint64(h[i:], d.BE64())
	}
}

func getStateV1(d *encoding.Decbuf) StateV1 {
	st := StateV1{Rejected: d.Uvarint(), Evicted: d.Uvarint()}
	for _, n := range st.Stats.fields() {
		*n = d.Uvarint()
	}
	st.Producers = make([]ProducerV1, d.Count(minProducer))
	for i := range st.Producers {
		if d.Err() != nil {
			break
		}
		p := &st.Producers[i]
		p.Name, p.LastSeen, p.Next = d.UvarintStr(), d.Varint(), d.Varint()
		getHash(d, &p.Head)
		p.HeadKnown, p.LastCkpt, p.CkptAt, p.CkptDue = d.Bool(), d.Varint(), d.Time(), d.Bool()
		if n := d.Count(minHist); n > 0 {
			p.History = make([]HistV1, n)
			for j := range p.History {
				h := &p.History[j]
				h.Seq = d.Varint()
				getHash(d, &h.Hash)
				h.OK, h.Ref = d.Bool(), d.Varint()
			}
		}
		if n := d.Count(minPending); n > 0 {
			p.Pending = make([]PendingV1, n)
			for j := range p.Pending {
				if d.Err() != nil {
					break
				}
				q := &p.Pending[j]
				q.Seq = d.Varint()
				getHash(d, &q.Prev)
				getHash(d, &q.Hash)
				q.OK, q.Ckpt, q.Ref, q.Time = d.Bool(), d.Bool(), d.Varint(), d.Time()
				for _, s := range [...]*string{&q.Agent, &q.Tool, &q.ToolVersion, &q.Environment, &q.Trace, &q.Span, &q.Task} {
					*s = d.UvarintStr()
				}
			}
		}
	}
	st.Agents = make([]AgentV1, d.Count(minAgent))
	for i := range st.Agents {
		st.Agents[i] = AgentV1{Name: d.UvarintStr(), LastSeen: d.Varint(), Stopped: d.Bool()}
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[StateV1]{1: getStateV1}

// encode writes st as the current version.
func (st *StateV1) encode(b []byte) []byte {
	size := 32 + len(st.Agents)*(minAgent+16)
	for i := range st.Producers {
		p := &st.Producers[i]
		size += minProducer + len(p.Name) + len(p.History)*(minHist+8) + len(p.Pending)*(minPending+128)
	}
	e := encoding.Encbuf{B: slices.Grow(b, size)}
	e.PutUvarint(StateVersion)
	st.put(&e)
	e.PutCRC32(len(b))
	return e.Get()
}

// MarshalState appends the verifier's complete state to b.
func (v *Verifier) MarshalState(b []byte) ([]byte, error) {
	return v.CaptureState()(b), nil
}

// CaptureState copies the verifier's state (sharing nothing mutable with
// it; the identity strings are immutable) and returns the function that
// writes it, on any goroutine: MarshalState is both in one step. The
// history rings and pending records are copied whole into two arenas
// (bulk copies, two allocations); the encoder turns them into the record.
func (v *Verifier) CaptureState() func(b []byte) []byte {
	st := &StateV1{Stats: v.stats, Producers: make([]ProducerV1, 0, v.producers.Len()), Agents: make([]AgentV1, 0, v.agents.Len())}
	st.Evicted, st.Rejected = v.producers.Evictions()
	nh, np := 0, 0
	v.producers.Range(func(_ string, p *producer) bool {
		nh, np = nh+len(p.history), np+len(p.pending)
		return true
	})
	hists, pending := make([]hist, 0, nh), make([]entry, 0, np)
	ends := make([][2]int, 0, v.producers.Len()) // ends of each producer's history and pending
	v.producers.RangeSeen(func(name string, seen int64, p *producer) bool {
		st.Producers = append(st.Producers, ProducerV1{Name: name, LastSeen: seen, Next: p.next, Head: p.head, HeadKnown: p.headKnown,
			LastCkpt: p.lastCkpt, CkptAt: p.ckptAt, CkptDue: p.ckptDue})
		hists, pending = append(hists, p.history...), append(pending, p.pending...)
		ends = append(ends, [2]int{len(hists), len(pending)})
		return true
	})
	v.agents.RangeSeen(func(name string, seen int64, a *agent) bool {
		st.Agents = append(st.Agents, AgentV1{Name: name, LastSeen: seen, Stopped: a.stopped})
		return true
	})
	return func(b []byte) []byte {
		var h0, p0 int
		for i, end := range ends {
			ps := &st.Producers[i]
			ps.History, ps.Pending = ps.History[:0], ps.Pending[:0]
			for _, h := range hists[h0:end[0]] {
				if h.seq > 0 { // an empty ring slot
					ps.History = append(ps.History, HistV1{Seq: h.seq, Hash: h.hash, OK: h.ok, Ref: h.ref})
				}
			}
			for j := range pending[p0:end[1]] {
				e := &pending[p0+j]
				ps.Pending = append(ps.Pending, PendingV1{Seq: e.seq, Prev: e.prev, Hash: e.hash, OK: e.ok, Ckpt: e.ckpt,
					Ref: e.ref, Time: e.ts, Agent: e.id.agent, Tool: e.id.tool, ToolVersion: e.id.version,
					Environment: e.id.env, Trace: e.id.trace, Span: e.id.span, Task: e.id.task})
			}
			h0, p0 = end[0], end[1]
		}
		return st.encode(b)
	}
}

var errState = errors.New("malformed chain state")

// UnmarshalState replaces the state with the decoded one; on error the
// verifier is unchanged.
func (v *Verifier) UnmarshalState(data []byte) error {
	st, _, err := stateDecoders.Decode("chain state", data)
	if err != nil {
		return err
	}
	producers, agents := v.producers.Empty(), v.agents.Empty()
	npending := 0
	for i := range st.Producers {
		ps := &st.Producers[i]
		if ps.Name == "" || ps.Next < 0 || ps.LastCkpt < 0 || ps.LastCkpt >= max(ps.Next, 1) || producers.Peek(ps.Name) != nil {
			return fmt.Errorf("%w: producer %q", errState, ps.Name)
		}
		p := producer{next: ps.Next, head: ps.Head, headKnown: ps.HeadKnown, lastCkpt: ps.LastCkpt, ckptAt: ps.CkptAt, ckptDue: ps.CkptDue}
		if h := v.p.History; h > 0 && len(ps.History) > 0 {
			p.history = make([]hist, h)
			for _, hs := range ps.History {
				if hs.Seq <= 0 || hs.Seq >= ps.Next {
					return fmt.Errorf("%w: producer %q: remembered seq %d", errState, ps.Name, hs.Seq)
				}
				// With a smaller History now, newer seqs overwrite older ones.
				if slot := &p.history[hs.Seq%int64(h)]; hs.Seq > slot.seq {
					*slot = hist{seq: hs.Seq, hash: hs.Hash, ok: hs.OK, ref: hs.Ref}
				}
			}
		}
		last := ps.Next
		for _, e := range ps.Pending {
			if ps.Next == 0 || e.Seq <= last {
				return fmt.Errorf("%w: producer %q: pending seq %d", errState, ps.Name, e.Seq)
			}
			last = e.Seq
			p.pending = append(p.pending, entry{seq: e.Seq, prev: e.Prev, hash: e.Hash, ok: e.OK, ckpt: e.Ckpt,
				ref: e.Ref, ts: e.Time, id: ident{e.Agent, e.Tool, e.ToolVersion, e.Environment, e.Trace, e.Span, e.Task}})
		}
		if len(p.pending) > 0 {
			npending++
		}
		producers.Put(ps.Name, ps.LastSeen, p)
	}
	for _, as := range st.Agents {
		if agents.Peek(as.Name) != nil {
			return fmt.Errorf("%w: agent %q repeated", errState, as.Name)
		}
		agents.Put(as.Name, as.LastSeen, agent{stopped: as.Stopped})
	}
	producers.SetCounters(st.Evicted, st.Rejected)
	producers.SetRecycle(v.recycle)
	v.producers, v.agents, v.npending, v.stats = producers, agents, npending, st.Stats
	return nil
}
