package egress

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// stateVersion is the record version this package writes. Version 2 (no
// AtKnown counts) is upgraded with zero counts, which keep the
// confidential-read term's full decade; version 1 (no provenance counts
// either: Learned, Sources, a task's Srcs) with zero counts and unknown
// sources, which keep the prior's full weight too. The gob encoding before
// it never shipped in a release and is not read.
const stateVersion = 3

// StateV3 is the snapshot record of an egress Detector: vocabularies
// (accepted destinations included), task provenance and the triage lists,
// written field by field in the order declared (internal/encoding), then a
// CRC-32C:
//
//	uvarint version 3, uvarint Unlisted, uvarint ToolsEvicted ToolsCapped
//	TasksEvicted TasksCapped, uvarint count, Tools; uvarint count, Tasks;
//	uvarint count, Pending; uvarint count, Rejected
//	tool:  str Tool, varint LastSeen, uvarint Calls, uvarint Uses,
//	       varint First, uvarint Overflow, uvarint count, Dests, bytes Over,
//	       uvarint Learned, uvarint count, Sources,
//	       uvarint AtKnownN, uvarint AtKnownK
//	dest:  BE64 H, byte Flags
//	source: BE64 H, uvarint N
//	task:  BE64 Key, varint LastSeen, uvarint count, Outs (BE64 each),
//	       Srcs (BE64 each, as many as Outs), uvarint Pos, bool Sensitive
//	entry: str Tool, str Destination, uvarint count, Domains (str each),
//	       time FirstSeen, time LastSeen, uvarint Count, BEFloat64 Score,
//	       str Fingerprint Agent TaskID TraceID SpanID
//
// Over is a baseline.HLL state. An entry's Status is the list it is in.
// It holds 64-bit hashes of destination hashes and, in the triage lists,
// the destination hashes themselves; never a raw destination. Stores are
// in recency order (baseline.Store.RangeSeen), destinations sorted by
// hash and entries by tool and destination, so equal states encode
// equally. Per-tool configs are resolved from the restoring detector's
// params.
type StateV3 struct {
	Unlisted     uint64
	ToolsEvicted uint64
	ToolsCapped  uint64
	TasksEvicted uint64
	TasksCapped  uint64
	Tools        []ToolV3
	Tasks        []TaskV2
	Pending      []Entry
	Rejected     []Entry
}

// ToolV3 is one tool's vocabulary.
type ToolV3 struct {
	Tool     string
	LastSeen int64 // store idle clock, unix seconds
	Calls    uint64
	Uses     uint64
	First    int64
	Overflow uint64
	Dests    []DestV2
	Over     []byte // baseline.HLL MarshalState
	Learned  uint64
	Sources  []SourceV2
	// AtKnownN learned new destinations were at a known domain, AtKnownK
	// of them after a confidential read in their task (version 3).
	AtKnownN uint64
	AtKnownK uint64
}

// SourceV2 is how many learned destinations the outputs of the tool whose
// name hashes to H named.
type SourceV2 struct {
	H uint64
	N uint64
}

// DestV2 is one known destination or domain.
type DestV2 struct {
	H     uint64
	Flags uint8
}

// TaskV2 is one task's provenance.
type TaskV2 struct {
	Key       uint64
	LastSeen  int64
	Outs      []uint64
	Srcs      []uint64 // parallel to Outs; 0 is unknown (version 1)
	Pos       int
	Sensitive bool
}

// Smallest encodings, bounding the counts a record may claim.
const (
	minTool  = 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1
	minDest  = 8 + 1
	minSrc   = 8 + 1
	minTask  = 8 + 1 + 1 + 1 + 1
	minEntry = 1 + 1 + 1 + 1 + 1 + 1 + 8 + 5
	maxOuts  = 1024 // bound on a restored task's destinations (max_task_destinations is lower)
	flagMask = flagCoarse | flagRepeat | flagSourced
)

func (st *StateV3) put(e *encoding.Encbuf) {
	for _, n := range [...]uint64{st.Unlisted, st.ToolsEvicted, st.ToolsCapped, st.TasksEvicted, st.TasksCapped} {
		e.PutUvarint(n)
	}
	e.PutUvarint(uint64(len(st.Tools)))
	for i := range st.Tools {
		t := &st.Tools[i]
		e.PutUvarintStr(t.Tool)
		e.PutVarint(t.LastSeen)
		e.PutUvarint(t.Calls)
		e.PutUvarint(t.Uses)
		e.PutVarint(t.First)
		e.PutUvarint(t.Overflow)
		e.PutUvarint(uint64(len(t.Dests)))
		for _, d := range t.Dests {
			e.PutBE64(d.H)
			e.PutByte(d.Flags)
		}
		e.PutUvarintBytes(t.Over)
		e.PutUvarint(t.Learned)
		e.PutUvarint(uint64(len(t.Sources)))
		for _, s := range t.Sources {
			e.PutBE64(s.H)
			e.PutUvarint(s.N)
		}
		e.PutUvarint(t.AtKnownN)
		e.PutUvarint(t.AtKnownK)
	}
	e.PutUvarint(uint64(len(st.Tasks)))
	for i := range st.Tasks {
		t := &st.Tasks[i]
		e.PutBE64(t.Key)
		e.PutVarint(t.LastSeen)
		e.PutUvarint(uint64(len(t.Outs)))
		for _, h := range t.Outs {
			e.PutBE64(h)
		}
		for _, h := range t.Srcs {
			e.PutBE64(h)
		}
		e.PutUvarint(uint64(t.Pos))
		e.PutBool(t.Sensitive)
	}
	for _, es := range [...][]Entry{st.Pending, st.Rejected} {
		e.PutUvarint(uint64(len(es)))
		for i := range es {
			putEntry(e, &es[i])
		}
	}
}

func putEntry(e *encoding.Encbuf, x *Entry) {
	e.PutUvarintStr(x.Tool)
	e.PutUvarintStr(x.Destination)
	e.PutUvarint(uint64(len(x.Domains)))
	for _, d := range x.Domains {
		e.PutUvarintStr(d)
	}
	e.PutTime(x.FirstSeen)
	e.PutTime(x.LastSeen)
	e.PutUvarint(x.Count)
	e.PutBEFloat64(x.Score)
	for _, s := range [...]string{x.Fingerprint, x.Agent, x.TaskID, x.TraceID, x.SpanID} {
		e.PutUvarintStr(s)
	}
}

func getEntry(d *encoding.Decbuf, status string) Entry {
	x := Entry{Tool: d.UvarintStr(), Destination: d.UvarintStr(), Status: status}
	if n := d.Count(1); n > 0 {
		x.Domains = make([]string, n)
		for i := range x.Domains {
			x.Domains[i] = d.UvarintStr()
		}
	}
	x.FirstSeen, x.LastSeen, x.Count, x.Score = d.Time(), d.Time(), d.Uvarint(), d.BEFloat64()
	for _, s := range [...]*string{&x.Fingerprint, &x.Agent, &x.TaskID, &x.TraceID, &x.SpanID} {
		*s = d.UvarintStr()
	}
	return x
}

func getStateV1(d *encoding.Decbuf) StateV3 { return getState(d, 1) }
func getStateV2(d *encoding.Decbuf) StateV3 { return getState(d, 2) }
func getStateV3(d *encoding.Decbuf) StateV3 { return getState(d, 3) }

// getState reads a record of version v: 1 has no provenance counts
// (unknown sources), 2 no AtKnown counts.
func getState(d *encoding.Decbuf, v int) StateV3 {
	prov := v >= 2
	var st StateV3
	for _, n := range [...]*uint64{&st.Unlisted, &st.ToolsEvicted, &st.ToolsCapped, &st.TasksEvicted, &st.TasksCapped} {
		*n = d.Uvarint()
	}
	st.Tools = make([]ToolV3, d.Count(minTool))
	for i := range st.Tools {
		if d.Err() != nil {
			break
		}
		t := &st.Tools[i]
		t.Tool, t.LastSeen, t.Calls, t.Uses, t.First, t.Overflow = d.UvarintStr(), d.Varint(), d.Uvarint(), d.Uvarint(), d.Varint(), d.Uvarint()
		t.Dests = make([]DestV2, d.Count(minDest))
		for j := range t.Dests {
			t.Dests[j] = DestV2{H: d.BE64(), Flags: d.Byte()}
		}
		t.Over = d.UvarintBytes()
		if !prov {
			continue
		}
		t.Learned = d.Uvarint()
		n := d.Count(minSrc)
		if n > maxSources {
			d.Fail("tool with %d sources", n)
			break
		}
		t.Sources = make([]SourceV2, n)
		for j := range t.Sources {
			t.Sources[j] = SourceV2{H: d.BE64(), N: d.Uvarint()}
		}
		if v >= 3 {
			t.AtKnownN, t.AtKnownK = d.Uvarint(), d.Uvarint()
		}
	}
	st.Tasks = make([]TaskV2, d.Count(minTask))
	for i := range st.Tasks {
		if d.Err() != nil {
			break
		}
		t := &st.Tasks[i]
		t.Key, t.LastSeen = d.BE64(), d.Varint()
		n := d.Count(8)
		if n > maxOuts {
			d.Fail("task with %d destinations", n)
			break
		}
		t.Outs = make([]uint64, n)
		for j := range t.Outs {
			t.Outs[j] = d.BE64()
		}
		t.Srcs = make([]uint64, n)
		if prov {
			for j := range t.Srcs {
				t.Srcs[j] = d.BE64()
			}
		}
		if pos := d.Uvarint(); pos <= uint64(n) {
			t.Pos = int(pos)
		} else {
			d.Fail("task position %d of %d destinations", pos, n)
		}
		t.Sensitive = d.Bool()
	}
	for _, l := range [...]struct {
		es     *[]Entry
		status string
	}{{&st.Pending, StatusPending}, {&st.Rejected, StatusRejected}} {
		*l.es = make([]Entry, d.Count(minEntry))
		for i := range *l.es {
			if d.Err() != nil {
				break
			}
			(*l.es)[i] = getEntry(d, l.status)
		}
	}
	return st
}

// stateDecoders reads every record version this build restores; a new
// version adds its decoder and turns the previous one into an upgrade.
var stateDecoders = encoding.Decoders[StateV3]{1: getStateV1, 2: getStateV2, 3: getStateV3}

// encode writes st as the current version.
func (st *StateV3) encode(b []byte) []byte {
	size := 16 + len(st.Tasks)*(minTask+128) + (len(st.Pending)+len(st.Rejected))*256
	for i := range st.Tools {
		size += minTool + len(st.Tools[i].Tool) + len(st.Tools[i].Dests)*minDest + len(st.Tools[i].Over) + len(st.Tools[i].Sources)*(minSrc+2)
	}
	e := encoding.Encbuf{B: slices.Grow(b, size)}
	e.PutUvarint(stateVersion)
	st.put(&e)
	e.PutCRC32(len(b))
	return e.Get()
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	enc, err := d.CaptureState()
	if err != nil {
		return b, err
	}
	return enc(b)
}

// CaptureState implements detect.Capturer: vocabularies, sketches, task
// destinations and triage entries are copied here; sorting and writing run
// in the Encoder.
func (d *Detector) CaptureState() (detect.Encoder, error) {
	st := &StateV3{Unlisted: d.unlisted, Tools: make([]ToolV3, 0, d.tools.Len()), Tasks: make([]TaskV2, 0, d.tasks.Len())}
	st.ToolsEvicted, st.ToolsCapped = d.tools.Evictions()
	st.TasksEvicted, st.TasksCapped = d.tasks.Evictions()
	var err error
	d.tools.RangeSeen(func(name string, seen int64, t *tool) bool {
		tv := ToolV3{Tool: name, LastSeen: seen, Calls: t.calls, Uses: t.uses, First: t.first, Overflow: t.overflow, Learned: t.learned,
			AtKnownN: t.atKnown.n, AtKnownK: t.atKnown.k}
		for _, s := range t.srcs {
			tv.Sources = append(tv.Sources, SourceV2{H: s.h, N: s.n})
		}
		tv.Dests = hashset.Collect(&t.set, func(sl hashset.Slot) DestV2 { return DestV2{H: sl.H, Flags: sl.Flags} })
		if tv.Over, err = t.over.MarshalState(nil); err != nil {
			return false
		}
		st.Tools = append(st.Tools, tv)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("egress state: %w", err)
	}
	// Task destinations are overwritten in place: copy them, into one
	// arena (a slice per task was most of the capture's cost).
	n := 0
	d.tasks.Range(func(_ uint64, t *task) bool { n += len(t.outs); return true })
	arena := make([]uint64, 0, 2*n)
	ends := make([]int, 0, d.tasks.Len())
	d.tasks.RangeSeen(func(k uint64, seen int64, t *task) bool {
		st.Tasks = append(st.Tasks, TaskV2{Key: k, LastSeen: seen, Pos: t.pos, Sensitive: t.sensitive})
		arena = append(arena, t.outs...)
		arena = append(arena, t.srcs...)
		ends = append(ends, len(arena))
		return true
	})
	start := 0
	for i, end := range ends {
		mid := start + (end-start)/2
		st.Tasks[i].Outs, st.Tasks[i].Srcs = arena[start:mid:mid], arena[mid:end:end]
		start = end
	}
	st.Pending, st.Rejected = entries(d.pending), entries(d.rejected)
	return func(b []byte) ([]byte, error) {
		for i := range st.Tools {
			slices.SortFunc(st.Tools[i].Dests, func(a, b DestV2) int { return cmp.Compare(a.H, b.H) })
		}
		for _, es := range [...][]Entry{st.Pending, st.Rejected} {
			slices.SortFunc(es, func(a, b Entry) int {
				return cmp.Or(cmp.Compare(a.Tool, b.Tool), cmp.Compare(a.Destination, b.Destination))
			})
		}
		return st.encode(b), nil
	}, nil
}

// entries copies the entries of m (unsorted).
func entries(m map[pkey]*Entry) []Entry {
	es := make([]Entry, 0, len(m))
	for _, e := range m {
		c := *e
		c.Domains = slices.Clone(e.Domains)
		es = append(es, c)
	}
	return es
}

// UnmarshalState implements detect.State. Tools are bound to the configs
// of d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	st, version, err := stateDecoders.Decode("egress state", data)
	if err != nil {
		return err
	}
	tools := d.tools.Empty()
	for i := range st.Tools {
		tv := &st.Tools[i]
		if tools.Peek(tv.Tool) != nil {
			return fmt.Errorf("egress state: duplicate tool %q", tv.Tool)
		}
		t := tool{cfg: d.params.For("", tv.Tool), gen: d.gen.Stamp(), calls: tv.Calls, uses: tv.Uses, first: tv.First, overflow: tv.Overflow, learned: tv.Learned,
			atKnown: ctxCount{n: tv.AtKnownN, k: tv.AtKnownK}}
		if len(tv.Sources) > maxSources {
			return fmt.Errorf("egress state: tool %q: %d sources", tv.Tool, len(tv.Sources))
		}
		var counted uint64
		for _, s := range tv.Sources {
			if s.H == 0 || s.N == 0 || slices.ContainsFunc(t.srcs, func(x srcCount) bool { return x.h == s.H }) {
				return fmt.Errorf("egress state: tool %q: zero, empty or duplicate source", tv.Tool)
			}
			counted += s.N
			t.srcs = append(t.srcs, srcCount{s.H, s.N})
		}
		if counted > tv.Learned {
			return fmt.Errorf("egress state: tool %q: %d sourced of %d learned destinations", tv.Tool, counted, tv.Learned)
		}
		if tv.AtKnownK > tv.AtKnownN || tv.AtKnownN > tv.Learned {
			return fmt.Errorf("egress state: tool %q: %d after confidential reads of %d at known domains of %d learned destinations", tv.Tool, tv.AtKnownK, tv.AtKnownN, tv.Learned)
		}
		for _, dv := range tv.Dests {
			sl := t.set.Add(dv.H)
			if sl == nil {
				return fmt.Errorf("egress state: tool %q: zero or duplicate destination hash", tv.Tool)
			}
			if dv.Flags&^flagMask != 0 || (dv.Flags&flagCoarse != 0 && dv.Flags != flagCoarse) || (version < 2 && dv.Flags&flagSourced != 0) {
				return fmt.Errorf("egress state: tool %q: destination flags %#x", tv.Tool, dv.Flags)
			}
			sl.Flags = dv.Flags
			if dv.Flags&flagCoarse == 0 {
				t.exact++
				if dv.Flags&flagRepeat == 0 {
					t.n1++ // singletons are derived, not stored
					if dv.Flags&flagSourced != 0 {
						t.n1src++
					}
				}
			}
		}
		if uint64(t.exact) > t.uses {
			return fmt.Errorf("egress state: tool %q: %d destinations in %d uses", tv.Tool, t.exact, t.uses)
		}
		if err := t.over.UnmarshalState(tv.Over); err != nil {
			return fmt.Errorf("egress state: tool %q: %w", tv.Tool, err)
		}
		tools.Put(tv.Tool, tv.LastSeen, t)
	}
	tasks := d.tasks.Empty()
	for _, tv := range st.Tasks {
		if tasks.Peek(tv.Key) != nil {
			return fmt.Errorf("egress state: duplicate task")
		}
		if len(tv.Outs) > maxOuts || tv.Pos < 0 || tv.Pos > len(tv.Outs) || len(tv.Srcs) != len(tv.Outs) {
			return fmt.Errorf("egress state: task with %d destinations (%d sources) at position %d", len(tv.Outs), len(tv.Srcs), tv.Pos)
		}
		tasks.Put(tv.Key, tv.LastSeen, task{outs: tv.Outs, srcs: tv.Srcs, pos: tv.Pos, sensitive: tv.Sensitive})
	}
	pending, err := entryMap(st.Pending, StatusPending)
	if err != nil {
		return err
	}
	rejected, err := entryMap(st.Rejected, StatusRejected)
	if err != nil {
		return err
	}
	for k := range rejected {
		if pending[k] != nil {
			return fmt.Errorf("egress state: a destination both pending and rejected")
		}
	}
	tools.SetCounters(st.ToolsEvicted, st.ToolsCapped)
	tasks.SetCounters(st.TasksEvicted, st.TasksCapped)
	d.tools, d.tasks, d.pending, d.rejected, d.unlisted = tools, tasks, pending, rejected, st.Unlisted
	return nil
}

func entryMap(es []Entry, status string) (map[pkey]*Entry, error) {
	m := make(map[pkey]*Entry, len(es))
	for i := range es {
		e := &es[i]
		if e.Tool == "" || !record.ValidDestination(e.Destination) || math.IsNaN(e.Score) || math.IsInf(e.Score, 0) {
			return nil, fmt.Errorf("egress state: malformed %s entry", status)
		}
		for _, dom := range e.Domains {
			if !record.ValidDestination(dom) {
				return nil, fmt.Errorf("egress state: malformed %s entry", status)
			}
		}
		k := pkey{e.Tool, hash(e.Destination)}
		if m[k] != nil {
			return nil, fmt.Errorf("egress state: duplicate %s entry", status)
		}
		m[k] = e
	}
	return m, nil
}

var (
	_ detect.State    = (*Detector)(nil)
	_ detect.Capturer = (*Detector)(nil)
)
