package distdetect

import (
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/keydelta"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// Incremental snapshots (detect.DeltaCapturer). A base is the detector's
// Snapshot record plus an order record; each delta holds the keys changed
// since the previous capture. The records, all integers varints, each
// sealed by a BE32 CRC-32C:
//
//	order: uvarint OrderVersion, for Keys then Tools:
//	       uvarint n, varint first position, n−1 × uvarint decrease
//	delta: uvarint DeltaVersion, uvarint entry version (Codec.Version),
//	       varint LastEpoch, for Keys then Tools:
//	       uvarint Rejected, uvarint Evicted,
//	       uvarint tombstones, each str Agent, str Tool,
//	       uvarint entries, each varint position, entry (Codec.Put)
//
// Entries are written in the detector's own entry record, so a new entry
// version plugs in unchanged; a delta of another entry version than this
// build's is refused (the chain stops before it).

// Record versions of the order and delta records.
const (
	OrderVersion = 1
	DeltaVersion = 1
)

// Delta is what changed in both stores since the previous capture.
type Delta[E any] struct {
	LastEpoch   int64
	Keys, Tools StoreDelta[E]
	arenaBytes  int
}

// StoreDelta is one store's part of a Delta.
type StoreDelta[E any] struct {
	Rejected, Evicted uint64
	Tombs             []baseline.Key // evicted keys (Agent "" in Tools)
	Entries           []E            // changed or new keys
	Seqs              []int64        // their recency positions
}

// CaptureDelta starts a delta capture of c (baseline.CaptureDelta); ok is
// false when c was not captured since it was built or restored, or a new
// epoch began since (every key rotates).
func CaptureDelta[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E]) (finish func() (*Delta[E], error), ok bool) {
	if !c.captured || c.capEpoch != c.LastEpoch {
		return nil, false
	}
	var enc, own = &side{g: c.G.Clone()}, &side{g: c.G}
	entry := copier(c, cd, enc, own)
	keys, ok := baseline.CaptureDelta(c.Keys, func(owner bool, k baseline.Key, seen int64, v *V) E {
		return entry(owner, k.Agent, k.Tool, seen, v)
	})
	if !ok {
		return nil, false
	}
	tools, ok := baseline.CaptureDelta(c.Tools, func(owner bool, tool string, seen int64, v *V) E {
		return entry(owner, "", tool, seen, v)
	})
	if !ok {
		keys.Finish()
		c.captured = false // Keys moved on: the next capture is a base
		return nil, false
	}
	d := &Delta[E]{LastEpoch: c.LastEpoch}
	d.Keys.Evicted, d.Keys.Rejected = c.Keys.Evictions()
	d.Tools.Evicted, d.Tools.Rejected = c.Tools.Evictions()
	d.Keys.Tombs = keys.Tombstones()
	for _, t := range tools.Tombstones() {
		d.Tools.Tombs = append(d.Tools.Tombs, baseline.Key{Tool: t})
	}
	return func() (*Delta[E], error) {
		d.Keys.Entries, d.Keys.Seqs = keys.FinishSeq()
		d.Tools.Entries, d.Tools.Seqs = tools.FinishSeq()
		for _, sd := range [...]*side{enc, own} {
			if sd.err != nil {
				return nil, sd.err
			}
			d.arenaBytes += sd.a.used
		}
		return d, nil
	}, true
}

// EncodeOrder appends the order record of s (a Capture's) to b.
func EncodeOrder[E any](b []byte, s *Snapshot[E]) []byte {
	enc := encoding.Encbuf{B: b}
	start := len(b)
	enc.PutUvarint(OrderVersion)
	keydelta.PutPositions(&enc, s.keySeq)
	keydelta.PutPositions(&enc, s.toolSeq)
	enc.PutCRC32(start)
	return enc.Get()
}

var orderDecoders = encoding.Decoders[[2][]int64]{OrderVersion: func(d *encoding.Decbuf) [2][]int64 {
	var out [2][]int64
	for i := range out {
		out[i] = keydelta.Positions(d)
	}
	return out
}}

// EncodeDelta appends d to b.
func (cd *Codec[V, E]) EncodeDelta(b []byte, d *Delta[E]) []byte {
	size := d.arenaBytes
	for _, st := range [...]*StoreDelta[E]{&d.Keys, &d.Tools} {
		size += len(st.Entries)*(cd.EntrySize+10) + len(st.Tombs)*32
	}
	enc := encoding.Encbuf{B: slices.Grow(b, size)}
	start := len(b)
	enc.PutUvarint(DeltaVersion)
	enc.PutUvarint(cd.Version)
	enc.PutVarint(d.LastEpoch)
	for _, st := range [...]*StoreDelta[E]{&d.Keys, &d.Tools} {
		enc.PutUvarint(st.Rejected)
		enc.PutUvarint(st.Evicted)
		keydelta.PutTombs(&enc, st.Tombs)
		enc.PutUvarint(uint64(len(st.Entries)))
		for i := range st.Entries {
			enc.PutVarint(st.Seqs[i])
			cd.Put(&enc, &st.Entries[i])
		}
	}
	enc.PutCRC32(start)
	return enc.Get()
}

// DecodeDelta reads a delta record written by EncodeDelta.
func (cd *Codec[V, E]) DecodeDelta(data []byte) (*Delta[E], error) {
	decs := encoding.Decoders[Delta[E]]{DeltaVersion: func(d *encoding.Decbuf) Delta[E] {
		var out Delta[E]
		if v := d.Uvarint(); d.Err() == nil && v != cd.Version {
			d.Fail("delta entries of record version %d, this build reads %d", v, cd.Version)
			return out
		}
		out.LastEpoch = d.Varint()
		for _, st := range [...]*StoreDelta[E]{&out.Keys, &out.Tools} {
			st.Rejected, st.Evicted = d.Uvarint(), d.Uvarint()
			st.Tombs = keydelta.Tombs(d)
			n := d.Count(1 + cd.MinEntry)
			st.Entries, st.Seqs = make([]E, 0, n), make([]int64, 0, n)
			for j := 0; j < n && d.Err() == nil; j++ {
				st.Seqs = append(st.Seqs, d.Varint())
				st.Entries = append(st.Entries, cd.Get(d))
			}
		}
		return out
	}}
	d, _, err := decs.Decode(cd.Name+" delta", data)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// RestoreChain replaces c's state with base, its order record and deltas
// applied in order (see Restore). Nothing changes unless all of it
// applies.
func RestoreChain[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E], base, order []byte, deltas [][]byte) error {
	s, err := cd.Decode(base)
	if err != nil {
		return err
	}
	if len(deltas) == 0 {
		return Restore(c, cd, s)
	}
	o, _, err := orderDecoders.Decode(cd.Name+" order", order)
	if err != nil {
		return err
	}
	keyOf := func(e *E) baseline.Key {
		agent, tool, _ := cd.Key(*e)
		return baseline.Key{Agent: agent, Tool: tool}
	}
	keys, err := baseline.NewChain(s.Keys.Entries, o[0], keyOf)
	if err != nil {
		return fmt.Errorf("%s keys: %w", cd.Name, err)
	}
	tools, err := baseline.NewChain(s.Tools.Entries, o[1], keyOf)
	if err != nil {
		return fmt.Errorf("%s tools: %w", cd.Name, err)
	}
	for i, data := range deltas {
		d, err := cd.DecodeDelta(data)
		if err != nil {
			return fmt.Errorf("delta %d: %w", i+1, err)
		}
		if err := keys.Apply(d.Keys.Tombs, d.Keys.Entries, d.Keys.Seqs); err != nil {
			return fmt.Errorf("%s delta %d keys: %w", cd.Name, i+1, err)
		}
		if err := tools.Apply(d.Tools.Tombs, d.Tools.Entries, d.Tools.Seqs); err != nil {
			return fmt.Errorf("%s delta %d tools: %w", cd.Name, i+1, err)
		}
		s.LastEpoch = d.LastEpoch
		s.Keys.Rejected, s.Keys.Evicted = d.Keys.Rejected, d.Keys.Evicted
		s.Tools.Rejected, s.Tools.Evicted = d.Tools.Rejected, d.Tools.Evicted
	}
	if s.Keys.Entries, _, err = keys.Result(); err != nil {
		return fmt.Errorf("%s keys: %w", cd.Name, err)
	}
	if s.Tools.Entries, _, err = tools.Result(); err != nil {
		return fmt.Errorf("%s tools: %w", cd.Name, err)
	}
	return Restore(c, cd, s)
}

// Deltas implements detect.State and detect.DeltaCapturer (the snapshot
// record, copy-on-write captures, deltas and their restore) for a detector
// over a Core and its Codec; the detector embeds it (NewDeltas).
type Deltas[C, V any, P Value[C, V], E any] struct {
	core  *Core[C, V, P]
	codec *Codec[V, E]
}

// NewDeltas returns the Deltas of c and cd.
func NewDeltas[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E]) Deltas[C, V, P, E] {
	return Deltas[C, V, P, E]{core: c, codec: cd}
}

// CaptureState implements detect.Capturer: a copy-on-write capture
// (Capture); the Encoder copies the keys not touched since and writes the
// Snapshot record.
func (x Deltas[C, V, P, E]) CaptureState() (detect.Encoder, error) {
	finish := Capture(x.core, x.codec)
	return func(b []byte) ([]byte, error) {
		s, err := finish()
		if err != nil {
			return b, err
		}
		return x.codec.Encode(b, s), nil
	}, nil
}

// MarshalState implements detect.State. The encoding is deterministic:
// equal states give equal bytes.
func (x Deltas[C, V, P, E]) MarshalState(b []byte) ([]byte, error) {
	return detect.MarshalCaptured(x, b)
}

// UnmarshalState implements detect.State. Nothing changes unless the
// whole snapshot decodes.
func (x Deltas[C, V, P, E]) UnmarshalState(data []byte) error {
	s, err := x.codec.Decode(data)
	if err != nil {
		return err
	}
	return Restore(x.core, x.codec, s)
}

// CaptureBase implements detect.DeltaCapturer: call state before order.
func (x Deltas[C, V, P, E]) CaptureBase() (state, order detect.Encoder, err error) {
	finish := Capture(x.core, x.codec)
	var s *Snapshot[E]
	state = func(b []byte) ([]byte, error) {
		var err error
		if s, err = finish(); err != nil {
			return b, err
		}
		return x.codec.Encode(b, s), nil
	}
	order = func(b []byte) ([]byte, error) {
		if s == nil {
			return b, fmt.Errorf("%s: order encoded before the state", x.codec.Name)
		}
		return EncodeOrder(b, s), nil
	}
	return state, order, nil
}

// CaptureDelta implements detect.DeltaCapturer: the keys seen since the
// previous capture, and those evicted since (CaptureDelta).
func (x Deltas[C, V, P, E]) CaptureDelta() (detect.Encoder, bool, error) {
	finish, ok := CaptureDelta(x.core, x.codec)
	if !ok {
		return nil, false, nil
	}
	return func(b []byte) ([]byte, error) {
		d, err := finish()
		if err != nil {
			return b, err
		}
		return x.codec.EncodeDelta(b, d), nil
	}, true, nil
}

// RestoreChain implements detect.DeltaCapturer.
func (x Deltas[C, V, P, E]) RestoreChain(base, order []byte, deltas [][]byte) error {
	return RestoreChain(x.core, x.codec, base, order, deltas)
}
