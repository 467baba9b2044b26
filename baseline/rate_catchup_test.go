package baseline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The window-by-window reference of Rate.Roll's gap catch-up and of the
// seasonal expectation, as they were before closeEmpty and seasonalAll:
// the fast paths must reproduce them bit for bit.

func (r *Rate) refSlotExp(slot int, rp *RateParams) float64 {
	o := float64(r.Sc[0].Mean)
	if int(r.Profile.Seen[slot]) < rp.MinSlotWindows {
		return o
	}
	k := slotPrior / math.Max(o, 1e-3)
	shrunk := func(s int) float64 {
		n := float64(r.Profile.Seen[s])
		return (n*float64(r.Profile.Mean[s]) + k*o) / (n + k)
	}
	prev, next := (slot+Slots-1)%Slots, (slot+1)%Slots
	return math.Max(shrunk(slot), rp.Neighbour*math.Max(shrunk(prev), shrunk(next)))
}

func (r *Rate) refSeasonal(start int64, n int, rp *RateParams) float64 {
	var s float64
	for t := start; n > 0; {
		k := 1
		if rp.Size < 3600 {
			k = min(int((t-AlignDown(t, 3600))/rp.Size)+1, n)
		}
		s += float64(k) * r.refSlotExp(HourSlot(t), rp)
		n -= k
		t -= int64(k) * rp.Size
	}
	return s
}

func (r *Rate) refClose(start int64, x, xl uint32, armed bool, rp *RateParams) {
	var mu [MaxScales]float64
	for s := 0; s < rp.Scales; s++ {
		if armed {
			mu[s] = float64(r.Sc[s].Mu)
		} else {
			mu[s] = r.refSeasonal(start, rp.N[s], rp)
		}
	}
	r.Profile.refUpdate(HourSlot(start), float64(xl), rp)
	r.Ring[r.Pos] = uint16(min(x, math.MaxUint16))
	r.Pos = uint8((int(r.Pos) + 1) % RingLen)
	a := math.Max(rp.OverallAlpha, 1/float64(r.Windows))
	for s := 0; s < rp.Scales; s++ {
		st := &r.Sc[s]
		n := rp.N[s]
		if int(r.Windows) < n {
			continue
		}
		sum := float64(r.ringSum(n))
		if armed && st.Crit > 0 {
			sum = math.Min(sum, float64(st.Crit))
		}
		d := sum - float64(st.Mean)
		st.Mean += float32(a * d)
		st.Var = float32((1 - a) * (float64(st.Var) + a*d*d))
		e := (sum-mu[s])*(sum-mu[s]) - sum
		st.Res += float32(a * (e - float64(st.Res)))
		st.MuSq += float32(a * (mu[s]*mu[s] - float64(st.MuSq)))
		pk := float64(st.Peak) * rp.WinPeakDecay
		if sum > pk {
			pk += (sum - pk) / float64(n+1)
		}
		st.Peak = float32(pk)
	}
}

func (p *Profile) refUpdate(slot int, x float64, rp *RateParams) {
	if p.Seen[slot] < math.MaxUint16 {
		p.Seen[slot]++
	}
	a := math.Max(rp.Alpha, 1/float64(p.Seen[slot]))
	p.Mean[slot] += float32(a * (x - float64(p.Mean[slot])))
	pk := float64(p.Peak[slot]) * rp.PeakDecay
	p.Peak[slot] = float32(math.Max(pk, x))
	if p.Windows < math.MaxUint32 {
		p.Windows++
	}
	oa := math.Max(rp.OverallAlpha, 1/float64(p.Windows))
	p.Overall += float32(oa * (x - float64(p.Overall)))
}

func (r *Rate) refRoll(t int64, rp *RateParams) (Closed, bool) {
	return r.rollWith(t, rp, (*Rate).refClose)
}

// slowRoll is Roll closing every window with close (no closeEmpty): keeps
// closeEmpty tied to close when the model changes.
func (r *Rate) slowRoll(t int64, rp *RateParams) (Closed, bool) {
	return r.rollWith(t, rp, (*Rate).close)
}

func (r *Rate) rollWith(t int64, rp *RateParams, close func(*Rate, int64, uint32, uint32, bool, *RateParams)) (Closed, bool) {
	cl, ok := r.Counter.Roll(t, rp.Size)
	if r.First == 0 {
		r.First = r.Start
	}
	if !ok {
		return cl, false
	}
	x := cl.N
	own := r.ArmedAt == cl.Start && !r.Borrowed
	if own && r.Sc[0].Crit > 0 && x > r.Sc[0].Crit {
		x = r.Sc[0].Crit
	}
	xl := x
	if own && rp.LearnLogP < 0 {
		xl = r.learnCap(x, rp)
	}
	close(r, cl.Start, x, xl, own, rp)
	g, from := cl.Gap, cl.Start+rp.Size
	if g > rp.MaxCatchUp {
		from += (g - rp.MaxCatchUp) * rp.Size
		g = rp.MaxCatchUp
	}
	for i := int64(0); i < g; i++ {
		close(r, from+i*rp.Size, 0, 0, false, rp)
	}
	return cl, true
}

// rateBits is r's exact bit pattern (floats by bits, so -0 and NaN count).
func rateBits(t *testing.T, r *Rate) []byte {
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// randomRate is a Rate in a random but reachable-looking state: sparse and
// busy slots, slots below MinSlotWindows, zero and tiny overall levels,
// full and partly filled rings, armed or not.
func randomRate(rng *rand.Rand, rp *RateParams, start int64) Rate {
	var r Rate
	level := []float64{0, 1e-4, 0.02, 0.7, 3, 40, 900}[rng.IntN(7)]
	for s := range Slots {
		if rng.IntN(4) > 0 {
			r.Profile.Mean[s] = float32(level * rng.Float64() * 2)
		}
		r.Profile.Peak[s] = float32(level * 3 * rng.Float64())
		r.Profile.Seen[s] = uint16(rng.IntN(3 * max(rp.MinSlotWindows, 1)))
	}
	r.Profile.Windows = uint32(rng.IntN(200))
	if rng.IntN(2) == 0 {
		r.Profile.Windows = uint32(rng.IntN(1 << 20))
	}
	r.Profile.Overall = float32(level)
	for i := range r.Ring {
		if rng.IntN(3) == 0 {
			r.Ring[i] = uint16(rng.IntN(int(level*4) + 2))
		}
	}
	if rng.IntN(20) == 0 {
		r.Ring[rng.IntN(RingLen)] = math.MaxUint16
	}
	r.Pos = uint8(rng.IntN(RingLen))
	for s := range r.Sc {
		m := level * float64(rp.N[s])
		r.Sc[s] = ScaleStats{
			Mean: float32(m * rng.Float64() * 2), Var: float32(m * (1 + 3*rng.Float64())),
			Res: float32(m * (rng.Float64() - 0.3)), MuSq: float32(m * m * rng.Float64()),
			Peak: float32(m * 4 * rng.Float64()), Mu: float32(m), M: float32(m), KS: 0.1, KA: 0.2,
		}
		if rng.IntN(2) == 0 {
			r.Sc[s].Crit = uint32(m*3) + 1
		}
	}
	r.Start = start
	r.N = uint32(rng.IntN(int(level*6) + 2))
	r.First = start - int64(rng.IntN(400000))
	if rng.IntN(2) == 0 {
		r.ArmedAt = start
	}
	r.Borrowed = rng.IntN(4) == 0
	return r
}

// blankRate is r with every level +0 (a key that never had an event),
// sometimes with one level at -0 or a recent window counted, which must
// take the full path.
func blankRate(rng *rand.Rand, r Rate) Rate {
	r.Sc = [MaxScales]ScaleStats{}
	r.Profile.Mean, r.Profile.Peak, r.Profile.Overall = [Slots]float32{}, [Slots]float32{}, 0
	r.N, r.Borrowed = 0, false
	for i := range r.Ring {
		r.Ring[i] = 0
	}
	if rng.IntN(2) == 0 {
		// Residual moments left by an armed expectation (a blank denial
		// key), equal or not, some scales only.
		for s := range MaxScales {
			if rng.IntN(3) > 0 {
				r.Sc[s].Res = float32(rng.ExpFloat64())
				r.Sc[s].MuSq = r.Sc[s].Res
				if rng.IntN(2) == 0 {
					r.Sc[s].MuSq = float32(rng.ExpFloat64() * 1e-3)
				}
			}
		}
	}
	if rng.IntN(3) > 0 {
		return r
	}
	negZero := float32(math.Copysign(0, -1))
	switch rng.IntN(5) {
	case 0:
		r.Sc[rng.IntN(MaxScales)].Res = negZero
	case 1:
		r.Profile.Mean[rng.IntN(Slots)] = negZero
	case 2:
		r.Profile.Overall = negZero
	case 3:
		r.Ring[(int(r.Pos)+RingLen-1-rng.IntN(RingLen))%RingLen] = 1 // in some scale's sum, or older
	case 4:
		r.Profile.Peak[rng.IntN(Slots)] = 1e-30
	}
	return r
}

// Rolls over gaps of every length (up to past MaxCatchUp), at window
// sizes below, at and above an hour and with one to three scales:
//
//   - a lazy Roll over the gap leaves exactly (bit for bit, Quiet
//     included) the state of rolling window by window (eager ticks), and
//     so does settling both;
//   - while no window was quiet it leaves exactly the state of the
//     window-by-window reference (the code before closeEmpty), and the
//     reference equals closing every window with close;
//   - settled, a quiet run matches the stepped reference up to rounding:
//     the windows' counts exactly, decayed levels to 1e-4 (float32 steps),
//     Res−MuSq (what the run teaches the dispersion) alike; MuSq learns the
//     seasonal expectation of each hour's middle window, so it is only
//     checked to be within a factor of 4 of the reference's (a young
//     slot's mean falls as 1/windows within its hour).
func TestRollCatchUpMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	quiet := 0
	for _, tc := range []struct {
		size time.Duration
		long []time.Duration
	}{
		{5 * time.Minute, []time.Duration{time.Hour}},
		{5 * time.Minute, []time.Duration{time.Hour, 6 * time.Hour}},
		{time.Minute, nil},
		{45 * time.Minute, []time.Duration{3 * time.Hour, 54 * time.Hour}},
		{time.Hour, []time.Duration{24 * time.Hour, 72 * time.Hour}},
		{2 * time.Hour, []time.Duration{48 * time.Hour}},
		{10 * time.Second, []time.Duration{time.Minute, 12 * time.Minute}},
	} {
		cfg := SpikeConfig{Window: tc.size, LongWindows: tc.long, NeighbourWeight: 0.5, MinSlotWindows: 6,
			HalfLife: 72 * time.Hour, PeakHalfLife: 168 * time.Hour}
		rp := cfg.RateParams()
		if rng.IntN(2) == 0 {
			rp.LearnLogP = 0
		}
		sz := rp.Size
		for i := range 300 {
			start := AlignDown(1_700_000_000+int64(rng.IntN(30*86400)), sz)
			r := randomRate(rng, &rp, start)
			if i%4 == 3 {
				r = blankRate(rng, r)
			}
			gap := int64(rng.IntN(100))
			switch i % 10 {
			case 0:
				gap = rp.MaxCatchUp + int64(rng.IntN(50)) // beyond the catch-up bound
			case 1:
				gap = int64(rng.IntN(int(min(rp.MaxCatchUp, 3000))))
			}
			at := start + (gap+1)*sz + int64(rng.IntN(int(sz)))
			want, slow, eager := r, r, r
			wcl, wok := want.refRoll(at, &rp)
			slow.slowRoll(at, &rp)
			gcl, gok := r.Roll(at, &rp)
			if gcl != wcl || gok != wok {
				t.Fatalf("size %v case %d: Roll returned %+v %v, reference %+v %v", tc.size, i, gcl, gok, wcl, wok)
			}
			if !bytes.Equal(rateBits(t, &slow), rateBits(t, &want)) {
				t.Fatalf("size %v case %d: close differs from the reference", tc.size, i)
			}
			if gap <= rp.MaxCatchUp {
				for w := start + sz; w <= at; w += sz {
					eager.Roll(min(w, at), &rp)
				}
				eager.Roll(at, &rp)
				if !bytes.Equal(rateBits(t, &r), rateBits(t, &eager)) {
					t.Fatalf("size %v scales %v case %d gap %d: lazy roll differs from eager rolls\nlazy  %+v quiet %d\neager %+v quiet %d",
						tc.size, rp.N, i, gap, r.Sc, r.Quiet, eager.Sc, eager.Quiet)
				}
				eager.Settle(&rp)
			}
			if r.Quiet == 0 {
				if !bytes.Equal(rateBits(t, &r), rateBits(t, &want)) {
					t.Fatalf("size %v scales %v case %d gap %d: state differs from the reference\ngot  %+v\nwant %+v",
						tc.size, rp.N, i, gap, r.Sc, want.Sc)
				}
			} else {
				quiet++
				r.Settle(&rp)
				if gap <= rp.MaxCatchUp && !bytes.Equal(rateBits(t, &r), rateBits(t, &eager)) {
					t.Fatalf("size %v case %d gap %d: settled lazy roll differs from settled eager rolls", tc.size, i, gap)
				}
				if err := closeToReference(&r, &want); err != "" {
					t.Fatalf("size %v scales %v case %d gap %d: settled state: %s\ngot  %+v\nwant %+v",
						tc.size, rp.N, i, gap, err, r.Sc, want.Sc)
				}
			}
			// The seasonal expectations Arm reads are the reference's
			// walk on the same state.
			var mu [MaxScales]float64
			e := slotExps{r: &r, rp: &rp}
			r.seasonalAll(r.Start, hourPos(r.Start, &rp), &rp, &e, &mu)
			for s := 0; s < rp.Scales; s++ {
				if w := r.refSeasonal(r.Start, rp.N[s], &rp); math.Float64bits(mu[s]) != math.Float64bits(w) {
					t.Fatalf("size %v case %d scale %d: seasonal %v, reference %v", tc.size, i, s, mu[s], w)
				}
			}
		}
	}
	if quiet < 300 {
		t.Fatalf("only %d cases had quiet windows", quiet)
	}
}

// closeToReference compares a settled Rate with the stepped reference
// (see TestRollCatchUpMatchesReference); "" when they agree.
func closeToReference(got, want *Rate) string {
	near := func(a, b float32, rel float64) bool {
		x, y := float64(a), float64(b)
		return math.Abs(x-y) <= rel*max(math.Abs(x), math.Abs(y))+1e-30
	}
	g, w := *got, *want
	for s := range Slots {
		if !near(g.Profile.Mean[s], w.Profile.Mean[s], 1e-4) || !near(g.Profile.Peak[s], w.Profile.Peak[s], 1e-4) {
			return fmt.Sprintf("slot %d: mean %v peak %v, reference %v %v", s, g.Profile.Mean[s], g.Profile.Peak[s], w.Profile.Mean[s], w.Profile.Peak[s])
		}
	}
	if !near(g.Profile.Overall, w.Profile.Overall, 1e-4) {
		return fmt.Sprintf("overall %v, reference %v", g.Profile.Overall, w.Profile.Overall)
	}
	for s := range MaxScales {
		a, b := &g.Sc[s], &w.Sc[s]
		if !near(a.Mean, b.Mean, 1e-4) || !near(a.Var, b.Var, 1e-4) || !near(a.Peak, b.Peak, 1e-4) {
			return fmt.Sprintf("scale %d: mean, var, peak", s)
		}
		d, dw := float64(a.Res)-float64(a.MuSq), float64(b.Res)-float64(b.MuSq)
		if math.Abs(d-dw) > 1e-4*max(math.Abs(float64(a.MuSq)), math.Abs(float64(b.MuSq)), math.Abs(d))+1e-30 {
			return fmt.Sprintf("scale %d: Res−MuSq %v, reference %v", s, d, dw)
		}
		if a.MuSq > 4*b.MuSq+1e-30 || b.MuSq > 4*a.MuSq+1e-30 {
			return fmt.Sprintf("scale %d: MuSq %v, reference %v", s, a.MuSq, b.MuSq)
		}
		a.Mean, a.Var, a.Peak, a.Res, a.MuSq = b.Mean, b.Var, b.Peak, b.Res, b.MuSq
	}
	g.Profile.Mean, g.Profile.Peak, g.Profile.Overall = w.Profile.Mean, w.Profile.Peak, w.Profile.Overall
	if g != w {
		return "counts, ring or thresholds differ"
	}
	return ""
}

// decayRun.decay is the product of the steps' factors.
func TestDecayRunMatchesProduct(t *testing.T) {
	for _, tc := range []struct {
		alpha float64
		limit int64
	}{{8e-4, math.MaxUint32}, {0.019, math.MaxUint16}, {1e-6, math.MaxUint16}, {0.5, 10}, {1, math.MaxUint16}} {
		d := newDecayRun(tc.alpha, tc.limit)
		for _, w := range []int64{0, 1, 2, 5, 50, 52, 53, 1240, 1250, 65530, 65535, 70000} {
			for _, n := range []int64{0, 1, 2, 12, 63, 64, 200} {
				want := 1.0
				for j := w + 1; j <= w+n; j++ {
					want *= 1 - max(tc.alpha, 1/float64(min(j, tc.limit)))
				}
				if got := d.decay(w, n); math.Abs(got-want) > 1e-12*want+1e-300 {
					t.Fatalf("alpha %v limit %d: decay(%d, %d) = %v, product %v", tc.alpha, tc.limit, w, n, got, want)
				}
			}
		}
	}
}

// BenchmarkRollGap: one record 4 h after the previous one (48 skipped
// 5-minute windows), a key with events (levels > 0) and one that never had
// any (a denial key of an agent that is never denied), 2 or 3 scales;
// "ref" is the window-by-window reference.
func BenchmarkRollGap(b *testing.B) {
	type tc struct {
		name string
		long []time.Duration
		zero bool
	}
	var cases []tc
	for _, c := range []tc{
		{"scales=2", []time.Duration{time.Hour}, false},
		{"scales=3", []time.Duration{time.Hour, 6 * time.Hour}, false},
		{"scales=3/never", []time.Duration{time.Hour, 6 * time.Hour}, true},
	} {
		cases = append(cases, c)
		c.name = "ref/" + c.name
		cases = append(cases, c)
	}
	for _, bc := range cases {
		roll := (*Rate).Roll
		if strings.HasPrefix(bc.name, "ref/") {
			roll = (*Rate).refRoll
		}
		b.Run(bc.name, func(b *testing.B) {
			cfg := SpikeConfig{Window: 5 * time.Minute, LongWindows: bc.long, NeighbourWeight: 0.5, MinSlotWindows: 6,
				HalfLife: 72 * time.Hour, PeakHalfLife: 168 * time.Hour}
			rp := cfg.RateParams()
			var r Rate
			t := int64(1_700_000_000)
			for i := range 3 * 288 { // three days, a few events per window
				t += 300
				roll(&r, t, &rp)
				if !bc.zero {
					r.N = uint32(i % 5)
				}
			}
			b.ResetTimer()
			for range b.N {
				t += 4 * 3600
				roll(&r, t, &rp)
				if !bc.zero {
					r.N = 3
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/48, "ns/window")
		})
	}
}
