package baseline

import (
	"fmt"

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
