package latency

import (
	"fmt"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

var _ detect.State = (*Detector)(nil)

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the snapshot of a latency detector (gob via baseline.AppendGob;
// its type names are part of the encoding).
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
	Entries           []EntryState // in recency order (baseline.Store.RangeSeen)
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

var codec = distdetect.Codec[state, EntryState]{
	Name:    "latency state",
	Version: StateVersion,
	Entry:   entry,
	Key:     func(e EntryState) (string, string, int64) { return e.Agent, e.Tool, e.LastSeen },
	Restore: (*EntryState).restore,
}

// MarshalState implements detect.State. The encoding is deterministic:
// equal states give equal bytes.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	s, err := distdetect.Save(&d.core, &codec)
	if err != nil {
		return b, err
	}
	return codec.Encode(b, &State{Version: StateVersion, LastEpoch: s.LastEpoch, Keys: StoreState(s.Keys), Tools: StoreState(s.Tools)})
}

func entry(a *distdetect.Arena, agent, tool string, seen int64, s *state) (EntryState, error) {
	e := EntryState{Agent: agent, Tool: tool, LastSeen: seen, Active: s.active}
	for i := range s.slots {
		sl := &s.slots[i]
		enc, err := a.Dist(&sl.dist)
		if err != nil {
			return e, err
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
	if err := codec.Decode(data, &st, &st.Version); err != nil {
		return err
	}
	return distdetect.Restore(&d.core, &codec, &distdetect.Snapshot[EntryState]{
		LastEpoch: st.LastEpoch, Keys: distdetect.Stores[EntryState](st.Keys), Tools: distdetect.Stores[EntryState](st.Tools)})
}
