package baseline

import (
	"math"
	"math/bits"
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
	// reach, counted from shiftReach of it (0: level shifts off).
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
	Fit     TailFit
	Decades float64 // −log10 of the value's tail probability (0 below u or the floor); at least EgregiousDecades when Egregious
	// Egregious: the value lies beyond the egregious bound (tail.go), so
	// it is scored at least EgregiousDecades whatever the fit says.
	Egregious bool
	// Vouched: set by the caller when another baseline that is ready to
	// judge (the tool's) found the value normal while this one is not yet
	// (Learn's ready false). The body then learns the value whatever this
	// young fit says: a key's first few hundred values cannot judge a
	// mixture's rare mode (analytical queries among point look-ups), and
	// refusing it then leaves the key's body without that mode for good.
	Vouched bool // next to Egregious: no larger Verdict
	// LearnRhythm: set by the caller before Learn when this Dist (a
	// tool's) learns its hour-of-day profile from the value (rhythm.go).
	LearnRhythm bool
	// Lapsed: set by the caller when the Dist had enough values to judge
	// and its count has fallen short of that, not below half (Learn's
	// ready false; Dist.Usable). The level test and its long run (and a
	// tool's rhythm, with LearnRhythm) then learn the value as if ready,
	// and report nothing.
	Lapsed bool
	// EgregiousBound is that bound (raw units), set only when Egregious.
	EgregiousBound float64
	// Input identifies the call's input (InputKey of its input hash; 0:
	// unknown), set by the caller before Learn: a value whose input
	// repeats one of the key's last few level-tested inputs (a retry, an
	// agent looping on one call) does not feed the level test.
	Input uint64
	// Rhythm is the hour-of-day profile (the tool's, rhythm.go) the level
	// test measures the value's deviation against, set by the caller
	// before Learn (nil: the plain long run).
	Rhythm     *Rhythm
	y          float64 // the value's log
	shift      float64 // ln shift the value was judged with (relearn widening − drift)
	far, floor float64
	beyond     bool    // the value lies beyond the egregious bound (suspended or not)
	young      bool    // Egregious by the young rule (fewer than egregiousMinCount values)
	DriftLn    float64 // δ: how far (ln) the median or u ran ahead of the allowed drift envelope
}

// Threshold is the raw value at which Decades reaches the judge's Far (at
// least its floor; +Inf without a tail). Computed on demand: findings and
// tests need it, the per-record path does not.
func (v Verdict) Threshold() float64 {
	if !v.Fit.Valid {
		return math.Inf(1)
	}
	return max(math.Expm1(v.Fit.Quantile(v.far)+v.shift), v.floor)
}

// TailDecades is −log10 p of the value under the fitted tail alone
// (Decades before the egregious rule raised it).
func (v Verdict) TailDecades() float64 {
	if !v.Fit.Valid || v.Decades == 0 {
		return 0
	}
	return v.Fit.Decades(v.y - v.shift)
}

// Beyond reports whether the value lies beyond the egregious bound of the
// Dist it was judged against, whether or not the rule was suspended there.
func (v *Verdict) Beyond() bool { return v.beyond }

// Pool lowers an egregious verdict back to the fitted tail's when the
// value is not beyond the egregious bound of the pooled baseline judged
// by pool (the tool across all agents): a key is not egregious where its
// tool's history shows such values (tail.go). A verdict of the young
// rule (fewer than 1,600 values) is always lowered: where the tool has a
// baseline, the young rule speaks only through it (a key of one agent
// judged on its own a 50 s query of a heavy SQL tool, which the tool's
// few weeks of history had not shown yet, egregious on the gate's twin).
func (v *Verdict) Pool(pool *Verdict) {
	if v.Egregious && pool.Fit.Valid && (!pool.beyond || v.young) {
		v.Decades, v.Egregious, v.EgregiousBound = v.TailDecades(), false, 0
	}
}

// Anomalous reports whether the value is a tail finding under j.
func (v *Verdict) Anomalous(j *Judge) bool { return v.Fit.Valid && v.Decades >= j.Far }

// Judge returns the verdict on raw value x against d. extraLn widens the
// tail (ln of a relearn factor; 0 for none). A baseline that rose faster
// than DriftLn per day does not carry the threshold with it (Judge.DriftLn).
func (d *Dist) Judge(g *Digester, x float64, j *Judge, extraLn float64) Verdict {
	return d.JudgeLog(g, x, LogValue(x), j, extraLn)
}

// JudgeLog is Judge with y = LogValue(x) already computed (a record judged
// against several Dists computes it once).
func (d *Dist) JudgeLog(g *Digester, x, y float64, j *Judge, extraLn float64) Verdict {
	var v Verdict
	d.JudgeLogTo(&v, g, x, y, j, extraLn)
	return v
}

// JudgeLogTo is JudgeLog writing the verdict to v: a detector judging
// every record against two Dists keeps its Verdicts in place instead of
// copying ~150 bytes per return.
func (d *Dist) JudgeLogTo(v *Verdict, g *Digester, x, y float64, j *Judge, extraLn float64) {
	*v = Verdict{far: j.Far, floor: j.Floor, y: y}
	d.tailTo(g, &v.Fit)
	if !v.Fit.Valid {
		return
	}
	if j.DriftLn > 0 && d.tail.anchorSet {
		lv := d.tail.lv
		if lv == nil {
			lv = &zeroLevel
		}
		v.DriftLn = max(0, max(v.Fit.LnP50-lv.anchor, v.Fit.LnU-lv.anchorU))
		if v.DriftLn > 0 {
			v.Fit.Sigma = min(v.Fit.Sigma, lv.anchorS)
		}
	}
	v.shift = extraLn - v.DriftLn
	// Once an upward level shift is reported, the calls of its episode
	// are judged against the shifted level: the episode is one finding
	// (level_shift_up), not a slow call every cooldown, and a call far
	// beyond even the shifted level still is one.
	if lv := d.tail.lv; lv != nil && lv.epUp > 0 && lv.shiftAt != 0 {
		v.shift += lv.epUp
	}
	if x > j.Floor {
		y := v.y - v.shift
		v.Decades = v.Fit.Decades(y)
		// One compare per value: only a value at least ten times u is
		// checked against the egregious bound (tail.go). The bound is in
		// the key's own units: the drift guard's widening (a baseline
		// still rising, as a young heavy tail's p99 does for days) does
		// not carry a value past it.
		eShift := v.shift + v.DriftLn
		if e := v.y - eShift - v.Fit.LnU; e >= egregiousMinLn && d.Count() >= egregiousYoungCount {
			// A young Dist (below egregiousMinCount) has no fit to vouch for
			// the value: it must always clear its learned maximum, by a reach
			// that grows as the history shrinks (egregiousMaxReach).
			n := d.Count()
			young := n < egregiousMinCount
			b, suspended := d.egregiousBound(&v.Fit, young)
			// d.q holds the quantiles the fit was made from (tailTo).
			lnP90, lnMax := LogValue(d.q.P90), LogValue(max(d.prevMax, d.curMax))
			lightN := math.Inf(1) // a mature Dist: no small-sample correction
			if young {
				lightN = n
			}
			b = max(b, v.Fit.lightBound(j.Far, lnP90, lightN))
			fitted := !young && v.Decades >= egregiousMinDecades
			if e >= b && (fitted || e >= egregiousMaxReach(n, v.Fit.lightMax(lnMax, lnP90, n))*(lnMax-v.Fit.LnU)) {
				v.beyond = true
				if !suspended && v.Decades < EgregiousDecades {
					v.Decades, v.Egregious, v.young = EgregiousDecades, true, young
					v.EgregiousBound = math.Expm1(v.Fit.LnU + b + eShift)
				}
			}
		}
	}
}

// Level is the outcome of the level-shift test after learning a value.
type Level struct {
	Ready   bool
	ShiftLn float64 // short-window mean log deviation minus the long-run one (signed)
	Decades float64 // −log10 one-sided p-value of the shift (0 below ShiftLn)
	Emit    bool    // a shift finding is due (significant, large enough, rate-limited)
	Drift   bool    // a drift finding is due (rate-limited)
	// Hourly: the shift is measured against the level expected at this
	// hour of the day (a learned daily rhythm), not the plain long run.
	Hourly bool

	Disp Dispersion // spread and spike density (judge_spread.go)
}

// Level-shift and drift memory (see Learn).
const (
	shortHalfLife = 10 * time.Minute
	longHalfLife  = 24 * time.Hour
	levelMinLong  = 100 // long-run weight before the test runs
	levelMinShort = 10  // effective short-window samples
	levelMinVar   = 0.05 * 0.05
	driftEvery    = int64(time.Hour)
	driftMinCount = 1000
	peakHalfLife  = 7 * 24 * time.Hour
	gapWindow     = 4         // short half-life ≥ this many mean gaps between values
	gapCap        = time.Hour // a longer gap counts as this in the mean gap
	peakMargin    = 0.405     // ln 1.5: how far beyond an earlier episode a shift must go
	shiftReach    = 15.0 / 16 // a shift reaches ShiftLn at this fraction of it (short-window convergence)
	episodeEnd    = 0.5       // an episode ends when the shift falls below this fraction of its reach (ratio 2: 1.38×)
)

// level is a Dist's level-shift and drift memory (tailState.lv), but for
// the drift anchors' fit generation and set flag (tailState.anchorGen,
// anchorSet): 256 bytes (the 256-byte size class; 224 with the step runs,
// the burst memory added 32).
type level struct {
	last         int64   // event time (ns) of the last update
	sw, sw2, swd float64 // short window: Σw, Σw², Σw·d
	lw, lm, lv   float64 // long run: weight, mean and variance of d
	anchor       float64 // log median, rising at most DriftLn per day
	anchorU      float64 // log u, likewise
	anchorS      float64 // tail σ while neither anchor was overtaken
	anchorT      int64
	peakUp       float64 // peak guard up (ln): earlier episodes' extremes, half-weighted at first, decaying
	peakDown     float64 // peak guard down (ln, ≤ 0), likewise
	epUp, epDown float64 // extremes of the ongoing episodes
	gap          float64 // mean gap between values (ns), 1/16 per value
	shiftAt      int64   // shift finding of the ongoing episode (0: none yet)
	driftAt      int64   // last drift finding due
	// inputs are the last level-tested inputs (Verdict.Input), most
	// recent first; 0 is empty.
	inputs [levelInputs]uint64
	// rr, rd: the key's decayed Σr² and Σr·(d − long mean) over the
	// offsets r of its tool's rhythm: β = rd/rr is how much of that
	// rhythm the key follows (0 for a key whose level does not).
	rr, rd  float32
	hourly  bool  // the key's level test has used its tool's rhythm (peak guard reset once)
	spFlags uint8 // spread and density flags (judge_spread.go), in rd's padding
	// Step test (Learn): per direction the CUSUM S = Σ(d − long mean − k)
	// since it last left 0 and the count of those values (in the padding).
	stepN [2]uint16
	stepS [2]float32
	rh    *Rhythm // the hour-of-day profile this Dist learns (tools only)
	sp    spreadMem
	bu    burstMem // tail bursts (judge_spread.go)
}

// levelInputs is how many recent inputs the level test remembers: an agent
// looping on one call while another task of the same key interleaves a
// few calls still repeats a remembered input.
const levelInputs = 4

// repeat reports whether in is one of the remembered inputs, and makes it
// the most recent (inserting it when new). An unknown input (0) never
// repeats.
func (l *level) repeat(in uint64) bool {
	if in == 0 {
		return false
	}
	i := 0
	for i < levelInputs-1 && l.inputs[i] != in {
		i++
	}
	hit := l.inputs[i] == in
	copy(l.inputs[1:i+1], l.inputs[:i])
	l.inputs[0] = in
	return hit
}

// InputKey maps a record's input hash to a Verdict.Input, 0 for none:
// its last 16 bytes (a hash's hex digits, 64 bits) in two loads, or
// FNV-1a of a shorter one. Only "same as a recent input" is asked of it,
// per record, so it does not hash the whole string.
func InputKey(hash string) uint64 {
	n := len(hash)
	if n == 0 {
		return 0
	}
	var h uint64
	if n >= 16 {
		h = le64(hash[n-8:]) ^ bits.RotateLeft64(le64(hash[n-16:]), 29)
	} else {
		h = HashString(hash)
	}
	if h == 0 {
		h = 1
	}
	return h
}

// le64 is the little-endian uint64 of s's first 8 bytes (one load).
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Learn lets d learn raw value x at event time t, judged v (d's own
// verdict under j). ready: d has enough samples to be judged on its own;
// level: x is a successful call's value and feeds the level-shift test.
//
// Body: an anomalous value is not learned (it teaches only the tail, at
// most one winsorized point an hour); other values are, and so is a value
// v.Vouched for while d is not ready. Tail: see learnTail. The level
// test and rhythm below run while d is ready, or has lapsed (v.Lapsed:
// they learn, nothing is reported; drift waits for ready). Level (a value
// whose v.Input repeats one of the last 4 level-tested inputs is skipped:
// a loop or retry of one call is one observation): d = ln(1+x) − ln(1+p50), clipped to
// ±max(4s, 2·ShiftLn) with s the body's log scale ((ln p90 − ln p10)/2.563),
// enters a short (half-life 10 min, or 4 mean gaps between values if
// longer; a gap counts at most an hour, so nights without calls do not
// stretch the window) and a long (24 h) exponentially
// weighted mean; the test statistic is (short − long)/√(var_long/n_short),
// and a shift is reported only beyond the largest earlier episode in its
// direction by ln 1.5 (peak guard, half-life 7 days), once per episode:
// an episode begins when the shift reaches 15/16 of ShiftLn (the
// short window approaches a step only asymptotically while the long run
// learns it, so an exact ShiftLn shift reaches that, not ShiftLn itself;
// ratio 2 counts from 1.92×) and lasts until it falls back below half
// that (1.38× for ratio 2), so a sustained shift, or one hovering at the
// ratio, is one finding, not one every few minutes.
func (d *Dist) Learn(g *Digester, x float64, t time.Time, v *Verdict, j *Judge, ready, level bool) Level {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return Level{}
	}
	if d.distMem == nil {
		d.distMem = new(distMem) // v from another Dist: learn its tail point
	}
	if v.LearnRhythm && !ready && !v.Lapsed && j.ShiftLn > 0 {
		// A tool's values before it is ready: its hours' early levels,
		// which stand in for hours its rhythm has not seen yet (rhythm.go).
		// A lapsed Dist learns its rhythm as if ready instead.
		lv := d.tail.level()
		if lv.rh == nil {
			lv.rh = new(Rhythm) // once per tool Dist
		}
		lv.rh.learnEarly(t.UnixNano(), v.y)
	}
	if !v.Fit.Valid {
		d.Add(g, x, t)
		return Level{}
	}
	y := v.y
	anomalous := v.Anomalous(j)
	d.learnTail(&v.Fit, y, t, v.beyond)
	q := d.q
	if !anomalous || v.Vouched && !ready {
		d.Add(g, x, t)
	}
	if !ready && !v.Lapsed {
		return Level{}
	}
	lv := d.tail.level()
	now := t.UnixNano()
	lnMed, lnU := v.Fit.LnP50, v.Fit.LnU
	var out Level
	if j.Far > 0 {
		lv.burst(now, v, j, &out)
	}
	// Drift anchors: follow the median and u down at once, up at most
	// DriftLn per day, from the time the body has driftMinCount values; σ
	// is remembered while neither runs ahead. They move only when the fit
	// does (its median and u are constant in between), so the block runs
	// once per refit, not per value, and is exact.
	if t := &d.tail; ready && t.anchorGen != t.gen {
		t.anchorGen = t.gen
		switch {
		case j.DriftLn <= 0 || q.Count < driftMinCount:
			t.anchorSet = false
		case !t.anchorSet:
			lv.anchor, lv.anchorU, lv.anchorT, t.anchorSet = lnMed, lnU, now, true
		case now > lv.anchorT:
			step := j.DriftLn * float64(now-lv.anchorT) / float64(24*time.Hour)
			lv.anchor = min(lnMed, lv.anchor+step)
			lv.anchorU = min(lnU, lv.anchorU+step)
			lv.anchorT = now
		}
		if t.anchorSet {
			if max(lnMed-lv.anchor, lnU-lv.anchorU) <= 0 {
				lv.anchorS = d.tail.fit.Sigma
			}
			// Findings on the median only: a young heavy tail's p99 keeps
			// climbing for days as rare values arrive, its median does not.
			if lnMed-lv.anchor >= j.DriftLn && (lv.driftAt == 0 || now-lv.driftAt >= driftEvery) {
				lv.driftAt = now
				out.Drift = true
			}
		}
	}
	if j.ShiftLn <= 0 || !level && !v.LearnRhythm {
		return out
	}
	c := max(4*v.Fit.Scale, 2*j.ShiftLn)
	dv := min(max(y-lnMed, -c), c)
	if v.LearnRhythm {
		if lv.rh == nil {
			lv.rh = new(Rhythm) // once per tool Dist
		}
		lv.rh.learn(now, dv, lnMed)
	}
	if !level {
		return out
	}
	// Repeats of one input are one observation, not n: a benign loop of
	// 3–20 identical calls (identical durations and sizes) otherwise
	// moves the short window like a shift of the whole key.
	if lv.repeat(v.Input) {
		return out
	}
	as, al, ap, dt := 1.0, 1.0, 1.0, 0.0
	if lv.last != 0 && now > lv.last {
		dt = float64(now - lv.last)
		// The short window spans at least gapWindow typical gaps, so a
		// sparse key (a metric every 5 min) still has enough values in it.
		lv.gap += (min(dt, float64(gapCap)) - lv.gap) / 16
		hl := max(float64(shortHalfLife), gapWindow*lv.gap)
		as = expNeg(dt / hl * math.Ln2)
		al = expNeg(dt / float64(longHalfLife) * math.Ln2)
		ap = expNeg(dt / float64(peakHalfLife) * math.Ln2)
	}
	lv.peakUp *= ap
	lv.peakDown *= ap
	if now > lv.last {
		lv.last = now
	}
	// Daily rhythm (rhythm.go): the deviation is taken from the level
	// expected at this hour, β·offset, β the key's own share of its
	// tool's rhythm; the short window, the long run and its variance all
	// see the deseasonalized value.
	raw := dv
	r, msq := v.Rhythm.offset(hourOfDay(now))
	if msq > 0 && float64(lv.rr) >= levelMinLong*msq {
		beta := min(max(float64(lv.rd/lv.rr), 0), rhythmMaxBeta)
		dv -= beta * r
		out.Hourly = beta > 0
		if !lv.hourly {
			// The peak guard's episodes were measured against the plain
			// long run, so the rhythm's own swing is part of them: from
			// now on deviations are against the hour's level, and the
			// peaks lose what the rhythm explains (a key with bursts on
			// top of its rhythm keeps them routine).
			hi, lo := v.Rhythm.extremes()
			lv.hourly = true
			lv.peakUp, lv.peakDown = max(0, lv.peakUp-beta*hi), min(0, lv.peakDown-beta*lo)
		}
	}
	lv.sw = as*lv.sw + 1
	lv.sw2 = as*as*lv.sw2 + 1
	lv.swd = as*lv.swd + dv
	// Spread and density see the hour-adjusted value too: a rhythm's
	// swing is not scatter about the local level.
	// Spikes count beyond u as the drift guard's anchor holds it (rising
	// at most DriftLn a day): the body learns the spikes of a dense run
	// and its p99 climbs to their height within hours.
	spikeU := lnU
	if d.tail.anchorSet {
		spikeU = min(lnU, lv.anchorU)
	}
	lv.spread(dt, as, dv, spikeU, lnMed, j, &out)
	// Test against the long run before it learns this value.
	var shortDev float64 // the short window's shift (out.ShiftLn may be a step's)
	if lv.lw >= levelMinLong {
		n := lv.sw * lv.sw / lv.sw2
		if n >= levelMinShort {
			out.Ready = true
			dev := lv.swd/lv.sw - lv.lm
			shortDev = dev
			// A step: the mean deviation since the CUSUM left 0 is the
			// shift's size without the short window's lag (stepDev). It
			// is what is tested and reported; the episode (its start, end
			// and extreme) stays the short window's, so a step's estimate
			// moves the peak guard only through a reported episode.
			test := dev
			if su := lv.stepDev(0, j.ShiftLn); su > max(dev, 0) {
				test = su
			} else if sd := lv.stepDev(1, j.ShiftLn); sd < min(dev, 0) {
				test = sd
			}
			out.ShiftLn = test
			// The short window approaches a step only asymptotically (15/16
			// of it after 4 half-lives): a shift by exactly the ratio counts
			// from there, not when noise lifts it past.
			reach := j.ShiftLn * shiftReach
			// Peak guard: a shift is news only beyond the largest earlier
			// episode in its direction (decaying, half-life 7 days), so a
			// key whose bursts are routine stops reporting them; an ongoing
			// episode is judged against the peak from before it began.
			news := (test >= reach && test >= lv.peakUp+peakMargin) ||
				(test <= -reach && test <= lv.peakDown-peakMargin)
			// The p-value only for shifts that could be reported (Erfc and
			// Log10 are the costliest step of a value).
			if news {
				out.Decades = normDecades(math.Abs(test) / math.Sqrt(max(lv.lv, levelMinVar)/n))
			}
			// One finding per episode: an episode begins when the shift
			// first reaches ShiftLn (shiftAt cleared) and ends when it
			// falls back; its peak then guards the next one.
			if (dev >= reach && lv.epUp == 0) || (dev <= -reach && lv.epDown == 0) {
				lv.shiftAt = 0
			}
			// In a tool's first day the episode is taken as reported but
			// not emitted (Rhythm.young): its calls are judged against the
			// shifted level as a reported episode's are, so a business-hours
			// tool's first morning is neither a shift nor a slow call each.
			if news && out.Decades >= j.Far && lv.shiftAt == 0 && !seenAtHour(v.Rhythm, now, test, reach) {
				lv.shiftAt = now
				out.Emit = !v.Rhythm.young(now)
				// Reported on the step's estimate before the short window
				// reached the ratio: the episode has begun.
				if test > 0 {
					lv.epUp = max(lv.epUp, test)
				} else {
					lv.epDown = min(lv.epDown, test)
				}
			}
			// An ended episode raises the peak by half its extreme, up to
			// the extreme: one episode leaves the next one of its size
			// news, a second makes that size routine. (A collapse
			// saturates at the clip, so a full-weight peak would silence
			// every later collapse for days.)
			// An episode ends only once the level has come back by half
			// the ratio (hysteresis): a shift hovering at the ratio is one
			// episode, not one per crossing.
			back := reach * episodeEnd
			switch {
			case dev >= reach:
				lv.epUp = max(lv.epUp, dev)
			case lv.epUp > 0 && dev < back:
				lv.peakUp, lv.epUp = max(lv.peakUp, min(lv.epUp, lv.peakUp+lv.epUp/2)), 0
			}
			switch {
			case dev <= -reach:
				lv.epDown = min(lv.epDown, dev)
			case lv.epDown < 0 && dev > -back:
				lv.peakDown, lv.epDown = min(lv.peakDown, max(lv.epDown, lv.peakDown+lv.epDown/2)), 0
			}
		}
	}
	// β learns (decayed like the long run) while the shift is within the
	// ratio and, once in use, only while the level is near its expected
	// value: a flattened day or a shifted trough must not teach the key
	// it has no rhythm while it is becoming a finding. (Within the ratio,
	// not outside episodes: an episode's hysteresis band would keep β
	// from learning through a strong rhythm's swings before it is used.)
	shifted := lv.epUp != 0 || lv.epDown != 0 // not tested: as the last test left it
	if out.Ready {
		shifted = math.Abs(shortDev) >= j.ShiftLn*shiftReach
	}
	if msq > 0 && !shifted && (!out.Hourly || !out.Ready || math.Abs(shortDev) < j.ShiftLn*shiftReach/2) {
		lv.rr = float32(al)*lv.rr + float32(r*r)
		lv.rd = float32(al)*lv.rd + float32(r*(raw-lv.lm))
	}
	lv.stepLearn(dv, j.ShiftLn)
	lv.lw = al*lv.lw + 1
	a := 1 / lv.lw
	delta := dv - lv.lm
	lv.lm += a * delta
	lv.lv = (1 - a) * (lv.lv + a*delta*delta)
	if !ready { // lapsed: learned, nothing to report
		return Level{}
	}
	return out
}

// Step test: two one-sided CUSUMs of the deviation from the long run,
// S⁺ = max(0, S⁺ + d − m − k) and S⁻ = max(0, S⁻ − (d − m) − k) with
// k = half the reach; while one is positive, S/n + k is the mean shift of
// the n values since it left 0 (a change point's estimate), which a step
// reaches at once, while the short window approaches it only
// asymptotically as the long run learns it: a shift of exactly the ratio
// at one value per 5 minutes is found. The run must span what the short
// window needs to converge (4 half-lives: n ≥ 16 values and 40 minutes):
// the estimate is never faster than the short window, so a burst shorter
// than that is judged as before; it only lacks the lag of a long run that
// learned part of the step meanwhile. Only a recent change point counts
// (n at most twice that): the run's mean is taken against the long run as
// it moved, so over a long run it drifts above the shift that remains,
// and by then the short window has converged anyway.
const stepSpan = 4 // short half-lives a step's run must span

// stepLearn adds deviation dv (before the long run learns it).
func (l *level) stepLearn(dv, shiftLn float64) {
	if l.lw < levelMinLong {
		l.stepS, l.stepN = [2]float32{}, [2]uint16{}
		return
	}
	k := shiftLn * (shiftReach / 2)
	x := dv - l.lm
	l.stepRun(0, x, k)
	l.stepRun(1, -x, k)
}

// stepRun advances direction i's CUSUM by s (the deviation, signed
// toward i). A value nearer the old level than the run's mean ends the
// run (s < (S/n + k)/2): the estimate is of a step that holds, not of one
// that ended (the CUSUM alone drains only slowly after a long run).
func (l *level) stepRun(i int, s, k float64) {
	sum, n := float64(l.stepS[i]), float64(l.stepN[i])
	v := sum + s - k
	if v <= 0 || 2*s*n < sum+k*n {
		l.stepS[i], l.stepN[i] = 0, 0
		return
	}
	l.stepS[i] = float32(v)
	if l.stepN[i] < math.MaxUint16 {
		l.stepN[i]++
	}
}

// stepDev is the signed mean shift of direction i's ongoing run (0: up,
// 1: down), 0 unless the run spans stepSpan short half-lives (and at most
// twice that).
func (l *level) stepDev(i int, shiftLn float64) float64 {
	if l.stepN[i] < stepSpan*gapWindow {
		return 0 // no run, or a short one: no division
	}
	n := float64(l.stepN[i])
	lo := max(stepSpan*gapWindow, stepSpan*float64(shortHalfLife)/max(l.gap, 1))
	if n < lo || n > 2*lo {
		return 0
	}
	m := float64(l.stepS[i])/n + shiftLn*shiftReach/2
	if i == 1 {
		return -m
	}
	return m
}

// seenAtHour reports whether a shift dev (reportable: |dev| ≥ reach) is
// within reach of the level its tool had at this hour on the days before,
// while the tool's rhythm is still being learned (Rhythm.provisional): a
// rhythmic tool's first days would otherwise report its rhythm (a square
// wave's daily high phase, a strong swing) as shifts until rhythmMinDays
// days are seen. The key is taken to follow the tool's rhythm fully (its
// own share β is learned only once the rhythm is in use). Called only for
// a shift about to be reported: no cost per value.
func seenAtHour(r *Rhythm, now int64, dev, reach float64) bool {
	po := r.provisional(hourOfDay(now))
	switch {
	case po == 0:
		return false
	case dev > 0:
		return dev-po < reach
	default:
		return dev-po > -reach
	}
}

// zero reports whether l is all zero bits (what a nil level reads as).
func (l *level) zero() bool {
	var bits uint64
	for _, v := range [...]float64{l.sw, l.sw2, l.swd, l.lw, l.lm, l.lv, l.anchor, l.anchorU, l.anchorS, l.peakUp, l.peakDown, l.epUp, l.epDown, l.gap} {
		bits |= math.Float64bits(v)
	}
	for _, v := range [...]int64{l.last, l.anchorT, l.shiftAt, l.driftAt} {
		bits |= uint64(v)
	}
	for _, v := range l.inputs {
		bits |= v
	}
	bits |= uint64(math.Float32bits(l.rr)) | uint64(math.Float32bits(l.rd))
	for _, v := range [...]float32{l.sp.su, l.sp.sd, l.sp.dk, l.sp.dw, l.stepS[0], l.stepS[1], l.bu.k, l.bu.kd, l.bu.w, l.bu.peak, l.bu.epMax} {
		bits |= uint64(math.Float32bits(v))
	}
	bits |= uint64(l.stepN[0]) | uint64(l.stepN[1]) | uint64(l.bu.last)
	return bits == 0 && !l.hourly && l.rh == nil && l.spFlags == 0
}

// expNeg is e^−l for l ≥ 0; below 0.1 (consecutive values of a key, the
// per-value case) a 5-term series accurate to 1e-8 replaces math.Exp.
func expNeg(l float64) float64 {
	if l < 0.1 {
		return 1 - l*(1-l*(0.5-l*(1.0/6-l*(1.0/24-l/120))))
	}
	return math.Exp(-l)
}

// normDecades is −log10 of the one-sided normal tail beyond z ≥ 0.
func normDecades(z float64) float64 {
	if z < 30 {
		return -math.Log10(0.5 * math.Erfc(z/math.Sqrt2))
	}
	// Asymptotic: φ(z)/z.
	return (z*z/2 + math.Log(z*math.Sqrt(2*math.Pi))) / math.Ln10
}
