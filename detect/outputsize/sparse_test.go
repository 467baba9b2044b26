package outputsize

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
)

// The sparse day/night key of detect/latency's TestSparseDayNightKey as
// output sizes (4 KB by day, 1 KB at night; 163–250 calls a day, a 4-day
// hole from noon of day 3): once it has had three nights after the hole
// its nights are not reported.
func TestSparseDayNightKey(t *testing.T) {
	const day = 24 * time.Hour
	quietFrom := base.Add(10*day + 8*time.Hour)
	for seed := range uint64(10) {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(seed, 7))
			scale := make([]float64, 19)
			for i := range scale {
				scale[i] = 0.85 + 0.45*rng.Float64()
			}
			var fs []detect.Finding
			for e := time.Duration(0); e < 18*day; {
				h := float64(e%day) / float64(time.Hour)
				rate, median := 4.0, 1000.0
				if h >= 8 && h < 20 {
					rate, median = 12, 4000
				}
				e += time.Duration(rng.ExpFloat64() / (rate * scale[e/day]) * float64(time.Hour))
				if e >= 3*day+12*time.Hour && e < 7*day+12*time.Hour {
					e = 7*day + 12*time.Hour
				}
				x := int64(median * math.Exp(0.3*rng.NormFloat64()))
				fs = d.Observe(rec(base.Add(e), "occupancy-agent", "sensor-read", x), fs)
			}
			var late []detect.Finding
			for _, f := range fs {
				if !f.EventTime.Before(quietFrom) {
					late = append(late, f)
				}
			}
			if len(late) > 0 {
				t.Errorf("%d findings after three nights: %s", len(late), detecttest.FindingsJSON(t, late))
			}
		})
	}
}
