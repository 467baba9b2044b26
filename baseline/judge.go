package baseline

import (
	"math"
	"time"
)

// Judge holds the settings with which a distribution detector judges a
// value against a Dist and lets the Dist learn it.
type Judge struct {
	// Far is −log10 of the false-alarm rate: a value whose tail
	// probability is at most 10^−Far is anomalous.
	Far float64
	// Floor: values at or below it are never anomalous (raw units).
	Floor float64
	// ShiftLn is ln of the smallest median ratio a level shift must
	// reach (0: level shifts off).
	ShiftLn float64
	// DriftLn is ln of the fastest rise per day of the body's median and
	// p99 (u) that the judge follows. When either runs ahead of its
	// envelope by δ, values are judged δ higher (excesses count from the
	// envelope, not from the risen u) and the tail scale σ stays at its
	// value from before the drift; the median running ahead by a further
	// day's worth raises a drift finding (0: no drift guard).
	DriftLn float64
}

// Verdict is a value judged against a Dist.
type Verdict struct {
	Fit       TailFit
	Decades   float64 // −log10 of the value's tail probability (0 below u or the floor)
	Threshold float64 // raw value at which Decades reaches Far
	DriftLn   float64 // δ: how far (ln) the median or u ran ahead of the allowed drift envelope
}

// Anomalous reports whether the value is a tail finding under j.
func (v *Verdict) Anomalous(j *Judge) bool { return v.Fit.Valid && v.Decades >= j.Far }

// Judge returns the verdict on raw value x against d. extraLn widens the
// tail (ln of a relearn factor; 0 for none). A baseline that rose faster
// than DriftLn per day does not carry the threshold with it (Judge.DriftLn).
func (d *Dist) Judge(g *Digester, x float64, j *Judge, extraLn float64) Verdict {
	v := Verdict{Fit: d.Tail(g), Threshold: math.Inf(1)}
	if !v.Fit.Valid {
		return v
	}
	if lv := &d.tail.lv; j.DriftLn > 0 && lv.anchorSet {
		v.DriftLn = math.Max(0, math.Max(v.Fit.LnP50-lv.anchor, v.Fit.LnU-lv.anchorU))
		if v.DriftLn > 0 {
			v.Fit.Sigma = math.Min(v.Fit.Sigma, lv.anchorS)
		}
	}
	shift := extraLn - v.DriftLn
	v.Threshold = math.Max(math.Expm1(v.Fit.Quantile(j.Far)+shift), j.Floor)
	if x > j.Floor {
		v.Decades = v.Fit.Decades(LogValue(x) - shift)
	}
	return v
}

// Level is the outcome of the level-shift test after learning a value.
type Level struct {
	Ready   bool
	ShiftLn float64 // short-window mean log deviation minus the long-run one (signed)
	Decades float64 // −log10 one-sided p-value of the shift
	Emit    bool    // a shift finding is due (significant, large enough, rate-limited)
	Drift   bool    // a drift finding is due (rate-limited)
}

// Level-shift and drift memory (see Learn).
const (
	shortHalfLife = 10 * time.Minute
	longHalfLife  = 24 * time.Hour
	levelMinLong  = 100 // long-run weight before the test runs
	levelMinShort = 10  // effective short-window samples
	levelMinVar   = 0.05 * 0.05
	emitEvery     = int64(5 * time.Minute)
	driftEvery    = int64(time.Hour)
	driftMinCount = 1000
)

type level struct {
	last         int64   // event time (ns) of the last update
	sw, sw2, swd float64 // short window: Σw, Σw², Σw·d
	lw, lm, lv   float64 // long run: weight, mean and variance of d
	anchor       float64 // log median, rising at most DriftLn per day
	anchorU      float64 // log u, likewise
	anchorS      float64 // tail σ while neither anchor was overtaken
	anchorT      int64
	anchorSet    bool
	shiftAt      int64 // last shift finding due
	driftAt      int64 // last drift finding due
}

// Learn lets d learn raw value x at event time t, judged v (d's own
// verdict under j). ready: d has enough samples to be judged on its own;
// level: x is a successful call's value and feeds the level-shift test.
//
// Body: an anomalous value is not learned (it teaches only the tail, at
// most one winsorized point an hour); other values are. Tail: see learnTail. Level: d = ln(1+x) − ln(1+p50), clipped to
// ±max(4s, 2·ShiftLn) with s the body's log scale ((ln p90 − ln p10)/2.563),
// enters a short (half-life 10 min) and a long (24 h) exponentially
// weighted mean; the test statistic is (short − long)/√(var_long/n_short).
func (d *Dist) Learn(g *Digester, x float64, t time.Time, v *Verdict, j *Judge, ready, level bool) Level {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Level{}
	}
	if !v.Fit.Valid {
		d.Add(g, x, t)
		return Level{}
	}
	y := LogValue(x)
	anomalous := v.Anomalous(j)
	d.learnTail(&v.Fit, y, t)
	q := d.q
	if !anomalous {
		d.Add(g, x, t)
	}
	if !ready {
		return Level{}
	}
	lv := &d.tail.lv
	now := t.UnixNano()
	lnMed, lnU := v.Fit.LnP50, v.Fit.LnU
	var out Level
	// Drift anchors: follow the median and u down at once, up at most
	// DriftLn per day, from the time the body has driftMinCount values; σ
	// is remembered while neither runs ahead.
	switch {
	case j.DriftLn <= 0 || q.Count < driftMinCount:
		lv.anchorSet = false
	case !lv.anchorSet:
		lv.anchor, lv.anchorU, lv.anchorT, lv.anchorSet = lnMed, lnU, now, true
	case now > lv.anchorT:
		step := j.DriftLn * float64(now-lv.anchorT) / float64(24*time.Hour)
		lv.anchor = math.Min(lnMed, lv.anchor+step)
		lv.anchorU = math.Min(lnU, lv.anchorU+step)
		lv.anchorT = now
	}
	if lv.anchorSet {
		ahead := math.Max(lnMed-lv.anchor, lnU-lv.anchorU)
		if ahead <= 0 {
			lv.anchorS = d.tail.fit.Sigma
		}
		// Findings on the median only: a young heavy tail's p99 keeps
		// climbing for days as rare values arrive, its median does not.
		if lnMed-lv.anchor >= j.DriftLn && (lv.driftAt == 0 || now-lv.driftAt >= driftEvery) {
			lv.driftAt = now
			out.Drift = true
		}
	}
	if !level || j.ShiftLn <= 0 {
		return out
	}
	c := math.Max(4*v.Fit.Scale, 2*j.ShiftLn)
	dv := math.Min(math.Max(y-lnMed, -c), c)
	as, al := 1.0, 1.0
	if lv.last != 0 && now > lv.last {
		dt := float64(now - lv.last)
		as = math.Exp2(-dt / float64(shortHalfLife))
		al = math.Exp2(-dt / float64(longHalfLife))
	}
	if now > lv.last {
		lv.last = now
	}
	lv.sw = as*lv.sw + 1
	lv.sw2 = as*as*lv.sw2 + 1
	lv.swd = as*lv.swd + dv
	// Test against the long run before it learns this value.
	if lv.lw >= levelMinLong {
		n := lv.sw * lv.sw / lv.sw2
		if n >= levelMinShort {
			out.Ready = true
			out.ShiftLn = lv.swd/lv.sw - lv.lm
			z := math.Abs(out.ShiftLn) / math.Sqrt(math.Max(lv.lv, levelMinVar)/n)
			out.Decades = normDecades(z)
			if out.Decades >= j.Far && math.Abs(out.ShiftLn) >= j.ShiftLn && (lv.shiftAt == 0 || now-lv.shiftAt >= emitEvery) {
				lv.shiftAt = now
				out.Emit = true
			}
		}
	}
	lv.lw = al*lv.lw + 1
	a := 1 / lv.lw
	delta := dv - lv.lm
	lv.lm += a * delta
	lv.lv = (1 - a) * (lv.lv + a*delta*delta)
	return out
}

// normDecades is −log10 of the one-sided normal tail beyond z ≥ 0.
func normDecades(z float64) float64 {
	if z < 30 {
		return -math.Log10(0.5 * math.Erfc(z/math.Sqrt2))
	}
	// Asymptotic: φ(z)/z.
	return (z*z/2 + math.Log(z*math.Sqrt(2*math.Pi))) / math.Ln10
}
