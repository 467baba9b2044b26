package outputsize

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// Metric series replayed as one tool's output_bytes (tools/eval/series):
// warm days of a 20 KB tool (σ 0.3, ±30% day/night), then an anomaly from
// 9:00 (the rhythm's mean). want must fire within within of its start,
// with at most maxEpisode findings during it and maxPerDay on any day
// before it.
func TestMetricSeriesClasses(t *testing.T) {
	const warm = 3*24*time.Hour + 9*time.Hour
	daily := func(e time.Duration) float64 {
		h := float64(e%(24*time.Hour)) / float64(time.Hour)
		return 1 + 0.3*math.Sin(2*math.Pi*(h-9)/24)
	}
	noise := func(rng *rand.Rand, e time.Duration) float64 {
		return 20e3 * daily(e) * math.Exp(0.3*rng.NormFloat64())
	}
	for _, c := range []struct {
		name       string
		step       time.Duration
		length     time.Duration
		factor     float64 // during the anomaly; 0: empty outputs
		bursty     bool
		want       string
		within     time.Duration
		maxEpisode int
	}{
		{name: "bursty, 5 min", step: 5 * time.Minute, bursty: true},
		{name: "3× for 6 h, 1/min", step: time.Minute, length: 6 * time.Hour, factor: 3,
			want: distdetect.DetailShiftUp, within: 30 * time.Minute, maxEpisode: 1},
		{name: "3× for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, factor: 3,
			want: distdetect.DetailShiftUp, within: 45 * time.Minute, maxEpisode: 1},
		{name: "empty outputs for 2 h, 1/min", step: time.Minute, length: 2 * time.Hour,
			want: distdetect.DetailShiftDown, within: 30 * time.Minute, maxEpisode: 1},
		{name: "empty outputs for 2 h, 5 min", step: 5 * time.Minute, length: 2 * time.Hour,
			want: distdetect.DetailShiftDown, within: 30 * time.Minute, maxEpisode: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(5, 5))
			total := warm + c.length
			if c.length == 0 {
				total = 7 * 24 * time.Hour
			}
			var end time.Duration
			f := 1.0
			fs := key(d, "a", "metric", c.step).Run(int(total/c.step), func(e time.Duration) float64 {
				v := noise(rng, e)
				if c.bursty {
					if e > end && rng.Float64() < float64(c.step)/float64(3*time.Hour) {
						end, f = e+time.Duration(10+30*rng.Float64())*time.Minute, 2+3*rng.Float64()
					}
					if e <= end {
						v *= f
					}
				}
				if e >= warm && e < warm+c.length {
					v *= c.factor
				}
				return v
			})
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(warm), Anomalous: c.length > 0, MaxPerDay: 3,
				Want: c.want, Within: c.within, MaxEpisode: c.maxEpisode})
		})
	}
}
