package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func TestZZNoise(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, ShiftLn: math.Ln2, DriftLn: math.Ln2}
	z0 := 4.7534
	for _, sigma := range []float64{1, 2} {
		for _, n := range []int{300, 370, 630, 1000, 1600} {
			var sumQ, sumQs float64
			const seeds = 200
			for seed := range uint64(seeds) {
				rng := rand.New(rand.NewPCG(seed, uint64(n)+77))
				d := youngDist(g, &j, n, logNormalGen(rng, 100, sigma))
				f := d.Tail(g)
				q := d.Quantiles(g)
				thr := (f.LnP50 + z0*f.lightScale(LogValue(q.P90)) - math.Log(100)) / sigma
				thrS := (f.LnP50 + z0*f.Scale - math.Log(100)) / sigma
				sumQ += 0.5 * math.Erfc(thr/math.Sqrt2)
				sumQs += 0.5 * math.Erfc(thrS/math.Sqrt2)
			}
			r := sumQ / seeds / (0.5 * math.Erfc(z0/math.Sqrt2))
			// equivalent v: z0/sqrt(1+v) = zeff, Q(zeff) = mean
			zeff := math.Sqrt2 * math.Erfcinv(2*sumQ/seeds)
			v := (z0/zeff)*(z0/zeff) - 1
			t.Logf("σ %.0f n %d: narrower: E[Q]/Q0 %.2f, v·n %.1f; p10-p90 only: E[Q]/Q0 %.2f", sigma, n, r, v*float64(n), sumQs/seeds/(0.5*math.Erfc(z0/math.Sqrt2)))
		}
	}
}
