package latency

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// hourOfDay is e's hour of the day (base is midnight UTC).
func hourOfDay(e time.Duration) float64 {
	return float64(e%(24*time.Hour)) / float64(time.Hour)
}

// Level shifts against a learned daily rhythm (baseline/rhythm.go): after
// 8 warm days, an anomaly at a time of day where the plain 24 h long run
// hides it (the night trough ×2.5 counts from the day's mean as ×1.5; a
// halved afternoon peak as ×0.8), or a strong rhythm gone flat for a day.
// Each is found within its bound; daily, weekly-rhythm and bursty keys stay
// silent, and a change within the ratio of the hour's level too.
func TestDailyRhythmClasses(t *testing.T) {
	const day = 24 * time.Hour
	type class struct {
		name       string
		step       time.Duration
		start      time.Duration // anomaly start after the warm days (time of day)
		length     time.Duration // anomaly (0: none)
		days       int           // total days for a normal key (default 10)
		gen        func(rng *rand.Rand, e time.Duration, in bool) float64
		want       string
		within     time.Duration
		maxEpisode int
		maxPerDay  int
	}
	sine := func(amp float64) func(e time.Duration) float64 {
		return func(e time.Duration) float64 { return 1 + amp*math.Sin(2*math.Pi*(hourOfDay(e)-9)/24) }
	}
	day40 := sine(0.4)
	scaled := func(k, noise float64) func(*rand.Rand, time.Duration, bool) float64 {
		return func(rng *rand.Rand, e time.Duration, in bool) float64 {
			v := 250 * day40(e) * (1 + noise*rng.NormFloat64())
			if in {
				v *= k
			}
			return v
		}
	}
	// weekly: weekdays with the ±40% rhythm, weekends at 0.7 with ±15%.
	weekly := func(rng *rand.Rand, e time.Duration, _ bool) float64 {
		v := 250 * day40(e)
		if e/day%7 >= 5 {
			v = 250 * 0.7 * sine(0.15)(e)
		}
		return v * (1 + 0.08*rng.NormFloat64())
	}
	// strong: the night trough a fifth of the afternoon peak; flat at the
	// geometric mean during the anomaly.
	strong := func(rng *rand.Rand, e time.Duration, in bool) float64 {
		v := 250 * (1 + 0.05*rng.NormFloat64())
		if !in {
			v *= math.Exp(0.5 * math.Log(5) * math.Sin(2*math.Pi*(hourOfDay(e)-9)/24))
		}
		return v
	}
	for _, c := range []class{
		{name: "daily ±40%, 5 min", step: 5 * time.Minute, gen: scaled(1, 0.05)},
		{name: "daily ±40%, 1/min", step: time.Minute, gen: scaled(1, 0.05)},
		{name: "weekly rhythm, 5 min", step: 5 * time.Minute, days: 21, gen: weekly},
		{name: "bursty on the rhythm, 5 min", step: 5 * time.Minute, gen: burstyGen(5*time.Minute, 5*time.Hour, day40), maxPerDay: 3},
		{name: "bursty on the rhythm, 1/min", step: time.Minute, gen: burstyGen(time.Minute, 5*time.Hour, day40), maxPerDay: 3},
		{name: "night trough ×2.5 for 4 h, 5 min", step: 5 * time.Minute, start: time.Hour, length: 4 * time.Hour,
			gen: scaled(2.5, 0.05), want: distdetect.DetailShiftUp, within: time.Hour, maxEpisode: 1},
		{name: "night trough ×2.5 for 4 h, 1/min", step: time.Minute, start: time.Hour, length: 4 * time.Hour,
			gen: scaled(2.5, 0.05), want: distdetect.DetailShiftUp, within: 45 * time.Minute, maxEpisode: 1},
		{name: "afternoon peak ×0.45 for 6 h, 5 min", step: 5 * time.Minute, start: 12 * time.Hour, length: 6 * time.Hour,
			gen: scaled(0.45, 0.05), want: distdetect.DetailShiftDown, within: 90 * time.Minute, maxEpisode: 1},
		{name: "afternoon peak ×1.6 for 6 h, 5 min (within the ratio)", step: 5 * time.Minute, start: 12 * time.Hour,
			length: 6 * time.Hour, gen: scaled(1.6, 0.05)},
		{name: "strong rhythm flat for a day, 5 min", step: 5 * time.Minute, length: day, gen: strong,
			want: distdetect.DetailShiftUp, within: 3 * time.Hour, maxEpisode: 3, maxPerDay: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := newDet(t, nil)
			rng := rand.New(rand.NewPCG(9, 9))
			start := 8*day + c.start
			total := start + c.length
			if c.length == 0 {
				total = time.Duration(max(c.days, 10)) * day
			}
			fs := key(d, "a", "metric", c.step).Run(int(total/c.step), func(e time.Duration) float64 {
				return c.gen(rng, e, e >= start && e < start+c.length)
			})
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(start), Anomalous: c.length > 0, MaxPerDay: c.maxPerDay,
				Want: c.want, Within: c.within, MaxEpisode: c.maxEpisode})
		})
	}
}
