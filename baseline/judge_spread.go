package baseline

import (
	"math"
	"time"
)

// Spread and spike density: two tests next to the level test (Learn), on
// the same level-tested values (successful calls, a repeated input once),
// both judged against the key's own history and both skipped while the
// short window's level has moved (the level test owns a moving median):
//
//   - spread_shift: the dispersion of the log values about their local
//     level (the short window's mean before the value), above and below
//     it apart (a⁺ = max(d − level, 0), a⁻ = max(level − d, 0), each
//     clipped at 4m), averaged over the level test's short window; ā is
//     twice the smaller side, so a step (every value on one side of a
//     lagging level) or a run of spikes (one side) does not widen it,
//     while values scattering both ways do. m = √(2/π)·σ with σ² the level
//     test's long-run (24 h) variance of d: the mean absolute deviation of
//     a normal body, larger for a heavy tail, so it errs quiet. Where the
//     key follows its tool's learned daily rhythm (rhythm.go), d, the
//     local level and σ² are all taken from the hour's level, as the
//     level test's are: the rhythm is not spread, so it neither widens m
//     nor, at its steep hours, moves the local level off the long run
//     (which would skip the tests); without a learned rhythm a daily
//     swing widens σ² and the tests err quiet.
//     z = (ā − m)/√(var/n) with n the short window's effective samples and
//     var = σ² − m², kept between (m/2)² and 3m²; a finding needs
//     −log10 p ≥ Far, ā ≥ 2m and ā ≥ 0.15 (values typically 16 % off
//     their level). A backend that starts timing out intermittently
//     widens the spread while the median stays put.
//   - spike_density: starts of runs of values beyond the body's p99 (u;
//     at most the drift guard's anchor of it, which rises at most
//     max_drift_per_day: the body learns a dense run's spikes and its p99
//     would climb to their height within hours), counted from the short
//     window's level before the value (so a daily peak is not a run of
//     spikes), over a window of half-life max(2 h, 24 mean gaps), against
//     the 1 % of values the body puts there: with s the weighted count and
//     λ = 0.01·Σw, the Chernoff bound of a Poisson(λ) tail,
//     p ≤ e^(−λ)·(eλ/s)^s, bounds the tail of the weighted count too
//     (weights ≤ 1); a finding needs −log10 p ≥ Far, s ≥ 4 and s ≥ 3λ.
//     A run counts once, so a burst of slow calls is one spike, not many.
//
// Each is one finding per episode: an episode ends when the spread ratio
// falls below 1 (a normal key sits near 0.85) or the spike count below 1.5λ (or 1), so a sustained or
// flapping change is reported once. The memory is 16 bytes (spreadMem)
// and three flag bits in the level memory (the tail-burst test below adds
// burstMem and two more bits).
const (
	densityHalfLife = 2 * time.Hour
	densityGaps     = 24
	spreadClip      = 4    // a deviation counts at most this many long-run mean deviations
	spreadRatio     = 2    // the window's mean deviation must reach this multiple of the long-run one
	spreadEnd       = 1.0  // an episode ends below this ratio (a normal key: about 0.85)
	spreadMinDev    = 0.15 // ln: the window's mean deviation must reach this
	spreadMinMean   = 0.04 // ln: floor of m (√(2/π)·levelMinVar's σ: a constant key)
	densityP0       = tailZeta
	densityMin      = 4   // weighted run starts a finding needs at least
	densityRatio    = 3   // and at least this multiple of the expectation
	densityEnd      = 1.5 // an episode ends below this multiple (or below 1)
)

// spreadMem is the spread and density memory of a level (16 bytes:
// float32 suffices for statistics that only gate findings).
type spreadMem struct {
	su, sd float32 // short window Σw·a⁺, Σw·a⁻
	dk, dw float32 // density window Σw·(run start); Σw
}

// level.spFlags bits.
const (
	spBeyond  = 1 // the last level-tested value lay beyond u
	spSpread  = 2 // a reported spread episode is ongoing
	spDensity = 4 // a reported density episode is ongoing
)

// Dispersion is the outcome of the spread and density tests for a value.
type Dispersion struct {
	Spread         bool    // a spread_shift finding is due
	Density        bool    // a spike_density finding is due
	SpreadRatio    float64 // the window's mean log deviation over the long-run one
	SpreadDecades  float64 // −log10 p of the spread test (0 unless tested)
	Spikes         float64 // weighted run starts beyond u in the density window
	SpikesExpected float64 // their expectation (1 % of the window's weight)
	DensityDecades float64 // −log10 p bound of the density test (0 unless tested)
	Burst          bool    // a burst finding (far values within minutes) is due
	BurstCalls     float64 // weighted far values in the burst window
	BurstExpected  float64 // their expectation (10⁻³ of the window's weight)
	BurstDecades   float64 // −log10 p bound of the burst test (0 unless tested)
}

// spread runs the spread and density tests on a level-tested value: dv its
// clipped log deviation from the body's median (less the hour's expected
// offset where the key follows a learned rhythm), lnU and lnMed the body's
// log u and median, dt the event time since the last level-tested value (0 for
// the first), as the short window's decay over it. Called after the short
// window learned the value and before the long run does.
func (l *level) spread(dt, as, dv, lnU, lnMed float64, j *Judge, out *Level) {
	s := &l.sp
	ak := 1.0
	if dt > 0 {
		ak = expNeg(dt / max(float64(densityHalfLife), densityGaps*l.gap) * math.Ln2)
	}
	// The local level before this value (a spike does not lift its own
	// reference); beyond u is counted from it, so a daily rhythm's peak
	// hours are not a density of spikes.
	center := 0.0
	if l.sw > 1 {
		center = (l.swd - dv) / (l.sw - 1)
	}
	beyond := dv-center > lnU-lnMed
	// Spread only while the level holds (a moving level's transitions are
	// the level test's), spike density unless a shift is under way.
	off := math.Abs(center - l.lm)
	steady, calm := off < j.ShiftLn*shiftReach/2, off < j.ShiftLn*shiftReach
	m := max(math.Sqrt(2/math.Pi*l.lv), spreadMinMean)
	up, down, start := m/2, m/2, 0.0 // neutral while the level moves
	if steady {
		up = min(max(dv-center, 0), spreadClip*m)
		down = min(max(center-dv, 0), spreadClip*m)
	}
	if beyond && l.spFlags&spBeyond == 0 {
		start = 1
	}
	if beyond {
		l.spFlags |= spBeyond
	} else {
		l.spFlags &^= spBeyond
	}
	s.su = float32(as*float64(s.su) + up)
	s.sd = float32(as*float64(s.sd) + down)
	s.dw = float32(ak*float64(s.dw) + 1)
	s.dk = float32(ak*float64(s.dk) + start)
	if l.lw >= levelMinLong {
		l.spreadTest(m, steady, calm, j, out)
	}
}

// spreadTest judges the windows (see spread).
func (l *level) spreadTest(m float64, steady, calm bool, j *Judge, out *Level) {
	s := &l.sp
	d := &out.Disp
	ma := 2 * float64(min(s.su, s.sd)) / l.sw
	n := l.sw * l.sw / l.sw2
	d.SpreadRatio = ma / m
	if l.spFlags&spSpread != 0 && d.SpreadRatio < spreadEnd {
		l.spFlags &^= spSpread
	}
	if steady && n >= levelMinShort && d.SpreadRatio >= spreadRatio && ma >= spreadMinDev {
		v := min(max(l.lv-m*m, m*m/4), (spreadClip-1)*m*m)
		d.SpreadDecades = normDecades((ma - m) / math.Sqrt(v/n))
		if d.SpreadDecades >= j.Far && l.spFlags&spSpread == 0 {
			l.spFlags |= spSpread
			d.Spread = true
		}
	}
	k, lam := float64(s.dk), densityP0*float64(s.dw)
	d.Spikes, d.SpikesExpected = k, lam
	if l.spFlags&spDensity != 0 && (k < densityEnd*lam || k < 1) {
		l.spFlags &^= spDensity
	}
	if calm && k >= densityMin && k >= densityRatio*lam {
		d.DensityDecades = (k*math.Log(k/lam) - k + lam) / math.Ln10
		if d.DensityDecades >= j.Far && l.spFlags&spDensity == 0 {
			l.spFlags |= spDensity
			d.Density = true
		}
	}
}

// Tail bursts: several far values of a Dist within a short window, judged
// jointly. One value at p 10^−4.5 is within the false-alarm budget; five
// in ten minutes on a key that judges one value in 3,000 that far are not
// (28 s calls on a young 200 ms tool: each ~4.5 decades under the young
// fallback tail, none egregious).
//
// A value counts at two depths, p ≤ 10^−2.5 and p ≤ 10^−3.5 under its
// own judge's tail, with its log lowered by ln level_shift_ratio (a
// shift or a wider scatter of the whole key is the level and spread
// tests' one finding, not a burst), unless it is a finding of its own.
// Over a window of half-life burstHalfLife in event time, k_i of them
// among the window's weight w of values give, with λ_i = p_i·w, the
// Chernoff bound of a Poisson(λ_i) tail (as for spike_density),
// −log10 p = (k·ln(k/λ) − k + λ)/ln 10, less log10 2 for the two depths
// tested (Bonferroni): the shallow depth finds many moderately far
// values, the deep one a few very far ones (whose first values a young
// fit then learns, lowering the later ones' depth). A finding needs
// −log10 p ≥ Far and k ≥ burstMin at that depth.
//
// The test runs on every ready Dist that judges its values (a key, and a
// tool across its agents: a young agent's burst shows where it is
// judged), on every value it learns with a valid fit, whatever its status
// (unlike the level test's successful calls), and reports nothing while a
// reported level, spread or density episode of the Dist is ongoing (a
// first-day level episode, taken as reported but not emitted, is none).
// Routine clusters stay quiet: an episode (from two shallow values in the
// window until fewer than one) leaves its largest shallow count as a peak
// (decaying, half-life 7 days), and a finding needs at least burstRoutine
// times the peak at its depth, so a key whose tail comes in clusters (or
// has come in one) does not report the next of its size. The judge's own
// fit absorbs recurring far values over days as usual.
const (
	burstDecades  = 2.5 // shallow depth: −log10 p of a counted value
	burstDeep     = 3.5 // deep depth
	burstHalfLife = 30 * time.Minute
	burstMin      = 2.5 // weighted far values a finding needs at least: three within about 15 minutes
	burstEpisode  = 2   // an episode begins at this shallow count and ends below 1
	burstRoutine  = 2   // a finding needs this multiple of the earlier episodes' peak
)

// burstP0 and burstP1 are the depths' tail probabilities; burstLook the
// decades the two looks cost (log10 2).
var burstP0, burstP1, burstLook = math.Pow(10, -burstDecades), math.Pow(10, -burstDeep), math.Log10(2)

// burstMem is a Dist's burst memory (32 bytes).
type burstMem struct {
	last  int64   // event time (ns) of the last value counted into w
	k, kd float32 // window Σw·(shallow), Σw·(deep)
	w     float32 // window Σw
	peak  float32 // earlier episodes' largest k, decaying (half-life peakHalfLife)
	epMax float32 // the ongoing episode's largest k
}

// level.spFlags bits of the burst test.
const (
	spBurst   = 8  // a reported burst episode is ongoing
	spBurstEp = 16 // a burst episode (reported or not) is ongoing
)

// burst counts value v (d's own verdict) into the burst window at event
// time now and tests it (see burstMem).
func (l *level) burst(now int64, v *Verdict, j *Judge, out *Level) {
	b := &l.bu
	if b.last != 0 && now > b.last {
		dt := float64(now - b.last)
		ak := float32(expNeg(dt / float64(burstHalfLife) * math.Ln2))
		b.k *= ak
		b.kd *= ak
		b.w *= ak
		if b.peak > 0 {
			b.peak *= float32(expNeg(dt / float64(peakHalfLife) * math.Ln2))
		}
	}
	if now > b.last {
		b.last = now
	}
	b.w++
	// A level episode begun in its tool's first day was taken as reported
	// but not emitted (Rhythm.young, judge.go): it is no finding, so it
	// neither mutes the burst test nor lowers the values it counts.
	silent := l.shiftAt != 0 && v.Rhythm.young(l.shiftAt)
	// A verdict of the young egregious rule is lowered to its tail decades
	// wherever the tool has a baseline (Verdict.Pool): counted as those.
	dec, shift, own := v.Decades, v.shift, v.Decades
	if v.Egregious && v.young {
		dec = v.TailDecades()
		own = dec
	}
	if silent && shift != 0 {
		dec, shift = v.Fit.Decades(v.y), 0 // only during such an episode
	}
	// Only a value already that far unshifted pays for the second tail
	// evaluation (a few in a thousand).
	if dec >= burstDecades && own < j.Far { // not a finding of its own
		if dd := v.Fit.Decades(v.y - shift - j.ShiftLn); dd >= burstDecades {
			b.k++
			if dd >= burstDeep {
				b.kd++
			}
		}
	}
	k, w := float64(b.k), float64(b.w)
	d := &out.Disp
	d.BurstCalls, d.BurstExpected = k, burstP0*w
	switch {
	case k >= burstEpisode:
		l.spFlags |= spBurstEp
		b.epMax = max(b.epMax, b.k)
	case k < 1 && l.spFlags&spBurstEp != 0:
		b.peak = max(b.peak, b.epMax)
		b.epMax = 0
		l.spFlags &^= spBurstEp | spBurst
	}
	told := l.spFlags&(spSpread|spDensity|spBurst) != 0 || l.shiftAt != 0 && !silent && (l.epUp > 0 || l.epDown < 0)
	if told || k < burstMin || k < burstRoutine*float64(b.peak) {
		return
	}
	d.BurstDecades = poissonDecades(k, burstP0*w) - burstLook
	if kd := float64(b.kd); kd >= burstMin && kd >= burstRoutine*float64(b.peak) {
		if dd := poissonDecades(kd, burstP1*w) - burstLook; dd > d.BurstDecades {
			d.BurstCalls, d.BurstExpected, d.BurstDecades = kd, burstP1*w, dd
		}
	}
	if d.BurstDecades >= j.Far {
		l.spFlags |= spBurst
		d.Burst = true
	}
}

// poissonDecades is the Chernoff bound −log10 P(K ≥ k) of K ~ Poisson(λ),
// k ≥ λ.
func poissonDecades(k, lam float64) float64 {
	return (k*math.Log(k/lam) - k + lam) / math.Ln10
}
