package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/influxdata/tdigest"
)

// Dist is a compact per-key distribution over two event-time epochs (the
// previous and the current one), for detectors that compare a value with
// the key's upper quantiles.
//
// A *tdigest.TDigest is far too big to keep per key (it preallocates
// 10·C centroids and re-sorts on every query), so a Dist keeps only:
//   - prev and cur: compressed centroid lists (≤ 2·C+2 each, sorted by
//     mean), packed one after the other in one byte slice (dist_pack.go);
//   - buf: up to distBuf raw values not yet folded into cur;
//   - cached quantiles of prev+cur, recomputed lazily after a fold.
//
// Stored centroids and raw values are single precision (a float32 mean
// and a uint32 weight, packed losslessly in 4–6 bytes, not the library's
// 16), converted at the library boundary; merging and quantiles run in
// float64. Rounding a mean
// to float32 moves it by at most 6·10⁻⁸ of its value, far inside the
// sketch's own error (BENCHMARKS.md, "Lean mature keys"). Values beyond
// ±MaxFloat32 are stored clamped (the judge sees the float64 value, and
// the maxima are kept in float64). An epoch's body holds at most
// maxEpochWeight values: a fold that would pass it is dropped (a key
// would need 50,000 values a second for a whole 1-day epoch).
//
// When buf fills, it is folded into cur with the same k1-scale merge the
// t-digest uses in its process() step (done here because the library has
// no non-allocating way to read a digest's centroids back). Quantiles are
// what one shared scratch t-digest (Digester) fed prev and cur would
// answer, computed on its scratch by the library's own steps
// (dist_query.go); the scratch uses 4×C so that it does not merge the
// stored centroids again.
// Weights stay integral so the library's Quantile is safe.
//
// Epochs are aligned event-time intervals of length Epoch. When a value
// (or Advance) reaches a later epoch, buf is folded, prev = cur and cur
// starts empty, so old behaviour ages out after two epochs of activity. An
// idle Dist whose current epoch is empty does not rotate again: a rarely
// used key keeps its last active epoch as its baseline.
//
// Reading cached quantiles never allocates. Centroid storage grows with
// the key's count (a list never holds more centroids than values folded
// into it): a young key keeps a few centroids, not the 2·C+2 of a mature
// one. The packed lists grow through the allocator's size classes, so a
// key allocates a few dozen times in its life, at folds (once per distBuf
// values), never per value.
//
// A Dist is not safe for concurrent use; neither is its Digester.
type Dist struct {
	// cs holds prev's packed centroids in cs[:np] and cur's in cs[np:].
	cs []byte
	np uint32
	// prevCap and curCap are the capacities the lists had when they were
	// slices of 8-byte centroids (centroidCap: the largest count the
	// storage held, rounded up a rung). Only snapshots record them, so a
	// state re-encodes byte for byte as before the lists were packed.
	prevCap, curCap uint16
	nbuf            uint8
	stale           bool // q must be recomputed before use (rotation)
	ready           bool // first Add done (epoch and maxima set)
	usable          bool // Usable's memory: the count reached need and has not fallen below half since
	prevW, curW     float64
	prevMax         float64
	curMax          float64
	epoch           int64   // index of the current epoch (event time / Epoch)
	pending         float64 // weight folded since q was computed
	// The rest lives behind a pointer allocated on the first Add: a Dist
	// that never sees a value (a latency key's second version slot) costs
	// 96 bytes, not 800.
	*distMem
}

// distMem is the part of a Dist a never-used one does not need: 256
// bytes, one allocator size class (TestDistMemSize).
type distMem struct {
	q    quantCache
	tail tailState // tail.go, judge.go
	buf  [distBuf]float32
}

// quantCache is what Quantiles caches: Max is always recomputed, and
// Folded is prevW+curW−pending whenever the cache is current (a fold adds
// the same weight to curW and pending; a rotation marks it stale).
type quantCache struct {
	P10, P50, P90, P99, P999 float64
	Count                    float64 // as of the last Quantiles (judge.go reads it so)
}

// centroid is a t-digest centroid as a Dist stores it.
type centroid struct {
	mean   float32
	weight uint32 // integral weights: the library's Quantile indexes by them
}

// td converts c for the library.
func (c centroid) td() tdigest.Centroid {
	return tdigest.Centroid{Mean: float64(c.mean), Weight: float64(c.weight)}
}

// maxEpochWeight is the most values one epoch's centroids hold, so that
// every weight fits a centroid's uint32.
const maxEpochWeight = math.MaxUint32

// f32 rounds v to float32, clamping finite values beyond its range
// (which would otherwise become ±Inf).
func f32(v float64) float32 {
	f := float32(v)
	if f > math.MaxFloat32 || f < -math.MaxFloat32 { // rare: overflowed to ±Inf
		return float32(math.Copysign(math.MaxFloat32, v))
	}
	return f
}

// refreshShare: cached quantiles are recomputed once the values folded
// since the last computation reach 1/refreshShare of the mass (at every
// fold while a Dist is young, every ~160 values at 10,000). A merge costs
// a few µs, so this keeps the amortised cost per value low; quantiles lag
// by at most ~1.6% of the mass, which moves p99 by far less than its
// sketch error.
const refreshShare = 64

// distBuf is the raw-value buffer of a Dist: a fold runs once per distBuf
// values, which amortises its sort and trigonometry.
const distBuf = 32

// Quantiles is a snapshot of a Dist over its two epochs.
type Quantiles struct {
	P10, P50, P90, P99, P999 float64
	Max                      float64 // exact maximum of the values added
	Count                    float64 // values in prev+cur (including unfolded ones)
	Folded                   float64 // values the quantiles were computed from (0: none yet)
}

// Digester holds the settings and the scratch t-digest shared by all Dists
// of one detector. It must be used from a single goroutine.
type Digester struct {
	compression float64
	epoch       int64 // nanoseconds
	maxCent     int   // capacity of a Dist's centroid lists
	fullCap     int   // maxCent rounded up to its size class (centroidCap)
	td          *tdigest.TDigest
	merged      []tdigest.Centroid // fold output scratch
	packed      []byte             // fold output, packed
	cur         []centroid         // fold: cur unpacked
	q1          float64            // integratedQ(1)
	cosStep     float64            // cos(π/compression), for nextQ
	sinStep     float64            // sin(π/compression)
	qs          queryScratch       // Quantiles' refresh (dist_query.go)
}

// NewDigester returns a Digester for t-digest compression c and epoch
// length epoch (Config.Compression, Config.Epoch).
func NewDigester(compression float64, epoch time.Duration) *Digester {
	if compression < 5 {
		compression = 5
	}
	if epoch <= 0 {
		epoch = 24 * time.Hour
	}
	maxCent := 2*int(math.Ceil(compression)) + 2
	g := &Digester{
		compression: compression,
		epoch:       int64(epoch),
		maxCent:     maxCent,
		fullCap:     cap(slices.Grow([]centroid(nil), maxCent)),
		// The scratch only sums prev+cur for queries: a finer compression
		// keeps it from re-merging the stored centroids, so a few clamped
		// outliers in cur do not smear into prev's tail (memory is shared).
		td:     tdigest.NewWithCompression(math.Max(4*compression, 100)),
		merged: make([]tdigest.Centroid, 0, maxCent+distBuf),
		packed: make([]byte, 0, maxCent*maxPacked),
		cur:    make([]centroid, 0, maxCent),
	}
	g.q1 = g.integratedQ(1)
	g.cosStep, g.sinStep = math.Cos(math.Pi/compression), math.Sin(math.Pi/compression)
	// Warm the scratch once at its largest working size so that the
	// library's internal append in process() has grown before the hot path.
	for i := 0; i < 2*maxCent; i++ {
		g.td.AddCentroid(tdigest.Centroid{Mean: float64(i), Weight: 1})
	}
	g.td.Quantile(0.5)
	g.td.Reset()
	g.qs = queryScratch{in: make([]tdigest.Centroid, 0, 2*maxCent), out: make([]tdigest.Centroid, 0, 2*maxCent), cum: make([]float64, 0, 2*maxCent+1)}
	g.qs.cosStep, g.qs.sinStep = math.Cos(math.Pi/g.td.Compression), math.Sin(math.Pi/g.td.Compression)
	return g
}

// Clone returns a Digester with g's settings and its own scratch, for use
// on another goroutine (a snapshot rotating keys off the consumer).
func (g *Digester) Clone() *Digester {
	return NewDigester(g.compression, time.Duration(g.epoch))
}

// EpochOf returns the epoch index of event time t.
func (g *Digester) EpochOf(t time.Time) int64 {
	n := t.UnixNano()
	e := n / g.epoch
	if n < 0 && n%g.epoch != 0 {
		e--
	}
	return e
}

// Count is the number of values in the distribution (both epochs and the
// unfolded buffer).
func (d *Dist) Count() float64 { return d.prevW + d.curW + float64(d.nbuf) }

// Usable reports whether d, holding count values (its Quantiles' Count),
// has been usable as a baseline that needs need values, and remembers it:
// d becomes usable when count reaches need and stays so until count falls
// below need/2 (hysteresis). Its caller judges only at need; in between,
// the baseline has lapsed (Verdict.Lapsed) and its level test keeps
// learning. Why: the count covers two epochs, so a sparse key (a few
// hundred values a day, fewer at night) falls below need at the rotation
// after a quiet day, and its level test's long run would learn almost only
// daytime values and report the normal night as a shift. Reset forgets it.
func (d *Dist) Usable(count, need float64) bool {
	switch {
	case count >= need:
		d.usable = true
	case count < need/2:
		d.usable = false
	}
	return d.usable
}

// Add records value v observed at event time t. NaN and ±Inf are ignored.
func (d *Dist) Add(g *Digester, v float64, t time.Time) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if !d.ready {
		if d.distMem == nil {
			d.distMem = new(distMem)
		}
		d.ready = true
		d.epoch = g.EpochOf(t)
		d.prevMax, d.curMax = math.Inf(-1), math.Inf(-1)
	} else if e := g.EpochOf(t); e > d.epoch {
		d.rotate(g, e)
	}
	d.buf[d.nbuf] = f32(v)
	d.nbuf++
	if v > d.curMax {
		d.curMax = v
	}
	if int(d.nbuf) == distBuf {
		d.fold(g)
	}
}

// Advance rotates the epochs if event time t lies in a later epoch than the
// Dist's current one. Detectors call it from Tick so that idle keys age
// deterministically.
func (d *Dist) Advance(g *Digester, t time.Time) {
	if !d.ready {
		return
	}
	if e := g.EpochOf(t); e > d.epoch {
		d.rotate(g, e)
	}
}

func (d *Dist) rotate(g *Digester, e int64) {
	d.fold(g)
	d.epoch = e
	if d.curW == 0 {
		return // idle: keep the last active epoch as prev
	}
	// cur's bytes move to the front as prev; the old prev's space is cur's.
	d.np = uint32(copy(d.cs, d.cs[d.np:]))
	d.cs = d.cs[:d.np]
	d.prevCap, d.curCap = d.curCap, d.prevCap
	d.prevW, d.curW = d.curW, 0
	d.prevMax, d.curMax = d.curMax, math.Inf(-1)
	d.stale = true
}

func (d *Dist) needsRefresh() bool {
	return d.stale || (d.pending > 0 && d.pending*refreshShare >= d.prevW+d.curW)
}

// fold merges the raw buffer into cur.
func (d *Dist) fold(g *Digester) {
	if d.nbuf == 0 {
		return
	}
	raw := d.buf[:d.nbuf]
	total := d.curW + float64(d.nbuf)
	if total > maxEpochWeight {
		d.nbuf = 0 // the epoch's body is full (see Dist)
		return
	}
	sortRaw(raw)
	out := g.merged[:0]
	// Walk cur (sorted) and raw (sorted) in mean order, merging with the
	// t-digest k1 scale exactly as tdigest.process does. cur[i] is cur's
	// next centroid.
	cur := unpackAll(g.cur[:0], d.cs[d.np:])
	g.cur = cur
	i, j := 0, 0
	next := func() tdigest.Centroid {
		if j >= len(raw) || (i < len(cur) && cur[i].mean <= raw[j]) {
			i++
			return cur[i-1].td()
		}
		c := tdigest.Centroid{Mean: float64(raw[j]), Weight: 1}
		j++
		return c
	}
	first := next()
	out = append(out, first)
	soFar := first.Weight
	limit := total * g.q1
	for i < len(cur) || j < len(raw) {
		c := next()
		if projected := soFar + c.Weight; projected <= limit || len(out) == g.maxCent {
			soFar = projected
			_ = out[len(out)-1].Add(c) // weights are never negative
			continue
		}
		limit = total * g.nextQ(soFar/total)
		soFar += c.Weight
		out = append(out, c)
	}
	if len(out) > int(d.curCap) {
		d.curCap = uint16(g.centroidCap(len(out)))
	}
	// Weights are at most total ≤ maxEpochWeight; rounding keeps the
	// means in order.
	g.packed = packFold(g.packed[:0], out)
	d.cs = placePacked(d.cs, int(d.np), g.packed)
	d.pending += total - d.curW
	d.curW = total
	d.nbuf = 0
}

// sortRaw sorts a fold's raw values as slices.Sort does. They are never
// NaN (Add drops them), so an insertion sort on plain compares (a third
// of slices.Sort's instructions on 32 values) yields the same values in
// the same order, unless −0 and +0, equal but distinct, are both present:
// then their order is slices.Sort's own (TestSortRawMatchesSlices).
func sortRaw(raw []float32) {
	for _, v := range raw {
		if math.Float32bits(v) == 1<<31 { // −0
			slices.Sort(raw)
			return
		}
	}
	for i := 1; i < len(raw); i++ {
		v := raw[i]
		k := i
		for k > 0 && raw[k-1] > v {
			raw[k] = raw[k-1]
			k--
		}
		raw[k] = v
	}
}

// centroidRungs are the capacities a list of 8-byte centroids grew
// through (whole size classes of the allocator) below the full list of the
// compression, before lists were packed. Snapshots still record a list's
// capacity so (Dist.curCap): a function of the largest count it held.
var centroidRungs = [...]int{8, 12, 16, 20, 24, 28, 32, 36, 40, 44, 48}

// centroidCap is the capacity such a list took for n <= g.maxCent
// centroids: the first rung at or above n, or the full list rounded up to
// its size class.
func (g *Digester) centroidCap(n int) int {
	for _, c := range centroidRungs {
		if c >= n && c < g.maxCent {
			return c
		}
	}
	return g.fullCap
}

// nextQ is integratedQ(integratedLocation(q) + 1) without trigonometry:
// with a = asin(2q − 1), sin(a + π/C) = (2q − 1)·cos(π/C) + √(1 − (2q − 1)²)·sin(π/C),
// and k reaches C (integratedQ = 1) exactly when 2q − 1 ≥ cos(π/C). The
// fold's limits were a fifth of the per-value cost of the distribution
// detectors as Asin and Sin.
func (g *Digester) nextQ(q float64) float64 {
	x := 2*q - 1
	if x >= g.cosStep {
		return 1
	}
	return (x*g.cosStep + math.Sqrt(max(1-x*x, 0))*g.sinStep + 1) / 2
}

func (g *Digester) integratedQ(k float64) float64 {
	return (math.Sin(math.Min(k, g.compression)*math.Pi/g.compression-math.Pi/2) + 1) / 2
}

func (g *Digester) integratedLocation(q float64) float64 {
	return g.compression * (math.Asin(2*q-1) + math.Pi/2) / math.Pi
}

// Quantiles returns the distribution's quantiles over both epochs. Values
// still in the raw buffer count in Count and Max but not in the quantiles
// until they are folded, and the quantiles are cached: they are recomputed
// after a rotation and once the newly folded values reach 1/refreshShare
// of the mass.
func (d *Dist) Quantiles(g *Digester) Quantiles {
	if d.distMem == nil {
		return Quantiles{} // never used: what a zero Dist always answered
	}
	d.q.Count = d.Count()
	if !d.needsRefresh() {
		return d.quantiles()
	}
	d.stale, d.pending = false, 0
	d.tail.fitStale = true
	if d.prevW+d.curW == 0 {
		d.q.P10, d.q.P50, d.q.P90, d.q.P99, d.q.P999 = 0, 0, 0, 0, 0
		return d.quantiles()
	}
	g.query(d) // the scratch t-digest's answers (dist_query.go)
	return d.quantiles()
}

// quantiles returns the cached quantiles with Max and Folded.
func (d *Dist) quantiles() Quantiles {
	q := &d.q
	return Quantiles{P10: q.P10, P50: q.P50, P90: q.P90, P99: q.P99, P999: q.P999,
		Max:    max(d.prevMax, d.curMax), // builtin: math.Max is not inlined on amd64
		Count:  q.Count,
		Folded: d.prevW + d.curW - d.pending}
}

// Reset empties d, keeping its centroid storage for reuse.
func (d *Dist) Reset() {
	cs, pc, cc, ready, mem := d.cs[:0], d.prevCap, d.curCap, d.ready, d.distMem
	*d = Dist{cs: cs, prevCap: pc, curCap: cc, ready: ready, distMem: mem}
	if mem != nil {
		*mem = distMem{}
	}
	if ready {
		// Storage exists, so Add skips its first-use setup: start as if
		// idle in no epoch, and let the first value's epoch take over.
		d.epoch = math.MinInt64
		d.prevMax, d.curMax = math.Inf(-1), math.Inf(-1)
	}
}

// Epoch returns the index of the Dist's current epoch (for tests and
// status pages).
func (d *Dist) Epoch() int64 { return d.epoch }

// EpochCounts returns the weight folded into the previous and the current
// epoch (excluding unfolded raw values).
func (d *Dist) EpochCounts() (prev, cur float64) { return d.prevW, d.curW }

// Dist state encoding (snapshots). Version 10, big-endian like every
// snapshot record (internal/encoding):
//
//	u8 version | u8 flags (1: initialized, 2: stale, 4: usable — Usable's
//	  memory, initialized only)
//	initialized only:
//	  varint epoch | uvarint centroid capacity (the larger list's, at least
//	    either list's length) | uvarint nbuf
//	  f64 prevW curW prevMax curMax pending | f32 × nbuf raw values
//	  f64 q.P10 q.P50 q.P90 q.P99 q.P999 q.Max q.Count q.Folded
//	  uvarint len(prev) | (f32 mean, u32 weight) × len  — same for cur
//	  tail: u8 n pos newSince flags (1 fit stale, 2 fit valid, 4 fallback,
//	    8 anchor set) | varint absorbAt | f64 LnU Zeta Sigma Xi LnP50 Scale |
//	    uvarint N | u32 × n ring (float32 bits; a negated value is an
//	    entry winsorized at its absolute value) | varint last |
//	    f64 sw sw2 swd lw lm lv anchor anchorU anchorS peakUp peakDown epUp epDown gap |
//	    varint anchorT shiftAt driftAt | uvarint fit generation, anchor generation |
//	    u8 n inputs | u64 × n recent level-tested inputs (Verdict.Input),
//	    most recent first | f32 rr rd (the key's share of its tool's daily
//	    rhythm) | u8 hourly (1: in use) | u8 rhythm present | present only: 24 × (f32 weight mean
//	    variance offset, u32 day, u8 days) | varint hour | f32 msq
//	    (rhythm.go) | u8 spread flags (1 beyond, 2 spread, 4 density,
//	    8 burst reported, 16 burst episode) | f32 su sd dk dw (spread and
//	    spike density, judge_spread.go) | 2 × (u16 n, f32 S) (the step
//	    test's runs up and down, judge.go) | rhythm present only: varint
//	    first value's event time | 24 × (f32 early mean log value, f32
//	    early count) (a tool's hours before it was ready, rhythm.go) |
//	    varint burst last | f32 k kd w peak epMax (tail bursts,
//	    judge_spread.go)
//
// Version 9 is the same without the burst memory (and spread flags 8,
// 16); it is read with none (the burst window starts empty, no earlier
// episode).
// Version 8 is version 9 without the step runs, the first value's time
// and the early levels; it is read with no step run under way, the time
// unknown (1: the tool is not young) and no early levels (an hour the
// rhythm has not seen yet gets no provisional offset).
// Version 7 is version 8 without flag 4; it is read as not usable (a
// restored key with fewer than need values waits for need once more).
// Version 6 is version 7 without the spread memory; it is read with none
// (the spread and density windows start empty, no episode ongoing).
// Version 5 is version 6 without rr, rd and the rhythm; it is read with
// none (the rhythm is relearned over 3 days). Version 4 is the same without the inputs; it is read with none (the
// level test's first calls after a restore all count). Version 3 is
// version 4 with f64 raw values and (f64 mean, f64 weight)
// centroids; it is read, rounding means and raw values to float32 as
// memory holds them (weights beyond a uint32 are refused). Versions 1 and
// 2 were little-endian and only ever appeared inside gob snapshots, which
// the snapshot container refuses, so they are not read.
//
// Everything that influences later behaviour (including the cached
// quantiles, the tail fit and the fold schedule) is stored, so a restored
// Dist answers and evolves bit for bit like the original.
const distStateVersion = 10

const (
	distFlagInit   = 1
	distFlagStale  = 2
	distFlagUsable = 4 // from version 8
	// distMaxCap bounds the centroid capacity a snapshot may ask for
	// (compression ≤ 1000 needs 2002).
	distMaxCap = 4096
)

// MarshalState appends d's complete state to b.
func (d *Dist) MarshalState(b []byte) ([]byte, error) {
	var flags byte
	if d.ready {
		flags |= distFlagInit
	}
	if d.stale {
		flags |= distFlagStale
	}
	if d.usable && d.ready {
		flags |= distFlagUsable
	}
	b = append(b, distStateVersion, flags)
	if !d.ready {
		return b, nil
	}
	b = binary.AppendVarint(b, d.epoch)
	b = binary.AppendUvarint(b, uint64(max(d.curCap, d.prevCap)))
	b = binary.AppendUvarint(b, uint64(d.nbuf))
	for _, f := range [...]float64{d.prevW, d.curW, d.prevMax, d.curMax, d.pending} {
		b = distAppendF64(b, f)
	}
	for _, v := range d.buf[:d.nbuf] {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	q := d.quantiles() // Max and Folded as a fresh cache has them
	for _, f := range [...]float64{q.P10, q.P50, q.P90, q.P99, q.P999, q.Max, q.Count, q.Folded} {
		b = distAppendF64(b, f)
	}
	for _, cs := range [2][]byte{d.cs[:d.np], d.cs[d.np:]} {
		b = binary.AppendUvarint(b, uint64(countPacked(cs)))
		for u := (unpacker{b: cs}); u.more(); {
			c := u.next()
			b = binary.BigEndian.AppendUint32(b, math.Float32bits(c.mean))
			b = binary.BigEndian.AppendUint32(b, c.weight)
		}
	}
	return d.tail.marshal(b), nil
}

// UnmarshalState replaces d with the state encoded in data (all of it). On
// error d is left untouched.
func (d *Dist) UnmarshalState(data []byte) error {
	var n Dist
	if err := n.decode(data); err != nil {
		return fmt.Errorf("dist state: %w", err)
	}
	*d = n
	return nil
}

var errDistState = errors.New("malformed")

func (d *Dist) decode(data []byte) error {
	r := distReader{b: data}
	version := r.byte()
	if version < 3 || version > distStateVersion {
		if r.err != nil {
			return r.err
		}
		return fmt.Errorf("unsupported version %d", version)
	}
	flags := r.byte()
	if r.err != nil {
		return r.err
	}
	known := byte(distFlagInit | distFlagStale)
	if version >= 8 {
		known |= distFlagUsable
	}
	if flags&^known != 0 || flags&distFlagInit == 0 && flags != 0 {
		return fmt.Errorf("flags %#x: %w", flags, errDistState)
	}
	if flags&distFlagInit == 0 {
		return r.end()
	}
	d.ready, d.stale, d.usable, d.distMem = true, flags&distFlagStale != 0, flags&distFlagUsable != 0, new(distMem)
	d.epoch = r.varint()
	capacity := r.uvarint()
	nbuf := r.uvarint()
	if r.err != nil {
		return r.err
	}
	if capacity > distMaxCap || nbuf >= distBuf {
		return fmt.Errorf("capacity %d, buffered %d: %w", capacity, nbuf, errDistState)
	}
	d.prevW, d.curW, d.prevMax, d.curMax, d.pending = r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
	d.nbuf = uint8(nbuf)
	for i := range d.buf[:nbuf] {
		v := r.raw(version)
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("non-finite buffered value: %w", errDistState)
		}
		d.buf[i] = f32(v)
	}
	q := &d.q
	q.P10, q.P50, q.P90, q.P99, q.P999 = r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
	_, q.Count, _ = r.f64(), r.f64(), r.f64() // Max and Folded are derived
	if r.err != nil {
		return r.err
	}
	// cur gets the recorded capacity (so the state re-encodes as it was),
	// prev only its centroids (it grows when it becomes cur again).
	prev, err := r.centroids(version, int(capacity), d.prevW)
	if err != nil {
		return fmt.Errorf("prev: %w", err)
	}
	cur, err := r.centroids(version, int(capacity), d.curW)
	if err != nil {
		return fmt.Errorf("cur: %w", err)
	}
	d.cs, d.np = packLists(prev, cur)
	d.prevCap, d.curCap = uint16(len(prev)), uint16(capacity)
	if err := d.tail.unmarshal(&r, version); err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if err := r.end(); err != nil {
		return err
	}
	return d.check()
}

// check rejects states no sequence of Adds can produce and that could
// upset later folds or quantile queries. Means and cached quantiles are
// not checked: absurd inputs (near ±MaxFloat64) legitimately overflow them
// to ±Inf or NaN, and they cannot make a fold or query fail.
func (d *Dist) check() error {
	maxOK := func(m float64) bool { return !math.IsNaN(m) && !math.IsInf(m, 1) }
	if !maxOK(d.prevMax) || !maxOK(d.curMax) {
		return fmt.Errorf("maximum: %w", errDistState)
	}
	if !(d.pending >= 0 && d.pending <= 1<<53) || d.pending != math.Trunc(d.pending) {
		return fmt.Errorf("pending weight: %w", errDistState)
	}
	return nil
}

// raw reads a buffered raw value of a version's record.
func (r *distReader) raw(version byte) float64 {
	if version == 3 {
		return r.f64()
	}
	return float64(r.f32())
}

// centroids reads a centroid list of a version's record of at most
// capacity entries with positive integral weights summing to exactly w
// (the weights are what the quantile code indexes by).
func (r *distReader) centroids(version byte, capacity int, w float64) ([]centroid, error) {
	n := r.uvarint()
	if r.err != nil {
		return nil, r.err
	}
	size := uint64(8)
	if version == 3 {
		size = 16
	}
	if n > uint64(capacity) || n*size > uint64(len(r.b)) {
		return nil, fmt.Errorf("%d centroids: %w", n, errDistState)
	}
	cs := make([]centroid, n)
	sum := 0.0
	for i := range cs {
		var mean, weight float64
		if version == 3 {
			mean, weight = r.f64(), r.f64()
		} else {
			mean, weight = float64(r.f32()), float64(r.u32())
		}
		if !(weight >= 1 && weight <= maxEpochWeight) || weight != math.Trunc(weight) {
			return nil, fmt.Errorf("centroid %d: %w", i, errDistState)
		}
		cs[i] = centroid{f32(mean), uint32(weight)}
		sum += weight
	}
	if sum != w {
		return nil, fmt.Errorf("centroid weights sum to %v, not %v: %w", sum, w, errDistState)
	}
	return cs, r.err
}

func distAppendF64(b []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f))
}

// distReader decodes the primitives of the state encoding; the first
// error sticks and later reads return zero values.
type distReader struct {
	b   []byte
	err error
}

var errDistTruncated = errors.New("truncated")

func (r *distReader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *distReader) byte() byte {
	if len(r.b) < 1 {
		r.fail(errDistTruncated)
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

func (r *distReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errDistTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *distReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errDistTruncated)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *distReader) f64() float64 {
	if len(r.b) < 8 {
		r.fail(errDistTruncated)
		return 0
	}
	v := math.Float64frombits(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *distReader) u32() uint32 {
	if len(r.b) < 4 {
		r.fail(errDistTruncated)
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *distReader) f32() float32 { return math.Float32frombits(r.u32()) }

func (r *distReader) end() error {
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%d trailing bytes: %w", len(r.b), errDistState)
	}
	return nil
}
