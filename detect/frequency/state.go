package frequency

import (
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 2

// StateV2 is the snapshot of a frequency Detector (gob, see
// baseline.AppendGob). Keys, tools and agents are in their store's recency
// order (baseline.Store.RangeSeen), so equal states encode equally and a
// restore evicts as the original would.
// Per-key configs are not stored: they are resolved from the params of the
// restoring detector. Each key records the window, scales and loop window
// its state was counted in; where the restoring config differs, that part
// is reset as SetParams does. Version 2 (multi-scale rates, agents, gaps)
// does not read version 1 snapshots: they are rejected and the detector
// starts cold.
type StateV2 struct {
	Version        int
	Ticked         int64
	TickedAt       int64 // watermark of the last tick (every key is settled to it)
	Keys           []KeyV2
	Tools          []ToolV2
	Agents         []AgentV2
	KeysRejected   uint64
	KeysEvicted    uint64
	ToolsRejected  uint64
	ToolsEvicted   uint64
	AgentsRejected uint64
	AgentsEvicted  uint64
}

// AgentV2 is one agent's call count (drop detection).
type AgentV2 struct {
	Agent    string
	LastSeen int64
	Total    uint64
	Last     int64
}

// GapV2 is a key's gap state (drop detection).
type GapV2 struct {
	Last    uint64
	Mean    float32
	Peak    float32
	N       uint32
	LastAt  int64
	Dropped bool
}

// KeyV2 is one (agent, tool) key.
type KeyV2 struct {
	Agent, Tool string
	LastSeen    int64                   // store idle clock, unix seconds
	Size        int64                   // window of Rate, seconds
	Scales      [baseline.MaxScales]int // windows per scale of Rate
	LoopSize    int64                   // loop window of Loop, seconds
	Rate        baseline.Rate
	Loop        LoopV1
	Gap         GapV2
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

// ToolV2 is one tool-level (all agents) key.
type ToolV2 struct {
	Tool     string
	LastSeen int64
	Size     int64
	Scales   [baseline.MaxScales]int
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
	// Keys as eager ticks would have left them (see Ticks in the package doc).
	d.keys.Range(func(_ baseline.Key, ks *keyState) bool { d.settle(ks); return true })
	st := StateV2{Version: stateVersion, Ticked: d.ticked, TickedAt: d.tickedAt}
	st.KeysEvicted, st.KeysRejected = d.keys.Evictions() // Rejected: capacity evictions
	st.ToolsEvicted, st.ToolsRejected = d.tools.Evictions()
	st.AgentsEvicted, st.AgentsRejected = d.agents.Evictions()
	d.keys.RangeSeen(func(k baseline.Key, seen int64, ks *keyState) bool {
		g := &ks.gap
		st.Keys = append(st.Keys, KeyV2{Agent: k.Agent, Tool: k.Tool, LastSeen: seen, Size: ks.t.rp.Size, Scales: ks.t.rp.N, LoopSize: ks.t.loopSize, Rate: ks.rate, Loop: loopDTO(&ks.loop),
			Gap: GapV2{Last: g.last, Mean: g.mean, Peak: g.peak, N: g.n, LastAt: g.lastAt, Dropped: g.dropped}})
		return true
	})
	d.tools.RangeSeen(func(k baseline.Key, seen int64, ts *toolState) bool {
		st.Tools = append(st.Tools, ToolV2{Tool: k.Tool, LastSeen: seen, Size: ts.t.rp.Size, Scales: ts.t.rp.N, LoopSize: ts.t.loopSize, Rate: ts.rate, Loop: loopDTO(&ts.loop), Agents: ts.agents, AgentsP: ts.agentsP})
		return true
	})
	d.agents.RangeSeen(func(k baseline.Key, seen int64, as *agentState) bool {
		st.Agents = append(st.Agents, AgentV2{Agent: k.Agent, LastSeen: seen, Total: as.total, Last: as.last})
		return true
	})
	return baseline.AppendSnapshot(b, "frequency state", &st)
}

// UnmarshalState implements detect.State. Keys are bound to the configs of
// d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV2
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
		if err := k.Rate.Check(); err != nil {
			return fmt.Errorf("frequency state: key %q/%q: %w", k.Agent, k.Tool, err)
		}
		g := &k.Gap
		ks := keys.Put(bk, k.LastSeen, keyState{rate: k.Rate, loop: k.Loop.state(), gen: d.gen,
			gap: gapState{last: g.Last, mean: g.Mean, peak: g.Peak, n: g.N, lastAt: g.LastAt, dropped: g.Dropped}})
		ks.t = d.tuned[d.params.For(k.Agent, k.Tool)]
		if ks.t.rp.Size != k.Size || ks.t.rp.N != k.Scales {
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
		if err := t.Rate.Check(); err != nil {
			return fmt.Errorf("frequency state: tool %q: %w", t.Tool, err)
		}
		ts := tools.Put(bk, t.LastSeen, toolState{keyState: keyState{rate: t.Rate, loop: t.Loop.state(), gen: d.gen}, agents: t.Agents, agentsP: t.AgentsP})
		ts.t = d.tuned[d.params.For("", t.Tool)]
		if ts.t.rp.Size != t.Size || ts.t.rp.N != t.Scales {
			ts.rate, ts.agents, ts.agentsP = baseline.Rate{}, baseline.Counter{}, baseline.Profile{}
		}
		if ts.t.loopSize != t.LoopSize {
			ts.loop = loopState{}
		}
	}
	agents := d.agents.Empty()
	for i := range st.Agents {
		a := &st.Agents[i]
		bk := baseline.Key{Agent: a.Agent}
		if agents.Peek(bk) != nil {
			return fmt.Errorf("frequency state: duplicate agent %q", a.Agent)
		}
		d.agentSeq++
		agents.Put(bk, a.LastSeen, agentState{total: a.Total, last: a.Last, id: d.agentSeq})
	}
	agents.SetCounters(st.AgentsEvicted, st.AgentsRejected)
	keys.SetCounters(st.KeysEvicted, st.KeysRejected)
	tools.SetCounters(st.ToolsEvicted, st.ToolsRejected)
	d.keys, d.tools, d.agents, d.ticked, d.tickedAt = keys, tools, agents, st.Ticked, st.TickedAt
	if d.tickedAt == 0 {
		d.tickedAt = st.Ticked
	}
	d.ticks, d.recent, d.resolvedGen = d.ticks[:0], d.recent[:0], d.gen
	// Rebuild the lazy-tick indexes: keys are settled to TickedAt.
	agents.RangeSeen(func(k baseline.Key, _ int64, _ *agentState) bool {
		d.recent = append(d.recent, k)
		return true
	})
	keys.RangeSeen(func(k baseline.Key, _ int64, ks *keyState) bool {
		ks.tick = d.tickedAt
		if as := agents.Peek(baseline.Key{Agent: k.Agent}); as != nil {
			d.scheduleDrop(k, ks, as)
		}
		return true
	})
	return nil
}

var _ detect.State = (*Detector)(nil)
