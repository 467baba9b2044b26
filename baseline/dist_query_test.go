package baseline

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/influxdata/tdigest"
)

// libraryQuantiles is what Quantiles computed before dist_query.go: the
// library's t-digest fed prev, then cur, centroid by centroid.
func libraryQuantiles(g *Digester, d *Dist) [5]float64 {
	td := tdigest.NewWithCompression(g.td.Compression)
	for _, cs := range [2][]byte{d.cs[:d.np], d.cs[d.np:]} {
		for u := (unpacker{b: cs}); u.more(); {
			td.AddCentroid(u.next().td())
		}
	}
	return [5]float64{td.Quantile(0.1), td.Quantile(0.5), td.Quantile(0.9), td.Quantile(0.99), td.Quantile(0.999)}
}

// TestQueryMatchesLibrary checks the query against the library bit for
// bit on Dists of many shapes and sizes over two epochs, with distinct
// values, with few distinct (integral: equal means across and within the
// lists, the sort fallback) and with extreme ones.
func TestQueryMatchesLibrary(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 13))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gens := []func() float64{
		func() float64 { return math.Exp(rng.NormFloat64()) * 100 },
		func() float64 { return math.Exp(rng.NormFloat64()*2) * 1000 },
		func() float64 { return math.Round(rng.ExpFloat64() * 3) },
		func() float64 { return float64(rng.IntN(4)) * 50 },
		func() float64 { return 1 / math.Pow(rng.Float64(), 1/1.5) },
		func() float64 { return rng.NormFloat64() * 1e38 },
	}
	for _, comp := range []float64{25, 10, 100} {
		g := NewDigester(comp, 24*time.Hour)
		checked := 0
		for round := range 300 {
			var d Dist
			gen := gens[round%len(gens)]
			n := 1 + rng.IntN(6000)
			for i := range n {
				ts := start.Add(time.Duration(i) * 48 * time.Hour / time.Duration(n))
				d.Add(g, gen(), ts)
				if i%97 == 0 && d.prevW+d.curW > 0 {
					want := libraryQuantiles(g, &d)
					g.query(&d)
					got := [5]float64{d.q.P10, d.q.P50, d.q.P90, d.q.P99, d.q.P999}
					for k := range got {
						if math.Float64bits(got[k]) != math.Float64bits(want[k]) {
							t.Fatalf("compression %v, round %d, %d values: quantile %d = %v, library %v", comp, round, i+1, k, got[k], want[k])
						}
					}
					checked++
				}
			}
		}
		if checked < 1000 {
			t.Fatalf("compression %v: only %d queries checked", comp, checked)
		}
	}
}

// TestQueryNoAllocs: a refresh allocates nothing, also when ties take the
// library's sort.
func TestQueryNoAllocs(t *testing.T) {
	g := NewDigester(25, 24*time.Hour)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var d Dist
	for i := range 5000 {
		d.Add(g, float64(i%7)*10, start.Add(time.Duration(i)*30*time.Second))
	}
	if d.prevW == 0 || d.curW == 0 {
		t.Fatal("want both epochs filled")
	}
	if a := testing.AllocsPerRun(100, func() { g.query(&d) }); a != 0 {
		t.Fatalf("query allocates %.1f times", a)
	}
}

// TestLimitDecisions: nextLimit lies within a hundredth of the query's
// margin (limitTol·w) of the library's limit for every compression a
// scratch digest takes, total weights up to 2³³ and running weights from
// 1 to the total, so a comparison outside the margin decides as the
// library's limit would, and the query falls back to that limit inside it.
func TestLimitDecisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 3))
	worst := 0.0
	for _, comp := range []float64{100, 101.5, 400, 4000} {
		s := queryScratch{cosStep: math.Cos(math.Pi / comp), sinStep: math.Sin(math.Pi / comp)}
		// The library's integratedQ(integratedLocation(soFar/w) + 1).
		lib := func(soFar, w float64) float64 {
			k1 := comp * (math.Asin(2.0*(soFar/w)-1.0) + math.Pi/2.0) / math.Pi
			return w * ((math.Sin(math.Min(k1+1.0, comp)*math.Pi/comp-math.Pi/2.0) + 1.0) / 2.0)
		}
		for i := range 400000 {
			w := math.Floor(math.Exp(rng.Float64() * 33 * math.Ln2))
			if i%10 == 0 {
				w = float64(1 + rng.IntN(200))
			}
			var soFar float64
			switch i % 4 {
			case 0:
				soFar = float64(1 + rng.IntN(20)) // q near 0, where Asin is ill-conditioned
			case 1:
				soFar = w - float64(rng.IntN(20)) // q near 1, the clamp
			default:
				soFar = math.Floor(rng.Float64() * w)
			}
			soFar = min(max(soFar, 1), w)
			got, want := s.nextLimit(soFar, w), lib(soFar, w)
			if math.IsNaN(got) || math.IsNaN(want) {
				t.Fatalf("compression %v, %v of %v: %v, library %v", comp, soFar, w, got, want)
			}
			worst = max(worst, math.Abs(got-want)/w)
			if math.Abs(got-want) > w*limitTol/100 {
				t.Fatalf("compression %v, %v of %v: %v, library %v (%.3g of w)", comp, soFar, w, got, want, math.Abs(got-want)/w)
			}
		}
	}
	t.Logf("largest difference %.3g of w (margin %.0g)", worst, limitTol)
}
