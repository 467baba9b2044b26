package baseline

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"
)

var distBase = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

func exactQuantile(sorted []float64, q float64) float64 {
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

func TestDistQuantilesMatchExact(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sigma float64
		n     int
		tol99 float64 // relative tolerance at p99
	}{
		{"narrow-5k", 0.3, 5000, 0.05},
		{"wide-20k", 1.0, 20000, 0.15},
		{"small-300", 0.5, 300, 0.15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewDigester(25, 24*time.Hour)
			rng := rand.New(rand.NewPCG(1, 2))
			var d Dist
			vals := make([]float64, 0, tc.n)
			for i := range tc.n {
				v := math.Exp(5 + tc.sigma*rng.NormFloat64())
				vals = append(vals, v)
				d.Add(g, v, distBase.Add(time.Duration(i)*time.Second))
			}
			slices.Sort(vals)
			q := d.Quantiles(g)
			if q.Count != float64(tc.n) {
				t.Fatalf("count = %v, want %d", q.Count, tc.n)
			}
			if q.Max != vals[len(vals)-1] {
				t.Fatalf("max = %v, want %v", q.Max, vals[len(vals)-1])
			}
			for _, c := range []struct {
				q, tol float64
				got    float64
			}{{0.5, 0.05, q.P50}, {0.9, 0.08, q.P90}, {0.99, tc.tol99, q.P99}} {
				want := exactQuantile(vals, c.q)
				if rel := math.Abs(c.got-want) / want; rel > c.tol {
					t.Errorf("q%.2f = %.1f, exact %.1f (rel err %.3f > %.2f)", c.q, c.got, want, rel, c.tol)
				}
			}
			if !(q.P50 < q.P90 && q.P90 < q.P99 && q.P99 <= q.P999 && q.P999 <= q.Max) {
				t.Fatalf("quantiles not ordered: %+v", q)
			}
		})
	}
}

func TestDistCentroidsBounded(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	rng := rand.New(rand.NewPCG(3, 4))
	var d Dist
	for i := range 200000 {
		d.Add(g, rng.ExpFloat64()*100, distBase.Add(time.Duration(i)*time.Millisecond))
		// Storage grows with the count: the packed bytes held, rounded
		// up a size class (a list that shrank a little keeps its room);
		// the recorded capacity never past the full list's size class.
		_, cur := d.lists()
		if len(cur) > g.maxCent || d.curCap > 56 || (d.curCap > 8 && int(d.curCap) > 3*len(cur)/2+8) ||
			cap(d.cs) > len(d.cs)*5/4+32 || len(d.cs) > 6*len(cur) {
			t.Fatalf("after %d values: %d centroids in %d bytes (room %d), capacity %d, max %d", i, len(cur), len(d.cs), cap(d.cs), d.curCap, g.maxCent)
		}
	}
	if d.curW+float64(d.nbuf) != 200000 {
		t.Fatalf("weight %v, want 200000", d.curW+float64(d.nbuf))
	}
	_, cur := d.lists()
	for i := 1; i < len(cur); i++ {
		if cur[i].mean < cur[i-1].mean {
			t.Fatalf("centroids not sorted at %d", i)
		}
	}
}

// lists returns d's centroid lists unpacked.
func (d *Dist) lists() (prev, cur []centroid) {
	return unpackAll(nil, d.cs[:d.np]), unpackAll(nil, d.cs[d.np:])
}

func TestDistEpochRotation(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var d Dist
	add := func(from time.Time, n int, v float64) {
		for i := range n {
			d.Add(g, v, from.Add(time.Duration(i)*time.Second))
		}
	}
	add(distBase, 100, 10)                // epoch 0
	add(distBase.Add(time.Hour), 100, 20) // epoch 1 rotates: prev = 10s
	if p, c := d.EpochCounts(); p != 100 || c != 96 {
		t.Fatalf("after epoch 1: prev=%v cur=%v (+%d buffered), want 100/96", p, c, d.nbuf)
	}
	if q := d.Quantiles(g); q.P50 < 10 || q.P50 > 20 || q.Count != 200 {
		t.Fatalf("two-epoch quantiles %+v", q)
	}
	add(distBase.Add(2*time.Hour), 100, 30) // epoch 2: the 10s age out
	q := d.Quantiles(g)
	if q.Count != 200 {
		t.Fatalf("count after second rotation = %v, want 200", q.Count)
	}
	if q.P50 < 20 || q.Max != 30 {
		t.Fatalf("epoch 0 values still visible: %+v", q)
	}

	// Advance (Tick) rotates an idle key once, then keeps its last active
	// epoch instead of forgetting everything.
	d.Advance(g, distBase.Add(3*time.Hour))
	if p, c := d.EpochCounts(); p != 100 || c != 0 || d.Epoch() != g.EpochOf(distBase.Add(3*time.Hour)) {
		t.Fatalf("after advance: prev=%v cur=%v epoch=%d", p, c, d.Epoch())
	}
	d.Advance(g, distBase.Add(10*time.Hour))
	if p, _ := d.EpochCounts(); p != 100 {
		t.Fatalf("idle advance dropped the last active epoch: prev=%v", p)
	}
	if q := d.Quantiles(g); q.P50 != 30 || q.Count != 100 {
		t.Fatalf("idle quantiles %+v", q)
	}
	// Advancing to an earlier epoch is a no-op.
	e := d.Epoch()
	d.Advance(g, distBase)
	if d.Epoch() != e {
		t.Fatal("advance went backwards")
	}
}

func TestDistReset(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var d Dist
	d.Reset() // on a zero Dist: stays usable
	// Storage for more centroids than the reuse below needs.
	for i := range 3000 {
		d.Add(g, float64(1000+i%53), distBase.Add(time.Duration(i)*time.Second))
	}
	d.Reset()
	if d.Count() != 0 || d.Quantiles(g) != (Quantiles{Max: math.Inf(-1)}) {
		t.Fatalf("after reset: count %v, %+v", d.Count(), d.Quantiles(g))
	}
	allocs := testing.AllocsPerRun(1, func() {
		for i := range 100 {
			d.Add(g, 5, distBase.Add(5*time.Hour+time.Duration(i)*time.Second))
		}
	})
	if allocs != 0 {
		t.Fatalf("reset Dist reallocated: %.0f allocs", allocs)
	}
	q := d.Quantiles(g)
	if q.P50 != 5 || q.Max != 5 || q.Count != 200 || // AllocsPerRun ran it twice
		d.Epoch() != g.EpochOf(distBase.Add(5*time.Hour)) {
		t.Fatalf("after reuse: %+v epoch %d", q, d.Epoch())
	}
}

func TestDistIgnoresNonFinite(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var d Dist
	d.Add(g, math.NaN(), distBase)
	d.Add(g, math.Inf(1), distBase)
	if d.Count() != 0 {
		t.Fatalf("count %v", d.Count())
	}
}

func TestDistAddAllocs(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var d Dist
	i := 0
	// A key's storage grows through the rungs to two full lists, a
	// handful of allocations in its life.
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for range 20000 {
		i++
		d.Add(g, float64(i%977), distBase.Add(time.Duration(i)*time.Second))
	}
	runtime.ReadMemStats(&m1)
	prev, cur := d.lists()
	if grow := m1.Mallocs - m0.Mallocs; grow < 2 || grow > uint64(2*(len(centroidRungs)+1)) || len(prev) < 30 {
		t.Fatalf("growing to %d/%d centroids: %d allocations", len(prev), len(cur), grow)
	} else {
		t.Logf("%d allocations growing to %d/%d centroids (%d bytes, room %d)", grow, len(prev), len(cur), len(d.cs), cap(d.cs))
	}
	allocs := testing.AllocsPerRun(10000, func() {
		i++
		d.Add(g, float64(i%977), distBase.Add(time.Duration(i)*time.Second))
		_ = d.Quantiles(g)
	})
	if allocs != 0 {
		t.Fatalf("Add+Quantiles allocates %.2f per call", allocs)
	}
}

func TestDistMemoryPerDist(t *testing.T) {
	const n = 2000
	g := NewDigester(25, time.Hour)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	ds := make([]*Dist, n)
	for k := range ds {
		ds[k] = new(Dist)
		for i := range 500 {
			ds[k].Add(g, float64(i), distBase.Add(time.Duration(i)*time.Second))
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	runtime.KeepAlive(ds)
	if per > 4096 {
		t.Fatalf("%.0f bytes per Dist, budget 4096", per)
	}
	t.Logf("%.0f bytes per Dist", per)
}

// A Dist that never saw a value is small and answers like an empty one;
// learning a point of another Dist's tail gives it its storage.
func TestDistUnused(t *testing.T) {
	if n := unsafe.Sizeof(Dist{}); n > 112 {
		t.Errorf("an unused Dist takes %d bytes", n)
	}
	g := NewDigester(25, time.Hour)
	var d Dist
	d.Advance(g, distBase)
	if q, f := d.Quantiles(g), d.Tail(g); q != (Quantiles{}) || f.Valid || d.TailRingLen() != 0 || d.TailRing() != nil || d.Count() != 0 {
		t.Fatalf("unused Dist: %+v %+v", q, f)
	}
	var src Dist
	for i := range 2000 {
		src.Add(g, float64(100+i%50), distBase.Add(time.Duration(i)*time.Second))
	}
	j := Judge{Far: 4}
	v := src.Judge(g, 1e6, &j, 0)
	if !v.Fit.Valid {
		t.Fatal("premise: src has a fit")
	}
	d.Learn(g, 1e6, distBase, &v, &j, true, true)
	if d.TailRingLen() != 1 || d.Count() != 0 {
		t.Fatalf("learned %d tail points, %v values", d.TailRingLen(), d.Count())
	}
}

// A young Dist keeps no more centroid storage than its values need.
func TestDistYoungStorage(t *testing.T) {
	g := NewDigester(25, time.Hour)
	for _, n := range []int{1, 31, 32, 40, 64, 200} {
		var d Dist
		for i := range n {
			d.Add(g, float64(i*37%101), distBase.Add(time.Duration(i)*time.Second))
		}
		prev, cur := d.lists()
		held := len(prev) + len(cur)
		if c := cap(d.cs); c > len(d.cs)*3/2+16 || c > 8*held || held > n {
			t.Errorf("%d values: %d centroids held in %d bytes, room %d", n, held, len(d.cs), c)
		}
	}
}

// FuzzDist feeds arbitrary values and event-time steps (including epoch
// jumps) and checks the Dist's invariants.
func FuzzDist(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 1, 0, 0, 0, 0, 0, 0, 0x40, 200})
	f.Add(make([]byte, 9*100))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := NewDigester(10, time.Hour)
		var d Dist
		ts := distBase
		n := 0
		rotated := false // the extremes of dropped epochs are gone
		lo, hi := math.Inf(1), math.Inf(-1)
		for ; len(data) >= 9; data = data[9:] {
			v := math.Float64frombits(binary.LittleEndian.Uint64(data))
			ts = ts.Add(time.Duration(data[8]) * time.Minute)
			before := d.Epoch()
			d.Add(g, v, ts)
			finite := !math.IsNaN(v) && !math.IsInf(v, 0)
			if finite {
				n++
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
			if d.Epoch() != before && n > 1 {
				rotated = true
				n = int(d.Count())
			}
			if int(d.Count()) != n || d.Count() != math.Trunc(d.Count()) {
				t.Fatalf("count %v, want %d", d.Count(), n)
			}
			if prev, cur := d.lists(); len(cur) > g.maxCent || len(prev) > g.maxCent {
				t.Fatalf("centroids %d/%d over %d", len(prev), len(cur), g.maxCent)
			}
		}
		q := d.Quantiles(g)
		if d.prevW+d.curW == 0 {
			return
		}
		if !(q.P50 <= q.P90 && q.P90 <= q.P99 && q.P99 <= q.P999) {
			t.Fatalf("quantiles not ordered: %+v", q)
		}
		// Means of huge values are clamped to ±MaxFloat32; bounds hold
		// otherwise, up to the rounding of stored means to float32.
		lo32, hi32 := lo-math.Abs(lo)*0x1p-23, hi+math.Abs(hi)*0x1p-23
		if !rotated && hi-lo < 1e300 && math.Abs(lo) < math.MaxFloat32 && math.Abs(hi) < math.MaxFloat32 &&
			(q.P50 < lo32 || q.P999 > hi32 || q.Max != hi) {
			t.Fatalf("quantiles %+v outside [%v, %v]", q, lo, hi)
		}
	})
}

func BenchmarkDistAdd(b *testing.B) {
	g := NewDigester(25, 24*time.Hour)
	rng := rand.New(rand.NewPCG(5, 6))
	vals := make([]float64, 4096)
	for i := range vals {
		vals[i] = math.Exp(5 + 0.5*rng.NormFloat64())
	}
	var d Dist
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Add(g, vals[i&4095], distBase.Add(time.Duration(i)*time.Second))
		_ = d.Quantiles(g)
		i++
	}
}

// distStream feeds d n log-normal values from step i on, one per minute,
// with an epoch jump every 500 values, and returns the quantiles seen
// after each value.
func distStream(g *Digester, d *Dist, rng *rand.Rand, from, n int) []Quantiles {
	qs := make([]Quantiles, 0, n)
	for i := from; i < from+n; i++ {
		ts := distBase.Add(time.Duration(i)*time.Minute + time.Duration(i/500)*3*time.Hour)
		d.Add(g, math.Round(math.Exp(6+rng.NormFloat64())), ts)
		if i%97 == 0 {
			d.Advance(g, ts.Add(90*time.Minute))
		}
		qs = append(qs, d.Quantiles(g))
	}
	return qs
}

func TestDistStateRoundTrip(t *testing.T) {
	g := NewDigester(25, time.Hour)
	for _, cut := range []int{0, 1, 31, 32, 33, 499, 500, 1234, 2999} {
		var a Dist
		rng := rand.New(rand.NewPCG(7, uint64(cut)))
		distStream(g, &a, rng, 0, cut)
		enc, err := a.MarshalState([]byte("prefix"))
		if err != nil || string(enc[:6]) != "prefix" {
			t.Fatalf("cut %d: marshal: %v", cut, err)
		}
		var b Dist
		if err := b.UnmarshalState(enc[6:]); err != nil {
			t.Fatalf("cut %d: unmarshal: %v", cut, err)
		}
		re, _ := b.MarshalState(nil)
		if !slices.Equal(re, enc[6:]) {
			t.Fatalf("cut %d: re-encoding differs", cut)
		}
		if b.Count() != a.Count() || b.Epoch() != a.Epoch() || (b.distMem == nil) != (a.distMem == nil) ||
			(a.distMem != nil && b.q != a.q) {
			t.Fatalf("cut %d: restored count/epoch/cached quantiles differ", cut)
		}
		// cur keeps the recorded capacity, prev only its centroids.
		if ap, _ := a.lists(); cut > 0 && (b.curCap != max(a.curCap, a.prevCap) || int(b.prevCap) != len(ap)) {
			t.Fatalf("cut %d: restored capacity %d/%d, want %d/%d", cut, b.prevCap, b.curCap, len(ap), max(a.curCap, a.prevCap))
		}
		if !slices.Equal(b.cs, a.cs) || b.np != a.np {
			t.Fatalf("cut %d: restored centroids differ", cut)
		}
		// Same future: same inputs give identical quantiles at every step
		// and identical final state.
		seed := rand.New(rand.NewPCG(99, uint64(cut)))
		seed2 := rand.New(rand.NewPCG(99, uint64(cut)))
		qa := distStream(g, &a, seed, cut, 3000-cut)
		qb := distStream(g, &b, seed2, cut, 3000-cut)
		if !slices.Equal(qa, qb) {
			t.Fatalf("cut %d: quantiles diverge after restore", cut)
		}
		ea, _ := a.MarshalState(nil)
		eb, _ := b.MarshalState(nil)
		if !slices.Equal(ea, eb) {
			t.Fatalf("cut %d: final states differ", cut)
		}
		if cut == 2999 && qa[len(qa)-1].Folded == 0 {
			t.Fatal("stream never folded")
		}
	}
}

func TestDistStateResetAndZero(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var zero, reset Dist
	for i := range 100 {
		reset.Add(g, float64(i), distBase)
	}
	reset.Reset()
	for _, d := range []*Dist{&zero, &reset} {
		enc, _ := d.MarshalState(nil)
		var r Dist
		r.Add(g, 5, distBase) // overwritten by the restore
		if err := r.UnmarshalState(enc); err != nil {
			t.Fatal(err)
		}
		if r.curCap != max(d.curCap, d.prevCap) || len(r.cs) != 0 || r.Count() != 0 || r.epoch != d.epoch {
			t.Fatalf("restored %+v from %+v", r, d)
		}
		// Both restore paths learn like the original from here on.
		d.Add(g, 42, distBase.Add(time.Hour))
		r.Add(g, 42, distBase.Add(time.Hour))
		if d.Quantiles(g) != r.Quantiles(g) || d.Epoch() != r.Epoch() {
			t.Fatal("restored empty Dist diverges")
		}
	}
}

func TestDistStateCorrupt(t *testing.T) {
	g := NewDigester(25, time.Hour)
	var src Dist
	distStream(g, &src, rand.New(rand.NewPCG(1, 2)), 0, 777)
	enc, _ := src.MarshalState(nil)

	var victim Dist
	distStream(g, &victim, rand.New(rand.NewPCG(3, 4)), 0, 300)
	before, _ := victim.MarshalState(nil)
	mutate := func(f func(b []byte) []byte) []byte { return f(slices.Clone(enc)) }
	lastW := len(enc) - len(src.tail.marshal(nil)) - 8 // the last centroid's weight
	cases := map[string][]byte{
		"empty":         {},
		"version":       mutate(func(b []byte) []byte { b[0] = 2; return b }), // little-endian, gob era
		"flags":         mutate(func(b []byte) []byte { b[1] = 0x80; return b }),
		"trailing":      append(slices.Clone(enc), 0),
		"weight":        mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[lastW:], math.Float64bits(0.5)); return b }),
		"negative":      mutate(func(b []byte) []byte { binary.BigEndian.PutUint64(b[lastW:], math.Float64bits(-1)); return b }),
		"uninit+stale":  {distStateVersion, distFlagStale},
		"uninit+extra":  {distStateVersion, 0, 1},
		"huge capacity": append([]byte{distStateVersion, distFlagInit, 0}, binary.AppendUvarint(nil, 1<<40)...),
	}
	for i := 1; i < len(enc); i += 1 + i/8 {
		cases["truncated-"+string(rune('a'+i%26))+string(rune('0'+i%10))] = enc[:i]
	}
	for name, data := range cases {
		if err := victim.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		}
		if after, _ := victim.MarshalState(nil); !slices.Equal(before, after) {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
}

// FuzzDistState: arbitrary bytes never panic UnmarshalState, and whatever
// it accepts re-encodes canonically and stays usable.
func FuzzDistState(f *testing.F) {
	g := NewDigester(10, time.Hour)
	var d Dist
	f.Add([]byte{distStateVersion, 0})
	for _, n := range []int{1, 40, 400} {
		distStream(g, &d, rand.New(rand.NewPCG(5, uint64(n))), 0, n)
		enc, _ := d.MarshalState(nil)
		f.Add(enc)
	}
	// A Dist whose tail ring, fit, level and drift state are all in use.
	var l Dist
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(6, 6))
	for i := range 3000 {
		x := 100 * math.Exp(rng.NormFloat64())
		v := l.Judge(g, x, &j, 0)
		v.Input = uint64(i%5 + 1) // the level test's recent inputs
		l.Learn(g, x, distBase.Add(time.Duration(i)*time.Minute), &v, &j, l.Count() >= 200, true)
	}
	enc, _ := l.MarshalState(nil)
	f.Add(enc)
	goldens, _ := filepath.Glob("testdata/dist-state.v*.bin") // every version read
	for _, name := range goldens {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Dist
		if err := d.UnmarshalState(data); err != nil {
			return
		}
		enc, _ := d.MarshalState(nil)
		var r Dist
		if err := r.UnmarshalState(enc); err != nil {
			t.Fatalf("re-decoding an accepted state: %v", err)
		}
		if re, _ := r.MarshalState(nil); !slices.Equal(re, enc) {
			t.Fatal("accepted state does not re-encode identically")
		}
		for i := range 70 {
			d.Add(g, float64(i), distBase.Add(time.Duration(i)*time.Hour))
			_ = d.Quantiles(g)
		}
	})
}

// nextQ (fold limits without trigonometry) equals the t-digest's
// integratedQ(integratedLocation(q) + 1), including its clamp at 1.
func TestNextQ(t *testing.T) {
	for _, c := range []float64{5, 25, 100, 1000} {
		g := NewDigester(c, time.Hour)
		for i := 0; i <= 100000; i++ {
			q := float64(i) / 100000
			want := g.integratedQ(g.integratedLocation(q) + 1)
			if got := g.nextQ(q); math.Abs(got-want) > 1e-12 {
				t.Fatalf("compression %v, q %v: nextQ %v, want %v", c, q, got, want)
			}
		}
	}
}

// testdata/dist-state.v3.bin was written by the float64 Dist (commit
// 0d120d1: 1,637 log-normal values over two 1-hour epochs, one of them
// still buffered, tail fitted): it decodes with its counts and cached
// quantiles, its means rounded to float32, and answers the same
// quantiles within float32 rounding once they are recomputed.
func TestDistStateV3(t *testing.T) {
	data, err := os.ReadFile("testdata/dist-state.v3.bin")
	if err != nil {
		t.Fatal(err)
	}
	var d Dist
	if err := d.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	want := Quantiles{P10: 52.621353708904756, P50: 147.40760872041557, P90: 423.0229654415883,
		P99: 913.3793758570183, P999: 1534.8098222003186, Max: 1728.821922767245, Count: 1637, Folded: 1636}
	g := NewDigester(25, time.Hour)
	enc, _ := d.MarshalState(nil)
	if q := d.Quantiles(g); !closeQuantiles(q, want) || q.Max != want.Max || q.Count != want.Count || q.Folded != want.Folded ||
		d.nbuf != 1 || countPacked(d.cs[:d.np]) != 30 || countPacked(d.cs[d.np:]) != 34 || !d.tail.fitValid {
		t.Fatalf("decoded %+v (%d buffered, %d/%d centroids, fit %v), want %+v", q, d.nbuf, countPacked(d.cs[:d.np]), countPacked(d.cs[d.np:]), d.tail.fitValid, want)
	}
	if enc[0] != distStateVersion || len(enc) >= len(data) {
		t.Fatalf("re-encoded as version %d in %d bytes (v3: %d)", enc[0], len(enc), len(data))
	}
	var r Dist
	if err := r.UnmarshalState(enc); err != nil {
		t.Fatal(err)
	}
	if re, _ := r.MarshalState(nil); !slices.Equal(re, enc) {
		t.Fatal("upgraded state does not re-encode identically")
	}
}

// closeQuantiles: a and b's quantiles agree within float32 rounding.
func closeQuantiles(a, b Quantiles) bool {
	for _, p := range [...][2]float64{{a.P10, b.P10}, {a.P50, b.P50}, {a.P90, b.P90}, {a.P99, b.P99}, {a.P999, b.P999}} {
		if math.Abs(p[0]-p[1]) > 1e-6*math.Abs(p[1]) {
			return false
		}
	}
	return true
}

// A version 3 centroid heavier than a uint32 is refused with an error.
func TestDistStateV3HeavyCentroid(t *testing.T) {
	b := []byte{3, distFlagInit}
	b = binary.AppendVarint(b, 0)
	b = binary.AppendUvarint(b, 8)
	b = binary.AppendUvarint(b, 0)
	for _, f := range []float64{1 << 33, 0, 1, math.Inf(-1), 0, 0, 0, 0, 0, 0, 1, 1 << 33, 1 << 33} {
		b = distAppendF64(b, f)
	}
	b = binary.AppendUvarint(b, 1)
	b = distAppendF64(distAppendF64(b, 1), 1<<33)
	var d Dist
	if err := d.UnmarshalState(b); !errors.Is(err, errDistState) {
		t.Fatalf("weight 2^33: %v, want a malformed-state error", err)
	}
}

// A used Dist's allocated parts fill allocator size classes exactly, and
// its inline part is 96 bytes.
func TestDistMemSize(t *testing.T) {
	if n := unsafe.Sizeof(distMem{}); n != 256 {
		t.Fatalf("distMem is %d bytes, want 256 (the 256-byte size class)", n)
	}
	if n := unsafe.Sizeof(level{}); n != 256 {
		t.Fatalf("level is %d bytes, want 256 (the 256-byte size class)", n)
	}
	if n := unsafe.Sizeof(Dist{}); n != 96 {
		t.Fatalf("Dist is %d bytes, want 96", n)
	}
}

// f32 rounds finite values to float32, clamps those beyond its range and
// keeps NaN and ±Inf's sign.
func TestF32(t *testing.T) {
	for _, c := range []struct{ in, want float64 }{
		{1.5, 1.5}, {-2, -2}, {0.1, float64(float32(0.1))}, {math.MaxFloat32, math.MaxFloat32},
		{math.MaxFloat64, math.MaxFloat32}, {-math.MaxFloat64, -math.MaxFloat32}, {1e39, math.MaxFloat32},
		{math.Inf(1), math.MaxFloat32}, {math.Inf(-1), -math.MaxFloat32}, {1e-50, 0},
	} {
		if got := float64(f32(c.in)); got != c.want {
			t.Errorf("f32(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if !math.IsNaN(float64(f32(math.NaN()))) {
		t.Error("f32(NaN) is not NaN")
	}
}
