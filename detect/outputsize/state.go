package outputsize

import (
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

var (
	_ detect.State         = (*Detector)(nil)
	_ detect.Capturer      = (*Detector)(nil)
	_ detect.DeltaCapturer = (*Detector)(nil)
)

// StateVersion is the record version this package writes. Version 1 was
// gob and is not read (the snapshot container refuses it).
//
// Version 2 (distdetect.Snapshot framing), per entry:
//
//	str Agent, str Tool, varint LastSeen, bytes Dist (baseline.Dist state)
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
	Key:       func(e EntryState) (string, string, int64) { return e.Agent, e.Tool, e.LastSeen },
	EntrySize: 40,
	Restore:   func(e *EntryState, s *state) error { return s.dist.UnmarshalState(e.Dist) },
	Put: func(enc *encoding.Encbuf, e *EntryState) {
		enc.PutUvarintStr(e.Agent)
		enc.PutUvarintStr(e.Tool)
		enc.PutVarint(e.LastSeen)
		enc.PutUvarintBytes(e.Dist)
	},
	Get:      getEntryV2,
	MinEntry: 4,
	Decoders: encoding.Decoders[distdetect.Snapshot[EntryState]]{
		2: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		3: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		4: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		5: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		6: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		7: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		8: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
		9: func(d *encoding.Decbuf) distdetect.Snapshot[EntryState] {
			return distdetect.ReadSnapshot(d, 4, getEntryV2)
		},
	},
}

func getEntryV2(d *encoding.Decbuf) EntryState {
	return EntryState{Agent: d.UvarintStr(), Tool: d.UvarintStr(), LastSeen: d.Varint(), Dist: d.UvarintBytes()}
}
