// Package baseline holds the per-key state that detectors share: a bounded
// key store, event-time rate windows, quantile sketches (t-digest) and
// distinct-count sketches (HyperLogLog), plus their snapshot encodings.
//
// Everything here is single-goroutine (the detect engine's) and works on
// event time passed in by the caller; nothing reads the wall clock.
package baseline

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// Key identifies an (agent, tool) pair. Agent is "" for tool-level state.
type Key struct {
	Agent string
	Tool  string
}

// Store is a map of per-key state with a cap on live keys and idle
// eviction. When the cap is reached new keys are rejected (and counted)
// until Sweep evicts idle ones: state never grows silently.
type Store[K comparable, V any] struct {
	entries  map[K]*storeEntry[V]
	maxKeys  int
	idle     time.Duration
	rejected uint64
	evicted  uint64
}

type storeEntry[V any] struct {
	lastSeen int64 // unix seconds of event time
	val      V
}

// NewStore returns a store holding at most maxKeys keys (0: unlimited) and
// evicting keys not seen for idle (0: never) on Sweep.
func NewStore[K comparable, V any](maxKeys int, idle time.Duration) *Store[K, V] {
	return &Store[K, V]{entries: make(map[K]*storeEntry[V]), maxKeys: maxKeys, idle: idle}
}

// Get returns the state for k, creating it with init when absent. created
// reports a new key; v is nil when the key is new and the store is full.
// now is the event time of the observation and refreshes the key's idle
// clock.
func (s *Store[K, V]) Get(k K, now time.Time, init func(*V)) (v *V, created bool) {
	if e, ok := s.entries[k]; ok {
		if t := now.Unix(); t > e.lastSeen {
			e.lastSeen = t
		}
		return &e.val, false
	}
	if s.maxKeys > 0 && len(s.entries) >= s.maxKeys {
		s.rejected++
		return nil, false
	}
	e := &storeEntry[V]{lastSeen: now.Unix()}
	if init != nil {
		init(&e.val)
	}
	s.entries[k] = e
	return &e.val, true
}

// Peek returns the state for k without creating or touching it.
func (s *Store[K, V]) Peek(k K) *V {
	if e, ok := s.entries[k]; ok {
		return &e.val
	}
	return nil
}

// Sweep evicts keys idle since before now-idle and returns how many.
func (s *Store[K, V]) Sweep(now time.Time) int {
	if s.idle <= 0 {
		return 0
	}
	cutoff := now.Add(-s.idle).Unix()
	n := 0
	for k, e := range s.entries {
		if e.lastSeen < cutoff {
			delete(s.entries, k)
			n++
		}
	}
	s.evicted += uint64(n)
	return n
}

// Range calls fn for every key until fn returns false.
func (s *Store[K, V]) Range(fn func(k K, v *V) bool) {
	for k, e := range s.entries {
		if !fn(k, &e.val) {
			return
		}
	}
}

// Len is the number of live keys.
func (s *Store[K, V]) Len() int { return len(s.entries) }

// Rejected counts keys refused because the store was full.
func (s *Store[K, V]) Rejected() uint64 { return s.rejected }

// Evicted counts keys removed as idle.
func (s *Store[K, V]) Evicted() uint64 { return s.evicted }

// RangeSeen calls fn for every key with its last-seen event time (unix
// seconds) until fn returns false. For snapshots; order is unspecified.
func (s *Store[K, V]) RangeSeen(fn func(k K, lastSeen int64, v *V) bool) {
	for k, e := range s.entries {
		if !fn(k, e.lastSeen, &e.val) {
			return
		}
	}
}

// Put inserts (or replaces) k with value v and idle clock lastSeen (unix
// seconds), ignoring the cap: restoring a snapshot keeps every key it
// holds. It returns the stored value.
func (s *Store[K, V]) Put(k K, lastSeen int64, v V) *V {
	e := &storeEntry[V]{lastSeen: lastSeen, val: v}
	s.entries[k] = e
	return &e.val
}

// SetCounters restores the rejected and evicted counters (snapshots).
func (s *Store[K, V]) SetCounters(rejected, evicted uint64) {
	s.rejected, s.evicted = rejected, evicted
}

// Empty returns a new, empty store with s's cap and idle TTL; restoring
// fills it and swaps it in only once the whole snapshot decoded.
func (s *Store[K, V]) Empty() *Store[K, V] { return NewStore[K, V](s.maxKeys, s.idle) }

// SetLimits changes the cap and the idle TTL (hot reload). Live keys are
// kept, also when more than maxKeys: new keys are rejected until Sweep
// brings the store under the cap.
func (s *Store[K, V]) SetLimits(maxKeys int, idle time.Duration) {
	s.maxKeys, s.idle = maxKeys, idle
}

// Snapshot encoding shared by the detectors: a gob stream of one value
// followed by the CRC-32C (Castagnoli) of that stream, big-endian. The CRC
// makes any corruption an error instead of a silently different baseline.

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt is returned (wrapped) by DecodeGob for data that fails its
// checksum or framing.
var ErrCorrupt = errors.New("corrupt state")

// AppendGob appends v, gob-encoded and checksummed, to b.
func AppendGob(b []byte, v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return b, fmt.Errorf("encode state: %w", err)
	}
	b = append(b, buf.Bytes()...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(buf.Bytes(), crcTable)), nil
}

// DecodeGob decodes data written by AppendGob into v. v may be partly
// written on error: decode into a fresh value and apply it only on success.
func DecodeGob(data []byte, v any) error {
	if len(data) < 5 {
		return fmt.Errorf("decode state: %d bytes: %w", len(data), ErrCorrupt)
	}
	body, sum := data[:len(data)-4], binary.BigEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, crcTable) != sum {
		return fmt.Errorf("decode state: checksum mismatch: %w", ErrCorrupt)
	}
	r := bytes.NewReader(body)
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("decode state: %w", err)
	}
	if r.Len() != 0 {
		return fmt.Errorf("decode state: %d trailing bytes: %w", r.Len(), ErrCorrupt)
	}
	return nil
}
