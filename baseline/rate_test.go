package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"
)

// exactNBLogSF sums the negative binomial pmf directly (long enough for
// the parameters below).
func exactNBLogSF(c int, mu, k float64) float64 {
	r := 1 / k
	q := k * mu / (1 + k*mu)
	var sum float64
	for x := c; x < c+200000; x++ {
		lg1, _ := math.Lgamma(float64(x) + r)
		lg2, _ := math.Lgamma(r)
		lg3, _ := math.Lgamma(float64(x) + 1)
		term := math.Exp(lg1 - lg2 - lg3 + r*math.Log1p(-q) + float64(x)*math.Log(q))
		sum += term
		if term < sum*1e-16 && x > c+10 {
			break
		}
	}
	return math.Log(sum)
}

func TestNBLogSF(t *testing.T) {
	for _, tc := range []struct {
		c     int
		mu, k float64
	}{
		{5, 1, 0.5}, {20, 1, 0.5}, {40, 12, 0.05}, {30, 0.6, 30}, {200, 0.6, 30},
		{3, 0.01, 100}, {1000, 300, 0.01}, {60, 2, 1},
	} {
		got, want := NBLogSF(tc.c, tc.mu, tc.k), exactNBLogSF(tc.c, tc.mu, tc.k)
		// Never smaller than the truth (conservative), and close to it.
		if got < want-1e-9 || got-want > 1e-6*math.Max(1, -want) {
			t.Errorf("NBLogSF(%d, %v, %v) = %v, exact %v", tc.c, tc.mu, tc.k, got, want)
		}
	}
	// k -> 0 is Poisson; c <= mu is not in the tail.
	if NBLogSF(20, 5, 0) != PoissonLogSF(20, 5) || NBLogSF(3, 5, 1) != 0 {
		t.Error("NB limits")
	}
}

func TestNBCritical(t *testing.T) {
	for _, tc := range []struct{ mu, k, p float64 }{
		{1, 0.5, 1e-6}, {12, 0.05, 1e-7}, {0.6, 30, 1e-6}, {50, 2, 1e-8}, {0.001, 10, 1e-6},
	} {
		lp := math.Log(tc.p)
		c := NBCritical(tc.mu, tc.k, lp)
		exact := int(tc.mu) + 1
		for NBLogSF(exact, tc.mu, tc.k) > lp {
			exact++
		}
		// Significant, and at most a few percent above the exact critical
		// count (the search uses an upper bound of the tail).
		if c < exact || float64(c) > 1.05*float64(exact)+1 {
			t.Errorf("NBCritical(%v, %v, %v) = %d, exact %d", tc.mu, tc.k, tc.p, c, exact)
		}
	}
	// More dispersion moves the threshold out.
	if NBCritical(1, 0.1, math.Log(1e-6)) >= NBCritical(1, 10, math.Log(1e-6)) {
		t.Error("dispersion must raise the critical count")
	}
}

func testRule() (SpikeConfig, RateParams, SpikeRule) {
	c := SpikeConfig{Window: 5 * time.Minute, LongWindows: []time.Duration{time.Hour}, FalseAlarmRate: 1e-6,
		MinCount: 5, PeakRatio: 1.5, NeighbourWeight: 0.5, Warmup: 24 * time.Hour, MinSlotWindows: 6,
		HalfLife: 72 * time.Hour, PeakHalfLife: 168 * time.Hour, Hold: 6 * time.Hour}
	return c, c.RateParams(), c.Rule()
}

// feed drives r with Poisson(perWindow) counts for windows windows from
// t0, arming every window from r's own baseline once warm, and returns
// the time after the last window.
func feed(r *Rate, rng *rand.Rand, t0 int64, windows int, perWindow float64, rp *RateParams, s *SpikeRule) int64 {
	t := t0
	for i := 0; i < windows; i++ {
		r.Roll(t, rp)
		r.ArmSpike(s, rp, nil, nil)
		n := poisson(rng, perWindow)
		r.N += uint32(n)
		t += rp.Size
	}
	return t
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// critMax skips searches but must return exactly what the three-way max
// of full searches returns, over the parameters Arm meets: tiny to large
// expectations, Poisson to heavily overdispersed, floors below and above.
func TestCritMaxMatchesSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	skipped := 0
	for i := range 200000 {
		mu := []float64{0, 1e-4, 0.02, 0.5, 3, 40, 900, 1500, 2e5}[rng.IntN(9)] * (0.5 + rng.Float64())
		m := mu * (0.3 + 2*rng.Float64())
		if rng.IntN(10) == 0 {
			m = 0
		}
		kOf := func() float64 {
			switch rng.IntN(4) {
			case 0:
				return 0
			case 1:
				return 1e-7
			case 2:
				return rng.Float64() * 0.5
			}
			return rng.Float64() * 50
		}
		k1, k2 := kOf(), kOf()
		logP := -math.Ln10 * []float64{2, 4.5, 7, 9}[rng.IntN(4)]
		lo := 1 + rng.IntN(30)
		if rng.IntN(20) == 0 {
			lo = 1 << 30
		}
		want := max(NBCritical(mu, k1, logP), NBCritical(m, k2, logP), lo)
		if got := critMax(lo, mu, k1, m, k2, logP); got != want {
			t.Fatalf("case %d: critMax(%d, %v, %v, %v, %v, %v) = %d, searches give %d", i, lo, mu, k1, m, k2, logP, got, want)
		}
		if nbCriticalAtMost(lo, mu, k1, logP) && nbCriticalAtMost(lo, m, k2, logP) {
			skipped++
		}
	}
	if skipped < 1000 {
		t.Fatalf("premise: only %d cases decided by the floor", skipped)
	}
}

func TestRateLongScaleCatchesSustainedRise(t *testing.T) {
	_, rp, s := testRule()
	rng := rand.New(rand.NewPCG(1, 1))
	var r Rate
	// 12/h = 1 per 5m for three days.
	t0 := feed(&r, rng, day0, 3*288, 1, &rp, &s)
	if !r.Warm(&s) || r.Sc[1].Mean < 10 || r.Sc[1].Mean > 14 {
		t.Fatalf("warm %v, hourly mean %v", r.Warm(&s), r.Sc[1].Mean)
	}
	// x8 for 25 minutes: 8 per window. No single 5m window is extreme
	// enough; the 1h sum is.
	got := RateVerdict{Scale: -1}
	tt := t0
	for w := 0; w < 5 && got.Scale < 0; w++ {
		r.Roll(tt, &rp)
		r.ArmSpike(&s, &rp, nil, nil)
		if w == 0 && r.Sc[0].Crit <= 8 {
			t.Fatalf("a single x8 window already crosses the 5m scale (crit %d)", r.Sc[0].Crit)
		}
		for range 8 {
			if r.Hit() {
				if v := r.Judge(&rp, &s); v.Scale >= 0 {
					got = v
					break
				}
			}
		}
		tt += rp.Size
	}
	t.Logf("verdict %+v; 1h crit %d peak %.1f", got, r.Sc[1].Crit, r.Sc[1].Peak)
	if got.Scale != 1 || got.Decades < 6 {
		t.Fatalf("verdict %+v, want the 1h scale at >= 6 decades", got)
	}
}

func TestFireDamping(t *testing.T) {
	_, rp, s := testRule()
	const w = 300
	type step struct {
		start int64 // window index
		l     float64
		want  bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"sustained episode stays reported", []step{{0, 7, true}, {1, 7, true}, {2, 7, true}}},
		{"same window needs a decade more", []step{{0, 7, true}, {0, 7.5, false}, {0, 8.1, true}}},
		{"recurring bursts inside the hold are swallowed", []step{{0, 7, true}, {10, 7, false}, {30, 7, false}, {60, 7, false}}},
		{"escalation breaks the hold", []step{{0, 7, true}, {10, 9.5, true}}},
		{"after the hold a burst is news", []step{{0, 7, true}, {73, 7, true}}},
	} {
		var r Rate
		for i, st := range tc.steps {
			r.Start = day0 + st.start*w
			if got := r.Fire(st.l, rp.Size, &s); got != st.want {
				t.Errorf("%s: step %d: fire %v, want %v", tc.name, i, got, st.want)
			}
		}
	}
}

func TestArmSpikeSources(t *testing.T) {
	_, rp, s := testRule()
	rng := rand.New(rand.NewPCG(2, 2))
	var warm, cold Rate
	feed(&warm, rng, day0, 2*288, 4, &rp, &s)
	cold.Roll(warm.Start, &rp)
	var agents Profile
	for i := range agents.Mean {
		agents.Mean[i], agents.Seen[i] = 4, 10
	}
	cold.ArmSpike(&s, &rp, nil, nil)
	if cold.Thr != 0 || !cold.Borrowed {
		t.Errorf("cold without borrow: thr %d", cold.Thr)
	}
	cold.ArmSpike(&s, &rp, &warm, nil)
	total := cold.Thr
	cold.ArmSpike(&s, &rp, &warm, &agents)
	if !cold.Borrowed || cold.Thr == 0 || cold.Thr >= total {
		t.Errorf("borrowed per agent: thr %d (total %d)", cold.Thr, total)
	}
	warm.ArmSpike(&s, &rp, nil, nil)
	if warm.Borrowed || warm.Thr == 0 {
		t.Errorf("own: thr %d borrowed %v", warm.Thr, warm.Borrowed)
	}
}

func TestRateSize(t *testing.T) {
	if sz := unsafe.Sizeof(Rate{}); sz > 640 {
		t.Fatalf("Rate is %d bytes", sz)
	}
}

// A sustained moderate rise does not teach the hour slot it runs in beyond
// the suspect pace (Roll, SuspectP), while an ordinary window is learned
// unclipped.
func TestRateLearnCap(t *testing.T) {
	_, rp, s := testRule()
	for _, tc := range []struct {
		name      string
		perWindow int
		maxRise   float64 // largest allowed rise of the slot mean over 6 windows
		clipped   bool
	}{
		{"ordinary windows", 2, 0.5, false},
		{"x5 for 30 minutes", 10, 0.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(4, 4))
			var r Rate
			t0 := feed(&r, rng, day0, 3*288, 2, &rp, &s)
			slot := HourSlot(t0)
			before := float64(r.Profile.Mean[slot])
			tt := t0
			clipped := false
			for w := 0; w < 6; w++ {
				r.Roll(tt, &rp)
				r.ArmSpike(&s, &rp, nil, nil)
				r.N += uint32(tc.perWindow)
				if xl := r.learnCap(r.N, &rp); xl < r.N {
					clipped = true
				}
				tt += rp.Size
			}
			r.Roll(tt, &rp)
			rise := float64(r.Profile.Mean[slot]) - before
			t.Logf("slot mean %.2f -> %.2f", before, r.Profile.Mean[slot])
			if rise > tc.maxRise || clipped != tc.clipped {
				t.Errorf("slot mean rose %.2f (max %.2f), clipped %v (want %v)", rise, tc.maxRise, clipped, tc.clipped)
			}
		})
	}
	var r Rate
	r.Sc[1].Crit, r.Sc[1].Mu = 10, 1
	if got := r.learnCap(50, &rp); got >= 50 {
		t.Errorf("learnCap at an extreme sum: %d", got)
	}
}

// A long scale skipped for its pace re-arms Hit at the pace count instead
// of the doubled one, so a window that reaches the pace but not twice the
// last report is still judged.
func TestJudgePaceRearm(t *testing.T) {
	_, rp, s := testRule()
	var r Rate
	r.Start, r.ArmedAt = day0, day0
	r.Sc[0].Crit, r.Sc[0].Mu, r.Sc[0].M = 1000, 2, 2
	r.Sc[1].Crit, r.Sc[1].Base, r.Sc[1].Mu, r.Sc[1].M = 96, 95, 24, 24
	r.Thr, r.Next, r.N = 6, 6, 5
	if !r.Hit() {
		t.Fatal("no report at the threshold")
	}
	if v := r.Judge(&rp, &s); v.Scale >= 0 {
		t.Fatalf("judged below the pace: %+v", v)
	}
	if r.Next != 8 {
		t.Fatalf("next report at %d, want the pace count 8", r.Next)
	}
	for r.N < 7 {
		if r.Hit() {
			t.Fatalf("report at %d before the pace", r.N)
		}
	}
	if !r.Hit() || r.N != 8 {
		t.Fatalf("no report at the pace count (n %d)", r.N)
	}
	if v := r.Judge(&rp, &s); v.Scale != 1 || v.Sum != 103 {
		t.Fatalf("verdict at the pace %+v", v)
	}
}
