package baseline

import (
	"cmp"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// A capture copies every key of a Store as of one instant without
// stopping the goroutine that owns the store: Capture returns at once, and
// each key is copied exactly once, either by the owner just before it
// next touches the key (Get, Peek, Range, eviction: copy-on-write) or by
// Finish, on any goroutine, for the keys the owner has not touched.
//
// The two goroutines hand each entry over through its snap word: whoever
// swaps it from "pending" to "busy" copies the entry and then marks it
// done; the other side skips a done entry and waits out a busy one (a
// copy of one key, microseconds). Finish reads an entry only while it
// holds it busy, and the owner changes one only after it is done, so
// they never touch the same key at once. Finish finds the entries through
// the store's slabs as of Capture (a copy of the slab list), never
// through the links or the map, which the owner keeps changing.

// ownChunk is how many copies the owner allocates at a time: small
// allocations, so the owner never copies a grown slice nor pays a large
// allocation's GC assist while it handles a record.
const ownChunk = 64

// capturer is a running capture as its Store sees it.
type capturer[K comparable, V any] interface {
	claim(e *storeEntry[K, V], owner bool)
	finished() bool
}

// touch copies e into the running capture before the owner changes it.
func (s *Store[K, V]) touch(e *storeEntry[K, V]) {
	if e.snap.Load() < 2*s.epoch {
		s.capt.claim(e, true)
	} else if s.capt.finished() {
		s.capt = nil // every entry is done: back to the one-compare path
	}
}

// StoreCapture is a running copy-on-write capture of one Store; E is the
// detector's copy of one key.
type StoreCapture[K comparable, V, E any] struct {
	done  uint32 // snap of a copied entry
	slabs [][]storeEntry[K, V]
	// copy copies key k's state v (last seen at seen, unix seconds).
	// owner reports the store's goroutine; calls with owner true and
	// false may run at the same time, so each side needs its own scratch.
	copy func(owner bool, k K, seen int64, v *V) E
	fin  atomic.Bool
	// A delta capture (CaptureDelta) copies only entries changed since
	// the previous capture (mod >= since); tombs are the keys evicted
	// since then.
	delta bool
	since uint32
	tombs []K

	mu             sync.Mutex
	own            [][]E   // copied by the owner, under mu, in chunks (see ownChunk)
	ownSeq, encSeq []int64 // entry seqs of own and enc
	enc            []E     // copied by Finish
}

// Capture starts a capture of s as it is now and returns at once (its
// cost is the number of slabs, not of keys). copy is called exactly once
// for each live key, with the key's state as of this call; a key created
// afterwards is not part of the capture, one evicted or changed
// afterwards is copied first. The store's goroutine must call Capture; a
// capture still running on s is finished first (on this goroutine).
func Capture[K comparable, V, E any](s *Store[K, V], copy func(owner bool, k K, seen int64, v *V) E) *StoreCapture[K, V, E] {
	return capture(s, copy, false)
}

// CaptureDelta is Capture of only the keys created or accessed (Get,
// Peek, Range) since the previous capture of s, full or delta, plus
// Tombstones for the keys that capture held and that were evicted since.
// Applied to the previous capture (Chain), it gives what Capture would.
// ok is false when s was never captured (or was restored since: Put):
// take a full Capture then. The owner's per-access cost is one store of
// the epoch into the entry.
func CaptureDelta[K comparable, V, E any](s *Store[K, V], copy func(owner bool, k K, seen int64, v *V) E) (c *StoreCapture[K, V, E], ok bool) {
	if s.epoch == 0 || s.unsorted {
		return nil, false
	}
	return capture(s, copy, true), true
}

func capture[K comparable, V, E any](s *Store[K, V], copy func(owner bool, k K, seen int64, v *V) E, delta bool) *StoreCapture[K, V, E] {
	if s.capt != nil {
		if c, ok := s.capt.(interface{ drain() }); ok {
			c.drain()
		}
	}
	if s.unsorted {
		s.order() // renumbers entries: do it before any is pending
	}
	s.epoch++
	// Every key at Capture is copied once, so enc never grows past Len.
	n := s.Len()
	if delta {
		n = 0 // grown as needed: a delta copies few keys
	}
	c := &StoreCapture[K, V, E]{done: 2 * s.epoch, slabs: slices.Clone(s.slabs), copy: copy,
		enc: make([]E, 0, n), encSeq: make([]int64, 0, n),
		delta: delta, since: s.epoch - 1, tombs: s.tombs}
	s.tombs = nil
	s.capt = c
	return c
}

// Tombstones are the keys of the previous capture evicted since it (a
// delta capture; a key may also be in the delta when it came back).
func (c *StoreCapture[K, V, E]) Tombstones() []K { return c.tombs }

func (c *StoreCapture[K, V, E]) finished() bool { return c.fin.Load() }

// claim copies e unless it is done, waiting while the other side copies it.
func (c *StoreCapture[K, V, E]) claim(e *storeEntry[K, V], owner bool) {
	for {
		v := e.snap.Load()
		if v >= c.done { // done, or free (dead)
			return
		}
		if v == c.done-1 {
			runtime.Gosched() // the other side is copying it
			continue
		}
		if !e.snap.CompareAndSwap(v, c.done-1) {
			continue
		}
		if c.delta && e.mod < c.since {
			e.snap.Store(c.done) // unchanged since the previous capture
			return
		}
		x := c.copy(owner, e.key, e.lastSeen, &e.val)
		if owner {
			c.mu.Lock()
			if n := len(c.own); n == 0 || len(c.own[n-1]) == cap(c.own[n-1]) {
				c.own = append(c.own, make([]E, 0, ownChunk))
			}
			n := len(c.own) - 1
			c.own[n], c.ownSeq = append(c.own[n], x), append(c.ownSeq, e.seq)
			c.mu.Unlock()
		} else {
			c.enc, c.encSeq = append(c.enc, x), append(c.encSeq, e.seq)
		}
		e.snap.Store(c.done)
		return
	}
}

// drain copies every entry still pending, as the owner.
func (c *StoreCapture[K, V, E]) drain() {
	for _, sl := range c.slabs {
		for i := range sl {
			c.claim(&sl[i], true)
		}
	}
}

// Finish copies the keys not yet copied and returns every copy in the
// store's recency order at Capture (RangeSeen's). Call it once, on any
// goroutine; the store's goroutine may go on using the store meanwhile.
func (c *StoreCapture[K, V, E]) Finish() []E {
	es, _ := c.FinishSeq()
	return es
}

// FinishSeq is Finish that also returns each copy's position in the
// recency order (descending; unique within the store and stable while a
// key is not accessed), which Chain needs to merge deltas.
func (c *StoreCapture[K, V, E]) FinishSeq() ([]E, []int64) {
	for _, sl := range c.slabs {
		for i := range sl {
			c.claim(&sl[i], false)
		}
	}
	c.mu.Lock()
	// Within enc's capacity: neither slice is copied.
	es, seqs := c.enc, append(c.encSeq, c.ownSeq...)
	for _, ch := range c.own {
		es = append(es, ch...)
	}
	c.own, c.ownSeq, c.enc, c.encSeq = nil, nil, nil, nil
	c.mu.Unlock()
	c.fin.Store(true)
	// Order by seq (recency at Capture): sort positions, then move each
	// copy (which may be large) once, along the permutation's cycles.
	perm := make([]int, len(es))
	for i := range perm {
		perm[i] = i
	}
	slices.SortFunc(perm, func(a, b int) int { return cmp.Compare(seqs[b], seqs[a]) })
	sorted := make([]int64, len(perm))
	for i, p := range perm {
		sorted[i] = seqs[p]
	}
	for i := range es {
		if perm[i] < 0 {
			continue
		}
		tmp, j := es[i], i
		for {
			k := perm[j]
			perm[j] = -1
			if k == i {
				es[j] = tmp
				break
			}
			es[j], j = es[k], k
		}
	}
	return es, sorted
}
