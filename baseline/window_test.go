package baseline

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

var day0 = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC).Unix()

func TestCounterRoll(t *testing.T) {
	const size = 300
	var c Counter
	if _, ok := c.Roll(day0+10, size); ok || c.Start != day0 {
		t.Fatalf("first roll: ok=%v start=%d", ok, c.Start)
	}
	c.N = 7
	tests := []struct {
		name            string
		at              int64
		wantOK          bool
		wantStart       int64 // closed start
		wantN           uint32
		wantGap         int64
		wantCurrentFrom int64
	}{
		{"same window", day0 + 299, false, 0, 0, 0, day0},
		{"late record", day0 - 20, false, 0, 0, 0, day0},
		{"next window", day0 + 300, true, day0, 7, 0, day0 + 300},
		{"after gap of 3", day0 + 300 + 4*300 + 1, true, day0 + 300, 0, 3, day0 + 1500},
	}
	for _, tc := range tests {
		cl, ok := c.Roll(tc.at, size)
		if ok != tc.wantOK || cl.Start != tc.wantStart || cl.N != tc.wantN || cl.Gap != tc.wantGap || c.Start != tc.wantCurrentFrom {
			t.Errorf("%s: got ok=%v %+v start=%d", tc.name, ok, cl, c.Start)
		}
	}
}

func TestAlignAndHour(t *testing.T) {
	tests := []struct {
		t, size, want int64
	}{{10, 300, 0}, {299, 300, 0}, {300, 300, 300}, {-1, 300, -300}, {-300, 300, -300}}
	for _, tc := range tests {
		if got := AlignDown(tc.t, tc.size); got != tc.want {
			t.Errorf("AlignDown(%d,%d)=%d want %d", tc.t, tc.size, got, tc.want)
		}
	}
	for h := 0; h < 24; h++ {
		if got := HourSlot(day0 + int64(h)*3600 + 3599); got != h {
			t.Errorf("HourSlot hour %d = %d", h, got)
		}
	}
}

func TestProfileMeanPeakAndGap(t *testing.T) {
	rp := NewRateParams(5*time.Minute, 72*time.Hour, 168*time.Hour)
	var p Profile
	// First windows: plain running mean.
	for i, x := range []float64{2, 4, 6} {
		p.Update(3, x, &rp)
		if i == 2 && math.Abs(float64(p.Mean[3])-4) > 1e-6 {
			t.Fatalf("running mean = %v, want 4", p.Mean[3])
		}
	}
	if p.Peak[3] != 6 || p.Seen[3] != 3 || p.Windows != 3 {
		t.Fatalf("peak %v n %d windows %d", p.Peak[3], p.Seen[3], p.Windows)
	}
	// Peak decays with half-life 168h: 7 days * 12 updates/day halve it.
	for range 7 * 12 {
		p.Update(3, 0, &rp)
	}
	if got := float64(p.Peak[3]); math.Abs(got-3) > 0.01 {
		t.Fatalf("peak after one half-life = %v, want 3", got)
	}
	// Neighbouring slots feed Expect.
	var q Profile
	q.Update(7, 100, &rp)
	q.Update(8, 10, &rp)
	mean, peak, n := q.Expect(8, 0.5)
	if mean != 50 || peak != 100 || n != 1 {
		t.Fatalf("Expect = %v %v %d", mean, peak, n)
	}
	// A gap of 24 empty windows (2h) lands in slots 0 and 1.
	var g Profile
	g.UpdateGap(Closed{Start: day0 - 300, N: 5, Gap: 24}, 5, &rp)
	if g.Seen[23] != 1 || g.Seen[0] != 12 || g.Seen[1] != 12 || g.Seen[2] != 0 || g.Windows != 25 {
		t.Fatalf("gap slots: n23=%d n0=%d n1=%d n2=%d windows=%d", g.Seen[23], g.Seen[0], g.Seen[1], g.Seen[2], g.Windows)
	}
	// A huge gap is capped to MaxCatchUp windows.
	var h Profile
	h.UpdateGap(Closed{Start: day0, Gap: 1 << 40}, 1, &rp)
	if int64(h.Windows) != rp.MaxCatchUp+1 {
		t.Fatalf("catch-up windows = %d, want %d", h.Windows, rp.MaxCatchUp+1)
	}
}

// exactLogSF sums the Poisson pmf directly.
func exactLogSF(k int, lambda float64) float64 {
	cdf := 0.0
	for i := 0; i < k; i++ {
		lg, _ := math.Lgamma(float64(i) + 1)
		cdf += math.Exp(-lambda + float64(i)*math.Log(lambda) - lg)
	}
	return math.Log(1 - cdf)
}

func TestPoissonLogSF(t *testing.T) {
	tests := []struct {
		k      int
		lambda float64
	}{{3, 1}, {5, 2}, {10, 4}, {20, 4}, {12, 10}, {40, 20}}
	for _, tc := range tests {
		got, want := PoissonLogSF(tc.k, tc.lambda), exactLogSF(tc.k, tc.lambda)
		if math.Abs(got-want) > 1e-6*math.Max(1, math.Abs(want)) {
			t.Errorf("PoissonLogSF(%d,%v)=%v want %v", tc.k, tc.lambda, got, want)
		}
	}
	if PoissonLogSF(2, 5) != 0 || PoissonLogSF(0, 0) != 0 || !math.IsInf(PoissonLogSF(1, 0), -1) {
		t.Error("edge cases")
	}
	// Far tails stay finite (no underflow to -Inf through the pmf).
	if v := PoissonLogSF(5000, 4); math.IsInf(v, 0) || v > -1000 {
		t.Errorf("far tail = %v", v)
	}
}

func TestPoissonCritical(t *testing.T) {
	logP := math.Log(1e-6)
	for _, lambda := range []float64{0.01, 0.5, 1, 4, 17.3, 100, 999} {
		k := PoissonCritical(lambda, logP)
		if PoissonLogSF(k, lambda) > logP || (k > 1 && PoissonLogSF(k-1, lambda) <= logP) {
			t.Errorf("lambda %v: k=%d sf(k)=%v sf(k-1)=%v", lambda, k, PoissonLogSF(k, lambda), PoissonLogSF(k-1, lambda))
		}
	}
	// Approximation above 1000 lands within a few counts of the exact tail.
	k := PoissonCritical(5000, logP)
	if sf := PoissonLogSF(k, 5000); sf > logP+1 || sf < logP-2 {
		t.Errorf("approx critical %d has ln sf %v, want about %v", k, sf, logP)
	}
	if PoissonCritical(0, logP) != 1 {
		t.Error("lambda 0")
	}
}

func TestTopKHeavyHitter(t *testing.T) {
	var m TopK
	heavy := HashString("sha256:loop")
	var last uint32
	for i := range 1000 {
		if i%3 == 0 {
			last = m.Add(heavy)
		} else {
			m.Add(uint64(i) * 0x9E3779B97F4A7C15)
		}
	}
	// 334 of 1000: the estimate is within n/5 of the truth.
	if last < 334-200 || last > 334 || m.Max() != last {
		t.Fatalf("heavy estimate %d max %d", last, m.Max())
	}
	m.Reset()
	if m.Max() != 0 || m.Add(0) != 1 {
		t.Fatal("reset / zero hash")
	}
}

func TestHashStringIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "sha256:abc123def456"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got := HashString(s); got != h.Sum64() {
			t.Errorf("%q: %x want %x", s, got, h.Sum64())
		}
	}
}

func TestPrimitivesDoNotAllocate(t *testing.T) {
	rp := NewRateParams(5*time.Minute, 72*time.Hour, 168*time.Hour)
	var c Counter
	var p Profile
	var m TopK
	ts := day0
	allocs := testing.AllocsPerRun(1000, func() {
		ts += 7
		if cl, ok := c.Roll(ts, rp.Size); ok {
			p.UpdateGap(cl, float64(cl.N), &rp)
		}
		c.N++
		m.Add(HashString("sha256:abc"))
	})
	if allocs != 0 {
		t.Fatalf("allocs per op = %v", allocs)
	}
	if sz := unsafe.Sizeof(p) + unsafe.Sizeof(c) + unsafe.Sizeof(m); sz > 512 {
		t.Fatalf("primitives take %d bytes", sz)
	}
}

func BenchmarkRollAdd(b *testing.B) {
	rp := NewRateParams(5*time.Minute, 72*time.Hour, 168*time.Hour)
	var c Counter
	var p Profile
	ts := day0
	b.ReportAllocs()
	for b.Loop() {
		ts++
		if cl, ok := c.Roll(ts, rp.Size); ok {
			p.UpdateGap(cl, float64(cl.N), &rp)
		}
		c.N++
	}
}

// Long gaps are fed in closed form; they must match feeding every empty
// window (counts exactly, levels up to float32 rounding).
func TestUpdateGapClosedFormMatchesSteps(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, size := range []time.Duration{time.Minute, 5 * time.Minute, 90 * time.Minute, 2 * time.Hour} {
		rp := NewRateParams(size, 72*time.Hour, 7*24*time.Hour)
		for trial := range 40 {
			var p Profile
			start := AlignDown(1_700_000_000, rp.Size)
			for i := range int64(rng.IntN(3000)) { // young to mature profiles
				p.Update(HourSlot(start+i*rp.Size), float64(rng.IntN(50)), &rp)
			}
			g := int64(zeroRun + 1 + rng.IntN(3000))
			cl := Closed{Start: start, N: 7, Gap: g}
			want := p
			want.UpdateGap(Closed{Start: start, N: 7}, 7, &rp)
			from := start + rp.Size
			if g > rp.MaxCatchUp {
				from += (g - rp.MaxCatchUp) * rp.Size
			}
			for i := range min(g, rp.MaxCatchUp) {
				want.Update(HourSlot(from+i*rp.Size), 0, &rp)
			}
			got := p
			got.UpdateGap(cl, 7, &rp)
			if got.Seen != want.Seen || got.Windows != want.Windows {
				t.Fatalf("size %v trial %d: counts %v/%d, want %v/%d", size, trial, got.Seen, got.Windows, want.Seen, want.Windows)
			}
			near := func(a, b float32) bool { return math.Abs(float64(a-b)) <= 1e-4*math.Max(1e-6, math.Abs(float64(b))) }
			for s := range Slots {
				if !near(got.Mean[s], want.Mean[s]) || !near(got.Peak[s], want.Peak[s]) {
					t.Fatalf("size %v trial %d slot %d: mean %v peak %v, want %v %v", size, trial, s, got.Mean[s], got.Peak[s], want.Mean[s], want.Peak[s])
				}
			}
			if !near(got.Overall, want.Overall) {
				t.Fatalf("size %v trial %d: overall %v, want %v", size, trial, got.Overall, want.Overall)
			}
		}
	}
}
