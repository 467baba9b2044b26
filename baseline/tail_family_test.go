package baseline

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// tailPart is one component of a tail family: a log-normal (median,
// sigma) or, with alpha > 0, a Pareto of index alpha from xm.
type tailPart struct {
	w             float64 // share of the values
	median, sigma float64
	xm, alpha     float64
}

// surv is P(X > t) of the component.
func (c tailPart) surv(t float64) float64 {
	if c.alpha > 0 {
		if t <= c.xm {
			return 1
		}
		return math.Pow(t/c.xm, -c.alpha)
	}
	return 0.5 * math.Erfc(math.Log(t/c.median)/c.sigma/math.Sqrt2)
}

// above draws X conditioned on X > t (t = 0: unconditioned).
func (c tailPart) above(rng *rand.Rand, t float64) float64 {
	u := 1 - rng.Float64() // (0, 1]
	if c.alpha > 0 {
		return max(t, c.xm) * math.Pow(u, -1/c.alpha)
	}
	if t <= 0 {
		return c.median * math.Exp(c.sigma*rng.NormFloat64())
	}
	// Inverse survival: the conditional draw is exact far into the tail.
	return c.median * math.Exp(c.sigma*math.Sqrt2*math.Erfcinv(2*u*c.surv(t)))
}

type tailFamily []tailPart

func (f tailFamily) surv(t float64) float64 {
	s := 0.0
	for _, c := range f {
		s += c.w * c.surv(t)
	}
	return s
}

// above draws a value of the family beyond t (t = 0: any value).
func (f tailFamily) above(rng *rand.Rand, t float64) float64 {
	var w [4]float64
	tot := 0.0
	for i, c := range f {
		w[i] = c.w
		if t > 0 {
			w[i] *= c.surv(t)
		}
		tot += w[i]
	}
	u := rng.Float64() * tot
	for i, c := range f {
		if u -= w[i]; u < 0 || i == len(f)-1 {
			return c.above(rng, t)
		}
	}
	panic("unreachable")
}

// quantile returns the family's true p-quantile (bisection in log).
func (f tailFamily) quantile(p float64) float64 {
	lo, hi := 1e-6, 1e15
	for range 200 {
		m := math.Sqrt(lo * hi)
		if f.surv(m) > 1-p {
			lo = m
		} else {
			hi = m
		}
	}
	return lo
}

func logNormalFamily(sigma float64) tailFamily {
	return tailFamily{{w: 1, median: 100, sigma: sigma}}
}

// paretoFamily: a log-normal body (median 100, σ 0.5) and 2% of the
// values a Pareto tail of index alpha from the body's p98: exponential in
// log above it, where the fitted GPD is the right model.
func paretoFamily(alpha float64) tailFamily {
	return tailFamily{{w: 0.98, median: 100, sigma: 0.5}, {w: 0.02, xm: 100 * math.Exp(0.5*2.054), alpha: alpha}}
}

// The egregious rule per tail family (issue 9, fleetprec): how often a
// normal value of the family is egregious (critical whatever its fitted
// p), and whether values 30× and 100× the family's true p99 are critical
// or at least findings, for a tool baseline of 2,880 values (two days at
// one a minute), a young tool baseline of 600 (the young rule; where a
// new agent is judged) and a key of 2,880 judged on its own and pooled
// with its tool's baseline of 5,760 (Verdict.Pool).
//
// The false rate is measured exactly far out: probes are drawn from the
// family conditioned on lying beyond ten times the baseline's u (nothing
// nearer can be egregious) and the share egregious is multiplied by that
// region's true probability. On light tails (log-normal, and a
// log-normal with a lower mode of error outputs), where the rule corrects
// the exponential fit, it fires at about the judge's false-alarm rate
// 10⁻⁶ (the light-tail check, lightBound; up to 2.1·10⁻⁶ before it), the
// bound allowing for a young digest's noise. On Pareto tails the learned
// maxima bound it (measured 5·10⁻⁵–4·10⁻⁴ at α 1.2–2, BENCHMARKS.md: an
// open gap), and 100× p99 is still critical there. A value the body's
// log-normal places within 10⁻⁶ is never critical: 30× p99 at σ 1.5
// (z 4.6) and 100× at σ 2 (z 4.6).
func TestEgregiousTailFamilies(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	const seeds, probes = 12, 1500
	// share of seeds critical at 30× and 100× p99: [min, max] per scope
	// (young tool, tool, key pooled).
	type shares [3][2]float64
	all, most, none, any := shares{{1, 1}, {1, 1}, {1, 1}}, shares{{0.75, 1}, {1, 1}, {1, 1}}, shares{{0, 0.25}, {0, 0}, {0, 0}}, shares{{0, 1}, {0, 1}, {0, 1}}
	const light, heavy = 1.5e-6, 5e-4
	for _, tc := range []struct {
		name            string
		fam             tailFamily
		maxRate         float64
		crit30, crit100 shares
	}{
		// Log-normal: the light tail the rule is for.
		{"log-normal σ0.5", logNormalFamily(0.5), light, all, all},
		{"log-normal σ1", logNormalFamily(1), light, most, all},
		{"log-normal σ1.5", logNormalFamily(1.5), light, none, most},
		{"log-normal σ2", logNormalFamily(2), light, none, none},
		// Pareto tails above p98: exponential in log, where the fit is
		// right; 100× p99 is critical still.
		{"Pareto α1.2", paretoFamily(1.2), heavy, any, shares{{0.75, 1}, {0.75, 1}, {0.75, 1}}},
		{"Pareto α1.5", paretoFamily(1.5), heavy, any, all},
		{"Pareto α2", paretoFamily(2), heavy, any, all},
		{"Pareto α3", paretoFamily(3), heavy, most, all},
		// Mixtures: an analytical second mode (sql_query: a tail of the
		// slow mode's σ 1.8, heavier than the body's log-normal; 100× p99
		// lies within it), error outputs below a wide
		// body (code_exec's 8%: its p10–p90 scale is twice the tail's, the
		// upper half's is not), a file reader's Pareto tail (α 1.1: 100×
		// p99 is ~10⁻⁵, ordinary for it).
		{"mixture sql", tailFamily{{w: 0.85, median: 25, sigma: 0.7}, {w: 0.15, median: 4000, sigma: 1.8}}, heavy, none, none},
		{"mixture errors", tailFamily{{w: 0.92, median: 2500, sigma: 1.5}, {w: 0.08, median: 150, sigma: 0.3}}, light, none, most},
		{"mixture file reader", tailFamily{{w: 0.96, median: 12000, sigma: 1.8}, {w: 0.04, xm: 2e6, alpha: 1.1}}, heavy, none, any},
	} {
		p99 := tc.fam.quantile(0.99)
		for si, sc := range []struct {
			scope string
			n     int
			pool  bool
		}{
			{"young tool", 600, false},
			{"tool", 2880, false},
			{"key pooled", 2880, true},
		} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, sc.scope), func(t *testing.T) {
				var rate float64
				var crit, alert [2]int // ×30, ×100
				for seed := range uint64(seeds) {
					rng := rand.New(rand.NewPCG(seed, uint64(sc.n)))
					gen := func() float64 { return tc.fam.above(rng, 0) }
					d := youngDist(g, &j, sc.n, gen)
					var tool *Dist
					if sc.pool {
						tool = youngDist(g, &j, 2*sc.n, gen)
					}
					judge := func(x float64) Verdict {
						v := d.Judge(g, x, &j, 0)
						if tool != nil {
							tv := tool.Judge(g, x, &j, 0)
							v.Pool(&tv)
						}
						return v
					}
					f := d.Tail(g)
					t0 := math.Expm1(f.LnU + math.Ln10)
					hits := 0
					for range probes {
						if v := judge(tc.fam.above(rng, t0)); v.Egregious {
							hits++
						}
					}
					rate += tc.fam.surv(t0) * float64(hits) / probes / seeds
					for i, k := range [2]float64{30, 100} {
						v := judge(k * p99)
						if v.Decades >= EgregiousDecades {
							crit[i]++
						}
						if v.Anomalous(&j) {
							alert[i]++
						}
					}
				}
				t.Logf("true p99 %.0f: false egregious rate %.1e; 30× p99 critical on %d of %d seeds, a finding on %d; 100× critical %d, finding %d",
					p99, rate, crit[0], seeds, alert[0], crit[1], alert[1])
				if rate > tc.maxRate {
					t.Errorf("false egregious rate %.1e, want ≤ %.1e", rate, tc.maxRate)
				}
				for i, want := range [2][2]float64{tc.crit30[si], tc.crit100[si]} {
					if s := float64(crit[i]) / seeds; s < want[0] || s > want[1] {
						t.Errorf("%d× p99 critical on %d of %d seeds, want a share in %v", [2]int{30, 100}[i], crit[i], seeds, want)
					}
				}
			})
		}
	}
}
