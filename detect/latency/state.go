package latency

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

var _ detect.State = (*Detector)(nil)

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the snapshot of a latency detector (gob via baseline.AppendGob).
// Key configurations are not stored: restored keys resolve them from the
// detector's current params.
type State struct {
	Version   int
	LastEpoch int64
	Keys      StoreState // (agent, tool) keys
	Tools     StoreState // tool-level keys (Agent "")
}

// StoreState is one key store.
type StoreState struct {
	Rejected, Evicted uint64
	Entries           []EntryState // sorted by (Agent, Tool)
}

// EntryState is one key: its idle clock and its two version slots.
type EntryState struct {
	Agent, Tool string
	LastSeen    int64 // unix seconds, event time
	Active      uint8 // slot of the newest version
	Slots       [2]SlotState
}

// SlotState is one version slot with its baseline.Dist encoding.
type SlotState struct {
	Version       string
	Used, Relearn bool
	Dist          []byte
}

// MarshalState implements detect.State. The encoding is deterministic:
// equal states give equal bytes.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := State{Version: StateVersion, LastEpoch: d.lastEpoch}
	st.Keys.Entries = make([]EntryState, 0, d.keys.Len())
	st.Tools.Entries = make([]EntryState, 0, d.tools.Len())
	var arena arena
	var err error
	d.keys.RangeSeen(func(k baseline.Key, seen int64, s *state) bool {
		var e EntryState
		e, err = entry(&arena, k.Agent, k.Tool, seen, s)
		st.Keys.Entries = append(st.Keys.Entries, e)
		return err == nil
	})
	if err != nil {
		return b, err
	}
	d.tools.RangeSeen(func(tool string, seen int64, s *state) bool {
		var e EntryState
		e, err = entry(&arena, "", tool, seen, s)
		st.Tools.Entries = append(st.Tools.Entries, e)
		return err == nil
	})
	if err != nil {
		return b, err
	}
	st.Keys.Rejected, st.Keys.Evicted = d.keys.Rejected(), d.keys.Evicted()
	st.Tools.Rejected, st.Tools.Evicted = d.tools.Rejected(), d.tools.Evicted()
	for _, es := range [][]EntryState{st.Keys.Entries, st.Tools.Entries} {
		slices.SortFunc(es, func(a, b EntryState) int {
			return cmp.Or(cmp.Compare(a.Agent, b.Agent), cmp.Compare(a.Tool, b.Tool))
		})
	}
	b, err = baseline.AppendGob(b, &st)
	if err != nil {
		return b, fmt.Errorf("latency state: %w", err)
	}
	return b, nil
}

func entry(a *arena, agent, tool string, seen int64, s *state) (EntryState, error) {
	e := EntryState{Agent: agent, Tool: tool, LastSeen: seen, Active: s.active}
	for i := range s.slots {
		sl := &s.slots[i]
		enc, err := a.dist(&sl.dist)
		if err != nil {
			return e, fmt.Errorf("latency state %q/%q: %w", agent, tool, err)
		}
		e.Slots[i] = SlotState{Version: sl.version, Used: sl.used, Relearn: sl.relearn, Dist: enc}
	}
	return e, nil
}

// restore fills st from e.
func (e *EntryState) restore(st *state) error {
	if e.Active > 1 {
		return fmt.Errorf("active slot %d", e.Active)
	}
	st.active = e.Active
	for i := range e.Slots {
		es, sl := &e.Slots[i], &st.slots[i]
		if !es.Used && (es.Version != "" || es.Relearn) {
			return fmt.Errorf("slot %d: unused slot with a version", i)
		}
		if err := sl.dist.UnmarshalState(es.Dist); err != nil {
			return fmt.Errorf("slot %d: %w", i, err)
		}
		sl.version, sl.used, sl.relearn = es.Version, es.Used, es.Relearn
	}
	return nil
}

// UnmarshalState implements detect.State. Nothing changes unless the
// whole snapshot decodes.
func (d *Detector) UnmarshalState(data []byte) error {
	var st State
	if err := baseline.DecodeGob(data, &st); err != nil {
		return fmt.Errorf("latency state: %w", err)
	}
	if st.Version != StateVersion {
		return fmt.Errorf("latency state: unsupported version %d", st.Version)
	}
	keys, tools := d.keys.Empty(), d.tools.Empty()
	for i := range st.Keys.Entries {
		e := &st.Keys.Entries[i]
		k := baseline.Key{Agent: e.Agent, Tool: e.Tool}
		if keys.Peek(k) != nil {
			return fmt.Errorf("latency state: duplicate key %q/%q", e.Agent, e.Tool)
		}
		if err := e.restore(keys.Put(k, e.LastSeen, state{})); err != nil {
			return fmt.Errorf("latency state %q/%q: %w", e.Agent, e.Tool, err)
		}
	}
	for i := range st.Tools.Entries {
		e := &st.Tools.Entries[i]
		if e.Agent != "" || tools.Peek(e.Tool) != nil {
			return fmt.Errorf("latency state: bad tool key %q/%q", e.Agent, e.Tool)
		}
		if err := e.restore(tools.Put(e.Tool, e.LastSeen, state{})); err != nil {
			return fmt.Errorf("latency state tool %q: %w", e.Tool, err)
		}
	}
	keys.SetCounters(st.Keys.Rejected, st.Keys.Evicted)
	tools.SetCounters(st.Tools.Rejected, st.Tools.Evicted)
	d.keys, d.tools, d.lastEpoch = keys, tools, st.LastEpoch
	return nil
}

// arena hands out Dist encodings from 1 MiB chunks: a few allocations per
// snapshot instead of one per key, and no copying as it grows.
type arena struct{ buf []byte }

func (a *arena) dist(d *baseline.Dist) ([]byte, error) {
	if cap(a.buf)-len(a.buf) < 160<<10 { // the largest Dist (compression 1000) fits
		a.buf = make([]byte, 0, 1<<20)
	}
	start := len(a.buf)
	enc, err := d.MarshalState(a.buf)
	a.buf = enc
	return enc[start:len(enc):len(enc)], err
}
