package frequency

import (
	"fmt"
	"math"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// riseShift is the rise the sequential test is tuned to: K times as many
// tasks (see riseModel). Anything from ×3 to ×8 gains evidence at close to
// the best rate for its own size; a rise of ×2 or less barely gains any.
const riseShift = 4

// riseTests is the number of tests a key's false-alarm budget is split
// over (Bonferroni): the 5m and 1h spike scales and the sustained rise.
const riseTests = 3

// riseState is the key's Shiryaev–Roberts statistic for a sustained rise
// (see "Sustained rise" in the package doc): 16 bytes.
type riseState struct {
	// l is ln(1+R), R the statistic after the closed windows (0: none).
	l float32
	// thr is the count of the current window that raises the alarm (0:
	// disarmed; riseFired: it did, the window is not accumulated again).
	thr uint32
	// obs and exp are the calls and expected calls of the episode's closed
	// windows (keyState.riseN of them; see riseAdd).
	obs uint32
	exp float32
}

// idleState restores what an idle period took from the key's level (see
// "Sustained rise" in the package doc): 8 bytes.
type idleState struct {
	// lvl is the overall level (calls per window) before the key's latest
	// non-empty window closed: after a quiet period, the level it went
	// quiet at.
	lvl float32
	// def is the deficit: how far an idle period (a day or more without a
	// call) decayed the overall level below the level the key went idle
	// at; it fades at the level's own EWMA weight per window as the
	// baseline re-learns (0: none).
	def float32
}

// idleDefMin is the deficit (calls per window) below which it is dropped.
const idleDefMin = 1e-3

var lnShift = math.Log(riseShift)

// riseFired marks a window whose count raised the alarm.
const riseFired = math.MaxUint32

// riseModel is one negative-binomial model of a window's count, NB(mu, k)
// (variance mu + k·mu²), against the alternative of riseShift times as
// many tasks: the same clusters (same k·mu/(1+k·mu)), K times their number,
// i.e. NB(K·mu, k/K). Its log-likelihood ratio of a count x is
//
//	lnΓ(x + K·r) − lnΓ(x + r) + c,  r = 1/k,
//	c = lnΓ(r) − lnΓ(K·r) − (K−1)·r·ln(1 + k·mu)
//
// (Poisson, k → 0: x·ln K − (K−1)·mu). Once x ≫ r it grows only like
// (K−1)·r·ln x: one burst of a clustered key adds little (the burstier,
// the less), while a key whose windows keep running at K times their
// expectation adds a steady amount per window.
type riseModel struct {
	r, kr, c float64 // r = 1/k (0: Poisson), K·r, the constant c
	poisson  bool
	mu       float64
	// l0 is llr(0), lnΓ(K·r) − lnΓ(r) + c from the lnΓ values c was
	// built with (the same values llr(0) computes): the gap windows of a
	// roll are judged at 0 without two lnΓ each.
	l0 float64
}

// riseGamma is the part of a rise model that depends on its dispersion k
// alone: r = 1/k and lnΓ(r), lnΓ(K·r) (k below 1e-6 or NaN: Poisson).
// taskModels builds its two models with one k, so with one lnΓ pair.
type riseGamma struct {
	k, r, a, b float64
}

func newRiseGamma(k float64) riseGamma {
	if !(k >= 1e-6) { // NaN too
		return riseGamma{k: k}
	}
	r := 1 / k
	a, _ := math.Lgamma(r)
	b, _ := math.Lgamma(riseShift * r)
	return riseGamma{k: k, r: r, a: a, b: b}
}

func newRiseModel(mu, k float64) riseModel { return riseModelOf(mu, newRiseGamma(k)) }

// riseModelOf is newRiseModel(mu, g.k).
func riseModelOf(mu float64, g riseGamma) riseModel {
	const K = riseShift
	mu = riseMu(mu)
	if !(g.k >= 1e-6) {
		c := -(K - 1) * mu
		return riseModel{poisson: true, mu: mu, c: c, l0: c}
	}
	c := g.a - g.b - (K-1)*g.r*math.Log1p(g.k*mu)
	return riseModel{r: g.r, kr: K * g.r, mu: mu, c: c, l0: g.b - g.a + c}
}

// riseMu is the expectation a model is built with (at least 1e-9).
func riseMu(mu float64) float64 { return math.Max(mu, 1e-9) }

// llr is the log-likelihood ratio of count x.
func (m *riseModel) llr(x float64) float64 {
	if m.poisson {
		return x*lnShift + m.c
	}
	a, _ := math.Lgamma(x + m.kr)
	b, _ := math.Lgamma(x + m.r)
	return a - b + m.c
}

// riseModels are the two models a rate window is armed with (seasonal and
// overall, as for spikes); the test takes the smaller ratio, so its
// statistic is a supermartingale under either.
type riseModels [2]riseModel

// ratioModels are the models armed at st (the key's window scale), their
// expectations raised by the idle deficit def: the overall one by def, the
// seasonal one in proportion (the quiet windows decayed both alike).
func ratioModels(st *baseline.ScaleStats, def float32) riseModels {
	mu, m := ratioMus(st, def)
	return riseModels{newRiseModel(mu, float64(st.KS)), newRiseModel(m, float64(st.KA))}
}

// ratioMus are ratioModels' two expectations (seasonal, overall), before
// riseMu.
func ratioMus(st *baseline.ScaleStats, def float32) (mu, m float64) {
	mu, m = float64(st.Mu), float64(st.M)
	if def > 0 {
		if m > 0 {
			mu *= 1 + float64(def)/m
		} else {
			mu += float64(def)
		}
		m += float64(def)
	}
	return mu, m
}

// models are the key's rise models for its current window: both
// expectations scaled by the agent-wide factor (agentFactor).
func (ks *keyState) models() riseModels {
	if ks.riseF <= riseFOne {
		return ratioModels(&ks.rate.Sc[0], ks.idle.def)
	}
	st := ks.rate.Sc[0]
	f := float32(ks.riseF) / riseFOne
	st.Mu *= f
	st.M *= f
	return ratioModels(&st, ks.idle.def*f)
}

// rawExpected is the rise expectation of the key's armed models without
// the idle deficit or the agent-wide factor: its share of its agent's
// expected calls.
func (ks *keyState) rawExpected() float64 {
	st := &ks.rate.Sc[0]
	return max(float64(st.Mu), float64(st.M))
}

// riseFOne is keyState.riseF for a factor of 1; riseFMax the largest
// factor (×4: a rise of the key beyond its agent's is still judged).
const (
	riseFOne   = 1024
	riseFMax   = 4
	agentPrior = 10 // calls of pseudo-evidence for a factor of 1
)

// agentFactor is the factor by which the key's other tools ran above
// their expectations in the agent's previous window: (calls + 10) /
// (expected + 10) of the agent's judged keys less the key's own share,
// at least 1 and at most riseFMax, in 1/riseFOne (0 for 1). Called with
// the key rolled to the agent's current window and before it is armed,
// so its closed window (Ring's newest) and armed models are the ones it
// added to the agent then.
func (ks *keyState) agentFactor(as *agentState) uint16 {
	obs, exp := float64(as.pobs), float64(as.pexp)
	if obs == 0 && exp == 0 {
		return 0
	}
	r := &ks.rate
	if x := r.Ring[(int(r.Pos)+baseline.RingLen-1)%baseline.RingLen]; x > 0 && riseArmed(r) && r.ArmedAt == r.Start-ks.t.rp.Size {
		obs -= float64(x)
		exp -= ks.rawExpected()
	}
	f := (max(obs, 0) + agentPrior) / (max(exp, 0) + agentPrior)
	if !(f > 1) {
		return 0
	}
	return uint16(math.Round(min(f, riseFMax) * riseFOne))
}

// idleStep closes one window for the idle deficit: it fades by the
// overall level's EWMA weight, except in a quiet period (an empty long
// window), whose windows are skipped (see idleBack).
func (ks *keyState) idleStep(quiet bool) {
	if id := &ks.idle; id.def != 0 && !quiet {
		if id.def = float32(float64(id.def) * (1 - ks.t.rp.OverallAlpha)); id.def < idleDefMin {
			id.def = 0
		}
	}
}

// idleBack is called before a non-empty window closes, with lv the
// overall level then; back reports that an empty long window preceded it.
// After a quiet of a day or more (the level decayed by at least a day's
// weight: the key missed its whole daily pattern, an idle agent, not a
// night or a sparse key's gap) the deficit becomes the level the key went
// quiet at, its open deficit included, less lv: the quiet's windows count
// as skipped. A shorter quiet is part of the daily pattern the baseline
// learns: the open deficit fades with the level through it. The same
// inputs reach it under eager ticks and lazy rolls (nothing after the
// window has closed yet).
func (ks *keyState) idleBack(lv float32, back bool) {
	id := &ks.idle
	if back && id.lvl > 0 {
		if float64(lv) <= float64(id.lvl)*ks.t.idleDay {
			id.def = id.lvl + id.def - lv
		} else {
			id.def = float32(float64(id.def) * float64(lv) / float64(id.lvl))
		}
		if !(id.def >= idleDefMin) {
			id.def = 0
		}
	}
	id.lvl = lv
}

func (ms *riseModels) llr(x float64) float64 { return min(ms[0].llr(x), ms[1].llr(x)) }

// llr0 is llr(0), from the models' own lnΓ values.
func (ms *riseModels) llr0() float64 { return min(ms[0].l0, ms[1].l0) }

// expected is the larger of the two expectations (the one judged by).
func (ms *riseModels) expected() float64 { return max(ms[0].mu, ms[1].mu) }

// riseArmed reports whether the key's current thresholds were armed from
// its own warm baseline: the only windows the test judges.
func riseArmed(r *baseline.Rate) bool { return !r.Borrowed && r.Sc[0].Crit > 0 }

// softplus is ln(1 + e^v).
func softplus(v float64) float64 {
	if v > 36 {
		return v
	}
	return math.Log1p(math.Exp(v))
}

// roll is Rate.Roll for a key, feeding the windows it closes to the
// sustained-rise statistic in order: the current window (its count judged
// against what it was armed with), then the empty windows of a gap (each
// judged against the last armed models, which arming alone changes, so
// eager ticks closing them one by one and a lazy roll closing them at once
// make the same steps). An empty long window (the longest scale's windows
// without a call) ends the episode.
func (ks *keyState) roll(now int64) {
	r, t := &ks.rate, ks.t
	if r.Start == 0 || now < r.Start+t.rp.Size {
		r.Roll(now, &t.rp)
		return
	}
	x, armed, thr := r.N, r.ArmedAt == r.Start, ks.rise.thr
	y, tthr := ks.task.n, ks.task.thr
	ks.task.n, ks.task.py = 0, 0
	quietN := t.rp.N[max(t.rp.Scales-1, 0)]
	run := 0 // empty windows ending with the one being closed
	if x == 0 {
		run = 1 + ringZeros(r, quietN)
	} else {
		ks.idleBack(r.Sc[0].Mean, ringZeros(r, quietN) >= quietN)
	}
	cl, ok := r.Roll(now, &t.rp)
	if !ok {
		return
	}
	if cl.Gap == 0 {
		// The window just closed is Ring's newest (taskFactor's own share).
		ks.task.py = uint16(min(y, math.MaxUint16))
	}
	ks.rise.thr = 0
	ks.task.thr = 0
	// The task series closes the windows one by one, as eager ticks
	// would: each at the weight the rate baseline closed it with.
	w0 := int64(r.Windows) - cl.Gap
	amu, am := float64(r.Sc[0].Mu), float64(r.Sc[0].M)
	own := riseArmed(r)
	ks.taskLearn(float64(x), float64(y), taskWeight(w0, &t.rp), amu, am, own)
	learned := int64(0) // gap windows the task series has closed
	if !riseArmed(r) {
		ks.taskLearnGap(0, cl.Gap, w0, amu, am, own)
		ks.riseEnd()
		ks.task.end()
		ks.idle.def = 0 // a cold key has nothing to restore
		return
	}
	ms := ks.models()
	tm := ks.taskModels()
	switch {
	case armed && thr == riseFired:
		// The alarm consumed this window: R stays 0.
	case run >= quietN:
		ks.riseEnd()
	default:
		ks.riseAdd(float64(x), ms.llr(float64(x)), ms.expected())
	}
	switch {
	case armed && tthr == riseFired:
	case run >= quietN:
		ks.task.end()
	default:
		ks.task.add(float64(y), tm.llr(float64(y)), tm.expected(), t.riseLogA)
	}
	msDef := ks.idle.def
	ks.idleStep(run >= quietN)
	if cl.Gap > 0 && run < quietN {
		l0, e := ms.llr0(), ms.expected()
		tl0, te := tm.llr0(), tm.expected()
		for g := int64(0); g < cl.Gap; g++ {
			if run++; run >= quietN {
				ks.riseEnd()
				ks.task.end()
				break
			}
			ks.taskLearn(0, 0, taskWeight(w0+1+g, &t.rp), amu, am, own)
			learned++
			tm = ks.taskModels()
			tl0, te = tm.llr0(), tm.expected()
			if ks.idle.def != msDef {
				// Judged against the models as the fading deficit
				// leaves them at this window (as an eager tick would).
				ms, msDef = ks.models(), ks.idle.def
				l0, e = ms.llr0(), ms.expected()
				tm = ks.taskModels()
				tl0, te = tm.llr0(), tm.expected()
			}
			ks.riseAdd(0, l0, e)
			ks.task.add(0, tl0, te, t.riseLogA)
			ks.idleStep(false)
		}
	}
	ks.taskLearnGap(learned, cl.Gap, w0, amu, am, own)
}

// ringZeros is the number (at most n) of r's newest closed windows that
// were empty.
func ringZeros(r *baseline.Rate, n int) int {
	p := int(r.Pos)
	for i := 0; i < n; i++ {
		if p--; p < 0 {
			p = baseline.RingLen - 1
		}
		if r.Ring[p] != 0 {
			return i
		}
	}
	return n
}

// riseAdd closes one window of count x, log-likelihood ratio llr and
// expectation e: R ← (1+R)·exp(llr). The episode (windows, calls and
// expected calls reported with an alarm) is the run of windows since R
// was last below 1.
func (ks *keyState) riseAdd(x, llr, e float64) {
	ks.rise.step(&ks.riseN, x, llr, e, ks.t.riseLogA)
}

// step closes one window of count x, log-likelihood ratio llr and
// expectation e for the statistic whose episode has n closed windows
// (riseAdd, taskState.add), and reports whether the window began an
// episode.
func (rs *riseState) step(n *uint16, x, llr, e, logA float64) (began bool) {
	// At most the alarm level logA: while the peak guard holds an alarm
	// back, the statistic does not bank evidence beyond it.
	l := min(softplus(float64(rs.l)+llr), logA)
	if l < math.Ln2 {
		rs.obs, rs.exp, *n = 0, 0, 0
	} else {
		began = *n == 0
		rs.obs += uint32(x)
		rs.exp += float32(e)
		*n = min(*n+1, math.MaxUint16)
	}
	rs.l = float32(l)
	return began
}

// riseEnd resets the statistic (quiet, alarm, no model).
func (ks *keyState) riseEnd() { ks.rise, ks.riseN = riseState{}, 0 }

// armRise sets the count of the current window at which R reaches
// riseTests/false_alarm_rate: the smallest x with ln(1+R) + llr(x) ≥ ln A. It is
// searched by doubling and bisection (about a dozen lgamma pairs, once per
// window); 0 when no count below 2^30 would reach it.
func (ks *keyState) armRise() {
	rs := &ks.rise
	if rs.thr == riseFired && ks.rate.ArmedAt == ks.rate.Start {
		return // re-armed after the alarm in this window (reload)
	}
	rs.thr = 0
	r := &ks.rate
	if r.ArmedAt != r.Start || !riseArmed(r) || !r.Warm(&ks.t.rule) {
		return
	}
	ms := ks.models()
	hi := alarmCount(&ms, ks.t.riseLogA-float64(rs.l))
	if hi == 0 {
		return
	}
	// The peak guard of spikes, at the longest scale: the episode must
	// take that scale's sum beyond peak_ratio × its recent peak (a return
	// to a level the key has shown lately, e.g. after a quiet period or a
	// weekend, is not a rise however its expectation lagged).
	st := &r.Sc[ks.t.rp.Scales-1]
	guard := int64(math.Min(math.Floor(ks.t.rule.PeakRatio*float64(st.Peak)), 1<<30)) + 1 - int64(st.Base)
	rs.thr = uint32(max(int64(hi), guard))
}

// alarmCount is the smallest count x below 2^30 with llr(x) ≥ need under
// ms, by doubling and bisection (0: none); about a dozen lgamma pairs.
func alarmCount(ms *riseModels, need float64) uint32 {
	// min(a, b) ≥ need exactly when both are (NaN fails either way): the
	// second model's lgamma pair only when the first clears need.
	ok := func(x float64) bool { return ms[0].llr(x) >= need && ms[1].llr(x) >= need }
	const top = 1 << 30
	if !ok(top) {
		return 0
	}
	lo, hi := 0.0, 1.0 // ok(lo) false (or lo = 0), ok(hi) unknown
	for !ok(hi) {
		lo, hi = hi, hi*2
	}
	for hi-lo > 1 {
		m := math.Floor((lo + hi) / 2)
		if ok(m) {
			hi = m
		} else {
			lo = m
		}
	}
	return uint32(hi)
}

// riseHit reports whether the record just counted raised the sustained-
// rise alarm; the statistic restarts (the window is consumed).
func (ks *keyState) riseHit() bool {
	thr := ks.rise.thr
	return thr != 0 && thr != riseFired && ks.rate.N >= thr
}

// riseFinding is the "sustained_rise" finding of the record that raised
// the alarm, or ok false when the hold swallows it. The statistic restarts
// either way.
func (d *Detector) riseFinding(r *record.Record, ks *keyState) (detect.Finding, bool) {
	rt := &ks.rate
	ms := ks.models()
	ep := ks.rise.episode(ks.riseN, &ms, float64(rt.N), float64(max(rt.Sc[0].KS, rt.Sc[0].KA)))
	ks.riseEnd()
	ks.rise.thr = riseFired
	return ks.riseAlarm(r, &ep, "calls", "%s called %d times in %s by %s; expected about %.3g: a sustained rise")
}

// riseEpisode is a sustained-rise episode whose current window raised the
// alarm: ln(1+R) with that window, the count and expectation of the
// episode's windows, the dispersion it is judged with, and its windows.
type riseEpisode struct {
	lnR, obs, exp, k float64
	windows          int
}

// episode is the episode of rs (n closed windows) whose current window's
// count x raised the alarm under models ms, judged with dispersion k.
func (rs *riseState) episode(n uint16, ms *riseModels, x, k float64) riseEpisode {
	return riseEpisode{
		lnR:     float64(rs.l) + ms.llr(x),
		obs:     float64(rs.obs) + x,
		exp:     float64(rs.exp) + ms.expected(),
		k:       k,
		windows: 1 + int(n),
	}
}

// riseAlarm is the "sustained_rise" finding of episode ep of a series
// counting unit, raised by record r, or ok false when the hold swallows
// it (the call and task series share the key's hold). summary formats the
// tool, count, span, agent and expectation.
func (ks *keyState) riseAlarm(r *record.Record, ep *riseEpisode, unit, summary string) (detect.Finding, bool) {
	t, rt := ks.t, &ks.rate
	decades := (ep.lnR - math.Log(riseTests)) / math.Ln10 // p = riseTests/R (Bonferroni)
	if rt.LastFire != 0 && rt.LastFire >= rt.Start-t.rp.Size {
		// A spike of this or the previous window reported the episode:
		// its alert is firing.
		return detect.Finding{}, false
	}
	if !rt.Fire(decades, t.rp.Size, &t.rule) {
		return detect.Finding{}, false
	}
	span := ratedetect.WindowName(time.Duration(int64(ep.windows)*t.rp.Size) * time.Second)
	f := detect.Finding{
		Pattern:  detect.PatternFrequency,
		Detail:   "sustained_rise",
		Score:    score.FromDecades(decades + prior(r)),
		Observed: ep.obs,
		Expected: ep.exp,
		Unit:     unit + "/" + span,
		Summary:  fmt.Sprintf(summary, r.Tool.Name, int64(ep.obs), span, r.AgentID, ep.exp),
		Details: map[string]any{
			"window":       span,
			"windows":      ep.windows,
			"expected":     round3(ep.exp),
			"observed":     int64(ep.obs),
			"log10_p":      round3(-decades),
			"statistic":    round3(ep.lnR / math.Ln10),
			"threshold":    round3(t.riseLogA / math.Ln10),
			"shift":        riseShift,
			"dispersion":   round3(ep.k),
			"window_start": time.Unix(rt.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(r)
	return f, true
}
