package inputs

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// stateVersion is the record version this package writes. Version 1 was
// gob and is not read (the snapshot container refuses it); versions 2 (no
// reference), 3 (no field pairs), 4 (no held findings) and 5 (one new
// field per hold, no longest span) are read and upgraded.
const stateVersion = 6

// StateV6 is the snapshot record of an input_novelty Detector: version 6,
// then StateV4's layout followed by the held extension findings (hold.go)
// in the order they were held:
//
//	uvarint Rollouts, uvarint count, count × held
//	held:    varint Due, varint Last, BE64 Pairs[0], BE64 Pairs[1], BE64
//	         Origin, uvarint count, count × BE64 Others, uvarint count,
//	         count × BE64 Shapes, finding
//	finding: str Detail, BE64 float Score, str AgentID, Tool, ToolVersion,
//	         Environment, BE64 float Observed, Expected, str Unit, Summary,
//	         time EventTime, str TraceID, SpanID, TaskID, uvarint count,
//	         count × (str key, byte type, value), keys sorted
//
// A detail value is typed so that a restored finding equals the held one:
// 'f' BE64 float64, 'u' uvarint uint64, 'w' uvarint uint32, 'i' varint
// int, 's' str, 'b' byte bool, 'l' uvarint count, count × str ([]string).
//
// Version 5 (read, upgraded) had per held finding varint Due, BE64 Pair,
// then Origin onwards as above: it upgrades to Last = Due (it was held
// under a rule that ended it then) and Pairs = {Pair, 0}.
type StateV6 struct {
	StateV4
	Rollouts uint64
	Held     []HeldV6
}

// HeldV6 is one held finding: the end of its hold and of its longest span
// (event time, unix ns), its new fields' pair hashes (the second 0 when
// one), the hash of its (agent, task), the other users of the fields so
// far and the shapes known to carry them.
type HeldV6 struct {
	Due     int64
	Last    int64
	Pairs   [2]uint64
	Origin  uint64
	Others  []uint64
	Shapes  []uint64
	Finding detect.Finding
}

// StateV4 is the previous snapshot record (read, upgraded to StateV6
// with no held findings): version 4, then StateV3's layout with each tool
// followed by its field pairs (fields.go), sorted by hash:
//
//	tool:  ...StateV3's tool..., uvarint count, count × (BE64 H, uvarint Window)
//
// Window is the distinct window the pair was first learned in.
type StateV4 struct {
	Skipped  uint64
	Overflow uint64
	Rejected uint64
	Evicted  uint64
	Tools    []ToolV4
}

// ToolV4 is one tool's vocabulary, reference, counters and field pairs.
type ToolV4 struct {
	ToolV3
	Fields []FieldV4
}

// FieldV4 is one (field path, type) pair's hash and the window it was
// first learned in.
type FieldV4 struct {
	H      uint64
	Window uint32
}

// StateV3 is the previous snapshot record (read, upgraded to StateV4 with
// no field pairs: the shapes are kept as hashes, so their pairs cannot be
// rebuilt; a tool relearns them from its next new shapes), written
// field by field in the order declared (internal/encoding), then a
// CRC-32C: version 3, then StateV2's layout with each tool followed by
// its reference, window and opening state:
//
//	tool:  ...StateV2's tool..., uvarint RefWindows, BE64 float RefOpen,
//	       uvarint RefRecords, uvarint RefN1, varint RefLastNew,
//	       uvarint WinStart, uvarint WinNew, BE64 WinAgent, byte WinBits,
//	       uvarint count, count × BE64 FloodAgents, uvarint FloodLast
//
// Shapes keep their StateV2 layout; their Flags gained flagRef, flagFlood
// and the count of windows used in the upper nibble (set.go). The
// reference's size and the number of quarantined shapes are counted from
// the flags on restore.
type StateV3 struct {
	Skipped  uint64
	Overflow uint64
	Rejected uint64
	Evicted  uint64
	Tools    []ToolV3
}

// ToolV3 is one tool's vocabulary, reference and counters.
type ToolV3 struct {
	ToolV2
	RefWindows uint32
	RefOpen    float64 // in [0,1]; −1 only in a StateV2 upgrade: derived on restore
	RefRecords uint64
	RefN1      uint32
	RefLastNew int64
	WinStart   uint64
	WinNew     uint32
	WinAgent   uint64
	WinBits    uint8
	// The opening under way: its agents' hashes (none: no opening, at
	// most maxFlooders, non-zero) and its record of their last shape.
	FloodAgents []uint64
	FloodLast   uint64
}

// StateV2 is the previous snapshot record (read, upgraded to StateV3):
//
//	uvarint version 2, uvarint Skipped, uvarint Overflow, uvarint Rejected,
//	uvarint Evicted, uvarint count, Tools
//	tool:  str Tool, varint LastSeen, uvarint count, Shapes, uvarint Records,
//	       varint First, varint LastNew, byte Kinds, 32 × uvarint Recent,
//	       uvarint RecentPos, varint WindowEnd, uvarint Window, uvarint CurExact,
//	       uvarint PrevDistinct, uvarint OverflowN, bytes OverAll, bytes OverCur
//	shape: BE64 H, uvarint Window, byte Flags
//
// OverAll and OverCur are baseline.HLL states. Tools are in their store's
// recency order and their shapes sorted by hash, so equal states encode
// equally. Per-tool configs are resolved from the restoring detector's
// params.
type StateV2 struct {
	Skipped  uint64
	Overflow uint64
	Rejected uint64
	Evicted  uint64
	Tools    []ToolV2
}

// ToolV2 is one tool's vocabulary and counters.
type ToolV2 struct {
	Tool         string
	LastSeen     int64 // store idle clock, unix seconds
	Shapes       []ShapeV2
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

// ShapeV2 is one known shape: its hash, the distinct window it was last
// counted in and its flags.
type ShapeV2 struct {
	H      uint64
	Window uint32
	Flags  uint8
}

// minTool is the smallest encoded ToolV2; minToolV3 the smallest ToolV3.
const (
	minTool   = 1 + 1 + 1 + 1 + 1 + 1 + 1 + ringSize + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1
	minToolV3 = minTool + 1 + 8 + 1 + 1 + 1 + 1 + 1 + 8 + 1 + 1 + 1
	minToolV4 = minToolV3 + 1
)

// putV2 writes t's StateV2 fields.
func (t *ToolV2) put(e *encoding.Encbuf) {
	e.PutUvarintStr(t.Tool)
	e.PutVarint(t.LastSeen)
	e.PutUvarint(uint64(len(t.Shapes)))
	for _, sh := range t.Shapes {
		e.PutBE64(sh.H)
		e.PutUvarint(uint64(sh.Window))
		e.PutByte(sh.Flags)
	}
	e.PutUvarint(t.Records)
	e.PutVarint(t.First)
	e.PutVarint(t.LastNew)
	e.PutByte(t.Kinds)
	for _, r := range t.Recent {
		e.PutUvarint(r)
	}
	e.PutUvarint(uint64(t.RecentPos))
	e.PutVarint(t.WindowEnd)
	e.PutUvarint(uint64(t.Window))
	e.PutUvarint(uint64(t.CurExact))
	e.PutUvarint(t.PrevDistinct)
	e.PutUvarint(t.OverflowN)
	e.PutUvarintBytes(t.OverAll)
	e.PutUvarintBytes(t.OverCur)
}

func (st *StateV4) put(e *encoding.Encbuf) {
	for _, n := range [...]uint64{st.Skipped, st.Overflow, st.Rejected, st.Evicted} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		t := &st.Tools[i]
		t.ToolV3.put(e)
		e.PutUvarint(uint64(len(t.Fields)))
		for _, f := range t.Fields {
			e.PutBE64(f.H)
			e.PutUvarint(uint64(f.Window))
		}
	}
}

func (st *StateV6) put(e *encoding.Encbuf) {
	st.StateV4.put(e)
	e.PutUvarint(st.Rollouts)
	e.PutUvarint(uint64(len(st.Held)))
	for i := range st.Held {
		h := &st.Held[i]
		e.PutVarint(h.Due)
		e.PutVarint(h.Last)
		e.PutBE64(h.Pairs[0])
		e.PutBE64(h.Pairs[1])
		e.PutBE64(h.Origin)
		for _, l := range [...][]uint64{h.Others, h.Shapes} {
			e.PutUvarint(uint64(len(l)))
			for _, x := range l {
				e.PutBE64(x)
			}
		}
		putFinding(e, &h.Finding)
	}
}

func putFinding(e *encoding.Encbuf, f *detect.Finding) {
	e.PutUvarintStr(f.Detail)
	e.PutBEFloat64(f.Score)
	for _, s := range [...]string{f.AgentID, f.Tool, f.ToolVersion, f.Environment} {
		e.PutUvarintStr(s)
	}
	e.PutBEFloat64(f.Observed)
	e.PutBEFloat64(f.Expected)
	e.PutUvarintStr(f.Unit)
	e.PutUvarintStr(f.Summary)
	e.PutTime(f.EventTime)
	for _, s := range [...]string{f.TraceID, f.SpanID, f.TaskID} {
		e.PutUvarintStr(s)
	}
	keys := slices.Sorted(maps.Keys(f.Details))
	e.PutUvarint(uint64(len(keys)))
	for _, k := range keys {
		e.PutUvarintStr(k)
		switch v := f.Details[k].(type) {
		case float64:
			e.PutByte('f')
			e.PutBEFloat64(v)
		case uint64:
			e.PutByte('u')
			e.PutUvarint(v)
		case uint32:
			e.PutByte('w')
			e.PutUvarint(uint64(v))
		case int:
			e.PutByte('i')
			e.PutVarint(int64(v))
		case string:
			e.PutByte('s')
			e.PutUvarintStr(v)
		case bool:
			e.PutByte('b')
			e.PutBool(v)
		case []string:
			e.PutByte('l')
			e.PutUvarint(uint64(len(v)))
			for _, x := range v {
				e.PutUvarintStr(x)
			}
		default: // refused by CaptureState (detailTyped)
			e.PutByte(0)
		}
	}
}

// detailTyped reports whether a detail value has a StateV6 type.
func detailTyped(v any) bool {
	switch v.(type) {
	case float64, uint64, uint32, int, string, bool, []string:
		return true
	}
	return false
}

func getFinding(d *encoding.Decbuf, f *detect.Finding) {
	f.Pattern = detect.PatternInputNovelty
	f.Detail, f.Score = d.UvarintStr(), d.BEFloat64()
	f.AgentID, f.Tool, f.ToolVersion, f.Environment = d.UvarintStr(), d.UvarintStr(), d.UvarintStr(), d.UvarintStr()
	f.Observed, f.Expected = d.BEFloat64(), d.BEFloat64()
	f.Unit, f.Summary = d.UvarintStr(), d.UvarintStr()
	f.EventTime = d.Time()
	f.TraceID, f.SpanID, f.TaskID = d.UvarintStr(), d.UvarintStr(), d.UvarintStr()
	n := d.Count(3)
	f.Details = make(map[string]any, n)
	prev := ""
	for i := range n {
		k := d.UvarintStr()
		if i > 0 && k <= prev {
			d.Fail("held finding: detail keys not sorted at %q", k)
		}
		prev = k
		switch typ := d.Byte(); typ {
		case 'f':
			f.Details[k] = d.BEFloat64()
		case 'u':
			f.Details[k] = d.Uvarint()
		case 'w':
			f.Details[k] = d.Uvarint32()
		case 'i':
			f.Details[k] = int(d.Varint())
		case 's':
			f.Details[k] = d.UvarintStr()
		case 'b':
			f.Details[k] = d.Bool()
		case 'l':
			l := make([]string, d.Count(1))
			for j := range l {
				l[j] = d.UvarintStr()
			}
			f.Details[k] = l
		default:
			d.Fail("held finding: detail %q of type %q", k, typ)
		}
		if d.Err() != nil {
			return
		}
	}
}

// getStateV6 reads a version 6 record.
func getStateV6(d *encoding.Decbuf) StateV6 { return getHeld(d, 6) }

// getStateV5 reads a version 5 record and upgrades it (see StateV6).
func getStateV5(d *encoding.Decbuf) StateV6 { return getHeld(d, 5) }

func getHeld(d *encoding.Decbuf, v int) StateV6 {
	st := StateV6{StateV4: getStateV4(d)}
	st.Rollouts = d.Uvarint()
	n := d.Count(1 + 8 + 8 + 1 + 1 + 4)
	if n > maxHeld {
		d.Fail("%d held findings, at most %d", n, maxHeld)
		return st
	}
	st.Held = make([]HeldV6, n)
	for i := range st.Held {
		if d.Err() != nil {
			break
		}
		h := &st.Held[i]
		if v >= 6 {
			h.Due, h.Last, h.Pairs[0], h.Pairs[1], h.Origin = d.Varint(), d.Varint(), d.BE64(), d.BE64(), d.BE64()
		} else {
			h.Due, h.Pairs[0], h.Origin = d.Varint(), d.BE64(), d.BE64()
			h.Last = h.Due
		}
		for j, lim := range [...]int{rolloutOthers - 1, maxHoldShapes} {
			c := d.Count(8)
			if c > lim || j == 1 && c == 0 {
				d.Fail("held finding: %d hashes, want at most %d", c, lim)
				return st
			}
			l := make([]uint64, c)
			for k := range l {
				l[k] = d.BE64()
			}
			if j == 0 {
				h.Others = l
			} else {
				h.Shapes = l
			}
		}
		getFinding(d, &h.Finding)
	}
	return st
}

// put writes t's StateV3 fields.
func (t *ToolV3) put(e *encoding.Encbuf) {
	t.ToolV2.put(e)
	e.PutUvarint(uint64(t.RefWindows))
	e.PutBEFloat64(t.RefOpen)
	e.PutUvarint(t.RefRecords)
	e.PutUvarint(uint64(t.RefN1))
	e.PutVarint(t.RefLastNew)
	e.PutUvarint(t.WinStart)
	e.PutUvarint(uint64(t.WinNew))
	e.PutBE64(t.WinAgent)
	e.PutByte(t.WinBits)
	e.PutUvarint(uint64(len(t.FloodAgents)))
	for _, a := range t.FloodAgents {
		e.PutBE64(a)
	}
	e.PutUvarint(t.FloodLast)
}

// put writes st as a version 3 body (tests build old records with it).
func (st *StateV3) put(e *encoding.Encbuf) {
	for _, n := range [...]uint64{st.Skipped, st.Overflow, st.Rejected, st.Evicted} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		st.Tools[i].put(e)
	}
}

// put writes st as a version 2 body (tests build old records with it).
func (st *StateV2) put(e *encoding.Encbuf) {
	for _, n := range [...]uint64{st.Skipped, st.Overflow, st.Rejected, st.Evicted} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		st.Tools[i].put(e)
	}
}

func getToolV2(d *encoding.Decbuf, t *ToolV2) {
	t.Tool, t.LastSeen = d.UvarintStr(), d.Varint()
	t.Shapes = make([]ShapeV2, d.Count(10))
	for j := range t.Shapes {
		t.Shapes[j] = ShapeV2{H: d.BE64(), Window: d.Uvarint32(), Flags: d.Byte()}
	}
	t.Records, t.First, t.LastNew, t.Kinds = d.Uvarint(), d.Varint(), d.Varint(), d.Byte()
	for j := range t.Recent {
		t.Recent[j] = d.Uvarint()
	}
	if pos := d.Uvarint(); pos < ringSize {
		t.RecentPos = int(pos)
	} else {
		d.Fail("tool %q: novelty ring position %d", t.Tool, pos)
	}
	t.WindowEnd, t.Window, t.CurExact = d.Varint(), d.Uvarint32(), d.Uvarint32()
	t.PrevDistinct, t.OverflowN = d.Uvarint(), d.Uvarint()
	t.OverAll, t.OverCur = d.UvarintBytes(), d.UvarintBytes()
}

func getStateV4(d *encoding.Decbuf) StateV4 {
	st := StateV4{Skipped: d.Uvarint(), Overflow: d.Uvarint(), Rejected: d.Uvarint(), Evicted: d.Uvarint()}
	st.Tools = make([]ToolV4, d.Count(minToolV4))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		t := &st.Tools[i]
		getToolV3(d, &t.ToolV3)
		t.Fields = make([]FieldV4, d.Count(9))
		for j := range t.Fields {
			t.Fields[j] = FieldV4{H: d.BE64(), Window: d.Uvarint32()}
		}
	}
	return st
}

// getStateV3 reads a version 3 record and upgrades it: no field pairs
// (see StateV3).
func getStateV3(d *encoding.Decbuf) StateV4 {
	st := StateV4{Skipped: d.Uvarint(), Overflow: d.Uvarint(), Rejected: d.Uvarint(), Evicted: d.Uvarint()}
	st.Tools = make([]ToolV4, d.Count(minToolV3))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		getToolV3(d, &st.Tools[i].ToolV3)
	}
	return st
}

func getToolV3(d *encoding.Decbuf, t *ToolV3) {
	getToolV2(d, &t.ToolV2)
	t.RefWindows = d.Uvarint32()
	if t.RefOpen = d.BEFloat64(); !(t.RefOpen >= 0 && t.RefOpen <= 1) {
		d.Fail("tool %q: reference openness %v", t.Tool, t.RefOpen)
	}
	t.RefRecords, t.RefN1, t.RefLastNew = d.Uvarint(), d.Uvarint32(), d.Varint()
	t.WinStart, t.WinNew, t.WinAgent, t.WinBits = d.Uvarint(), d.Uvarint32(), d.BE64(), d.Byte()
	if n := d.Uvarint(); n <= maxFlooders {
		t.FloodAgents = make([]uint64, n)
		for j := range t.FloodAgents {
			if t.FloodAgents[j] = d.BE64(); t.FloodAgents[j] == 0 {
				d.Fail("tool %q: zero opening agent", t.Tool)
			}
		}
	} else {
		d.Fail("tool %q: %d opening agents, at most %d", t.Tool, n, maxFlooders)
	}
	t.FloodLast = d.Uvarint()
}

// getStateV2 reads a version 2 record and upgrades it: every tool's
// reference is its known set, with the openness its vocabulary has at
// restore (RefOpen −1 asks UnmarshalState to derive it from the tool's
// config) and its current counters.
func getStateV2(d *encoding.Decbuf) StateV4 {
	st := StateV4{Skipped: d.Uvarint(), Overflow: d.Uvarint(), Rejected: d.Uvarint(), Evicted: d.Uvarint()}
	st.Tools = make([]ToolV4, d.Count(minTool))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		t := &st.Tools[i]
		getToolV2(d, &t.ToolV2)
		t.RefOpen = -1
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[StateV6]{
	2: upgrade(getStateV2), 3: upgrade(getStateV3), 4: upgrade(getStateV4), 5: getStateV5, 6: getStateV6}

// upgrade reads a record without held findings.
func upgrade(get func(*encoding.Decbuf) StateV4) func(*encoding.Decbuf) StateV6 {
	return func(d *encoding.Decbuf) StateV6 { return StateV6{StateV4: get(d)} }
}

// encode writes st as the current version.
func (st *StateV6) encode(b []byte) []byte {
	return encoding.AppendRecord(b, stateVersion, len(st.Tools)*(minToolV4+256)+len(st.Held)*512, st.put)
}

// encode writes st as a version 4 record (tests build old records with it).
func (st *StateV4) encode(b []byte) []byte {
	return encoding.AppendRecord(b, 4, len(st.Tools)*(minToolV4+256), st.put)
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) { return detect.MarshalCaptured(d, b) }

// CaptureState implements detect.Capturer: shapes and sketches are
// copied here; sorting and writing run in the Encoder.
func (d *Detector) CaptureState() (detect.Encoder, error) {
	st := &StateV6{StateV4: StateV4{Skipped: d.skipped, Overflow: d.overflo, Tools: make([]ToolV4, 0, d.store.Len())}, Rollouts: d.rollouts}
	for _, hd := range d.held {
		for k, v := range hd.f.Details {
			if !detailTyped(v) {
				return nil, fmt.Errorf("input_novelty state: held finding detail %q of type %T", k, v)
			}
		}
		// The finding's Details map is not changed once held: shared, not copied.
		st.Held = append(st.Held, HeldV6{Due: hd.due, Last: hd.last, Pairs: hd.pairs, Origin: hd.origin,
			Others: slices.Clone(hd.others[:hd.n]), Shapes: slices.Clone(hd.shapes), Finding: hd.f})
	}
	st.Evicted, st.Rejected = d.store.Evictions() // Rejected: capacity evictions
	var err error
	d.store.RangeSeen(func(k baseline.Key, seen int64, t *tool) bool {
		tv := ToolV4{ToolV3: ToolV3{ToolV2: ToolV2{Tool: k.Tool, LastSeen: seen, Records: t.records, First: t.first, LastNew: t.lastNew,
			Kinds: t.kinds, Recent: t.recent, RecentPos: t.recentPos, WindowEnd: t.windowEnd, Window: t.window,
			CurExact: t.curExact, PrevDistinct: t.prevDistinct, OverflowN: t.overflow},
			RefWindows: t.refWindows, RefOpen: t.refOpen, RefRecords: t.refRecords, RefN1: t.refN1, RefLastNew: t.refLastNew,
			WinStart: t.winStart, WinNew: t.winNew, WinAgent: t.winAgent, WinBits: t.winBits}}
		tv.Fields = hashset.Collect(&t.fields, func(sl hashset.Slot) FieldV4 { return FieldV4{H: sl.H, Window: sl.Window} })
		if f := t.flood; f != nil {
			tv.FloodAgents, tv.FloodLast = slices.Clone(f.agents[:f.n]), f.last
		}
		tv.Shapes = hashset.Collect(&t.set, func(sl hashset.Slot) ShapeV2 { return ShapeV2(sl) })
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
		return nil, fmt.Errorf("input_novelty state: %w", err)
	}
	return func(b []byte) ([]byte, error) {
		for i := range st.Tools {
			slices.SortFunc(st.Tools[i].Shapes, func(a, b ShapeV2) int { return cmp.Compare(a.H, b.H) })
			slices.SortFunc(st.Tools[i].Fields, func(a, b FieldV4) int { return cmp.Compare(a.H, b.H) })
		}
		return st.encode(b), nil
	}, nil
}

// UnmarshalState implements detect.State. Tools are bound to the configs
// of d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	st, _, err := stateDecoders.Decode("input_novelty state", data)
	if err != nil {
		return err
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
		t := tool{cfg: d.params.For("", tv.Tool), gen: d.gen.Stamp(), records: tv.Records, first: tv.First, lastNew: tv.LastNew,
			kinds: tv.Kinds, recent: tv.Recent, recentPos: tv.RecentPos, windowEnd: tv.WindowEnd, window: tv.Window,
			curExact: tv.CurExact, prevDistinct: tv.PrevDistinct, overflow: tv.OverflowN,
			refWindows: tv.RefWindows, refOpen: tv.RefOpen, refRecords: tv.RefRecords, refN1: tv.RefN1, refLastNew: tv.RefLastNew,
			winStart: tv.WinStart, winNew: tv.WinNew, winAgent: tv.WinAgent, winBits: tv.WinBits}
		if len(tv.FloodAgents) > maxFlooders {
			return fmt.Errorf("input_novelty state: tool %q: %d opening agents", tv.Tool, len(tv.FloodAgents))
		}
		if len(tv.FloodAgents) > 0 {
			f := &flooders{last: tv.FloodLast}
			f.n = copy(f.agents[:], tv.FloodAgents)
			t.flood = f
		}
		migrate := tv.RefOpen < 0
		for _, sh := range tv.Shapes {
			sl := t.set.Add(sh.H)
			if sl == nil {
				return fmt.Errorf("input_novelty state: tool %q: zero or duplicate shape hash", tv.Tool)
			}
			*sl = hashset.Slot(sh)
			if migrate && sl.Flags&(flagInjection|flagRef) == 0 && int(t.refLen) < t.cfg.ReferenceMaxShapes {
				sl.Flags |= flagRef // a version 2 vocabulary is the reference (capped in record order)
			}
			switch {
			case sl.Flags&flagFlood != 0:
				t.floodShapes++
			case sl.Flags&flagRepeat == 0:
				t.n1++ // Good–Turing singletons are derived, not stored
			}
			if sl.Flags&flagRef != 0 {
				t.refLen++
			}
		}
		for _, f := range tv.Fields {
			sl := t.fields.Add(f.H)
			if sl == nil {
				return fmt.Errorf("input_novelty state: tool %q: zero or duplicate field pair hash", tv.Tool)
			}
			sl.Window = f.Window
		}
		if err := t.overAll.UnmarshalState(tv.OverAll); err != nil {
			return fmt.Errorf("input_novelty state: tool %q: %w", tv.Tool, err)
		}
		if err := t.overCur.UnmarshalState(tv.OverCur); err != nil {
			return fmt.Errorf("input_novelty state: tool %q: %w", tv.Tool, err)
		}
		if migrate {
			t.refOpen, _ = t.openness()
			t.refWindows, t.refRecords, t.refN1, t.refLastNew, t.winStart = 1, t.records, t.n1, t.lastNew, t.records
		}
		store.Put(k, tv.LastSeen, t)
	}
	held := make([]hold, 0, len(st.Held))
	for _, h := range st.Held {
		if len(h.Others) >= rolloutOthers || len(h.Shapes) == 0 || len(h.Shapes) > maxHoldShapes || h.Origin == 0 || h.Last < h.Due {
			return fmt.Errorf("input_novelty state: held finding of %q: %d other users, %d shapes", h.Finding.Tool, len(h.Others), len(h.Shapes))
		}
		hd := hold{f: h.Finding, due: h.Due, last: h.Last, pairs: h.Pairs, origin: h.Origin, shapes: h.Shapes}
		hd.n = copy(hd.others[:], h.Others)
		held = append(held, hd)
		if t := store.Peek(baseline.Key{Tool: h.Finding.Tool}); t != nil {
			t.held++
		}
	}
	store.SetCounters(st.Evicted, st.Rejected)
	d.store, d.skipped, d.overflo = store, st.Skipped, st.Overflow
	d.held, d.rollouts = held, st.Rollouts
	return nil
}

var (
	_ detect.State    = (*Detector)(nil)
	_ detect.Capturer = (*Detector)(nil)
)
