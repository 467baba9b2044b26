package latency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// sparseDayNight is a sparse key with a day/night rhythm in both its rate
// and its values (a public traffic-occupancy series' shape, NAB
// realTraffic/occupancy_6005): Poisson calls at 12/h from 08:00 to 20:00
// and 4/h at night, times a volume of the day between 0.85 and 1.3 (163
// to 250 calls a day, so its two-epoch count hovers around min_samples
// 200 and falls below it at the rotation after a quiet day),
// durations log-normal (σ 0.3) around 500 ms by day and 120 ms at night.
// Data stop at noon of day 3 and resume at noon of day 7 (a 4-day hole
// after which the count starts from a half day). collapse, if set, is a
// 2-hour window where durations fall to a tenth.
func sparseDayNight(d *Detector, seed uint64, days int, collapse time.Duration) []detect.Finding {
	const day = 24 * time.Hour
	rng := rand.New(rand.NewPCG(seed, 7))
	var fs []detect.Finding
	holeFrom, holeTo := 3*day+12*time.Hour, 7*day+12*time.Hour
	scale := make([]float64, days+1) // the day's volume: 163–250 calls
	for i := range scale {
		scale[i] = 0.85 + 0.45*rng.Float64()
	}
	for e := time.Duration(0); e < time.Duration(days)*day; {
		h := hourOfDay(e)
		rate, median := 4.0, 120.0 // per hour, ms
		if h >= 8 && h < 20 {
			rate, median = 12, 500
		}
		rate *= scale[e/day]
		e += time.Duration(rng.ExpFloat64() / rate * float64(time.Hour))
		if e >= holeFrom && e < holeTo {
			e = holeTo
		}
		x := median * math.Exp(0.3*rng.NormFloat64())
		if collapse > 0 && e >= collapse && e < collapse+2*time.Hour {
			x /= 10
		}
		fs = d.Observe(rec(base.Add(e), "occupancy-agent", "sensor-read", "1.0.0", x), fs)
	}
	return fs
}

// A sparse day/night key (its count lapsed below min_samples at every
// rotation after a quiet day, and the level test's long run then learned
// almost only daytime values, so the normal night was reported as a 4×
// drop) stays silent once it has had three nights after the hole, and a
// collapse to a tenth for 2 hours by day is still found within an hour.
func TestSparseDayNightKey(t *testing.T) {
	const day = 24 * time.Hour
	// The data resume at noon of day 7; the third night after that ends
	// at 08:00 of day 10.
	quietFrom := base.Add(10*day + 8*time.Hour)
	for _, c := range []struct {
		name     string
		collapse time.Duration // 0: none
	}{
		{name: "normal"},
		{name: "collapse to a tenth 10:00–12:00 on day 14", collapse: 14*day + 10*time.Hour},
	} {
		for seed := range uint64(10) {
			t.Run(fmt.Sprintf("%s/seed %d", c.name, seed), func(t *testing.T) {
				fs := sparseDayNight(newDet(t, nil), seed, 18, c.collapse)
				if c.collapse == 0 {
					var late []detect.Finding
					for _, f := range fs {
						if !f.EventTime.Before(quietFrom) {
							late = append(late, f)
						}
					}
					if len(late) > 0 {
						t.Errorf("%d findings after three nights: %s", len(late), detecttest.FindingsJSON(t, late))
					}
					if n, d := detecttest.MaxPerDay(fs, 40); n > 1 {
						t.Errorf("%d findings on %s, want at most 1 a day", n, d)
					}
					return
				}
				start := base.Add(c.collapse)
				var during []detect.Finding
				for _, f := range fs {
					if !f.EventTime.Before(start) && f.EventTime.Before(start.Add(2*time.Hour)) {
						during = append(during, f)
					}
				}
				f := detecttest.First(during, distdetect.DetailShiftDown)
				if f == nil {
					t.Fatalf("collapse not found: %s", detecttest.FindingsJSON(t, during))
				}
				if at := f.EventTime.Sub(start); at > time.Hour {
					t.Errorf("collapse found after %v, want within 1 h", at)
				}
			})
		}
	}
}
