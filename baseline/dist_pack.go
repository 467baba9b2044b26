package baseline

import (
	"math"
	"slices"

	"github.com/influxdata/tdigest"
)

// Packed centroid lists. A Dist keeps both epochs' centroids in one byte
// slice, each centroid as two unsigned LEB128 varints:
//
//	key(mean) − key(previous mean) (mod 2³², the first from 0) | weight
//
// where key maps a float32 to a uint32 in the same order, so the sorted
// means of a list differ by small keys. Nothing is rounded: a list
// unpacks to exactly the (float32 mean, uint32 weight) centroids that
// were packed. A mature key's centroid takes 4–6 bytes instead of 8
// (BENCHMARKS.md, "Keys in 4 KiB"): the mean's delta 3–4, the weight 1–2.
// Lists are only walked in order (a fold merges cur with the raw values,
// a quantile refresh feeds both to the scratch t-digest), never indexed.

// centroidKey maps m to a uint32 whose unsigned order is m's float order
// (non-negative: sign bit set; negative: all bits inverted).
func centroidKey(m float32) uint32 {
	b := math.Float32bits(m)
	return b ^ (uint32(int32(b)>>31) | 1<<31)
}

// centroidMean inverts centroidKey.
func centroidMean(k uint32) float32 {
	return math.Float32frombits(k ^ (uint32(int32(^k)>>31) | 1<<31))
}

// maxPacked is the most bytes one packed centroid takes.
const maxPacked = 10

// putUvarint32 writes v as an unsigned LEB128 varint at b[n:] and
// returns the index after it.
func putUvarint32(b []byte, n int, v uint32) int {
	for v >= 0x80 {
		b[n] = byte(v) | 0x80
		v >>= 7
		n++
	}
	b[n] = byte(v)
	return n + 1
}

// packer appends centroids to a packed list whose capacity has room for
// maxPacked bytes more per centroid added (the callers reserve it).
type packer struct {
	b   []byte
	key uint32 // key of the last mean packed
}

func (p *packer) add(c centroid) {
	k := centroidKey(c.mean)
	n := len(p.b)
	b := p.b[:n+maxPacked]
	n = putUvarint32(b, n, k-p.key)
	n = putUvarint32(b, n, c.weight)
	p.b, p.key = b[:n], k
}

// unpacker walks a packed list in order. The list is one this package
// packed, so it is well formed.
type unpacker struct {
	b   []byte
	key uint32
}

// more reports whether a centroid is left.
func (u *unpacker) more() bool { return len(u.b) > 0 }

// next returns the next centroid; more must be true.
func (u *unpacker) next() centroid {
	d, n := uvarint32(u.b)
	w, m := uvarint32(u.b[n:])
	u.b = u.b[n+m:]
	u.key += d
	return centroid{centroidMean(u.key), w}
}

// uvarint32 decodes the varint at the start of b (one this package
// wrote: at most 5 bytes) and returns it and its length; unrolled, as
// folds and quantile refreshes decode every centroid.
func uvarint32(b []byte) (uint32, int) {
	c := b[0]
	if c < 0x80 {
		return uint32(c), 1
	}
	v := uint32(c & 0x7f)
	if c = b[1]; c < 0x80 {
		return v | uint32(c)<<7, 2
	}
	v |= uint32(c&0x7f) << 7
	if c = b[2]; c < 0x80 {
		return v | uint32(c)<<14, 3
	}
	v |= uint32(c&0x7f) << 14
	if c = b[3]; c < 0x80 {
		return v | uint32(c)<<21, 4
	}
	return v | uint32(c&0x7f)<<21 | uint32(b[4])<<28, 5
}

// countPacked returns how many centroids a packed list holds (for
// snapshots and tests: not on the per-value path).
func countPacked(b []byte) int {
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	return n / 2
}

// unpackAll appends the centroids of a packed list to dst: what
// unpacker's walk yields, in one loop with the varints decoded in place
// (folds and quantile refreshes decode every centroid of a list; a call
// per centroid was 110 instructions, TestUnpackAllMatchesWalk).
func unpackAll(dst []centroid, b []byte) []centroid {
	var key uint32
	for i := 0; i < len(b); {
		c := b[i]
		i++
		d := uint32(c & 0x7f)
		for s := uint(7); c >= 0x80; s += 7 {
			c = b[i]
			i++
			d |= uint32(c&0x7f) << s
		}
		c = b[i]
		i++
		w := uint32(c & 0x7f)
		for s := uint(7); c >= 0x80; s += 7 {
			c = b[i]
			i++
			w |= uint32(c&0x7f) << s
		}
		key += d
		dst = append(dst, centroid{centroidMean(key), w})
	}
	return dst
}

// packFold appends to b (with room for maxPacked bytes per centroid) the
// packed list of a fold's output cs, each mean rounded by f32 and each
// weight (integral, at most maxEpochWeight) made a uint32: what a packer
// adding them one by one writes, in one loop (TestPackFoldMatchesPacker).
func packFold(b []byte, cs []tdigest.Centroid) []byte {
	n := len(b)
	b = slices.Grow(b, len(cs)*maxPacked)[:n+len(cs)*maxPacked]
	var last uint32
	for _, c := range cs {
		k := centroidKey(f32(c.Mean))
		n = putUvarint32(b, n, k-last)
		n = putUvarint32(b, n, uint32(c.Weight))
		last = k
	}
	return b[:n]
}

// packLists packs prev and cur (each sorted by mean) into new storage of
// their size class, returning it and prev's length in it (restores and
// shared baselines).
func packLists(prev, cur []centroid) ([]byte, uint32) {
	p := packer{b: make([]byte, 0, (len(prev)+len(cur))*maxPacked)}
	for _, c := range prev {
		p.add(c)
	}
	np := len(p.b)
	p.key = 0
	for _, c := range cur {
		p.add(c)
	}
	return placePacked(nil, 0, p.b), uint32(np)
}

// placePacked returns storage holding keep's first n bytes followed by
// cur, reusing keep when it has room and otherwise allocating the
// allocator size class of the total: a list grows with its packed size,
// a few bytes at a time, so no headroom is kept beyond the class.
func placePacked(keep []byte, n int, cur []byte) []byte {
	need := n + len(cur)
	if need > cap(keep) {
		b := slices.Grow([]byte(nil), need)[:n]
		copy(b, keep[:n])
		keep = b
	}
	keep = keep[:need]
	copy(keep[n:], cur)
	return keep
}
