package denials

import (
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 2

// StateV2 is the snapshot of a denial Detector (gob, see
// baseline.AppendGob). Keys and tools are in their store's recency order
// (baseline.Store.RangeSeen), so equal states encode equally and a restore
// evicts as the original would.
// Per-key configs are resolved from the restoring detector's params; a key
// whose window or scales differ from those it was counted in has its rate
// baseline reset, as SetParams does. Version 2 (multi-scale rates, no
// production counters) does not read version 1.
type StateV2 struct {
	Version       int
	Ticked        int64
	TickedAt      int64 // watermark of the last tick (keys roll lazily)
	Overflow      uint64
	Keys          []KeyV2
	Tools         []ToolV2
	KeysRejected  uint64
	KeysEvicted   uint64
	ToolsRejected uint64
	ToolsEvicted  uint64
}

// KeyV2 is one (agent, tool) key.
type KeyV2 struct {
	Agent, Tool string
	LastSeen    int64                   // store idle clock, unix seconds
	Size        int64                   // window of Rate, seconds
	Scales      [baseline.MaxScales]int // windows per scale of Rate
	Rate        baseline.Rate
}

// ToolV2 is one tool's state: its rate over all agents and its seen sets
// (hashes, in insertion order).
type ToolV2 struct {
	Tool     string
	LastSeen int64
	Size     int64
	Scales   [baseline.MaxScales]int
	Rate     baseline.Rate
	Calls    uint64
	Types    []uint64
	Actions  []uint64
	Since    int64
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := StateV2{Version: stateVersion, Ticked: d.ticked, TickedAt: d.tickedAt, Overflow: d.overflow}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
		st.Keys = append(st.Keys, KeyV2{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size,
			Scales: ks.t.rp.N, Rate: ks.rate})
		return true
	})
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV2{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, Scales: ts.t.rp.N, Rate: ts.rate, Calls: ts.calls,
			Types: ts.types, Actions: ts.actions, Since: ts.since})
		return true
	})
	return baseline.AppendSnapshot(b, "denial state", &st)
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV2
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
		if err := k.Rate.Check(); err != nil {
			return fmt.Errorf("denial state: key %q/%q: %w", k.Agent, k.Tool, err)
		}
		ks := keys.Put(bk, k.LastSeen, keyState{rate: k.Rate, gen: d.gen})
		ks.t = d.tuned[d.params.For(k.Agent, k.Tool)]
		if ks.t.rp.Size != k.Size || ks.t.rp.N != k.Scales {
			ks.rate = baseline.Rate{}
		}
	}
	for i := range st.Tools {
		t := &st.Tools[i]
		bk := baseline.Key{Tool: t.Tool}
		if tools.Peek(bk) != nil {
			return fmt.Errorf("denial state: duplicate tool %q", t.Tool)
		}
		if err := t.Rate.Check(); err != nil {
			return fmt.Errorf("denial state: tool %q: %w", t.Tool, err)
		}
		ts := tools.Put(bk, t.LastSeen, toolState{rate: t.Rate, calls: t.Calls, types: t.Types, actions: t.Actions, since: t.Since, gen: d.gen})
		ts.t = d.tuned[d.params.For("", t.Tool)]
		if ts.t.rp.Size != t.Size || ts.t.rp.N != t.Scales {
			ts.rate = baseline.Rate{}
		}
	}
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	d.keys, d.tools, d.ticked, d.tickedAt, d.overflow = keys, tools, st.Ticked, st.TickedAt, st.Overflow
	d.resolvedGen = d.gen
	return nil
}

var _ detect.State = (*Detector)(nil)
