package baseline

import "math"

// Negative binomial upper tail for overdispersed counts. With mean mu and
// dispersion k (variance mu + k·mu²; k = 0 is Poisson), r = 1/k and
// q = k·mu/(1+k·mu):
//
//	pmf(x)   = Γ(x+r)/(Γ(r)·x!) · (1−q)^r · q^x
//	pmf(x+1) = pmf(x) · q·(x+r)/(x+1)
//
// The tail is summed term by term (at most nbTerms) and the remainder
// bounded by a geometric series with ratio max(q, the last term ratio),
// which is an upper bound on every later ratio: p is exact to ~1e-12
// relative for ordinary parameters and never too small otherwise, so the
// approximation can only make a key quieter.

// nbPoisson is the dispersion below which the Poisson tail is used.
const nbPoisson = 1e-6

// nbTerms bounds the terms summed explicitly.
const nbTerms = 200

// NBLogSF returns ln P(X >= c) for X ~ NB(mu, k). Like PoissonLogSF it is 0
// for c <= mu (callers only test excesses).
func NBLogSF(c int, mu, k float64) float64 {
	if k < nbPoisson {
		return PoissonLogSF(c, mu)
	}
	if c <= 0 {
		return 0
	}
	if mu <= 0 {
		return math.Inf(-1)
	}
	if float64(c) <= mu {
		return 0
	}
	r := 1 / k
	q := k * mu / (1 + k*mu)
	x := float64(c)
	lg1, _ := math.Lgamma(x + r)
	lg2, _ := math.Lgamma(r)
	lg3, _ := math.Lgamma(x + 1)
	logPmf := lg1 - lg2 - lg3 + r*math.Log1p(-q) + x*math.Log(q)
	sum, term := 1.0, 1.0
	ratio := 0.0
	for i := 0; i < nbTerms; i++ {
		ratio = q * (x + float64(i) + r) / (x + float64(i) + 1)
		term *= ratio
		sum += term
		if term < sum*1e-13 {
			return min(0, logPmf+math.Log(sum))
		}
	}
	bound := math.Max(q, ratio)
	if bound >= 1 {
		return 0
	}
	sum += term * bound / (1 - bound)
	return min(0, logPmf+math.Log(sum))
}

// NBCritical returns the smallest count c with ln P(X >= c) <= logP for
// X ~ NB(mu, k) (logP < 0): counts at or above it are significant at level
// exp(logP). The search starts at the Cornish–Fisher estimate, so it costs
// a handful of NBLogSF evaluations.
func NBCritical(mu, k, logP float64) int {
	t := nbTail{mu: mu, k: k}
	return t.critical(logP)
}

// critMax returns max(lo, NBCritical(mu1, k1, logP), NBCritical(mu2, k2,
// logP)) without searching for a critical count that one tail evaluation
// shows to be at most the larger of the others (most arms: the floor or
// the other model decides).
func critMax(lo int, mu1, k1, mu2, k2, logP float64) int {
	c := lo
	t1 := nbTail{mu: mu1, k: k1}
	if !t1.criticalAtMost(c, logP) {
		c = max(c, t1.critical(logP))
	}
	t2 := nbTail{mu: mu2, k: k2}
	if !t2.criticalAtMost(c, logP) {
		c = max(c, t2.critical(logP))
	}
	return c
}

// nbCriticalAtMost reports NBCritical(mu, k, logP) <= x with one bound
// evaluation: the search returns the smallest count above int(mu) whose
// (nonincreasing) bound is at most logP, never more than 1<<30.
// TestCritMaxMatchesSearch checks it against the search.
func nbCriticalAtMost(x int, mu, k, logP float64) bool {
	t := nbTail{mu: mu, k: k}
	return t.criticalAtMost(x, logP)
}

// nbLogSFBound is an upper bound of NBLogSF in O(1): pmf(c) times the
// geometric series of the largest later term ratio, max(q, ratio(c)). It is
// within a fraction of a decade of the exact tail and never below it, so a
// critical count found with it is the exact one or slightly above.
func nbLogSFBound(c int, mu, k float64) float64 {
	t := nbTail{mu: mu, k: k}
	return t.bound(c)
}

// nbTail is one NB(mu, k) whose bound (nbLogSFBound) is evaluated at
// several counts, as a critical-count search does (a handful per arm): the
// terms that do not depend on the count, ln Γ(r), r·ln(1−q) and ln q, are
// computed once, at the first count that needs them, and ln c! comes from
// a table. Every sum is formed in the same order as a fresh evaluation's,
// so each bound is bit for bit the same (TestNBTailMatchesFresh).
type nbTail struct {
	mu, k         float64
	init          bool
	lgR, rl1q, lq float64
}

// critical is NBCritical(t.mu, t.k, logP).
func (t *nbTail) critical(logP float64) int {
	mu, k := t.mu, t.k
	if k < nbPoisson {
		return PoissonCritical(mu, logP)
	}
	if mu <= 0 {
		return 1
	}
	return critical(t.bound, int(mu), cfGuess(mu, mu*(1+k*mu), (1+2*k*mu)/math.Sqrt(mu*(1+k*mu)), logP), logP)
}

// criticalAtMost is nbCriticalAtMost(x, t.mu, t.k, logP).
func (t *nbTail) criticalAtMost(x int, logP float64) bool {
	mu, k := t.mu, t.k
	switch {
	case x >= 1<<30:
		return true
	case mu <= 0:
		return x >= 1
	case !(k < nbPoisson): // as NBCritical decides
		return x > int(mu) && t.bound(x) <= logP
	case mu > 1000: // PoissonCritical's estimate, not a search
		return PoissonCritical(mu, logP) <= x
	}
	return x > int(mu) && poissonLogSFBound(x, mu) <= logP
}

// bound is nbLogSFBound(c, t.mu, t.k).
func (t *nbTail) bound(c int) float64 {
	if c <= 0 || float64(c) <= t.mu {
		return 0
	}
	r := 1 / t.k
	q := t.k * t.mu / (1 + t.k*t.mu)
	x := float64(c)
	bound := math.Max(q, q*(x+r)/(x+1))
	if bound >= 1 {
		return 0
	}
	if !t.init {
		t.init = true
		t.lgR, _ = math.Lgamma(r)
		t.rl1q = r * math.Log1p(-q)
		t.lq = math.Log(q)
	}
	lg1, _ := math.Lgamma(x + r)
	return min(0, lg1-t.lgR-lgammaInt(c)+t.rl1q+x*t.lq-math.Log1p(-bound))
}

// lgammaInts holds ln Γ(c+1) = ln c! for the counts critical-count
// searches visit most: math.Lgamma's own values, so lookups are exact.
var lgammaInts = func() (t [1024]float64) {
	for c := range t {
		t[c], _ = math.Lgamma(float64(c) + 1)
	}
	return t
}()

// lgammaInt is math.Lgamma(float64(c) + 1) (c ≥ 0; float64(c)+1 is exact).
func lgammaInt(c int) float64 {
	if uint(c) < uint(len(lgammaInts)) {
		return lgammaInts[c]
	}
	v, _ := math.Lgamma(float64(c) + 1)
	return v
}

// cfGuess is the Cornish–Fisher estimate of the upper logP quantile of a
// distribution with mean mu, variance v and skewness g.
func cfGuess(mu, v, g, logP float64) int {
	z := math.Sqrt2 * math.Erfcinv(2*math.Exp(logP))
	c := mu + math.Sqrt(v)*(z+(z*z-1)*g/6)
	return int(math.Min(math.Ceil(c), 1<<30))
}

// critical returns the smallest c > lo with sf(c) <= logP, for sf
// nonincreasing above lo and sf(lo) > logP, searching outward from guess
// with doubling steps and then bisecting.
func critical(sf func(int) float64, lo, guess int, logP float64) int {
	guess = max(guess, lo+1)
	var a, b int // sf(a) > logP or a == lo; sf(b) <= logP
	if sf(guess) <= logP {
		b = guess
		for step := 1; ; step *= 2 {
			a = b - step
			if a <= lo {
				a = lo
				break
			}
			if sf(a) > logP {
				break
			}
			b = a
		}
	} else {
		a = guess
		for step := 1; ; step *= 2 {
			b = a + step
			if b >= 1<<30 {
				return 1 << 30
			}
			if sf(b) <= logP {
				break
			}
			a = b
		}
	}
	for b-a > 1 {
		m := a + (b-a)/2
		if sf(m) > logP {
			a = m
		} else {
			b = m
		}
	}
	return b
}
