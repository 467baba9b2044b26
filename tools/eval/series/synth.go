package series

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// Shape is a class of metric series that Synth imitates (the classes of
// public benchmark series: a daily rhythm with small noise, pure noise, a
// flat line, bursty counts, a sustained jump, a collapse toward zero, a
// rising density of spikes).
type Shape string

// Shapes.
const (
	ShapeDaily      Shape = "daily"        // ±40% daily rhythm, 5% noise; no anomaly
	ShapeNoisy      Shape = "noisy"        // log-normal noise (σ 0.3) around a constant; no anomaly
	ShapeFlat       Shape = "flat"         // one constant value; no anomaly
	ShapeBursty     Shape = "bursty"       // σ 0.35 noise, daily rhythm, 10–40 min bursts at 2–5× a few times a day, rare single spikes; no anomaly
	ShapeJumpUp     Shape = "jump_up"      // daily rhythm; the median ×3 for 6 hours on the last day
	ShapeCollapse   Shape = "collapse"     // daily rhythm; values fall to ~2% for 2 hours on the last day
	ShapeSpikeDense Shape = "spike_dense"  // noise (σ 0.15), a pair of 3× spikes 30 min apart every 6–10 h; a single one every 10–30 min for the last 6 hours
	ShapeJump2x     Shape = "jump_2x"      // 5% noise around a constant; exactly ×2 for 6 hours on the last day
	ShapeTrough     Shape = "trough"       // daily rhythm; ×2.5 for 4 hours of the night trough (1:00–5:00) on the last day
	ShapeSpread     Shape = "spread_burst" // log-normal noise (σ 0.15) around a constant; σ ×3 for 3 hours on the last day, the median unchanged
	// A strong rhythm (the night trough a fifth of the afternoon peak, 5%
	// noise) that stays flat at its geometric mean for the whole last day:
	// 2.2× above the trough at night, 2.2× below the peak in the afternoon.
	ShapeDailyFlat     Shape = "daily_flat"
	ShapeDailyJumpDown Shape = "daily_jump_down" // daily rhythm; ×0.45 for 6 hours of the day's peak (12:00–18:00) on the last day
	// Weekdays with the ±40% daily rhythm, weekends (days 6 and 7 of each
	// week from the start) at 0.7 of the level with a ±15% rhythm; 8% noise;
	// no anomaly.
	ShapeWeekly Shape = "weekly"

	// Shapes of public benchmarks' remaining classes (issue 9: shapes).
	ShapeSquare     Shape = "square_day"      // a perfect square wave: ×4 from 08:00 to 16:00, no noise; no anomaly
	ShapeSmallNoise Shape = "small_noise_day" // the ±40% daily rhythm with 1% noise; no anomaly
	// A noisy random walk, like a host's CPU: the log level mean-reverts
	// (12 h) with a stationary σ of 0.25, plus 10% noise; no anomaly.
	ShapeRandomWalk Shape = "random_walk"
	// Load-balancer spikes: σ 0.2 noise, 0.5% of values at 3–8×, then a
	// quarter of them for 3 hours on the last day.
	ShapeLBSpikes Shape = "lb_spikes"
	ShapeRamp     Shape = "ramp" // 5% noise; on the last day a steady rise from 06:00 to ×3 at 18:00, where it stays
	// The strong rhythm of daily_flat (trough a fifth of the peak) whose
	// amplitude halves for the whole last day (1.5× off at the extremes).
	ShapeAmpHalf Shape = "amp_half"
	// A flat line (no noise) with a routine ×1.3 step on day 4 and a step
	// down to ×0.4 on the last day at 10:00, where it stays.
	ShapeFlatSteps Shape = "flat_steps"
	// The square wave with 5% noise whose high phase is ×1.9 on the last
	// day (NAB's jumps on a square rhythm).
	ShapeSquareJump Shape = "square_jump"
)

// Shapes lists every shape, in a fixed order.
var Shapes = []Shape{ShapeDaily, ShapeNoisy, ShapeFlat, ShapeBursty, ShapeJumpUp, ShapeCollapse, ShapeSpikeDense, ShapeJump2x, ShapeTrough,
	ShapeDailyFlat, ShapeDailyJumpDown, ShapeWeekly, ShapeSpread,
	ShapeSquare, ShapeSmallNoise, ShapeRandomWalk, ShapeLBSpikes, ShapeRamp, ShapeAmpHalf, ShapeFlatSteps, ShapeSquareJump}

// SynthStart is the first timestamp of a synthetic series.
var SynthStart = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// Synth returns a series of the shape sh: days days at one point per step
// from SynthStart, deterministic in seed, and the window of its anomaly
// (none for the normal shapes). The anomaly, if any, lies on the last day
// so that the days before are learned.
func Synth(sh Shape, step time.Duration, days int, seed uint64) (Series, []Window) {
	rng := rand.New(rand.NewPCG(seed, uint64(len(sh))))
	n := int(time.Duration(days) * 24 * time.Hour / step)
	s := Series{Name: "synthetic/" + string(sh) + ".csv", Points: make([]Point, 0, n)}
	end := SynthStart.Add(time.Duration(days) * 24 * time.Hour)
	lastDay := end.Add(-24 * time.Hour)
	var win []Window
	var a0, a1 time.Time
	switch sh {
	case ShapeJumpUp:
		a0, a1 = lastDay.Add(10*time.Hour), lastDay.Add(16*time.Hour)
	case ShapeCollapse:
		a0, a1 = lastDay.Add(11*time.Hour), lastDay.Add(13*time.Hour)
	case ShapeSpikeDense:
		a0, a1 = lastDay.Add(12*time.Hour), lastDay.Add(18*time.Hour)
	case ShapeJump2x:
		a0, a1 = lastDay.Add(10*time.Hour), lastDay.Add(16*time.Hour)
	case ShapeTrough:
		a0, a1 = lastDay.Add(1*time.Hour), lastDay.Add(5*time.Hour)
	case ShapeDailyFlat:
		a0, a1 = lastDay, end
	case ShapeDailyJumpDown:
		a0, a1 = lastDay.Add(12*time.Hour), lastDay.Add(18*time.Hour)
	case ShapeSpread:
		a0, a1 = lastDay.Add(12*time.Hour), lastDay.Add(15*time.Hour)
	case ShapeLBSpikes:
		a0, a1 = lastDay.Add(12*time.Hour), lastDay.Add(15*time.Hour)
	case ShapeRamp:
		a0, a1 = lastDay.Add(6*time.Hour), lastDay.Add(18*time.Hour)
	case ShapeAmpHalf:
		a0, a1 = lastDay, end
	case ShapeFlatSteps:
		a0, a1 = lastDay.Add(10*time.Hour), lastDay.Add(16*time.Hour)
	case ShapeSquareJump:
		a0, a1 = lastDay.Add(8*time.Hour), lastDay.Add(16*time.Hour)
	}
	if !a0.IsZero() {
		win = []Window{{Start: a0, End: a1}}
	}
	daily := func(t time.Time) float64 {
		h := float64(t.Sub(SynthStart)%(24*time.Hour)) / float64(time.Hour)
		return 1 + 0.4*math.Sin(2*math.Pi*(h-9)/24)
	}
	square := func(t time.Time) float64 {
		if h := t.Sub(SynthStart) % (24 * time.Hour); h >= 8*time.Hour && h < 16*time.Hour {
			return 4
		}
		return 1
	}
	var burstEnd, pairSpike time.Time
	burstF, walk := 1.0, 0.0
	walkA := math.Exp(-float64(step) / float64(12*time.Hour))
	walkS := 0.25 * math.Sqrt(1-walkA*walkA)
	nextSpike := SynthStart.Add(time.Duration(rng.Float64() * 8 * float64(time.Hour)))
	for i := range n {
		t := SynthStart.Add(time.Duration(i) * step)
		v := 50.0
		switch sh {
		case ShapeDaily:
			v *= daily(t) * (1 + 0.05*rng.NormFloat64())
		case ShapeNoisy:
			v *= math.Exp(0.3 * rng.NormFloat64())
		case ShapeFlat:
		case ShapeBursty:
			if t.After(burstEnd) && rng.Float64() < float64(step)/float64(5*time.Hour) {
				burstEnd = t.Add(time.Duration(10+30*rng.Float64()) * time.Minute)
				burstF = 2 + 3*rng.Float64()
			}
			v *= daily(t) * math.Exp(0.35*rng.NormFloat64())
			if !t.After(burstEnd) {
				v *= burstF
			}
			if rng.Float64() < float64(step)/float64(12*time.Hour) {
				v *= 4 + 6*rng.Float64()
			}
		case ShapeJumpUp, ShapeCollapse:
			v *= daily(t) * (1 + 0.08*rng.NormFloat64())
			if !t.Before(a0) && t.Before(a1) {
				if sh == ShapeJumpUp {
					v *= 3
				} else {
					v *= 0.02
				}
			}
		case ShapeJump2x:
			v *= 1 + 0.05*rng.NormFloat64()
			if !t.Before(a0) && t.Before(a1) {
				v *= 2
			}
		case ShapeTrough:
			v *= daily(t) * (1 + 0.05*rng.NormFloat64())
			if !t.Before(a0) && t.Before(a1) {
				v *= 2.5
			}
		case ShapeDailyFlat:
			h := float64(t.Sub(SynthStart)%(24*time.Hour)) / float64(time.Hour)
			if t.Before(a0) {
				v *= math.Exp(0.5 * math.Log(5) * math.Sin(2*math.Pi*(h-9)/24))
			}
			v *= 1 + 0.05*rng.NormFloat64()
		case ShapeDailyJumpDown:
			v *= daily(t) * (1 + 0.05*rng.NormFloat64())
			if !t.Before(a0) && t.Before(a1) {
				v *= 0.45
			}
		case ShapeWeekly:
			h := float64(t.Sub(SynthStart)%(24*time.Hour)) / float64(time.Hour)
			if d := int(t.Sub(SynthStart) / (24 * time.Hour) % 7); d >= 5 {
				v *= 0.7 * (1 + 0.15*math.Sin(2*math.Pi*(h-9)/24))
			} else {
				v *= daily(t)
			}
			v *= 1 + 0.08*rng.NormFloat64()
		case ShapeSpikeDense:
			// Like public spike-density series: isolated spikes (there in
			// pairs on a flat line), then many more of them.
			v *= math.Exp(0.15 * rng.NormFloat64())
			dense := !t.Before(a0) && t.Before(a1)
			if dense && nextSpike.Sub(t) > 30*time.Minute {
				nextSpike = t.Add(time.Duration(20 * rng.Float64() * float64(time.Minute)))
			}
			switch {
			case !pairSpike.IsZero() && !t.Before(pairSpike):
				v *= 3
				pairSpike = time.Time{}
			case !t.Before(nextSpike):
				v *= 3
				if dense {
					nextSpike = t.Add(time.Duration((10 + 20*rng.Float64()) * float64(time.Minute)))
				} else {
					nextSpike = t.Add(time.Duration((6 + 4*rng.Float64()) * float64(time.Hour)))
				}
			}
		case ShapeSpread:
			sd := 0.15
			if !t.Before(a0) && t.Before(a1) {
				sd *= 3
			}
			v *= math.Exp(sd * rng.NormFloat64())
		case ShapeSquare:
			v *= square(t)
		case ShapeSmallNoise:
			v *= daily(t) * (1 + 0.01*rng.NormFloat64())
		case ShapeRandomWalk:
			walk = walkA*walk + walkS*rng.NormFloat64()
			v *= math.Exp(walk) * (1 + 0.1*rng.NormFloat64())
		case ShapeLBSpikes:
			p := 0.005
			if !t.Before(a0) && t.Before(a1) {
				p = 0.25
			}
			v *= math.Exp(0.2 * rng.NormFloat64())
			if rng.Float64() < p {
				v *= 3 + 5*rng.Float64()
			}
		case ShapeRamp:
			v *= 1 + 0.05*rng.NormFloat64()
			if t.After(a0) {
				v *= math.Exp(math.Log(3) * min(1, float64(t.Sub(a0))/float64(a1.Sub(a0))))
			}
		case ShapeAmpHalf:
			h := float64(t.Sub(SynthStart)%(24*time.Hour)) / float64(time.Hour)
			amp := 0.5 * math.Log(5)
			if !t.Before(a0) {
				amp /= 2
			}
			v *= math.Exp(amp*math.Sin(2*math.Pi*(h-9)/24)) * (1 + 0.05*rng.NormFloat64())
		case ShapeFlatSteps:
			if t.Sub(SynthStart) >= 3*24*time.Hour+14*time.Hour {
				v *= 1.3
			}
			if !t.Before(a0) {
				v *= 0.4
			}
		case ShapeSquareJump:
			f := square(t)
			if f > 1 && !t.Before(a0) && t.Before(a1) {
				f *= 1.9
			}
			v *= f * (1 + 0.05*rng.NormFloat64())
		}
		s.Points = append(s.Points, Point{T: t, V: math.Round(max(v, 0)*1000) / 1000})
	}
	return s, win
}

func strconvF(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
