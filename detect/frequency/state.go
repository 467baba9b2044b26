package frequency

import (
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 1

// StateV1 is the snapshot of a frequency Detector (gob, see
// baseline.AppendGob). Keys are in their store's recency order (baseline.Store.RangeSeen), so equal states encode equally and a restore evicts as the original would.
// Per-key configs are not stored: they are resolved from the params of the
// restoring detector. Each key records the window and loop window sizes its
// state was counted in; where the restoring config differs, that part is
// reset as SetParams does.
type StateV1 struct {
	Version       int
	Ticked        int64
	TickedAt      int64 // watermark of the last tick; keys catch up to it
	Keys          []KeyV1
	Tools         []ToolV1
	KeysRejected  uint64
	KeysEvicted   uint64
	ToolsRejected uint64
	ToolsEvicted  uint64
}

// KeyV1 is one (agent, tool) key.
type KeyV1 struct {
	Agent, Tool string
	LastSeen    int64 // store idle clock, unix seconds
	Size        int64 // window of Rate, seconds
	LoopSize    int64 // loop window of Loop, seconds
	Rate        baseline.Rate
	Loop        LoopV1
}

// LoopV1 is a key's same-input loop state.
type LoopV1 struct {
	Counter baseline.Counter
	Top     baseline.TopK
	ArmedAt int64
	Peak    float32
	Thr     uint32
	Next    uint32
}

// ToolV1 is one tool-level (all agents) key.
type ToolV1 struct {
	Tool     string
	LastSeen int64
	Size     int64
	LoopSize int64
	Rate     baseline.Rate
	Loop     LoopV1
	Agents   baseline.Counter
	AgentsP  baseline.Profile
}

func loopDTO(l *loopState) LoopV1 {
	return LoopV1{Counter: l.c, Top: l.top, ArmedAt: l.armedAt, Peak: l.peak, Thr: l.thr, Next: l.next}
}

func (l *LoopV1) state() loopState {
	return loopState{c: l.Counter, top: l.Top, armedAt: l.ArmedAt, peak: l.Peak, thr: l.Thr, next: l.Next}
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := StateV1{Version: stateVersion, Ticked: d.ticked, TickedAt: d.tickedAt}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
		st.Keys = append(st.Keys, KeyV1{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size, LoopSize: ks.t.loopSize, Rate: ks.rate, Loop: loopDTO(&ks.loop)})
		return true
	})
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV1{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, LoopSize: ts.t.loopSize, Rate: ts.rate, Loop: loopDTO(&ts.loop), Agents: ts.agents, AgentsP: ts.agentsP})
		return true
	})
	return baseline.AppendSnapshot(b, "frequency state", &st)
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV1
	if err := baseline.DecodeSnapshot(data, "frequency state", &st, &st.Version, stateVersion); err != nil {
		return err
	}
	keys, tools := d.keys.Empty(), d.tools.Empty()
	for i := range st.Keys {
		k := &st.Keys[i]
		bk := baseline.Key{Agent: k.Agent, Tool: k.Tool}
		if keys.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate key %q/%q", k.Agent, k.Tool)
		}
		ks := keys.Put(bk, k.LastSeen, keyState{rate: k.Rate, loop: k.Loop.state(), gen: d.gen})
		ks.t = d.tuned[d.params.For(k.Agent, k.Tool)]
		if ks.t.rp.Size != k.Size {
			ks.rate = baseline.Rate{}
		}
		if ks.t.loopSize != k.LoopSize {
			ks.loop = loopState{}
		}
	}
	for i := range st.Tools {
		t := &st.Tools[i]
		bk := baseline.Key{Tool: t.Tool}
		if tools.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate tool %q", t.Tool)
		}
		ts := tools.Put(bk, t.LastSeen, toolState{keyState: keyState{rate: t.Rate, loop: t.Loop.state(), gen: d.gen}, agents: t.Agents, agentsP: t.AgentsP})
		ts.t = d.tuned[d.params.For("", t.Tool)]
		if ts.t.rp.Size != t.Size {
			ts.rate, ts.agents, ts.agentsP = baseline.Rate{}, baseline.Counter{}, baseline.Profile{}
		}
		if ts.t.loopSize != t.LoopSize {
			ts.loop = loopState{}
		}
	}
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	// Reported windows go back on the due index (a spare entry is
	// harmless: Tick then only catches the key up).
	var due baseline.Due[baseline.Key]
	keys.RangeSeen(func(k baseline.Key, _ int64, ks *keyState) bool {
		if ks.rate.Reported > 0 && ks.rate.Start != 0 {
			ks.due = ks.rate.Start + ks.t.rp.Size
			due.Push(ks.due, k)
		}
		return true
	})
	d.keys, d.tools, d.ticked, d.tickedAt, d.due = keys, tools, st.Ticked, st.TickedAt, due
	if d.tickedAt == 0 {
		d.tickedAt = st.Ticked // a snapshot from before TickedAt
	}
	return nil
}

var _ detect.State = (*Detector)(nil)
