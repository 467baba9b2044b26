package egress

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// stateVersion is the version of the snapshot encoding below.
const stateVersion = 1

// StateV1 is the snapshot of an egress Detector (gob, see
// appendGob): vocabularies, task provenance and the triage lists.
// It holds 64-bit hashes of destination hashes and, in the triage lists,
// the destination hashes themselves; never a raw destination. Stores are
// in recency order and sets sorted, so equal states encode equally.
type StateV1 struct {
	Version      int
	Tools        []ToolV1
	Tasks        []TaskV1
	Pending      []Entry
	Rejected     []Entry
	Unlisted     uint64
	ToolsEvicted uint64
	ToolsCapped  uint64
	TasksEvicted uint64
	TasksCapped  uint64
}

// ToolV1 is one tool's vocabulary.
type ToolV1 struct {
	Tool     string
	LastSeen int64 // store idle clock, unix seconds
	Dests    []DestV1
	Calls    uint64
	Uses     uint64
	First    int64
	Overflow uint64
	Over     []byte // baseline.HLL MarshalState
}

// DestV1 is one known destination or domain.
type DestV1 struct {
	H     uint64
	Flags uint8
}

// TaskV1 is one task's provenance.
type TaskV1 struct {
	Key       uint64
	LastSeen  int64
	Outs      []uint64
	Pos       int
	Sensitive bool
}

// MarshalState implements detect.State.
func (d *Detector) MarshalState(b []byte) ([]byte, error) {
	st := StateV1{Version: stateVersion, Unlisted: d.unlisted}
	st.ToolsEvicted, st.ToolsCapped = d.tools.Evictions()
	st.TasksEvicted, st.TasksCapped = d.tasks.Evictions()
	var err error
	d.tools.RangeSeen(func(name string, seen int64, t *tool) bool {
		tv := ToolV1{Tool: name, LastSeen: seen, Calls: t.calls, Uses: t.uses, First: t.first, Overflow: t.overflow}
		tv.Dests = make([]DestV1, 0, t.set.n)
		for _, sl := range t.set.slots {
			if sl.h != 0 {
				tv.Dests = append(tv.Dests, DestV1{H: sl.h, Flags: sl.flags})
			}
		}
		slices.SortFunc(tv.Dests, func(a, b DestV1) int { return cmp.Compare(a.H, b.H) })
		if tv.Over, err = t.over.MarshalState(nil); err != nil {
			return false
		}
		st.Tools = append(st.Tools, tv)
		return true
	})
	if err != nil {
		return b, fmt.Errorf("egress state: %w", err)
	}
	d.tasks.RangeSeen(func(k uint64, seen int64, t *task) bool {
		st.Tasks = append(st.Tasks, TaskV1{Key: k, LastSeen: seen, Outs: t.outs, Pos: t.pos, Sensitive: t.sensitive})
		return true
	})
	st.Pending, st.Rejected = entries(d.pending), entries(d.rejected)
	b, err = appendGob(b, &st)
	if err != nil {
		return b, fmt.Errorf("egress state: %w", err)
	}
	return b, nil
}

func entries(m map[pkey]*Entry) []Entry {
	es := make([]Entry, 0, len(m))
	for _, e := range m {
		es = append(es, *e)
	}
	slices.SortFunc(es, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Tool, b.Tool), cmp.Compare(a.Destination, b.Destination))
	})
	return es
}

// UnmarshalState implements detect.State. Tools are bound to the configs
// of d's current params. On error d is unchanged.
func (d *Detector) UnmarshalState(data []byte) error {
	var st StateV1
	if err := decodeGob(data, &st); err != nil {
		return fmt.Errorf("egress state: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("egress state: version %d, want %d", st.Version, stateVersion)
	}
	tools := d.tools.Empty()
	for i := range st.Tools {
		tv := &st.Tools[i]
		if tools.Peek(tv.Tool) != nil {
			return fmt.Errorf("egress state: duplicate tool %q", tv.Tool)
		}
		t := tool{cfg: d.params.For("", tv.Tool), gen: d.gen, calls: tv.Calls, uses: tv.Uses, first: tv.First, overflow: tv.Overflow}
		for _, dv := range tv.Dests {
			if dv.H == 0 || t.set.find(dv.H) != nil {
				return fmt.Errorf("egress state: tool %q: zero or duplicate destination hash", tv.Tool)
			}
			t.set.insert(dv.H).flags = dv.Flags
			if dv.Flags&flagCoarse == 0 {
				t.exact++
				if dv.Flags&flagRepeat == 0 {
					t.n1++ // singletons are derived, not stored
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
		if len(tv.Outs) > 1024 || tv.Pos < 0 || tv.Pos > len(tv.Outs) {
			return fmt.Errorf("egress state: task with %d destinations at position %d", len(tv.Outs), tv.Pos)
		}
		tasks.Put(tv.Key, tv.LastSeen, task{outs: tv.Outs, pos: tv.Pos, sensitive: tv.Sensitive})
	}
	pending, err := entryMap(st.Pending, StatusPending)
	if err != nil {
		return err
	}
	rejected, err := entryMap(st.Rejected, StatusRejected)
	if err != nil {
		return err
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
		if e.Status != status || e.Tool == "" || !record.ValidDestination(e.Destination) {
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
		e.FirstSeen, e.LastSeen = e.FirstSeen.UTC(), e.LastSeen.UTC()
		m[k] = e
	}
	return m, nil
}

var _ detect.State = (*Detector)(nil)
