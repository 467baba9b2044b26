package denials

import (
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 1

// StateV1 is the snapshot of a denial Detector (gob, see
// baseline.AppendGob). Keys are in their store's recency order (baseline.Store.RangeSeen), so equal states encode equally and a restore evicts as the original would.
// Per-key configs are resolved from the restoring detector's params; a key
// whose window differs from the Size it was counted in has its rate
// baseline reset, as SetParams does.
type StateV1 struct {
	Version       int
	Ticked        int64
	Overflow      uint64
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
	Rate        baseline.Rate
	ProdAt      int64
	ProdN       uint32
	ProdNext    uint32
}

// ToolV1 is one tool's state: its rate over all agents and its seen sets
// (hashes, in insertion order).
type ToolV1 struct {
	Tool     string
	LastSeen int64
	Size     int64
	Rate     baseline.Rate
	Types    []uint64
	Actions  []uint64
	Since    int64
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := StateV1{Version: stateVersion, Ticked: d.ticked, Overflow: d.overflow}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
		st.Keys = append(st.Keys, KeyV1{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size,
			Rate: ks.rate, ProdAt: ks.prodAt, ProdN: ks.prodN, ProdNext: ks.prodNext})
		return true
	})
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV1{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, Rate: ts.rate,
			Types: ts.types, Actions: ts.actions, Since: ts.since})
		return true
	})
	return baseline.AppendSnapshot(b, "denial state", &st)
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV1
	if err := baseline.DecodeSnapshot(data, "denial state", &st, &st.Version, stateVersion); err != nil {
		return err
	}
	keys, tools := d.keys.Empty(), d.tools.Empty()
	for i := range st.Keys {
		k := &st.Keys[i]
		bk := baseline.Key{Agent: k.Agent, Tool: k.Tool}
		if keys.Peek(bk) != nil {
			return fmt.Errorf("denial state: duplicate key %q/%q", k.Agent, k.Tool)
		}
		ks := keys.Put(bk, k.LastSeen, keyState{rate: k.Rate, prodAt: k.ProdAt, prodN: k.ProdN, prodNext: k.ProdNext, gen: d.gen})
		ks.t = d.tuned[d.params.For(k.Agent, k.Tool)]
		if ks.t.rp.Size != k.Size {
			ks.rate = baseline.Rate{}
		}
	}
	for i := range st.Tools {
		t := &st.Tools[i]
		bk := baseline.Key{Tool: t.Tool}
		if tools.Peek(bk) != nil {
			return fmt.Errorf("denial state: duplicate tool %q", t.Tool)
		}
		ts := tools.Put(bk, t.LastSeen, toolState{rate: t.Rate, types: t.Types, actions: t.Actions, since: t.Since, gen: d.gen})
		ts.t = d.tuned[d.params.For("", t.Tool)]
		if ts.t.rp.Size != t.Size {
			ts.rate = baseline.Rate{}
		}
	}
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	// Reported windows go back on the due index (a spare entry is
	// harmless: Tick then only rolls the key).
	var due baseline.Due[baseline.Key]
	keys.RangeSeen(func(k baseline.Key, _ int64, ks *keyState) bool {
		if ks.rate.Reported > 0 && ks.rate.Start != 0 {
			ks.due = ks.rate.Start + ks.t.rp.Size
			due.Push(ks.due, k)
		}
		return true
	})
	d.keys, d.tools, d.ticked, d.overflow, d.due = keys, tools, st.Ticked, st.Overflow, due
	return nil
}

var _ detect.State = (*Detector)(nil)
