package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/axiomhq/hyperloglog"
)

// DefaultHLLPrecision is the precision of a zero-value HLL: 2^12 registers,
// about 1.6% standard error, 4 KiB once dense. Sketches start sparse and stay
// a few hundred bytes while they hold few distinct values.
const DefaultHLLPrecision = 12

// HLL counts distinct values with a HyperLogLog sketch
// (github.com/axiomhq/hyperloglog v0.3.0; v0.2.x grows without bound when
// inserts and estimates alternate) and caches its estimate.
//
// InsertHash is cheap (tens of ns) and never computes anything. Computing an
// estimate of a dense sketch costs 0.3–0.8 ms, so it happens only in Refresh,
// which callers run on a schedule (on Tick, or every N inserts) — never per
// record. Estimate returns the cached value.
//
// The zero value is an empty sketch of DefaultHLLPrecision. Not safe for
// concurrent use.
type HLL struct {
	sk        *hyperloglog.Sketch
	precision uint8
	est       uint64
	pending   uint64 // inserts since the last Refresh
}

// NewHLL returns an empty sketch with 2^precision registers (4..18).
func NewHLL(precision uint8) (*HLL, error) {
	h := &HLL{precision: precision}
	if err := h.init(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *HLL) init() error {
	if h.precision == 0 {
		h.precision = DefaultHLLPrecision
	}
	sk, err := hyperloglog.NewSketch(h.precision, true)
	if err != nil {
		return fmt.Errorf("new hyperloglog precision %d: %w", h.precision, err)
	}
	h.sk = sk
	return nil
}

// InsertHash adds a uniformly distributed 64-bit hash (see Hash64).
func (h *HLL) InsertHash(x uint64) {
	if h.sk == nil {
		if err := h.init(); err != nil {
			// Only reachable with an invalid precision set by NewHLL,
			// which already returned that error.
			panic(err)
		}
	}
	h.sk.InsertHash(x)
	h.pending++
}

// Estimate returns the estimate cached by the last Refresh (0 before any).
func (h *HLL) Estimate() uint64 { return h.est }

// Pending is the number of inserts since the last Refresh: the estimate is
// stale by at most that many distinct values.
func (h *HLL) Pending() uint64 { return h.pending }

// Refresh recomputes the cached estimate if anything was inserted since the
// last Refresh, and returns it. This is the expensive call.
func (h *HLL) Refresh() uint64 {
	if h.pending == 0 || h.sk == nil {
		return h.est
	}
	h.est = h.sk.Estimate()
	h.pending = 0
	return h.est
}

// Reset empties the sketch, keeping its representation and storage.
func (h *HLL) Reset() {
	if h.sk != nil {
		h.sk.Reset()
	}
	h.est, h.pending = 0, 0
}

// Merge adds other's values to h. The sketches must share a precision.
// The cached estimate is refreshed on the next Refresh.
func (h *HLL) Merge(other *HLL) error {
	if other == nil || other.sk == nil {
		return nil
	}
	if h.sk == nil {
		h.precision = other.precision
		if err := h.init(); err != nil {
			return err
		}
	}
	if err := h.sk.Merge(other.sk); err != nil {
		return fmt.Errorf("merge hyperloglog: %w", err)
	}
	h.pending++
	return nil
}

// MarshalBinary encodes the sketch (not the cached estimate).
func (h *HLL) MarshalBinary() ([]byte, error) {
	if h.sk == nil {
		if err := h.init(); err != nil {
			return nil, err
		}
	}
	b, err := h.sk.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("encode hyperloglog: %w", err)
	}
	return b, nil
}

// UnmarshalBinary replaces h with the decoded sketch and refreshes the
// cached estimate once.
func (h *HLL) UnmarshalBinary(data []byte) error {
	sk := new(hyperloglog.Sketch)
	if err := sk.UnmarshalBinary(data); err != nil {
		return fmt.Errorf("decode hyperloglog: %w", err)
	}
	h.sk = sk
	h.est = sk.Estimate()
	h.pending = 0
	return nil
}

// MarshalState appends the complete state to b: the sketch (nil for a
// zero value that never saw an insert) and the cached estimate with its
// pending count, so a restored HLL reports exactly what the original would
// have. The sketch's unordered temporary set is written sorted, so equal
// sketches encode to equal bytes.
//
// Layout: version byte 1, precision byte, flag byte (1: sketch follows),
// uvarint estimate, uvarint pending, then the sketch's MarshalBinary.
func (h *HLL) MarshalState(b []byte) ([]byte, error) {
	flag := byte(0)
	if h.sk != nil {
		flag = 1
	}
	b = append(b, 1, h.precision, flag)
	b = binary.AppendUvarint(b, h.est)
	b = binary.AppendUvarint(b, h.pending)
	if h.sk == nil {
		return b, nil
	}
	n := len(b)
	b, err := h.sk.AppendBinary(b)
	if err != nil {
		return b[:n], fmt.Errorf("encode hyperloglog: %w", err)
	}
	canonicalTmpSet(b[n:])
	return b, nil
}

// canonicalTmpSet sorts the temporary set of a sparse sketch encoding
// (v0.3.0 layout: 4 header bytes, byte 3 = 1 for sparse, a big-endian
// uint32 count, then count big-endian uint32 keys). The set is unordered,
// so this does not change what the encoding decodes to.
func canonicalTmpSet(enc []byte) {
	if len(enc) < 8 || enc[3] != 1 {
		return
	}
	n := int(binary.BigEndian.Uint32(enc[4:8]))
	if n < 2 || 8+4*n > len(enc) {
		return
	}
	keys := make([]uint32, n)
	for i := range keys {
		keys[i] = binary.BigEndian.Uint32(enc[8+4*i:])
	}
	slices.Sort(keys)
	for i, k := range keys {
		binary.BigEndian.PutUint32(enc[8+4*i:], k)
	}
}

var errHLLState = errors.New("invalid hyperloglog state")

// UnmarshalState replaces h with a state written by MarshalState. On error
// h is unchanged.
func (h *HLL) UnmarshalState(data []byte) error {
	if len(data) < 3 || data[0] != 1 || data[2] > 1 {
		return fmt.Errorf("decode hyperloglog state: header: %w", errHLLState)
	}
	prec, flag := data[1], data[2]
	if prec != 0 && (prec < 4 || prec > 18) {
		return fmt.Errorf("decode hyperloglog state: precision %d: %w", prec, errHLLState)
	}
	rest := data[3:]
	est, n := binary.Uvarint(rest)
	if n <= 0 {
		return fmt.Errorf("decode hyperloglog state: estimate: %w", errHLLState)
	}
	rest = rest[n:]
	pending, n := binary.Uvarint(rest)
	if n <= 0 {
		return fmt.Errorf("decode hyperloglog state: pending: %w", errHLLState)
	}
	rest = rest[n:]
	var sk *hyperloglog.Sketch
	switch {
	case flag == 0 && len(rest) != 0:
		return fmt.Errorf("decode hyperloglog state: %d trailing bytes: %w", len(rest), errHLLState)
	case flag == 1:
		sk = new(hyperloglog.Sketch)
		if err := sk.UnmarshalBinary(rest); err != nil {
			return fmt.Errorf("decode hyperloglog state: %w", err)
		}
		if len(rest) < 2 || rest[1] != prec {
			return fmt.Errorf("decode hyperloglog state: precision mismatch: %w", errHLLState)
		}
	}
	h.sk, h.precision, h.est, h.pending = sk, prec, est, pending
	return nil
}

// Hash64 is a deterministic, allocation-free 64-bit hash of s (FNV-1a
// finished with the murmur3 fmix64 avalanche so HyperLogLog sees uniform
// bits). Stable across runs and platforms, so estimates replay identically.
func Hash64(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= prime
	}
	return fmix64(h ^ uint64(len(s)))
}

func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9a1a7894b0b
	k ^= k >> 33
	return k
}
