package chain

import (
	"errors"
	"fmt"
	"time"
)

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the snapshot of a Verifier (gob via appendGob): every
// producer's chain position, remembered hashes and pending records, and
// the agents that chain. Params and keys are not stored.
type State struct {
	Version           int
	Producers         []ProducerState // in recency order (baseline.Store.RangeSeen)
	Agents            []AgentState
	Rejected, Evicted uint64 // producer capacity and idle evictions
	Stats             Stats
}

// ProducerState is one producer's chain state.
type ProducerState struct {
	Name      string
	LastSeen  int64
	Next      int64
	Head      [32]byte
	HeadKnown bool
	LastCkpt  int64
	CkptAt    time.Time
	CkptDue   bool
	History   []HistState // non-empty slots
	Pending   []PendingState
}

// HistState is one remembered seq.
type HistState struct {
	Seq  int64
	Hash [32]byte
	OK   bool
	Ref  int64
}

// PendingState is one record held out of order.
type PendingState struct {
	Seq                                                      int64
	Prev, Hash                                               [32]byte
	OK, Ckpt                                                 bool
	Ref                                                      int64
	Time                                                     time.Time
	Agent, Tool, ToolVersion, Environment, Trace, Span, Task string
}

// AgentState is one agent whose records are chained.
type AgentState struct {
	Name     string
	LastSeen int64
	Stopped  bool
}

// MarshalState appends the verifier's complete state to b.
func (v *Verifier) MarshalState(b []byte) ([]byte, error) {
	st := State{Version: StateVersion, Stats: v.stats}
	st.Evicted, st.Rejected = v.producers.Evictions()
	v.producers.RangeSeen(func(name string, seen int64, p *producer) bool {
		ps := ProducerState{Name: name, LastSeen: seen, Next: p.next, Head: p.head, HeadKnown: p.headKnown,
			LastCkpt: p.lastCkpt, CkptAt: p.ckptAt, CkptDue: p.ckptDue}
		for _, h := range p.history {
			if h.seq > 0 {
				ps.History = append(ps.History, HistState{Seq: h.seq, Hash: h.hash, OK: h.ok, Ref: h.ref})
			}
		}
		for _, e := range p.pending {
			ps.Pending = append(ps.Pending, PendingState{Seq: e.seq, Prev: e.prev, Hash: e.hash, OK: e.ok, Ckpt: e.ckpt,
				Ref: e.ref, Time: e.ts, Agent: e.id.agent, Tool: e.id.tool, ToolVersion: e.id.version,
				Environment: e.id.env, Trace: e.id.trace, Span: e.id.span, Task: e.id.task})
		}
		st.Producers = append(st.Producers, ps)
		return true
	})
	v.agents.RangeSeen(func(name string, seen int64, a *agent) bool {
		st.Agents = append(st.Agents, AgentState{Name: name, LastSeen: seen, Stopped: a.stopped})
		return true
	})
	return appendGob(b, &st)
}

var errState = errors.New("malformed chain state")

// UnmarshalState replaces the state with the decoded one; on error the
// verifier is unchanged.
func (v *Verifier) UnmarshalState(data []byte) error {
	var st State
	if err := decodeGob(data, &st); err != nil {
		return err
	}
	if st.Version != StateVersion {
		return fmt.Errorf("chain state: unsupported version %d", st.Version)
	}
	producers, agents := v.producers.Empty(), v.agents.Empty()
	npending := 0
	for _, ps := range st.Producers {
		if ps.Name == "" || ps.Next < 0 || ps.LastCkpt < 0 || ps.LastCkpt >= max(ps.Next, 1) || producers.Peek(ps.Name) != nil {
			return fmt.Errorf("%w: producer %q", errState, ps.Name)
		}
		p := producer{next: ps.Next, head: ps.Head, headKnown: ps.HeadKnown, lastCkpt: ps.LastCkpt, ckptAt: ps.CkptAt.UTC(), ckptDue: ps.CkptDue}
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
				ref: e.Ref, ts: e.Time.UTC(), id: ident{e.Agent, e.Tool, e.ToolVersion, e.Environment, e.Trace, e.Span, e.Task}})
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
