package outputsize

import (
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

var _ detect.State = (*Detector)(nil)

// StateVersion is the version of State this package writes and reads.
const StateVersion = 1

// State is the snapshot of an output-size detector (gob via
// baseline.AppendGob; its type names are part of the encoding). Key configurations are not stored: restored keys
// resolve them from the detector's current params.
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

// EntryState is one key: its idle clock and its baseline.Dist encoding.
type EntryState struct {
	Agent, Tool string
	LastSeen    int64 // unix seconds, event time
	Dist        []byte
}

var codec = distdetect.Codec[state, EntryState]{
	Name:    "output_size state",
	Version: StateVersion,
	Entry: func(a *distdetect.Arena, agent, tool string, seen int64, s *state) (EntryState, error) {
		enc, err := a.Dist(&s.dist)
		return EntryState{Agent: agent, Tool: tool, LastSeen: seen, Dist: enc}, err
	},
	Key:     func(e EntryState) (string, string, int64) { return e.Agent, e.Tool, e.LastSeen },
	Restore: func(e *EntryState, s *state) error { return s.dist.UnmarshalState(e.Dist) },
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
