package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// The egregious bound is in the key's own units: a baseline that rose
// faster than DriftLn allows is judged δ higher by its fitted tail, but
// δ does not carry a value past the egregious bound (a young heavy tail's
// p99 climbs for days, and that climb is not an incident).
func TestEgregiousIgnoresDrift(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	j := Judge{Far: 6, DriftLn: math.Ln2}
	rng := rand.New(rand.NewPCG(3, 3))
	var d Dist
	at := distBase
	feed := func(n int, median float64) {
		for range n {
			x := median * math.Exp(0.5*rng.NormFloat64())
			v := d.Judge(g, x, &j, 0)
			d.Learn(g, x, at, &v, &j, d.Count() >= 200, true)
			at = at.Add(30 * time.Second)
		}
	}
	feed(2000, 40)  // anchors set from 1,000 values on
	feed(1500, 200) // the median rises 5× in ~12 h: far faster than 2× a day
	probe := d.Judge(g, 1, &j, 0)
	if probe.DriftLn < 0.3 {
		t.Fatalf("premise: drift δ = %.2f, want a baseline well ahead of its envelope", probe.DriftLn)
	}
	b, suspended := d.egregiousBound(&probe.Fit, d.Count() < egregiousMinCount)
	if suspended {
		t.Fatal("premise: egregious rule suspended")
	}
	// Beyond the bound only if judged δ higher.
	x := math.Expm1(probe.Fit.LnU + b - probe.DriftLn/2)
	v := d.Judge(g, x, &j, 0)
	if v.Egregious || v.Beyond() {
		t.Fatalf("%.0f (bound %.0f, δ %.2f) judged egregious: %+v", x, math.Expm1(probe.Fit.LnU+b), probe.DriftLn, v)
	}
	// Beyond the bound in the key's own units it still is.
	x = math.Expm1(probe.Fit.LnU + b + 0.1)
	if v = d.Judge(g, x, &j, 0); !v.Beyond() {
		t.Fatalf("%.0f beyond the bound %.0f not beyond: %+v", x, math.Expm1(probe.Fit.LnU+b), v)
	}
}
