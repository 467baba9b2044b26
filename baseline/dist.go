package baseline

import (
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
//   - prev and cur: compressed centroid lists (≤ 2·C+2 each, sorted by mean);
//   - buf: up to distBuf raw values not yet folded into cur;
//   - cached quantiles of prev+cur, recomputed lazily after a fold.
//
// When buf fills, it is folded into cur with the same k1-scale merge the
// t-digest uses in its process() step (done here because the library has
// no non-allocating way to read a digest's centroids back). Quantiles are
// computed by one shared scratch t-digest (Digester) fed prev and cur
// centroid by centroid (AddCentroidList skips centroids in v0.0.1); the
// scratch uses 4×C so that it does not merge the stored centroids again.
// Weights stay integral so the library's Quantile is safe.
//
// Epochs are aligned event-time intervals of length Epoch. When a value
// (or Advance) reaches a later epoch, buf is folded, prev = cur and cur
// starts empty, so old behaviour ages out after two epochs of activity. An
// idle Dist whose current epoch is empty does not rotate again: a rarely
// used key keeps its last active epoch as its baseline.
//
// Adding a value and reading cached quantiles never allocate; the centroid
// storage is allocated once, on a Dist's first Add.
//
// A Dist is not safe for concurrent use; neither is its Digester.
type Dist struct {
	prev, cur   []tdigest.Centroid
	prevW, curW float64
	prevMax     float64
	curMax      float64
	epoch       int64 // index of the current epoch (event time / Epoch)
	buf         [distBuf]float64
	nbuf        int32
	stale       bool    // q must be recomputed before use (rotation)
	pending     float64 // weight folded since q was computed
	q           Quantiles
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
	P50, P90, P99, P999 float64
	Max                 float64 // exact maximum of the values added
	Count               float64 // values in prev+cur (including unfolded ones)
	Folded              float64 // values the quantiles were computed from (0: none yet)
}

// Digester holds the settings and the scratch t-digest shared by all Dists
// of one detector. It must be used from a single goroutine.
type Digester struct {
	compression float64
	epoch       int64 // nanoseconds
	maxCent     int   // capacity of a Dist's centroid lists
	td          *tdigest.TDigest
	merged      []tdigest.Centroid // fold output scratch
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
		// The scratch only sums prev+cur for queries: a finer compression
		// keeps it from re-merging the stored centroids, so a few clamped
		// outliers in cur do not smear into prev's tail (memory is shared).
		td:     tdigest.NewWithCompression(math.Max(4*compression, 100)),
		merged: make([]tdigest.Centroid, 0, maxCent+distBuf),
	}
	// Warm the scratch once at its largest working size so that the
	// library's internal append in process() has grown before the hot path.
	for i := 0; i < 2*maxCent; i++ {
		g.td.AddCentroid(tdigest.Centroid{Mean: float64(i), Weight: 1})
	}
	g.td.Quantile(0.5)
	g.td.Reset()
	return g
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

// Add records value v observed at event time t. NaN and ±Inf are ignored.
func (d *Dist) Add(g *Digester, v float64, t time.Time) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if d.cur == nil {
		d.cur = make([]tdigest.Centroid, 0, g.maxCent)
		d.prev = make([]tdigest.Centroid, 0, g.maxCent)
		d.epoch = g.EpochOf(t)
		d.prevMax, d.curMax = math.Inf(-1), math.Inf(-1)
	} else if e := g.EpochOf(t); e > d.epoch {
		d.rotate(g, e)
	}
	d.buf[d.nbuf] = v
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
	if d.cur == nil {
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
	d.prev, d.cur = d.cur, d.prev[:0]
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
	slices.Sort(raw)
	total := d.curW + float64(d.nbuf)
	out := g.merged[:0]
	// Walk cur (sorted) and raw (sorted) in mean order, merging with the
	// t-digest k1 scale exactly as tdigest.process does.
	i, j := 0, 0
	next := func() tdigest.Centroid {
		if j >= len(raw) || (i < len(d.cur) && d.cur[i].Mean <= raw[j]) {
			c := d.cur[i]
			i++
			return c
		}
		c := tdigest.Centroid{Mean: raw[j], Weight: 1}
		j++
		return c
	}
	first := next()
	out = append(out, first)
	soFar := first.Weight
	limit := total * g.integratedQ(1)
	for i < len(d.cur) || j < len(raw) {
		c := next()
		if projected := soFar + c.Weight; projected <= limit || len(out) == g.maxCent {
			soFar = projected
			_ = out[len(out)-1].Add(c) // weights are never negative
			continue
		}
		k1 := g.integratedLocation(soFar / total)
		limit = total * g.integratedQ(k1+1)
		soFar += c.Weight
		out = append(out, c)
	}
	d.cur = append(d.cur[:0], out...)
	d.pending += total - d.curW
	d.curW = total
	d.nbuf = 0
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
	d.q.Count = d.Count()
	d.q.Max = math.Max(d.prevMax, d.curMax)
	if !d.needsRefresh() {
		return d.q
	}
	d.stale, d.pending = false, 0
	d.q.Folded = d.prevW + d.curW
	if d.q.Folded == 0 {
		d.q.P50, d.q.P90, d.q.P99, d.q.P999 = 0, 0, 0, 0
		return d.q
	}
	td := g.td
	td.Reset()
	for _, c := range d.prev {
		td.AddCentroid(c)
	}
	for _, c := range d.cur {
		td.AddCentroid(c)
	}
	d.q.P50 = td.Quantile(0.5)
	d.q.P90 = td.Quantile(0.9)
	d.q.P99 = td.Quantile(0.99)
	d.q.P999 = td.Quantile(0.999)
	return d.q
}

// Reset empties d, keeping its centroid storage for reuse.
func (d *Dist) Reset() {
	prev, cur := d.prev[:0], d.cur[:0]
	*d = Dist{prev: prev, cur: cur}
	if cur != nil {
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
