// Package baseline holds the per-key state that detectors share: a bounded
// key store, event-time rate windows, quantile sketches (t-digest) and
// distinct-count sketches (HyperLogLog), plus their snapshot encodings.
//
// Cost does not grow with the number of keys: the Store evicts the least
// recently seen key when a new one arrives at its cap (set by the
// memory_limit budget, Config.KeyCap) and its idle sweep visits only keys
// that are due; Due is a min-ordered index of keys by when they are due
// (frequency orders keys by the agent activity at which they drop), so
// detector ticks visit only those. A new or evicted key starts young and borrows
// its tool's baseline, so cardinality floods degrade baselines, not
// detection.
//
// Everything here is single-goroutine (the detect engine's) and works on
// event time passed in by the caller; nothing reads the wall clock.
package baseline

import (
	"hash/maphash"
	"slices"
	"sync/atomic"
	"time"
	"unsafe"
)

// Key identifies an (agent, tool) pair. Agent is "" for tool-level state.
type Key struct {
	Agent string
	Tool  string
}

// Store is a map of per-key state with a cap on live keys and idle
// eviction, whose cost does not grow with the number of keys.
//
// Keys are kept on an intrusive list in the order their last-seen event
// time last advanced (most recent first). A new key in a full store evicts
// the least recently seen one (counted as a capacity eviction), so new
// keys are never refused. Sweep evicts idle keys from the old end and stops
// at the first key that cannot be idle: its cost is the keys it evicts plus
// those seen within the store's observed disorder (below), not the live
// keys.
//
// Event time is not strictly monotone across keys (records may be up to
// the engine's allowed lateness old), so the list is sorted by last-seen
// only up to a slack: a key moved to the front at time t while the newest
// time seen was m is at most m−t behind the keys ahead of it. The store
// tracks the largest such m−t (its slack), and Sweep walks on until a key
// is newer than the cutoff plus the slack: exactly the keys older than the
// cutoff are evicted, as a full scan would.
type Store[K comparable, V any] struct {
	// index finds a key's entry by its content hash (hashOf, seeded per
	// store): the map holds the entry's slab position (see pos), so it has
	// no pointers for the GC to scan, its growth moves 16-byte slots
	// without write barriers, and its tables are 2.5 times smaller than a
	// map of keys to entries (at a million keys the run is map growth and
	// the page faults of fresh memory). The entry's own key confirms the
	// match; a key whose hash another key holds (a 64-bit collision, in
	// practice never) is in over instead, so lookups stay exact.
	index      map[uint64]uint32
	over       map[K]*storeEntry[K, V]
	hashOf     func(K) uint64
	head, tail *storeEntry[K, V] // most and least recently seen
	maxKeys    int
	idle       time.Duration
	newest     int64 // largest last-seen of any key, unix seconds
	slack      int64 // see the type doc
	unsorted   bool  // Put since the last eviction (restore): see order
	evIdle     uint64
	evCap      uint64
	free       *storeEntry[K, V] // the entry just evicted at the cap, for the new key
	recycle    func(*V)          // resets an evicted value for reuse (SetRecycle)
	// last is the entry Get returned last: consecutive records of one
	// task often share a key, and comparing interned strings (equal
	// pointers) is cheaper than hashing them into the map.
	last *storeEntry[K, V]
	// cache maps a key's string addresses (slotOf) to the entry last found
	// for it, checked by comparing the key: the decoder interns agent ids
	// and tool names, so a record's key usually has the addresses of the
	// last record with that key, and a hit skips hashing the strings into
	// the map. Allocated at the first Get; nil slotOf: no cache (K is
	// neither Key nor string).
	cache  *[storeCacheLen]cacheSlot[K, V]
	slotOf func(K) uint64

	// Entries live in slabs (so a capture can list them in O(slabs));
	// evicted ones wait on spare for reuse.
	slabs  [][]storeEntry[K, V]
	spare  *storeEntry[K, V] // linked through next
	hi, lo int64             // seq of the head and of the tail (see storeEntry.seq)
	// Copy-on-write capture (capture.go): capt is the running or last
	// capture, epoch its number; an entry whose snap is below 2·epoch
	// is still to be copied into it.
	capt  capturer[K, V]
	epoch uint32
	// tombs are the keys evicted since the last capture that it held
	// (born before it): a delta capture's tombstones. Bounded by the keys
	// at that capture; never grows before the first capture.
	tombs []K
}

type storeEntry[K comparable, V any] struct {
	lastSeen   int64 // unix seconds of event time
	seq        int64 // decreases from head to tail: a capture's order
	prev, next *storeEntry[K, V]
	key        K
	val        V
	// snap is 2·epoch once the entry is in (or created after) capture
	// epoch, 2·epoch−1 while one goroutine copies it, dead when free.
	snap atomic.Uint32
	// pos is the entry's slab and offset (slab<<slabBits | offset), its
	// value in Store.index; fixed at allocation (in the padding after born).
	pos uint32
	// mod is the epoch of the last access that may have changed the
	// value, born the epoch it was created in: a delta capture copies
	// only entries with mod at or after the previous capture, and an
	// evicted entry born before the last capture leaves a tombstone.
	mod, born uint32
}

const dead = ^uint32(0)

// cacheSlot is a slot of a Store's entry cache: the entry last found for
// a key whose address hash (slotOf) is h. A key with another hash is told
// apart by h alone: with many keys most probes find another key's entry,
// and comparing its key would be a cache miss on that entry.
type cacheSlot[K comparable, V any] struct {
	e *storeEntry[K, V]
	h uint64
}

// NewStore returns a store holding at most maxKeys keys (0: unlimited) and
// evicting keys not seen for idle (0: never) on Sweep.
func NewStore[K comparable, V any](maxKeys int, idle time.Duration) *Store[K, V] {
	s := &Store[K, V]{index: make(map[uint64]uint32), maxKeys: maxKeys, idle: idle}
	seed := maphash.MakeSeed()
	var zero K
	switch any(zero).(type) {
	case Key:
		s.slotOf = func(k K) uint64 { return keySlot(*(*Key)(unsafe.Pointer(&k))) }
		s.hashOf = func(k K) uint64 {
			kk := (*Key)(unsafe.Pointer(&k))
			return maphash.String(seed, kk.Agent)*0x9E3779B97F4A7C15 ^ maphash.String(seed, kk.Tool)
		}
	case string:
		s.slotOf = func(k K) uint64 { return strSlot(*(*string)(unsafe.Pointer(&k))) }
		s.hashOf = func(k K) uint64 { return maphash.String(seed, *(*string)(unsafe.Pointer(&k))) }
	default:
		s.hashOf = func(k K) uint64 { return maphash.Comparable(seed, k) }
	}
	return s
}

// slabBits is the width of an entry's offset in its slab (pos): slabs
// are capped at 1<<slabBits entries.
const slabBits = 10

// at is the entry at slab position p.
func (s *Store[K, V]) at(p uint32) *storeEntry[K, V] {
	return &s.slabs[p>>slabBits][p&(1<<slabBits-1)]
}

// find is the index lookup of k: its entry, or nil and k's hash and
// whether another key holds that hash (insert's arguments).
func (s *Store[K, V]) find(k K) (e *storeEntry[K, V], h uint64, taken bool) {
	h = s.hashOf(k)
	p, taken := s.index[h]
	if taken {
		if e := s.at(p); e.key == k {
			return e, h, true
		}
	}
	if len(s.over) > 0 {
		return s.over[k], h, taken
	}
	return nil, h, taken
}

// insert indexes e, a new entry whose key hashes to h (taken: by another
// key).
func (s *Store[K, V]) insert(e *storeEntry[K, V], h uint64, taken bool) {
	if !taken {
		s.index[h] = e.pos
		return
	}
	if s.over == nil {
		s.over = make(map[K]*storeEntry[K, V])
	}
	s.over[e.key] = e
}

// remove drops e, a live entry, from the index.
func (s *Store[K, V]) remove(e *storeEntry[K, V]) {
	h := s.hashOf(e.key)
	if p, ok := s.index[h]; ok && p == e.pos {
		delete(s.index, h)
		return
	}
	delete(s.over, e.key)
}

// storeCacheLen is the number of slots of a Store's entry cache (16 KiB).
const (
	storeCacheBits = 10
	storeCacheLen  = 1 << storeCacheBits
)

// keySlot is k's cache hash, whose top bits are its slot: a hash of its
// strings' addresses, not their bytes (it only has to be the same for the
// same interned strings).
func keySlot(k Key) uint64 {
	a := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k.Agent))))
	t := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k.Tool))))
	return a*0x9E3779B97F4A7C15 ^ t*0xC2B2AE3D27D4EB4F
}

// strSlot is keySlot for a string key.
func strSlot(k string) uint64 {
	a := uint64(uintptr(unsafe.Pointer(unsafe.StringData(k))))
	return a * 0x9E3779B97F4A7C15
}

// lookup is the index lookup of get (find), through the entry cache: a
// cached entry is taken only while it holds k and is live, so the result
// is always the index's. h and taken are find's when e is nil.
func (s *Store[K, V]) lookup(k K) (e *storeEntry[K, V], h uint64, taken bool) {
	if s.slotOf == nil {
		return s.find(k)
	}
	if s.cache == nil {
		s.cache = new([storeCacheLen]cacheSlot[K, V])
	}
	a := s.slotOf(k)
	c := &s.cache[a>>(64-storeCacheBits)]
	if e := c.e; e != nil && c.h == a && e.key == k && e.snap.Load() != dead {
		return e, 0, false
	}
	e, h, taken = s.find(k)
	if e != nil {
		c.e, c.h = e, a
	}
	return e, h, taken
}

// Get returns the state for k, creating it with init when absent; created
// reports a new key. A new key in a full store first evicts the least
// recently seen key. now is the event time of the observation and
// refreshes the key's idle clock. For an existing key Get does not
// allocate.
func (s *Store[K, V]) Get(k K, now time.Time, init func(*V)) (v *V, created bool) {
	e, created := s.get(k, now, init)
	return &e.val, created
}

// Ref remembers the entry of one key of one Store (GetRef), so that a
// caller keeping it in another key's state (a detector's (agent, tool) key
// holding its agent's) finds that key again without the map lookup, a
// cache miss when the store is large.
type Ref[K comparable, V any] struct {
	e *storeEntry[K, V]
	s *Store[K, V]
}

// GetRef is Get through ref: while ref holds k's live entry in s the map
// is not consulted; otherwise Get runs and ref is set to k's entry. The
// result and the store's state are exactly Get's.
func (s *Store[K, V]) GetRef(k K, ref *Ref[K, V], now time.Time, init func(*V)) (v *V, created bool) {
	// An evicted entry is dead (or, reused for another key, holds that
	// key) until Get gives it to k again, when it is k's entry anyway; a
	// ref into another store (one replaced by a restore) is refused.
	if e := ref.e; e != nil && ref.s == s && e.key == k && e.snap.Load() != dead {
		s.last = e
		return &s.hit(e, now.Unix()).val, false
	}
	e, created := s.get(k, now, init)
	ref.e, ref.s = e, s
	return &e.val, created
}

func (s *Store[K, V]) get(k K, now time.Time, init func(*V)) (*storeEntry[K, V], bool) {
	t := now.Unix()
	e := s.last
	var h uint64
	var taken bool
	if e == nil || e.key != k {
		e, h, taken = s.lookup(k)
	}
	if e != nil {
		s.last = e
		return s.hit(e, t), false
	}
	if s.maxKeys > 0 {
		// An evicted key may have held h: k then goes to over, which
		// lookups also search when the index holds no h.
		for s.Len() >= s.maxKeys && s.tail != nil {
			s.evict(s.oldest(), true)
			s.evCap++
		}
	}
	e = s.free
	if e != nil {
		s.free = nil
	} else {
		e = s.alloc()
	}
	s.setSnap(e, 2*s.epoch) // not in a running capture
	e.mod, e.born = s.epoch, s.epoch
	e.lastSeen, e.key = t, k
	if init != nil {
		init(&e.val)
	}
	s.insert(e, h, taken)
	s.pushFront(e)
	s.seen(t)
	return e, true
}

// hit is Get's access to the existing entry e at t (unix seconds).
func (s *Store[K, V]) hit(e *storeEntry[K, V], t int64) *storeEntry[K, V] {
	if s.capt != nil {
		s.touch(e)
	}
	e.mod = s.epoch
	if t > e.lastSeen {
		e.lastSeen = t
		if e != s.head {
			s.unlink(e)
			s.pushFront(e)
		}
		s.seen(t)
	}
	return e
}

// setSnap sets e's snap word. With no capture running no other goroutine
// reads it (Finish is done with every entry before the store drops its
// capture, and a new capture's goroutine starts after this write), so a
// plain store does: an atomic one (XCHG on amd64) stalls on the entry's
// cache line, which a new or evicted key rarely has in cache.
func (s *Store[K, V]) setSnap(e *storeEntry[K, V], v uint32) {
	if s.capt != nil {
		e.snap.Store(v)
		return
	}
	*(*uint32)(unsafe.Pointer(&e.snap)) = v
}

// seen records that a key moved to the front at t (see the type doc).
func (s *Store[K, V]) seen(t int64) {
	if t >= s.newest {
		s.newest = t
	} else if d := s.newest - t; d > s.slack {
		s.slack = d
	}
}

// alloc returns a free entry; the caller sets its snap.
func (s *Store[K, V]) alloc() *storeEntry[K, V] {
	if e := s.spare; e != nil {
		s.spare, e.next = e.next, nil
		return e
	}
	n := len(s.slabs) - 1
	if n < 0 || len(s.slabs[n]) == cap(s.slabs[n]) {
		size := 8
		if n >= 0 {
			size = min(2*cap(s.slabs[n]), 256)
		}
		// Grow, not make: the slab takes every entry that fits its size
		// class or whole pages (256 entries of 240 bytes are 7.5 pages;
		// make would leave the half page unused, 16 bytes a key), up to
		// the offsets pos can hold.
		sl := slices.Grow([]storeEntry[K, V](nil), size)
		s.slabs = append(s.slabs, sl[:0:min(cap(sl), 1<<slabBits)])
		n++
	}
	i := len(s.slabs[n])
	s.slabs[n] = s.slabs[n][:i+1]
	e := &s.slabs[n][i] // snap 0: beyond any capture's slab lengths
	e.pos = uint32(n<<slabBits | i)
	return e
}

func (s *Store[K, V]) pushFront(e *storeEntry[K, V]) {
	s.hi++
	e.seq = s.hi
	e.prev, e.next = nil, s.head
	if s.head != nil {
		s.head.prev = e
	} else {
		s.tail = e
	}
	s.head = e
}

func (s *Store[K, V]) unlink(e *storeEntry[K, V]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		s.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// oldest returns the least recently seen key's entry (after Put, the
// slack is established first).
func (s *Store[K, V]) oldest() *storeEntry[K, V] {
	if s.unsorted {
		s.order()
	}
	return s.tail
}

// evict removes e (copying it into a running capture first). At the cap
// (reuse) its memory goes straight to the new key that caused the
// eviction, so no recycled value ever waits in the store (a snapshot and
// its restore see the same keys and nothing else); an idle eviction zeroes
// the value and keeps the entry for a later key.
func (s *Store[K, V]) evict(e *storeEntry[K, V], reuse bool) {
	if s.capt != nil {
		s.touch(e)
	}
	if e.born < s.epoch {
		s.tombs = append(s.tombs, e.key)
	}
	s.unlink(e)
	s.remove(e)
	if s.last == e {
		s.last = nil
	}
	s.setSnap(e, dead)
	var zero K
	e.lastSeen, e.seq, e.key = 0, 0, zero
	if reuse && s.recycle != nil {
		s.recycle(&e.val)
	} else {
		var v V
		e.val = v
	}
	if reuse {
		s.free = e
	} else {
		e.next, s.spare = s.spare, e
	}
}

// SetRecycle makes evicted values reusable: fn must reset v to a state
// equivalent to the zero value, keeping buffers (digest storage) that the
// next new key would otherwise allocate, so a flood of new keys at the cap
// produces little garbage. Without it an evicted value is zeroed.
func (s *Store[K, V]) SetRecycle(fn func(v *V)) { s.recycle = fn }

// maxRestoreSlack: a restored list more out of order than this (a snapshot
// written in key order) is sorted instead, so sweeps stay short.
const maxRestoreSlack = 3600

// order establishes the slack of a list filled by Put (restore): the
// largest amount by which a key is newer than a key ahead of it. A list
// that far out of order is sorted by last-seen (ties keep their order).
func (s *Store[K, V]) order() {
	s.unsorted = false
	var slack int64
	hi := int64(-1 << 63) // newest last-seen behind e
	for e := s.tail; e != nil; e = e.prev {
		if e.lastSeen < hi {
			slack = max(slack, hi-e.lastSeen)
		}
		hi = max(hi, e.lastSeen)
	}
	s.slack = max(s.slack, slack)
	if slack <= maxRestoreSlack {
		return
	}
	es := make([]*storeEntry[K, V], 0, s.Len())
	for e := s.tail; e != nil; e = e.prev {
		es = append(es, e)
	}
	slices.SortStableFunc(es, func(a, b *storeEntry[K, V]) int {
		switch {
		case a.lastSeen < b.lastSeen:
			return -1
		case a.lastSeen > b.lastSeen:
			return 1
		}
		return 0
	})
	s.head, s.tail = nil, nil
	for _, e := range es {
		s.pushFront(e)
	}
	s.slack = 0
}

// Peek returns the state for k without creating or touching it.
func (s *Store[K, V]) Peek(k K) *V {
	if e, _, _ := s.find(k); e != nil {
		if s.capt != nil {
			s.touch(e)
		}
		e.mod = s.epoch
		return &e.val
	}
	return nil
}

// Sweep evicts keys idle since before now-idle and returns how many. It
// visits only those keys and the keys seen within the slack after the
// cutoff.
func (s *Store[K, V]) Sweep(now time.Time) int {
	if s.idle <= 0 || s.tail == nil {
		return 0
	}
	cutoff := now.Add(-s.idle).Unix()
	n := 0
	for e := s.oldest(); e != nil; {
		prev := e.prev
		if e.lastSeen < cutoff {
			s.evict(e, false)
			n++
		} else if e.lastSeen-s.slack >= cutoff {
			break
		}
		e = prev
	}
	s.evIdle += uint64(n)
	return n
}

// Range calls fn for every key, most recently seen first, until fn returns
// false. fn must not add or remove keys. The order is a function of the
// sequence of Gets (and Puts), so it is deterministic.
func (s *Store[K, V]) Range(fn func(k K, v *V) bool) {
	for e := s.head; e != nil; e = e.next {
		if s.capt != nil {
			s.touch(e)
		}
		e.mod = s.epoch
		if !fn(e.key, &e.val) {
			return
		}
	}
}

// RangeKeys calls fn for every key, in Range's order, until fn returns
// false. It hands out no value, so it is not an access: a delta capture
// does not copy the keys it lists.
func (s *Store[K, V]) RangeKeys(fn func(k K) bool) {
	for e := s.head; e != nil; e = e.next {
		if !fn(e.key) {
			return
		}
	}
}

// Len is the number of live keys.
func (s *Store[K, V]) Len() int { return len(s.index) + len(s.over) }

// Evictions counts keys removed as idle (Sweep) and to make room for a
// new key at the cap.
func (s *Store[K, V]) Evictions() (idle, capacity uint64) { return s.evIdle, s.evCap }

// RangeSeen calls fn for every key with its last-seen event time (unix
// seconds), in Range's order, until fn returns false. Snapshots write keys
// in this order and restore them with Put in the same order, so a restored
// store evicts exactly the keys the original would have. fn must not add
// or remove keys.
func (s *Store[K, V]) RangeSeen(fn func(k K, lastSeen int64, v *V) bool) {
	for e := s.head; e != nil; e = e.next {
		if s.capt != nil {
			s.touch(e)
		}
		e.mod = s.epoch
		if !fn(e.key, e.lastSeen, &e.val) {
			return
		}
	}
}

// Put appends k with value v and idle clock lastSeen (unix seconds) as the
// least recently seen key (or replaces it), ignoring the cap: restoring a
// snapshot keeps every key it holds, in RangeSeen's order. It returns the
// stored value.
func (s *Store[K, V]) Put(k K, lastSeen int64, v V) *V {
	if old, _, _ := s.find(k); old != nil {
		s.evict(old, false)
	}
	_, h, taken := s.find(k)
	e := s.alloc()
	s.setSnap(e, 2*s.epoch)
	e.mod, e.born = s.epoch, s.epoch
	s.lo--
	e.lastSeen, e.seq, e.key, e.val = lastSeen, s.lo, k, v
	s.insert(e, h, taken)
	e.prev = s.tail
	if s.tail != nil {
		s.tail.next = e
	} else {
		s.head = e
	}
	s.tail = e
	s.newest = max(s.newest, lastSeen)
	s.unsorted = true
	return &e.val
}

// SetCounters restores the eviction counters (snapshots).
func (s *Store[K, V]) SetCounters(idle, capacity uint64) {
	s.evIdle, s.evCap = idle, capacity
}

// Empty returns a new, empty store with s's cap and idle TTL; restoring
// fills it and swaps it in only once the whole snapshot decoded.
func (s *Store[K, V]) Empty() *Store[K, V] {
	e := NewStore[K, V](s.maxKeys, s.idle)
	e.recycle = s.recycle
	return e
}

// SetLimits changes the cap and the idle TTL (hot reload). Live keys are
// kept, also when more than maxKeys: the next new key evicts the least
// recently seen ones down to the cap.
func (s *Store[K, V]) SetLimits(maxKeys int, idle time.Duration) {
	s.maxKeys, s.idle = maxKeys, idle
}
