package latency

import (
	"fmt"

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
// Version 3 is the same framing; its Dist bytes are baseline.Dist state
// version 4 (float32 centroids and raw values, issue 13). Version 2
// records hold version 3 Dists, which decode with their means rounded.
// Version 4 is the same framing with baseline.Dist state version 5 (the
// level test's last 4 inputs); version 3 records' Dists decode with none.
// Version 5 is the same framing with baseline.Dist state version 6 (a
// key's share of its tool's daily rhythm, a tool's hour-of-day rhythm);
// version 4 records' Dists decode with none (relearned over 3 days).
// Version 6 is the same framing with baseline.Dist state version 7 (the
// spread and spike-density memory); version 5 and older records' Dists
// decode with it empty.
// Version 7 is the same framing with baseline.Dist state version 8 (the
// usable memory: a key whose count lapsed keeps learning its level
// test); version 6 and older records' Dists decode without it.
// Version 8 is the same framing with baseline.Dist state version 9 (the
// step test's runs, a tool's first value's time and its early hourly
// levels, from before it was ready); version 7 and older records' Dists
// decode with none.
// Version 9 is the same framing with baseline.Dist state version 10 (the
// tail-burst memory); version 8 and older records' Dists decode with it
// empty.
//
// Key configurations are not stored: restored keys resolve them from the
// detector's current params.
const StateVersion = 9

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
		4: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		5: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		6: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		7: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		8: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, minEntry, getEntryV2)
		},
		9: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
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

// neverUsed reports whether enc, a Dist state that decoded, is one that
// never saw a value (its flags byte 0, in every version read): a second
// slot encoded so is restored unallocated.
func neverUsed(enc []byte) bool { return len(enc) == 2 && enc[1] == 0 }

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
		case es.Used || e.Active == 1 || !neverUsed(es.Dist):
			*st.secondSlot() = sl
		}
	}
	return nil
}
