package latency

import (
	"bytes"
	"fmt"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

var (
	_ detect.State         = (*Detector)(nil)
	_ detect.Capturer      = (*Detector)(nil)
	_ detect.DeltaCapturer = (*Detector)(nil)
)

// StateVersion is the record version this package writes. Versions 1 and
// older were gob and are not read (the snapshot container refuses them).
//
// Version 2 (distdetect.Snapshot framing), per entry:
//
//	str Agent, str Tool, varint LastSeen, byte Active,
//	2 × slot: str Version, bool Used, bool Relearn, bytes Dist (baseline.Dist state)
//
// Version 3 has the same framing; its Dists are baseline.Dist state
// version 4 (the level test's recent inputs). A version 2 record's Dists
// (version 3) decode with no recent inputs.
//
// Key configurations are not stored: restored keys resolve them from the
// detector's current params.
const StateVersion = 3

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

// minEntry is the smallest encoded EntryState (empty strings and Dists).
const minEntry = 1 + 1 + 1 + 1 + 2*(1+1+1+1)

var codec = distdetect.Codec[state, EntryState]{
	Name:      "latency state",
	Version:   StateVersion,
	Entry:     entry,
	Key:       func(e EntryState) (string, string, int64) { return e.Agent, e.Tool, e.LastSeen },
	EntrySize: 48,
	Restore:   (*EntryState).restore,
	Put:       func(enc *encoding.Encbuf, e *EntryState) { e.put(enc) },
	Get:       getEntryV2,
	MinEntry:  minEntry,
	Decoders: encoding.Decoders[distdetect.Snapshot[EntryState]]{
		2: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		3: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
	},
}

func (e *EntryState) put(enc *encoding.Encbuf) {
	enc.PutUvarintStr(e.Agent)
	enc.PutUvarintStr(e.Tool)
	enc.PutVarint(e.LastSeen)
	enc.PutByte(e.Active)
	for i := range e.Slots {
		s := &e.Slots[i]
		enc.PutUvarintStr(s.Version)
		enc.PutBool(s.Used)
		enc.PutBool(s.Relearn)
		enc.PutUvarintBytes(s.Dist)
	}
}

func getEntryV2(d *encoding.Decbuf) EntryState {
	e := EntryState{Agent: d.UvarintStr(), Tool: d.UvarintStr(), LastSeen: d.Varint(), Active: d.Byte()}
	for i := range e.Slots {
		e.Slots[i] = SlotState{Version: d.UvarintStr(), Used: d.Bool(), Relearn: d.Bool(), Dist: d.UvarintBytes()}
	}
	return e
}

func entry(a *distdetect.Arena, agent, tool string, seen int64, s *state) (EntryState, error) {
	e := EntryState{Agent: agent, Tool: tool, LastSeen: seen, Active: s.active}
	for i := range e.Slots {
		sl := s.at(uint8(i))
		enc, err := a.Dist(&sl.dist)
		if err != nil {
			return e, err
		}
		e.Slots[i] = SlotState{Version: sl.version, Used: sl.used, Relearn: sl.relearn, Dist: enc}
	}
	return e, nil
}

// neverUsed is the encoding of a Dist that never saw a value: a second
// slot encoded so is restored unallocated.
var neverUsed, _ = new(baseline.Dist).MarshalState(nil)

// restore fills st from e.
func (e *EntryState) restore(st *state) error {
	if e.Active > 1 {
		return fmt.Errorf("active slot %d", e.Active)
	}
	st.active, st.second = e.Active, nil
	for i := range e.Slots {
		es := &e.Slots[i]
		if !es.Used && (es.Version != "" || es.Relearn) {
			return fmt.Errorf("slot %d: unused slot with a version", i)
		}
		var sl slot
		if err := sl.dist.UnmarshalState(es.Dist); err != nil {
			return fmt.Errorf("slot %d: %w", i, err)
		}
		sl.version, sl.used, sl.relearn = es.Version, es.Used, es.Relearn
		switch {
		case i == 0:
			st.first = sl
		case es.Used || e.Active == 1 || !bytes.Equal(es.Dist, neverUsed):
			*st.secondSlot() = sl
		}
	}
	return nil
}
