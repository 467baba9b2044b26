package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/influxdata/tdigest"
)

// DistSketch is the body of a Dist in a mergeable form, for sharing a
// tool-level baseline between the partitions of a consumer group: the
// t-digest centroids over both epochs (values not yet folded as weight-1
// centroids), sorted by mean, and the largest value. Merging sketches is
// merging t-digests; the tail memory (exceedance ring, level and drift
// memory) is not part of it.
type DistSketch struct {
	Centroids []tdigest.Centroid
	Max       float64
}

// Count is the number of values the sketch summarises.
func (s *DistSketch) Count() float64 {
	w := 0.0
	for _, c := range s.Centroids {
		w += c.Weight
	}
	return w
}

// Sketch returns d's body compressed to g's compression. It reads d
// without changing it (no fold, no quantile refresh), so sharing a
// baseline never changes how the Dist evolves.
func (d *Dist) Sketch(g *Digester) DistSketch {
	if d.distMem == nil || d.Count() == 0 {
		return DistSketch{}
	}
	td := tdigest.NewWithCompression(g.compression)
	for _, cs := range [2][]byte{d.cs[:d.np], d.cs[d.np:]} {
		for u := (unpacker{b: cs}); u.more(); {
			td.AddCentroid(u.next().td())
		}
	}
	for _, v := range d.buf[:d.nbuf] {
		td.AddCentroid(tdigest.Centroid{Mean: float64(v), Weight: 1})
	}
	cs, mx := td.Centroids(), max(d.prevMax, d.curMax)
	for i := len(cs) - 1; i >= 0 && cs[i].Mean > mx; i-- {
		cs[i].Mean = mx // a mean rounded to float32 above the exact maximum
	}
	return DistSketch{Centroids: cs, Max: mx}
}

// SharedDist returns a read-only Dist whose body is local's merged with
// the others' sketches (local nil or empty: the others' alone) and whose
// tail memory is a copy of local's exceedance ring, refitted against the
// merged body on first use: the tail model is learned where values are
// judged, the body is the whole tool's. It has no level or drift memory
// (no drift guard). Nil when the merge holds no value. The result is
// judged and queried (Judge, JudgeLog, Quantiles), never learned.
func SharedDist(g *Digester, local *Dist, others []DistSketch) *Dist {
	td := tdigest.NewWithCompression(g.compression)
	mx := math.Inf(-1)
	add := func(s *DistSketch) {
		for _, c := range s.Centroids {
			td.AddCentroid(c)
		}
		mx = max(mx, s.Max)
	}
	if local != nil {
		s := local.Sketch(g)
		add(&s)
	}
	for i := range others {
		add(&others[i])
	}
	cs := td.Centroids()
	if len(cs) == 0 {
		return nil
	}
	w := 0.0
	body := make([]centroid, 0, len(cs))
	for _, c := range cs {
		w += c.Weight
		// A fleet's merged centroid may outweigh a uint32: store it as
		// several of the same mean (same cumulative weights).
		for rest := c.Weight; rest > 0; rest -= maxEpochWeight {
			body = append(body, centroid{f32(c.Mean), uint32(min(rest, maxEpochWeight))})
		}
	}
	d := &Dist{prevW: w, prevMax: mx, curMax: math.Inf(-1), ready: true, stale: true, distMem: new(distMem)}
	d.cs, d.np = packLists(body, nil)
	d.prevCap = uint16(min(len(body), math.MaxUint16))
	if local != nil && local.distMem != nil {
		d.epoch = local.epoch
		t := local.tail
		if t.ring != nil {
			r := *t.ring
			t.ring = &r
		}
		t.lv, t.fitStale, t.anchorGen, t.anchorSet = nil, true, 0, false
		t.setFit(TailFit{})
		d.tail = t
	}
	return d
}

// DistSketch encoding (group tool sketches, docs/design.md §3a), big-endian:
//
//	u8 version (1) | f64 max | uvarint n | (f64 mean, uvarint weight) × n
//
// Means are ascending, weights integral and at least 1.
const distSketchVersion = 1

// maxSketchCentroids bounds a decoded sketch (compression ≤ 1000 keeps
// at most ~2,000 centroids).
const maxSketchCentroids = 4096

// AppendBinary appends s's encoding to b.
func (s *DistSketch) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, distSketchVersion)
	b = distAppendF64(b, s.Max)
	b = binary.AppendUvarint(b, uint64(len(s.Centroids)))
	for _, c := range s.Centroids {
		b = distAppendF64(b, c.Mean)
		b = binary.AppendUvarint(b, uint64(c.Weight))
	}
	return b, nil
}

var errSketch = errors.New("malformed dist sketch")

// UnmarshalBinary decodes a sketch from all of data. It refuses what
// merging could not use safely: non-finite or unsorted means, weights
// that are zero or beyond 2^53, a maximum below the largest mean.
func (s *DistSketch) UnmarshalBinary(data []byte) error {
	r := distReader{b: data}
	if v := r.byte(); r.err == nil && v != distSketchVersion {
		return fmt.Errorf("dist sketch: unsupported version %d", v)
	}
	mx := r.f64()
	n := r.uvarint()
	if r.err != nil {
		return fmt.Errorf("dist sketch: %w", r.err)
	}
	if n > maxSketchCentroids || n*9 > uint64(len(r.b)) {
		return fmt.Errorf("%d centroids: %w", n, errSketch)
	}
	cs := make([]tdigest.Centroid, n)
	total := 0.0
	for i := range cs {
		m := r.f64()
		w := r.uvarint()
		if r.err != nil {
			return fmt.Errorf("dist sketch: %w", r.err)
		}
		if math.IsNaN(m) || math.IsInf(m, 0) || w == 0 || w > 1<<53 || i > 0 && m < cs[i-1].Mean {
			return fmt.Errorf("centroid %d: %w", i, errSketch)
		}
		cs[i] = tdigest.Centroid{Mean: m, Weight: float64(w)}
		if total += float64(w); total > 1<<53 {
			return fmt.Errorf("total weight: %w", errSketch)
		}
	}
	if err := r.end(); err != nil {
		return fmt.Errorf("dist sketch: %w", err)
	}
	if math.IsNaN(mx) || math.IsInf(mx, 1) || n > 0 && mx < cs[n-1].Mean {
		return fmt.Errorf("maximum %v: %w", mx, errSketch)
	}
	s.Centroids, s.Max = slices.Clip(cs), mx
	return nil
}
