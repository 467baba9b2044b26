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
// and three flag bits in the level memory.
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
