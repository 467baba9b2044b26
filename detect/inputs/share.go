package inputs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/record"
	"github.com/toolwatch/toolwatch/shape"
)

var _ detect.ToolSharer = (*Detector)(nil)

// Shape-set sketch of a tool (consumer groups, docs/design.md §3a): the
// hashes of its accepted shapes — the exact set less quarantined and
// sql-injection shapes (those alert on their own) —, ascending:
//
//	u8 version (1) | uvarint n | uvarint delta × n (first from 0)
//
// Overflow shapes (the HyperLogLog estimates) are not shared: a sketch of
// counts cannot say whether a given shape is known.
const shapeSketchVersion = 1

// maxSharedShapes bounds a decoded sketch (max_shapes is at most 2^20).
const maxSharedShapes = 1 << 20

// ToolSketches implements detect.ToolSharer.
func (d *Detector) ToolSketches(emit func(tool string, sketch []byte)) {
	var hs []uint64
	d.store.Range(func(k baseline.Key, t *tool) bool {
		hs = hs[:0]
		for sl := range t.set.All() {
			if sl.Flags&(flagFlood|flagInjection) == 0 {
				hs = append(hs, sl.H)
			}
		}
		if len(hs) == 0 {
			return true
		}
		slices.Sort(hs)
		b := binary.AppendUvarint([]byte{shapeSketchVersion}, uint64(len(hs)))
		prev := uint64(0)
		for _, h := range hs {
			b = binary.AppendUvarint(b, h-prev)
			prev = h
		}
		emit(k.Tool, b)
		return true
	})
}

// DecodeShapeSketch decodes a shape-set sketch, calling add for each hash.
func DecodeShapeSketch(b []byte, add func(h uint64)) error {
	if len(b) == 0 || b[0] != shapeSketchVersion {
		return errors.New("shape sketch: unsupported version")
	}
	b = b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > maxSharedShapes || n > uint64(len(b)-k) {
		return errors.New("shape sketch: bad count")
	}
	b = b[k:]
	h := uint64(0)
	for i := range n {
		delta, k := binary.Uvarint(b)
		if k <= 0 || (i > 0 && delta == 0) || h+delta < h {
			return fmt.Errorf("shape sketch: hash %d malformed", i)
		}
		h += delta
		b = b[k:]
		if h != 0 {
			add(h)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("shape sketch: %d trailing bytes", len(b))
	}
	return nil
}

// SetSharedTools implements detect.ToolSharer: the union of the other
// partitions' accepted shapes per tool. A shape this partition has not
// seen but another has is not novel: it is learned as known (sharedShape).
func (d *Detector) SetSharedTools(others map[string][][]byte) error {
	views := make(map[string]*hashset.Set, len(others))
	var errs []error
	for tool, list := range others {
		s := new(hashset.Set)
		for _, b := range list {
			var one []uint64
			if err := DecodeShapeSketch(b, func(h uint64) { one = append(one, h) }); err != nil {
				errs = append(errs, fmt.Errorf("tool %q: %w", tool, err))
				continue
			}
			for _, h := range one {
				s.Add(h)
			}
		}
		if s.Len() > 0 {
			views[tool] = s
		}
	}
	d.shared = views
	return errors.Join(errs...)
}

// sharedShape learns shape s (hash h), unknown to tool t here, as known
// when another partition of the group has accepted it, reporting whether
// it did: the tool's vocabulary is the fleet's, not the partition's. It
// is counted as a repeat (not a Good–Turing singleton) and is not a new
// shape for openness or stability. Dangerous shapes are judged as before.
func (d *Detector) sharedShape(t *tool, r *record.Record, s string, h uint64) bool {
	v := d.shared[r.Tool.Name]
	if v == nil || v.Find(h) == nil {
		return false
	}
	if _, dangerous := shape.Class(s); dangerous {
		return false
	}
	if t.set.Len() < t.cfg.MaxShapes {
		sl := t.set.Insert(h)
		sl.Window = t.window
		sl.Flags = withUses(flagRepeat, 1)
		t.curExact++
	} else {
		t.overflow++
		d.overflo++
		t.overAll.InsertHash(h)
		t.overCur.InsertHash(h)
	}
	t.kinds |= kindBit(s)
	t.learnFields(s)
	return true
}
