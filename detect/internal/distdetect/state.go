package distdetect

import (
	"fmt"
	"slices"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// Snapshot is the record of a distribution detector's state (both key
// stores and the epoch). Capture fills it on the detector's goroutine;
// Codec.Encode writes it, on any goroutine, as
//
//	uvarint version, varint LastEpoch, Keys, Tools, BE32 CRC-32C
//	store: uvarint Rejected, uvarint Evicted, uvarint count, entries
//
// with each entry written by the detector's Codec.Put.
type Snapshot[E any] struct {
	LastEpoch   int64
	Keys, Tools Stores[E] // (agent, tool) keys; tool-level keys (Agent "")
	arenaBytes  int       // Dist bytes captured (presizing)
	// keySeq, toolSeq are the entries' recency positions (Capture only):
	// the order record deltas are merged by.
	keySeq, toolSeq []int64
}

// Stores is one key store; a detector's StoreState converts to and from it.
type Stores[E any] struct {
	// Rejected counts keys evicted to make room at the cap (the name
	// predates eviction: such keys used to be refused), Evicted idle keys.
	Rejected, Evicted uint64
	Entries           []E // in the store's recency order (baseline.Store.RangeSeen)
}

// Codec converts between a detector's per-key state V and its snapshot
// entry E, and writes and reads entries.
type Codec[V, E any] struct {
	Name    string // error prefix, e.g. "latency state"
	Version uint64 // the record version Encode writes
	// Entry captures the state v of key (agent, tool), last seen at seen
	// (unix seconds); Dists are encoded through a. It runs on the
	// detector's goroutine: E must not alias v.
	Entry func(a *Arena, agent, tool string, seen int64, v *V) (E, error)
	// Key returns the key and idle clock Entry was given.
	Key func(e E) (agent, tool string, seen int64)
	// Restore fills the zero state v from e.
	Restore func(e *E, v *V) error
	// Put writes e in the current version.
	Put func(enc *encoding.Encbuf, e *E)
	// EntrySize is an entry's encoding less its Dists (presizing).
	EntrySize int
	// Get reads one entry of version Version (deltas), at least MinEntry
	// bytes.
	Get      func(d *encoding.Decbuf) E
	MinEntry int
	// Decoders reads each version's entries (older versions upgrade).
	Decoders encoding.Decoders[Snapshot[E]]
}

// Capture starts a copy-on-write capture of both stores of c
// (baseline.Capture) and returns at once; finish completes it on any
// goroutine, once, while c goes on. Each store is in its recency order at
// the capture (baseline.Store.RangeSeen): equal states give equal
// snapshots, and a restored store evicts exactly as the original would.
// The copy shares nothing with c. Each key is rotated to the epoch of the
// capture as an eager rotation would have left it, just before it is
// copied (by whichever goroutine copies it; the other side uses its own
// Digester scratch).
func Capture[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E]) (finish func() (*Snapshot[E], error)) {
	s := &Snapshot[E]{LastEpoch: c.LastEpoch}
	c.capEpoch, c.captured = c.LastEpoch, true
	s.Keys.Evicted, s.Keys.Rejected = c.Keys.Evictions()
	s.Tools.Evicted, s.Tools.Rejected = c.Tools.Evictions()
	var enc, own = &side{g: c.G.Clone()}, &side{g: c.G}
	entry := copier(c, cd, enc, own)
	keys := baseline.Capture(c.Keys, func(owner bool, k baseline.Key, seen int64, v *V) E {
		return entry(owner, k.Agent, k.Tool, seen, v)
	})
	tools := baseline.Capture(c.Tools, func(owner bool, tool string, seen int64, v *V) E {
		return entry(owner, "", tool, seen, v)
	})
	return func() (*Snapshot[E], error) {
		s.Keys.Entries, s.keySeq = keys.FinishSeq()
		s.Tools.Entries, s.toolSeq = tools.FinishSeq()
		// Both Finishes ordered the owner's copies before this point.
		for _, sd := range [...]*side{enc, own} {
			if sd.err != nil {
				return nil, sd.err
			}
			s.arenaBytes += sd.a.used
		}
		return s, nil
	}
}

// side is one copier's scratch: the owner's and the encoder's may run at
// the same time.
type side struct {
	a   Arena
	g   *baseline.Digester
	err error
}

// copier returns the copy function of a capture of c: each key is rotated
// to the capture's epoch, then converted by cd.Entry.
func copier[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E], enc, own *side) func(owner bool, agent, tool string, seen int64, v *V) E {
	epoch, at := c.LastEpoch, c.epochAt
	return func(owner bool, agent, tool string, seen int64, v *V) E {
		sd := enc
		if owner {
			sd = own
		}
		if r := P(v).resolved(); r.Epoch != epoch {
			r.Epoch = epoch
			P(v).Advance(sd.g, at)
		}
		e, err := cd.Entry(&sd.a, agent, tool, seen, v)
		if err != nil && sd.err == nil {
			sd.err = fmt.Errorf("%s %q/%q: %w", cd.Name, agent, tool, err)
		}
		return e
	}
}

// Restore replaces c's stores and epoch with s. Nothing changes unless
// every entry restores.
func Restore[C, V any, P Value[C, V], E any](c *Core[C, V, P], cd *Codec[V, E], s *Snapshot[E]) error {
	keys, tools := c.Keys.Empty(), c.Tools.Empty()
	var zero V
	for i := range s.Keys.Entries {
		e := &s.Keys.Entries[i]
		agent, tool, seen := cd.Key(*e)
		k := baseline.Key{Agent: agent, Tool: tool}
		if keys.Peek(k) != nil {
			return fmt.Errorf("%s: duplicate key %q/%q", cd.Name, agent, tool)
		}
		v := keys.Put(k, seen, zero)
		if err := cd.Restore(e, v); err != nil {
			return fmt.Errorf("%s %q/%q: %w", cd.Name, agent, tool, err)
		}
		P(v).resolved().Epoch = s.LastEpoch // Capture rotated every key
	}
	for i := range s.Tools.Entries {
		e := &s.Tools.Entries[i]
		agent, tool, seen := cd.Key(*e)
		if agent != "" || tools.Peek(tool) != nil {
			return fmt.Errorf("%s: bad tool key %q/%q", cd.Name, agent, tool)
		}
		v := tools.Put(tool, seen, zero)
		if err := cd.Restore(e, v); err != nil {
			return fmt.Errorf("%s tool %q: %w", cd.Name, tool, err)
		}
		P(v).resolved().Epoch = s.LastEpoch
	}
	keys.SetCounters(s.Keys.Evicted, s.Keys.Rejected)
	tools.SetCounters(s.Tools.Evicted, s.Tools.Rejected)
	c.Keys, c.Tools, c.LastEpoch = keys, tools, s.LastEpoch
	c.captured = false // new stores: the next capture is a base
	return nil
}

// Encode appends s in the current version to b.
func (cd *Codec[V, E]) Encode(b []byte, s *Snapshot[E]) []byte {
	size := 0
	for _, st := range [...]*Stores[E]{&s.Keys, &s.Tools} {
		size += len(st.Entries) * cd.EntrySize
	}
	size += s.arenaBytes
	enc := encoding.Encbuf{B: slices.Grow(b, size)}
	start := len(b)
	enc.PutUvarint(cd.Version)
	enc.PutVarint(s.LastEpoch)
	for _, st := range [...]*Stores[E]{&s.Keys, &s.Tools} {
		enc.PutUvarint(st.Rejected)
		enc.PutUvarint(st.Evicted)
		enc.PutUvarint(uint64(len(st.Entries)))
		for i := range st.Entries {
			cd.Put(&enc, &st.Entries[i])
		}
	}
	enc.PutCRC32(start)
	return enc.Get()
}

// Decode reads a snapshot of any version in cd.Decoders.
func (cd *Codec[V, E]) Decode(data []byte) (*Snapshot[E], error) {
	s, _, err := cd.Decoders.Decode(cd.Name, data)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// ReadSnapshot reads the body of a Snapshot (after the version) whose
// entries take at least minEntry bytes and are read by get; a version's
// decoder calls it.
func ReadSnapshot[E any](d *encoding.Decbuf, minEntry int, get func(*encoding.Decbuf) E) Snapshot[E] {
	var s Snapshot[E]
	s.LastEpoch = d.Varint()
	for _, st := range [...]*Stores[E]{&s.Keys, &s.Tools} {
		st.Rejected = d.Uvarint()
		st.Evicted = d.Uvarint()
		n := d.Count(minEntry)
		st.Entries = make([]E, 0, n)
		for range n {
			if d.Err() != nil {
				break
			}
			st.Entries = append(st.Entries, get(d))
		}
	}
	return s
}

// Arena hands out Dist encodings from 1 MiB chunks: a few allocations per
// snapshot instead of one per key, and no copying as it grows.
type Arena struct {
	buf  []byte
	used int
}

// Dist returns the encoding of d, valid for the life of the arena.
func (a *Arena) Dist(d *baseline.Dist) ([]byte, error) {
	if cap(a.buf)-len(a.buf) < 160<<10 { // the largest Dist (compression 1000) fits
		a.buf = make([]byte, 0, 1<<20)
	}
	start := len(a.buf)
	enc, err := d.MarshalState(a.buf)
	a.buf = enc
	a.used += len(enc) - start
	return enc[start:len(enc):len(enc)], err
}
