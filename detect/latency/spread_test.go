package latency

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
)

// Spread and spike density (baseline/judge_spread.go) on event time: a
// key's values scatter wider around an unchanged median, or its calls
// beyond p99 come far more often, from 3 days and 9 h on; normal keys of
// the classes that make a dispersion test noisy (heavy tails, bursts, a
// noisier night, one-sided spikes) stay quiet for a week.
func TestSpreadClasses(t *testing.T) {
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
	// spread: σ around 250 ms, ×k during the anomaly (median unchanged).
	spread := func(s, k float64) func(*rand.Rand, time.Duration, bool) float64 {
		return func(rng *rand.Rand, _ time.Duration, in bool) float64 {
			sd := s
			if in {
				sd *= k
			}
			return 250 * math.Exp(sd*rng.NormFloat64())
		}
	}
	// timeouts: σ 0.2 noise; a share p of calls takes 4–8× (a backend
	// timing out intermittently and retrying inside the tool).
	timeouts := func(p0, p1 float64) func(*rand.Rand, time.Duration, bool) float64 {
		return func(rng *rand.Rand, _ time.Duration, in bool) float64 {
			v := 250 * math.Exp(0.2*rng.NormFloat64())
			p := p0
			if in {
				p = p1
			}
			if rng.Float64() < p {
				v *= 4 + 4*rng.Float64()
			}
			return v
		}
	}
	for _, c := range []class{
		// At one value per 5 min the short window holds ~12 values: the
		// episode may end and be reported once more.
		{name: "σ 0.15 ×3 for 3 h, 5 min", step: 5 * time.Minute, length: 3 * time.Hour, gen: spread(0.15, 3),
			want: distdetect.DetailSpread, within: 90 * time.Minute, maxEpisode: 2},
		// Wider scatter puts many more calls beyond p99: spike_density
		// follows (one finding of each).
		{name: "σ 0.15 ×3 for 3 h, 1/min", step: time.Minute, length: 3 * time.Hour, gen: spread(0.15, 3),
			want: distdetect.DetailSpread, within: 30 * time.Minute, maxEpisode: 2},
		{name: "σ 0.3 ×2.5 for 3 h, 1/min", step: time.Minute, length: 3 * time.Hour, gen: spread(0.3, 2.5),
			want: distdetect.DetailSpread, within: 30 * time.Minute, maxEpisode: 2},
		{name: "1 % → 10 % of calls timing out for 4 h, 1/min", step: time.Minute, length: 4 * time.Hour, gen: timeouts(0.01, 0.1),
			want: distdetect.DetailDensity, within: 3 * time.Hour, maxEpisode: 2},
		// Normal keys.
		{name: "σ 0.3 ×1.3 for 6 h, 1/min (below the ratio)", step: time.Minute, length: 6 * time.Hour, gen: spread(0.3, 1.3)},
		{name: "1 % of calls timing out, 1/min", step: time.Minute, gen: timeouts(0.01, 0.01)},
		{name: "3 % of calls timing out, 5 min", step: 5 * time.Minute, gen: timeouts(0.03, 0.03), maxPerDay: 1},
		{name: "heavy tail (Pareto α 2 over p95), 1/min", step: time.Minute,
			gen: func(rng *rand.Rand, _ time.Duration, _ bool) float64 {
				v := 250 * math.Exp(0.25*rng.NormFloat64())
				if rng.Float64() < 0.05 {
					v *= math.Pow(1-rng.Float64(), -1/2.0)
				}
				return v
			}, maxPerDay: 1},
		{name: "night 1.5× noisier than day, 1/min", step: time.Minute,
			gen: func(rng *rand.Rand, e time.Duration, _ bool) float64 {
				s := 0.2
				if h := e % (24 * time.Hour); h < 6*time.Hour {
					s = 0.3
				}
				return 250 * daily(e) * math.Exp(s*rng.NormFloat64())
			}},
		{name: "bursty, 1/min", step: time.Minute, gen: burstyGen(time.Minute, 3*time.Hour, daily), maxPerDay: 3},
		{name: "bursty, 5 min", step: 5 * time.Minute, gen: burstyGen(5*time.Minute, 3*time.Hour, daily), maxPerDay: 3},
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
			detecttest.CheckEpisode(t, fs, detecttest.Episode{Start: base.Add(warm), Anomalous: c.length > 0 && c.want != "", MaxPerDay: c.maxPerDay,
				Want: c.want, Within: c.within, MaxEpisode: c.maxEpisode})
			for _, f := range fs {
				if c.want == "" && (f.Detail == distdetect.DetailSpread || f.Detail == distdetect.DetailDensity) {
					t.Errorf("normal key: %s at %s (%s)", f.Detail, f.EventTime.Format("01-02 15:04"), f.Summary)
				}
			}
		})
	}
}
