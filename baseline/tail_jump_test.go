package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Young tools' extremes (issue 9, latyoung): a young tool baseline (300–
// 1,600 values, no fitted tail) whose largest value is a lucky draw of a
// light log-normal tail (z 3.8–4, the fleet's held-out metrics_query:
// 8.7 s on a 191 ms median, 630 calls) must call a jump to 3× and 10× that
// maximum critical where the jump is beyond the false-alarm rate of the
// honest model (z ≥ 4.9) and an order of magnitude beyond p99, while fresh
// values of the tail families (log-normal σ 0.5–2, Pareto α 1.2–3 above
// p98, mixtures) stay within the rule's budget: 1.5·10⁻⁶ per value on
// light tails (the judge's 10⁻⁶ and a young digest's noise), and on
// Pareto tails no more than the mature rule allows them (5·10⁻⁴, the
// open gap of TestEgregiousTailFamilies). main's rule (reach
// 1.5·ln 16/ln(n/100) over the maximum whatever the shape) called none of
// the 3× jumps critical.
func TestEgregiousYoungJump(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	const seeds, probes = 16, 1500
	const light, heavy = 1.5e-6, 5e-4
	type share [2]float64 // [min, max] share of seeds critical
	any, none := share{0, 1}, share{0, 0}
	for _, tc := range []struct {
		name          string
		fam           tailFamily
		luckyZ        float64 // > 0: the largest value learned is the family's value at this z
		n             int
		maxRate       float64
		crit3, crit10 share // critical at 3× and 10× the learned maximum
	}{
		// The fleet's case: σ 1, maximum at z 3.8–4; 3× it is z 4.9–5.1.
		{"log-normal σ1, max z3.8", logNormalFamily(1), 3.8, 630, light, share{0.4, 1}, share{1, 1}},
		{"log-normal σ1, max z4", logNormalFamily(1), 4, 630, light, share{0.6, 1}, share{1, 1}},
		{"log-normal σ1, max z4, 1,200", logNormalFamily(1), 4, 1200, light, share{0.9, 1}, share{1, 1}},
		{"log-normal σ1, max z4, 400", logNormalFamily(1), 4, 400, light, share{0.3, 1}, share{0.75, 1}},
		{"log-normal σ0.8, max z4", logNormalFamily(0.8), 4, 630, light, share{0.4, 1}, share{1, 1}},
		// A typical maximum: 3× it is within the honest model's rate
		// (z ≈ 4.2–4.6 at σ 1) and must not be critical; 10× is.
		{"log-normal σ1, typical max", logNormalFamily(1), 0, 630, light, share{0, 0.1}, share{0.9, 1}},
		{"log-normal σ0.5, typical max", logNormalFamily(0.5), 0, 630, light, none, share{1, 1}},
		{"log-normal σ1.5, typical max", logNormalFamily(1.5), 0, 630, light, none, any},
		{"log-normal σ2, typical max", logNormalFamily(2), 0, 630, light, none, any},
		{"log-normal σ1.5, 300", logNormalFamily(1.5), 0, 300, light, none, any},
		{"log-normal σ2, 1,200", logNormalFamily(2), 0, 1200, light, none, any},
		// Heavy tails: 3× the maximum is ordinary for them.
		{"Pareto α1.2", paretoFamily(1.2), 0, 630, heavy, share{0, 0.25}, any},
		{"Pareto α1.5", paretoFamily(1.5), 0, 630, heavy, share{0, 0.25}, any},
		{"Pareto α2", paretoFamily(2), 0, 630, heavy, share{0, 0.25}, any},
		{"Pareto α3", paretoFamily(3), 0, 630, heavy, any, any},
		{"Pareto α1.2, 300", paretoFamily(1.2), 0, 300, heavy, share{0, 0.25}, any},
		{"Pareto α2, 1,200", paretoFamily(2), 0, 1200, heavy, share{0, 0.25}, any},
		{"mixture sql", tailFamily{{w: 0.85, median: 25, sigma: 0.7}, {w: 0.15, median: 4000, sigma: 1.8}}, 0, 630, heavy, none, any},
		{"mixture errors", tailFamily{{w: 0.92, median: 2500, sigma: 1.5}, {w: 0.08, median: 150, sigma: 0.3}}, 0, 630, light, none, any},
		{"mixture file reader", tailFamily{{w: 0.96, median: 12000, sigma: 1.8}, {w: 0.04, xm: 2e6, alpha: 1.1}}, 0, 630, heavy, none, any},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var rate float64
			var crit [2]int // ×3, ×10 the learned maximum
			for seed := range uint64(seeds) {
				rng := rand.New(rand.NewPCG(seed, uint64(tc.n)))
				i, lucky := 0, 0.0
				if tc.luckyZ > 0 {
					lucky = tc.fam.quantile(1 - 0.5*math.Erfc(tc.luckyZ/math.Sqrt2))
				}
				gen := func() float64 {
					i++
					if i == tc.n/2 && lucky > 0 {
						return lucky
					}
					x := tc.fam.above(rng, 0)
					if lucky > 0 {
						x = min(x, lucky) // the lucky value is the maximum
					}
					return x
				}
				d := youngDist(g, &j, tc.n, gen)
				f := d.Tail(g)
				t0 := math.Expm1(f.LnU + math.Ln10)
				hits := 0
				for range probes {
					if v := d.Judge(g, tc.fam.above(rng, t0), &j, 0); v.Egregious {
						hits++
					}
				}
				rate += tc.fam.surv(t0) * float64(hits) / probes / seeds
				mx := d.Quantiles(g).Max
				for k, m := range [2]float64{3, 10} {
					if v := d.Judge(g, m*mx, &j, 0); v.Decades >= EgregiousDecades {
						crit[k]++
					} else if testing.Verbose() && k == 0 && tc.luckyZ > 0 {
						q := d.Quantiles(g)
						e := v.y - v.Fit.LnU
						b, _ := d.egregiousBound(&v.Fit, true)
						lm := v.Fit.lightMax(LogValue(mx), LogValue(q.P90), float64(tc.n))
						t.Logf("seed %d: e %.2f, bound %.2f, light-tail bound %.2f, max explained %v, max excess %.2f, reach %.2f", seed, e, b, v.Fit.lightBound(j.Far, LogValue(q.P90), float64(tc.n)), lm, LogValue(mx)-v.Fit.LnU, egregiousMaxReach(float64(tc.n), lm))
					}
				}
			}
			t.Logf("%d values: false egregious rate %.1e; 3× the maximum critical on %d of %d seeds, 10× on %d",
				tc.n, rate, crit[0], seeds, crit[1])
			if rate > tc.maxRate {
				t.Errorf("false egregious rate %.1e, want ≤ %.1e", rate, tc.maxRate)
			}
			for k, want := range [2]share{tc.crit3, tc.crit10} {
				if s := float64(crit[k]) / seeds; s < want[0] || s > want[1] {
					t.Errorf("%s: %d× the maximum critical on %d of %d seeds, want a share in %v", tc.name, [2]int{3, 10}[k], crit[k], seeds, want)
				}
			}
		})
	}
}

// The held-out fleet miss (seed 2930725630, latency-6), from its trace:
// the tool's young baseline (630 calls; p50 191 ms, p90 675 ms, p99
// 2,073 ms, s 1.015; learned maximum 8,740 ms) and the first 28,471 ms
// call. main's young reach (2.26 over the maximum) refused it; the
// maximum is explained by the body (n·P ≈ 5 %), so the reach is 1.5, and
// the call clears the light-tail check corrected for 630 values.
func TestEgregiousHeldOutFleetCall(t *testing.T) {
	ln := math.Log1p
	f := TailFit{LnU: ln(2072.54), Zeta: tailZeta, Sigma: 0.487, LnP50: ln(190.79), Scale: 1.0154, Fallback: true, Valid: true}
	n, lnP90, lnMax, y := 630.0, ln(674.81), ln(8740), ln(28471)
	e, mx := y-f.LnU, lnMax-f.LnU
	if !f.lightMax(lnMax, lnP90, n) {
		t.Fatalf("8.7 s maximum not explained by the body (z %.2f)", (lnMax-f.LnP50)/f.Scale)
	}
	if r := egregiousMaxReach(n, true); e < r*mx {
		t.Fatalf("log excess %.3f below reach %.2f × maximum's %.3f", e, r, mx)
	}
	if r := egregiousMaxReach(n, false); e >= r*mx {
		t.Fatalf("premise: main's reach %.2f × %.3f already cleared by %.3f", r, mx, e)
	}
	lb := f.lightBound(6, lnP90, n)
	if e < lb || lb < f.lightBound(6, lnP90, math.Inf(1)) {
		t.Fatalf("light-tail bound %.3f (uncorrected %.3f), log excess %.3f", lb, f.lightBound(6, lnP90, math.Inf(1)), e)
	}
	t.Logf("log excess %.3f: reach 1.5 × %.3f = %.3f, corrected light-tail bound %.3f", e, mx, 1.5*mx, lb)
}
