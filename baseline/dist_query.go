package baseline

import (
	"math"
	"sort"

	"github.com/influxdata/tdigest"
)

// The quantile query of a Dist (Quantiles' refresh) is the library's
// t-digest merge and Quantile, done here on the Digester's scratch so that
// the two stored lists, each already sorted by mean, are merged in one
// pass instead of being appended centroid by centroid and sorted through
// sort.Interface (half of a refresh's cost). Every floating-point step is
// the library's (influxdata/tdigest v0.0.1: process, updateCumulative,
// Quantile, integratedQ/Location, Centroid.Add) in the same order, and
// when two means tie, where the merge order could differ from the
// library's unstable sort, the lists are sorted by that same sort.Sort, so
// the quantiles are bit for bit the library's (TestQueryMatchesLibrary).
//
// The merge's limits are the library's only trigonometry (an Asin and a
// Sin per output centroid, two thirds of a refresh). A limit is only
// ever compared with integral running weights, so it is first computed
// without trigonometry (nextLimit, within limitTol·w of the library's)
// and the library's own expression is evaluated only when a comparison
// falls within that margin: every decision, hence every centroid and
// quantile, is the library's (TestLimitDecisions).

// queryScratch is the Digester's scratch for quantile queries.
type queryScratch struct {
	in, out []tdigest.Centroid
	cum     []float64
	pl, cl  []centroid           // d's packed prev and cur, unpacked (dist_pack.go)
	sorted  tdigest.CentroidList // in, for sort.Sort (a local would escape)
	// cos and sin of π/compression of the scratch digest (nextLimit).
	cosStep, sinStep float64
}

// limitTol bounds, relative to the total weight w, how far nextLimit may
// lie from the library's limit. The library's own rounding is below
// 10⁻¹¹·w for any w a Dist can hold (≤ 2³³: its Asin takes √(1 − x²)
// with x² rounded, at most 10⁻¹⁶/√(1 − x²) off where 1 − x² ≥ 2/w), and
// nextLimit's below 10⁻¹⁵·w; the margin is a hundred times that.
const limitTol = 1e-9

// nextLimit is the library's limit after a new centroid at running weight
// soFar of w, w·integratedQ(integratedLocation(soFar/w) + 1), by
// sin(a + δ) = x·cos δ + √((1 − x)(1 + x))·sin δ with x = sin a = 2q − 1,
// δ = π/compression, and 1 where a + δ reaches π/2 (the library's clamp
// of k at the compression).
func (s *queryScratch) nextLimit(soFar, w float64) float64 {
	x := 2.0*(soFar/w) - 1.0
	if x >= s.cosStep {
		return w
	}
	return w * ((x*s.cosStep + math.Sqrt(max((1-x)*(1+x), 0))*s.sinStep + 1) / 2)
}

// query sets d's cached quantiles from prev and cur (d.prevW+d.curW > 0),
// as a scratch tdigest of compression g.td.Compression fed prev, then cur,
// would answer them.
func (g *Digester) query(d *Dist) {
	s := &g.qs
	s.pl = unpackAll(s.pl[:0], d.cs[:d.np])
	s.cl = unpackAll(s.cl[:0], d.cs[d.np:])
	pl, cl := s.pl, s.cl
	in := s.in[:0]
	// Merge the sorted lists; a tie (equal means anywhere) falls back to
	// the library's order: prev then cur, sorted by sort.Sort.
	tie := false
	i, j := 0, 0
	last := math.Inf(-1)
	for i < len(pl) || j < len(cl) {
		var c centroid
		if j >= len(cl) || (i < len(pl) && pl[i].mean < cl[j].mean) {
			c = pl[i]
			i++
		} else {
			c = cl[j]
			j++
		}
		m := float64(c.mean)
		if !(m > last) { // a tie (or a NaN mean): not provably the sort's order
			tie = true
		}
		last = m
		in = append(in, tdigest.Centroid{Mean: m, Weight: float64(c.weight)})
	}
	// The library sums the weights as they are added: prev, then cur.
	w := 0.0
	for _, c := range pl {
		w += float64(c.weight)
	}
	for _, c := range cl {
		w += float64(c.weight)
	}
	if tie {
		in = in[:0]
		for _, c := range pl {
			in = append(in, c.td())
		}
		for _, c := range cl {
			in = append(in, c.td())
		}
		s.sorted = in
		sort.Sort(&s.sorted)
		s.sorted = nil
	}
	s.in = in

	// tdigest.process on a reset digest.
	comp := g.td.Compression
	integratedQ := func(k float64) float64 {
		return (math.Sin(math.Min(k, comp)*math.Pi/comp-math.Pi/2.0) + 1.0) / 2.0
	}
	out := append(s.out[:0], in[0])
	soFar := in[0].Weight
	limit := w * integratedQ(1.0)
	// exact: limit is the library's; otherwise it is nextLimit's from the
	// running weight from, within tol of the library's.
	exact, from, tol := true, 0.0, w*limitTol
	for _, c := range in[1:] {
		projected := soFar + c.Weight
		merge := projected <= limit
		if !exact && (projected > limit-tol && projected <= limit+tol) {
			// Too close to call: the library's expression.
			k1 := comp * (math.Asin(2.0*(from/w)-1.0) + math.Pi/2.0) / math.Pi
			limit, exact = w*integratedQ(k1+1.0), true
			merge = projected <= limit
		}
		if merge {
			soFar = projected
			p := &out[len(out)-1]
			if p.Weight != 0 { // Centroid.Add (weights are never negative)
				p.Weight += c.Weight
				p.Mean += c.Weight * (c.Mean - p.Mean) / p.Weight
			} else {
				p.Weight, p.Mean = c.Weight, c.Mean
			}
		} else {
			limit, exact, from = s.nextLimit(soFar, w), false, soFar
			soFar += c.Weight
			out = append(out, c)
		}
	}
	s.out = out
	lo := math.Min(math.MaxFloat64, out[0].Mean)
	hi := math.Max(-math.MaxFloat64, out[len(out)-1].Mean)
	// updateCumulative.
	cum := s.cum[:0]
	prev := 0.0
	for _, c := range out {
		cum = append(cum, prev+c.Weight/2.0)
		prev = prev + c.Weight
	}
	cum = append(cum, prev)
	s.cum = cum

	quantile := func(q float64) float64 {
		if len(out) == 1 {
			return out[0].Mean
		}
		index := q * w
		if index <= out[0].Weight/2.0 {
			return lo + 2.0*index/out[0].Weight*(out[0].Mean-lo)
		}
		lower := sort.SearchFloat64s(cum, index) // first cum[i] >= index
		if lower+1 != len(cum) {
			z1 := index - cum[lower-1]
			z2 := cum[lower] - index
			return tdWeightedAverage(out[lower-1].Mean, z2, out[lower].Mean, z1)
		}
		z1 := index - w - out[lower-1].Weight/2.0
		z2 := (out[lower-1].Weight / 2.0) - z1
		return tdWeightedAverage(out[len(out)-1].Mean, z1, hi, z2)
	}
	d.q.P10 = quantile(0.1)
	d.q.P50 = quantile(0.5)
	d.q.P90 = quantile(0.9)
	d.q.P99 = quantile(0.99)
	d.q.P999 = quantile(0.999)
}

// tdWeightedAverage is the library's weightedAverage.
func tdWeightedAverage(x1, w1, x2, w2 float64) float64 {
	if x1 <= x2 {
		return tdWeightedAverageSorted(x1, w1, x2, w2)
	}
	return tdWeightedAverageSorted(x2, w2, x1, w1)
}

func tdWeightedAverageSorted(x1, w1, x2, w2 float64) float64 {
	x := (x1*w1 + x2*w2) / (w1 + w2)
	return math.Max(x1, math.Min(x, x2))
}
