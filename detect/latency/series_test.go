package latency

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// daily is a ±30% day/night rhythm.
func daily(e time.Duration) float64 {
	h := float64(e%(24*time.Hour)) / float64(time.Hour)
	return 1 + 0.3*math.Sin(2*math.Pi*(h-9)/24)
}

// Classes of metric series (the shapes of public benchmark series
// replayed as one tool's duration_ms, tools/eval/series): what a key
// learns for warm days, then an anomaly (if any) starting at the warm-up's
// end (9:00, where the day/night rhythm is at its mean: the level test
// compares with the last day's mean, so a 3× shift in the night trough
// is a smaller one, and is found later). want is the detail that must fire within within of the start;
// maxEpisode bounds the findings during the anomaly, maxPerDay those of
// any day before it.
func TestMetricSeriesClasses(t *testing.T) {
	const warm = 3*24*time.Hour + 9*time.Hour
	type class struct {
		name       string
		step       time.Duration
		length     time.Duration // anomaly (0: none)
		gen        func(rng *rand.Rand, e time.Duration, in bool) float64
		want       string
		within     time.Duration
		maxEpisode int
		maxPerDay  int
	}
	noise := func(rng *rand.Rand, e time.Duration, s float64) float64 {
		return 250 * daily(e) * math.Exp(s*rng.NormFloat64())
	}
	// bursty: 10–40 min at 2–5× every ~3 h, and a single 4–10× value
	// every ~12 h, over σ 0.35 noise.
	shift := func(k, s float64) func(*rand.Rand, time.Duration, bool) float64 {
		return func(rng *rand.Rand, e time.Duration, in bool) float64 {
			v := noise(rng, e, s)
			if in {
				v *= k
			}
			return v
		}
	}
	flatS := func(k, s float64) func(*rand.Rand, time.Duration, bool) float64 {
		return func(rng *rand.Rand, e time.Duration, in bool) float64 {
			v := 250 * math.Exp(s*rng.NormFloat64())
			if in {
				v *= k
			}
			return v
		}
	}
	flat := func(k float64) func(*rand.Rand, time.Duration, bool) float64 { return flatS(k, 0.1) }
	for _, c := range []class{
		{name: "bursty, 1/min", step: time.Minute, gen: burstyGen(time.Minute, 3*time.Hour, daily), maxPerDay: 3},
		{name: "bursty, 5 min", step: 5 * time.Minute, gen: burstyGen(5*time.Minute, 3*time.Hour, daily), maxPerDay: 3},
		{name: "noisy σ 0.5, 5 min", step: 5 * time.Minute, gen: shift(1, 0.5), maxPerDay: 1},
		{name: "3× for 6 h, 1/min", step: time.Minute, length: 6 * time.Hour, gen: shift(3, 0.3),
			want: distdetect.DetailShiftUp, within: 30 * time.Minute, maxEpisode: 1, maxPerDay: 1},
		{name: "3× for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, gen: shift(3, 0.3),
			want: distdetect.DetailShiftUp, within: 45 * time.Minute, maxEpisode: 1, maxPerDay: 1},
		// Exactly the ratio (level_shift_ratio 2) on a flat key: the short
		// window approaches the step only asymptotically while the long run
		// learns it, so a test at the full ratio waited on noise (none of
		// these was found in 6 h). 1.4× on the day/night rhythm (1.8× at
		// its peak) stays below it.
		{name: "1.4× for 6 h, 5 min (below the ratio)", step: 5 * time.Minute, length: 6 * time.Hour, gen: shift(1.4, 0.1),
			maxPerDay: 1},
		{name: "flat, exactly 2× for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, gen: flat(2),
			want: distdetect.DetailShiftUp, within: 3 * time.Hour, maxEpisode: 1, maxPerDay: 1},
		// With 5 % noise the long run learns a step's first hours faster
		// than the short window converges on it: the short window stays
		// below the ratio, the step test's mean since the change point
		// (baseline judge.go, stepDev) does not.
		{name: "flat 5 % noise, exactly 2× for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, gen: flatS(2, 0.05),
			want: distdetect.DetailShiftUp, within: 2 * time.Hour, maxEpisode: 1, maxPerDay: 1},
		{name: "flat 5 % noise, exactly ½ for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, gen: flatS(0.5, 0.05),
			want: distdetect.DetailShiftDown, within: 2 * time.Hour, maxEpisode: 1, maxPerDay: 1},
		{name: "flat 5 % noise, 1.7× for 6 h, 5 min (below the ratio)", step: 5 * time.Minute, length: 6 * time.Hour, gen: flatS(1.7, 0.05),
			maxPerDay: 1},
		{name: "flat, exactly ½ for 6 h, 5 min", step: 5 * time.Minute, length: 6 * time.Hour, gen: flat(0.5),
			want: distdetect.DetailShiftDown, within: 3 * time.Hour, maxEpisode: 1, maxPerDay: 1},
		{name: "flat, exactly 2× for 6 h, 1/min", step: time.Minute, length: 6 * time.Hour, gen: flat(2),
			want: distdetect.DetailShiftUp, within: 90 * time.Minute, maxEpisode: 1, maxPerDay: 1},
		{name: "collapse to ~1 ms for 2 h, 1/min", step: time.Minute, length: 2 * time.Hour,
			gen: func(rng *rand.Rand, e time.Duration, in bool) float64 {
				if in {
					return 1 + rng.Float64()
				}
				return noise(rng, e, 0.3)
			}, want: distdetect.DetailShiftDown, within: 30 * time.Minute, maxEpisode: 1, maxPerDay: 1},
		{name: "collapse to 0 for 2 h, 5 min", step: 5 * time.Minute, length: 2 * time.Hour,
			gen: func(rng *rand.Rand, e time.Duration, in bool) float64 {
				if in {
					return 0
				}
				return noise(rng, e, 0.3)
			}, want: distdetect.DetailShiftDown, within: 30 * time.Minute, maxEpisode: 1, maxPerDay: 1},
		{name: "flatline, then 0", step: 5 * time.Minute, length: time.Hour,
			gen: func(_ *rand.Rand, _ time.Duration, in bool) float64 {
				if in {
					return 0
				}
				return 250
			}, want: distdetect.DetailShiftDown, within: 30 * time.Minute, maxEpisode: 1},
		{name: "flapping 3×: 20 min on, 20 off for 4 h, 1/min", step: time.Minute, length: 4 * time.Hour,
			gen: func(rng *rand.Rand, e time.Duration, in bool) float64 {
				v := noise(rng, e, 0.3)
				if in && (e-warm)%(40*time.Minute) < 20*time.Minute {
					v *= 3
				}
				return v
			}, want: distdetect.DetailShiftUp, within: 30 * time.Minute, maxEpisode: 2, maxPerDay: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(9, 9))
			total := warm + c.length
			if c.length == 0 {
				total = 7 * 24 * time.Hour
			}
			fs := key(d, "a", "metric", c.step).Run(int(total/c.step), func(e time.Duration) float64 {
				return c.gen(rng, e, e >= warm && e < warm+c.length)
			})
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(warm), Anomalous: c.length > 0, MaxPerDay: c.maxPerDay,
				Want: c.want, Within: c.within, MaxEpisode: c.maxEpisode})
		})
	}
}

// burstyGen is the bursty class of the metric-series tests: σ 0.35 noise
// around 250 ms × rhythm, 10–40 min at 2–5× every ~every, and a single
// 4–10× value every ~12 h.
func burstyGen(step, every time.Duration, rhythm func(time.Duration) float64) func(*rand.Rand, time.Duration, bool) float64 {
	var end time.Duration
	f := 1.0
	return func(rng *rand.Rand, e time.Duration, _ bool) float64 {
		if e > end && rng.Float64() < float64(step)/float64(every) {
			end, f = e+time.Duration(10+30*rng.Float64())*time.Minute, 2+3*rng.Float64()
		}
		v := 250 * rhythm(e) * math.Exp(0.35*rng.NormFloat64())
		if e <= end {
			v *= f
		}
		if rng.Float64() < float64(step)/float64(12*time.Hour) {
			v *= 4 + 6*rng.Float64()
		}
		return v
	}
}

// A new tool on a perfect square wave (×4 from 08:00 to 16:00, no noise):
// after its first day, at most one finding a day (the second day's high
// phase may still be a level shift), not a slow call for every value of
// the high phase: at 5 min the key is young through the first high phase,
// and its young fit refused every value of it, so the body never learned
// the high phase (a young baseline that no ready baseline judges now learns
// every value).
func TestSquareWaveNewTool(t *testing.T) {
	const day = 24 * time.Hour
	for _, step := range []time.Duration{5 * time.Minute, time.Minute} {
		t.Run(step.String(), func(t *testing.T) {
			d := newDet(t, nil)
			fs := key(d, "a", "metric", step).Run(int(7*day/step), func(e time.Duration) float64 {
				if h := e % day; h >= 8*time.Hour && h < 16*time.Hour {
					return 1000
				}
				return 250
			})
			perDay := map[int]int{}
			for _, f := range fs {
				perDay[int(f.EventTime.Sub(base)/day)]++
			}
			for dd, n := range perDay {
				if dd >= 1 && n > 1 {
					t.Errorf("day %d: %d findings, want at most 1 (all days: %v)", dd, n, perDay)
				}
			}
		})
	}
}

// A new tool's first day has no level shifts (baseline Rhythm.young): a
// square wave's first high phase (×4 from 08:00, one call a minute) is not
// news before the tool has been seen at every hour, nor is its return. A
// shift after that day is: ×3 on top of the high phase on day 3, and on a
// tool called only 08:00–18:00 (never seen at night) a ×3 on day 2, so a
// business-hours tool is not silenced for good.
func TestNewToolFirstDay(t *testing.T) {
	const day = 24 * time.Hour
	square := func(e time.Duration) float64 {
		if h := e % day; h >= 8*time.Hour && h < 16*time.Hour {
			return 4
		}
		return 1
	}
	a0 := 2*day + 10*time.Hour
	for _, c := range []struct {
		name          string
		business      bool // calls only 08:00–18:00
		gen           func(e time.Duration) float64
		shift, shiftE time.Duration
	}{
		{name: "square wave", gen: square},
		{name: "square wave, ×3 on day 3", gen: square, shift: a0, shiftE: a0 + 4*time.Hour},
		{name: "business hours, flat", business: true, gen: func(time.Duration) float64 { return 1 }},
		{name: "business hours, ×3 on day 2", business: true, gen: func(time.Duration) float64 { return 1 },
			shift: day + 10*time.Hour, shiftE: day + 14*time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(3, 3))
			var shifts []time.Duration
			for e := time.Duration(0); e < 4*day; e += time.Minute {
				if h := e % day; c.business && (h < 8*time.Hour || h >= 18*time.Hour) {
					continue
				}
				v := 250 * c.gen(e) * (1 + 0.05*rng.NormFloat64())
				if e >= c.shift && e < c.shiftE {
					v *= 3
				}
				for _, f := range d.Observe(rec(base.Add(e), "a", "metric", "1.0.0", v), nil) {
					if f.Detail == distdetect.DetailShiftUp || f.Detail == distdetect.DetailShiftDown {
						shifts = append(shifts, e)
					}
				}
			}
			found := false
			for _, e := range shifts {
				switch {
				case c.shiftE > 0 && e >= c.shift && e < c.shift+time.Hour:
					found = true
				case e < day:
					t.Errorf("level shift in the tool's first day at %02d:%02d", e/time.Hour, e%time.Hour/time.Minute)
				default:
					t.Errorf("level shift at day %d %02d:%02d outside the shift", e/day+1, e%day/time.Hour, e%time.Hour/time.Minute)
				}
			}
			if c.shiftE > 0 && !found {
				t.Errorf("×3 at %v: level shifts at %v, want one within an hour", c.shift, shifts)
			}
		})
	}
}
