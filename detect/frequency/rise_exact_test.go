package frequency

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/toolwatch/toolwatch/baseline"
)

// TestRiseModelShortcutsExact: a model's l0 is bit for bit its llr(0),
// and taskModels' models (built from ratioMus and one riseGamma) are bit
// for bit the ones it built from ratioModels' models and newRiseModel, on
// random levels and dispersions (Poisson, tiny, huge, NaN, zero).
func TestRiseModelShortcutsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	disp := func() float32 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return float32(rng.Float64() * 1e-6)
		case 2:
			return float32(math.NaN())
		case 3:
			return float32(rng.Float64() * 1000)
		}
		return float32(rng.ExpFloat64())
	}
	level := func() float32 {
		if rng.IntN(8) == 0 {
			return 0
		}
		return float32(rng.ExpFloat64() * math.Pow(10, float64(rng.IntN(7)-3)))
	}
	same := func(a, b riseModel) bool {
		eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
		return a.poisson == b.poisson && eq(a.r, b.r) && eq(a.kr, b.kr) && eq(a.c, b.c) && eq(a.mu, b.mu) && eq(a.l0, b.l0)
	}
	for i := range 200000 {
		st := baseline.ScaleStats{Mu: level(), M: level(), KS: disp(), KA: disp()}
		def := float32(0)
		if rng.IntN(3) == 0 {
			def = level()
		}
		ms := ratioModels(&st, def)
		for j := range ms {
			if got, want := ms[j].l0, ms[j].llr(0); math.Float64bits(got) != math.Float64bits(want) {
				t.Fatalf("case %d model %d: l0 %v, llr(0) %v", i, j, got, want)
			}
		}
		if got, want := ms.llr0(), ms.llr(0); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("case %d: llr0 %v, llr(0) %v", i, got, want)
		}
		rho, k := rng.Float64()*2, float64(disp())
		mu, m := ratioMus(&st, def)
		g := newRiseGamma(k)
		got := riseModels{riseModelOf(rho*riseMu(mu), g), riseModelOf(rho*riseMu(m), g)}
		want := riseModels{newRiseModel(rho*ms[0].mu, k), newRiseModel(rho*ms[1].mu, k)}
		if !same(got[0], want[0]) || !same(got[1], want[1]) {
			t.Fatalf("case %d: task models %+v, want %+v", i, got, want)
		}
	}
}
