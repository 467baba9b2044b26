package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// youngDist learns n values of gen as a detector would (judged, then
// learned; ready from 200 values).
func youngDist(g *Digester, j *Judge, n int, gen func() float64) *Dist {
	var d Dist
	at := distBase
	for range n {
		x := gen()
		v := d.Judge(g, x, j, 0)
		d.Learn(g, x, at, &v, j, d.Count() >= 200, true)
		at = at.Add(time.Minute)
	}
	return &d
}

func logNormalGen(rng *rand.Rand, median, sigma float64) func() float64 {
	return func() float64 { return median * math.Exp(sigma*rng.NormFloat64()) }
}

// paretoGen: log-normal body (median 100, σ 0.5) with the top 1% a pure
// Pareto tail of index alpha above its p99, the scale-free worst case of
// the young rule's false-alarm argument.
func paretoGen(rng *rand.Rand, alpha float64) func() float64 {
	u := 100 * math.Exp(0.5*2.326)
	return func() float64 {
		if rng.Float64() < 0.01 {
			return u * math.Pow(1-rng.Float64(), -1/alpha)
		}
		return min(100*math.Exp(0.5*rng.NormFloat64()), u)
	}
}

func TestEgregiousMaxReach(t *testing.T) {
	for _, tc := range []struct{ n, want float64 }{
		{300, 1.5 * math.Log(16) / math.Log(3)}, {400, 3}, {800, 2}, {1600, 1.5}, {1e6, 1.5},
	} {
		if got := egregiousMaxReach(tc.n, false); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("egregiousMaxReach(%v) = %v, want %v", tc.n, got, tc.want)
		}
	}
}

// Young Dists (issue 9, youngtail): from 300 values a far value is
// egregious without a fitted tail, when it clears the learned maximum by
// egregiousMaxReach; below 300 never.
func TestEgregiousYoung(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	for _, tc := range []struct {
		name string
		n    int
		gen  func(*rand.Rand) func() float64
		x    float64
		want int // seeds of 20 on which x scores ≥ EgregiousDecades, at least
		most int // at most
	}{
		// 28 s against the fleet's metrics_query (median 200 ms): at σ 0.8
		// (p99 1.3 s) always; at σ 1 (p99 2 s) 28 s is barely beyond
		// p99²/p50 ≈ 21 s, and a young t-digest's p99 errs high, so only
		// most seeds.
		{"28 s, σ0.8, 850 values", 850, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 0.8) }, 28000, 19, 20},
		{"28 s, σ0.8, 300 values", 300, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 0.8) }, 28000, 18, 20},
		{"28 s, σ1, 850 values", 850, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 1) }, 28000, 12, 20},
		{"28 s, σ1, 500 values", 500, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 1) }, 28000, 12, 20},
		{"28 s, σ0.8, 299 values: too young", 299, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 0.8) }, 28000, 0, 0},
		// 5× p99 is not an order of magnitude beyond it.
		{"5× p99, σ0.5, 850 values", 850, func(r *rand.Rand) func() float64 { return logNormalGen(r, 200, 0.5) }, 5 * 200 * math.Exp(0.5*2.326), 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := 0
			for seed := range uint64(20) {
				rng := rand.New(rand.NewPCG(seed, 21))
				d := youngDist(g, &j, tc.n, tc.gen(rng))
				v := d.Judge(g, tc.x, &j, 0)
				if v.Decades >= EgregiousDecades {
					hits++
				} else if tc.want > 0 {
					b, _ := d.egregiousBound(&v.Fit, d.Count() < egregiousMinCount)
					t.Logf("seed %d: %.1f decades, log excess %.2f, bound %.2f, max excess %.2f × reach %.2f",
						seed, v.Decades, v.y-v.Fit.LnU, b, LogValue(max(d.prevMax, d.curMax))-v.Fit.LnU, egregiousMaxReach(d.Count(), false))
				}
			}
			t.Logf("%d of 20 egregious", hits)
			if hits < tc.want || hits > tc.most {
				t.Fatalf("%d of 20 seeds egregious, want %d–%d", hits, tc.want, tc.most)
			}
		})
	}
}

// The young rule's false-alarm rate on its worst case, a pure Pareto tail
// above p99 (α 0.8–2), is no higher than the mature rule's: fresh values
// of the key's own distribution judged after 300, 400, 800 and 1,200 values
// are egregious at most 1.5× as often (Poisson noise of ~40 counts) as
// after 2,200 values, under the rule as it applied before (measured: 0.5–6·10⁻⁴
// for both; the ζ·16^(−1.5) ≈ 1.6·10⁻⁴ of the argument is at the typical
// maximum, and the maximum's spread lifts the mean).
func TestEgregiousYoungParetoFalseRate(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	const seeds, probes = 40, 2000
	rate := func(n int, alpha float64) float64 {
		hits := 0
		for seed := range uint64(seeds) {
			rng := rand.New(rand.NewPCG(seed, uint64(n)))
			gen := paretoGen(rng, alpha)
			d := youngDist(g, &j, n, gen)
			for range probes {
				if v := d.Judge(g, gen(), &j, 0); v.Egregious {
					hits++
				}
			}
		}
		return float64(hits) / (seeds * probes)
	}
	for _, alpha := range []float64{0.8, 1, 2} {
		mature := rate(2200, alpha) // all in two 24 h epochs: the mature rule
		if mature == 0 {
			t.Fatalf("premise: α %.1f: no egregious value after 2,200 values", alpha)
		}
		for _, n := range []int{300, 400, 800, 1200} {
			r := rate(n, alpha)
			t.Logf("α %.1f: false egregious rate %.1e after %d values, %.1e after 2,200", alpha, r, n, mature)
			if r > 1.5*mature {
				t.Errorf("α %.1f, %d values: false egregious rate %.1e, want ≤ 1.5 × %.1e (2,200 values)", alpha, n, r, mature)
			}
		}
	}
}

// A young key's egregious verdict does not survive pooling: where its
// tool has a baseline the young rule speaks only through the tool's, while
// a mature key's critical verdict stands when the tool's bound agrees.
func TestEgregiousYoungPool(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(1, 21))
	young := youngDist(g, &j, 500, logNormalGen(rng, 200, 0.8))
	mature := youngDist(g, &j, 2200, logNormalGen(rng, 200, 0.8)) // two epochs of 24 h hold all
	for _, tc := range []struct {
		name string
		key  *Dist
		want bool
	}{
		{"young key", young, false},
		{"mature key", mature, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.key.Judge(g, 28000, &j, 0)
			if v.Decades < EgregiousDecades {
				t.Fatalf("premise: 28 s not critical on its own: %+v", v)
			}
			pool := mature.Judge(g, 28000, &j, 0)
			if !pool.Beyond() {
				t.Fatalf("premise: 28 s not beyond the pool's bound: %+v", pool)
			}
			v.Pool(&pool)
			if got := v.Decades >= EgregiousDecades; got != tc.want {
				t.Fatalf("pooled: critical %v (%.1f decades), want %v", got, v.Decades, tc.want)
			}
		})
	}
}

// The fallback tail's slope is at least a log-normal body's of the Dist's
// robust scale: a young digest whose p90 and p99 nearly coincide no longer
// gets the σ floor of 0.1 (which called 3.4× p99 seven decades improbable
// on a σ 0.8 key of 300 values), while a tail heavier than the body keeps
// its p90–p99 slope.
func TestFallbackSlopeFromBody(t *testing.T) {
	q := func(med, s, z90, z99 float64) Quantiles {
		return Quantiles{P10: med * math.Exp(-1.2816*s), P50: med, P90: med * math.Exp(z90*s), P99: med * math.Exp(z99*s), Count: 300, Folded: 300}
	}
	for _, tc := range []struct {
		name      string
		q         Quantiles
		min, max  float64 // fitted σ
		decades34 [2]float64
	}{
		// Exact log-normal quantiles (σ 0.8): both slopes agree, 0.363.
		{"log-normal", q(900, 0.8, 1.2816, 2.3263), 0.36, 0.37, [2]float64{3, 4}},
		// A young digest's p90 close to its p99 (and so a wider robust
		// scale): the body's slope holds, not the σ floor of 0.1.
		{"p90 near p99", q(900, 0.8, 2.1, 2.3263), 0.47, 0.49, [2]float64{3, 4}},
		// A heavy tail above p90 (p99 at 4σ): its own, wider slope.
		{"heavy tail", q(900, 0.8, 1.2816, 4), 0.94, 0.95, [2]float64{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fitTail(tc.q, nil)
			if !f.Fallback || f.Sigma < tc.min || f.Sigma > tc.max {
				t.Fatalf("fallback σ %.3f (fallback %v), want %.2f..%.2f", f.Sigma, f.Fallback, tc.min, tc.max)
			}
			// 3.4× p99, the seed-6 false alert's value.
			if d := f.Decades(LogValue(3.4 * tc.q.P99)); d < tc.decades34[0] || d > tc.decades34[1] {
				t.Fatalf("3.4× p99 scored %.2f decades, want %v", d, tc.decades34)
			}
		})
	}
}

// A young Dist's p99²/p50 condition takes the width at p99 from the
// body's robust scale when that is less (its p99 rests on a few values);
// a mature Dist keeps its p99's.
func TestEgregiousYoungWidth(t *testing.T) {
	ln := math.Log1p
	for _, tc := range []struct {
		name  string
		f     TailFit
		young bool
		want  float64
	}{
		// fleet seed 8's metrics_query: digest p99 2,588 ms, p50 217, s 0.991.
		{"young, p99 high", TailFit{LnU: ln(2588), LnP50: ln(217), Scale: 0.991, Valid: true}, true, 2.3263 * 0.991},
		{"mature, p99 high", TailFit{LnU: ln(2588), LnP50: ln(217), Scale: 0.991, Valid: true}, false, ln(2588) - ln(217)},
		// p99 below the scale's width: the p99's.
		{"young, p99 low", TailFit{LnU: ln(3000), LnP50: ln(217), Scale: 1.2, Valid: true}, true, ln(3000) - ln(217)},
		// never below an order of magnitude.
		{"young, narrow body", TailFit{LnU: ln(2000), LnP50: ln(217), Scale: 0.3, Valid: true}, true, math.Ln10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Dist{distMem: new(distMem)} // an empty tail ring
			if b, _ := d.egregiousBound(&tc.f, tc.young); math.Abs(b-tc.want) > 1e-9 {
				t.Fatalf("bound %.4f, want %.4f", b, tc.want)
			}
		})
	}
}
