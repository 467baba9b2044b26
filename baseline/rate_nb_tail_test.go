package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
)

// freshNBBound is nbLogSFBound as written before nbTail cached its terms:
// the reference nbTail must match bit for bit.
func freshNBBound(c int, mu, k float64) float64 {
	if c <= 0 || float64(c) <= mu {
		return 0
	}
	r := 1 / k
	q := k * mu / (1 + k*mu)
	x := float64(c)
	bound := math.Max(q, q*(x+r)/(x+1))
	if bound >= 1 {
		return 0
	}
	lg1, _ := math.Lgamma(x + r)
	lg2, _ := math.Lgamma(r)
	lg3, _ := math.Lgamma(x + 1)
	return min(0, lg1-lg2-lg3+r*math.Log1p(-q)+x*math.Log(q)-math.Log1p(-bound))
}

// TestNBTailMatchesFresh checks that one nbTail evaluated at many counts
// (in a search's order and at random) answers every count exactly as a
// fresh evaluation does, and lgammaInt as math.Lgamma.
func TestNBTailMatchesFresh(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 7))
	for range 20000 {
		mu := math.Exp(rng.Float64()*14 - 7)
		k := math.Exp(rng.Float64()*16 - 12)
		tail := nbTail{mu: mu, k: k}
		for range 8 {
			c := int(mu*(1+4*rng.Float64())) + rng.IntN(50)
			if rng.IntN(8) == 0 {
				c = rng.IntN(5000)
			}
			got, want := tail.bound(c), freshNBBound(c, mu, k)
			if math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("bound(%d) of NB(%v, %v) = %v, fresh %v", c, mu, k, got, want)
			}
		}
		logP := -rng.Float64() * 30
		fresh := critical(func(c int) float64 { return freshNBBound(c, mu, k) }, int(mu),
			cfGuess(mu, mu*(1+k*mu), (1+2*k*mu)/math.Sqrt(mu*(1+k*mu)), logP), logP)
		if k >= nbPoisson {
			if got := NBCritical(mu, k, logP); got != fresh {
				t.Fatalf("NBCritical(%v, %v, %v) = %d, fresh search %d", mu, k, logP, got, fresh)
			}
		}
	}
	for c := range 3000 {
		want, _ := math.Lgamma(float64(c) + 1)
		if got := lgammaInt(c); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("lgammaInt(%d) = %v, want %v", c, got, want)
		}
	}
}
