package inputs

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 1

// StateV1 is the snapshot of an input_novelty Detector (gob, see
// baseline.AppendGob). Tools are in their store's recency order and
// their shapes sorted, so equal states encode equally. Per-tool configs are resolved from the restoring
// detector's params.
type StateV1 struct {
	Version  int
	Skipped  uint64
	Overflow uint64
	Tools    []ToolV1
	Rejected uint64
	Evicted  uint64
}

// ToolV1 is one tool's vocabulary and counters.
type ToolV1 struct {
	Tool         string
	LastSeen     int64 // store idle clock, unix seconds
	Shapes       []ShapeV1
	Records      uint64
	First        int64
	LastNew      int64
	Kinds        uint8
	Recent       [ringSize]uint64
	RecentPos    int
	WindowEnd    int64
	Window       uint32
	CurExact     uint32
	PrevDistinct uint64
	OverflowN    uint64
	OverAll      []byte // baseline.HLL MarshalState
	OverCur      []byte
}

// ShapeV1 is one known shape: its hash, the distinct window it was last
// counted in and its flags.
type ShapeV1 struct {
	H      uint64
	Window uint32
	Flags  uint8
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := StateV1{Version: stateVersion, Skipped: d.skipped, Overflow: d.overflo}
	st.Evicted, st.Rejected = d.store.Evictions() // Rejected: capacity evictions
	var err error
	d.store.RangeSeen(func(k baseline.Key, seen int64, t *tool) bool {
		tv := ToolV1{Tool: k.Tool, LastSeen: seen, Records: t.records, First: t.first, LastNew: t.lastNew,
			Kinds: t.kinds, Recent: t.recent, RecentPos: t.recentPos, WindowEnd: t.windowEnd, Window: t.window,
			CurExact: t.curExact, PrevDistinct: t.prevDistinct, OverflowN: t.overflow}
		tv.Shapes = make([]ShapeV1, 0, t.set.n)
		for _, sl := range t.set.slots {
			if sl.h != 0 {
				tv.Shapes = append(tv.Shapes, ShapeV1{H: sl.h, Window: sl.window, Flags: sl.flags})
			}
		}
		slices.SortFunc(tv.Shapes, func(a, b ShapeV1) int { return cmp.Compare(a.H, b.H) })
		if tv.OverAll, err = t.overAll.MarshalState(nil); err != nil {
			return false
		}
		if tv.OverCur, err = t.overCur.MarshalState(nil); err != nil {
			return false
		}
		st.Tools = append(st.Tools, tv)
		return true
	})
	if err != nil {
		return b, fmt.Errorf("input_novelty state: %w", err)
	}
	b, err = baseline.AppendGob(b, &st)
	if err != nil {
		return b, fmt.Errorf("input_novelty state: %w", err)
	}
	return b, nil
}

// UnmarshalState implements detect.State. Tools are bound to the configs
// of d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV1
	if err := baseline.DecodeGob(data, &st); err != nil {
		return fmt.Errorf("input_novelty state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("input_novelty state: version %d, want %d", st.Version, stateVersion)
	}
	store := d.store.Empty()
	for i := range st.Tools {
		tv := &st.Tools[i]
		k := baseline.Key{Tool: tv.Tool}
		if store.Peek(k) != nil {
			return fmt.Errorf("input_novelty state: duplicate tool %q", tv.Tool)
		}
		if tv.RecentPos < 0 || tv.RecentPos >= ringSize {
			return fmt.Errorf("input_novelty state: tool %q: novelty ring position %d", tv.Tool, tv.RecentPos)
		}
		t := tool{cfg: d.params.For("", tv.Tool), gen: d.gen, records: tv.Records, first: tv.First, lastNew: tv.LastNew,
			kinds: tv.Kinds, recent: tv.Recent, recentPos: tv.RecentPos, windowEnd: tv.WindowEnd, window: tv.Window,
			curExact: tv.CurExact, prevDistinct: tv.PrevDistinct, overflow: tv.OverflowN}
		for _, sh := range tv.Shapes {
			if sh.H == 0 || t.set.find(sh.H) != nil {
				return fmt.Errorf("input_novelty state: tool %q: zero or duplicate shape hash", tv.Tool)
			}
			sl := t.set.insert(sh.H)
			sl.window, sl.flags = sh.Window, sh.Flags
			if sh.Flags&flagRepeat == 0 {
				t.n1++ // Good–Turing singletons are derived, not stored
			}
		}
		if err := t.overAll.UnmarshalState(tv.OverAll); err != nil {
			return fmt.Errorf("input_novelty state: tool %q: %w", tv.Tool, err)
		}
		if err := t.overCur.UnmarshalState(tv.OverCur); err != nil {
			return fmt.Errorf("input_novelty state: tool %q: %w", tv.Tool, err)
		}
		store.Put(k, tv.LastSeen, t)
	}
	store.SetCounters(st.Evicted, st.Rejected)
	d.store, d.skipped, d.overflo = store, st.Skipped, st.Overflow
	return nil
}

var _ detect.State = (*Detector)(nil)
