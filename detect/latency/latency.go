// Package latency detects pattern 5 (docs/design.md §5, "latency"): a tool call
// whose invocation.duration_ms is far above the usual execution time for
// that (agent, tool) — a hung dependency, a tool doing far more work than
// usual.
//
// # Baselines
//
// Each (agent, tool) key and each tool (all agents) keeps baseline.Dists
// of durations over two event-time epochs (baseline.epoch). Every call that
// ran to completion counts (success or error). Denied calls never ran, and
// timed-out calls report the caller's timeout, not the tool's execution
// time: both are skipped. A single timeout is ordinary noise on most tools;
// it shows in the per-tool status metrics, not as a latency alert. A key with fewer than min_samples calls borrows its tool's
// baseline; if that has fewer too, nothing alerts (warm-up).
//
// # Tool versions
//
// A new tool.version may legitimately shift latency. Each key keeps at most
// two version slots, one Dist each. A call with a version not in either
// slot replaces the slot with fewer samples and keeps the other as the
// reference: the new version starts a fresh Dist, and until it has
// relearn_samples calls the reference's threshold × relearn_factor
// applies (so 30 s where p99 was 400 ms still alerts); after that the new
// version's own distribution is used. Calls of the version in the other
// slot (agents not yet upgraded during a rollout) use and feed that slot,
// so a mixed rollout does not flap.
//
// # Tail model and threshold
//
// Each baseline.Dist fits its own tail (baseline/tail.go): peaks over
// threshold (SPOT) on log durations y = ln(1+ms), with u = the body's p99
// (t-digest, ζ = 0.01) and a generalized Pareto fit (probability-weighted
// moments) to the last 32 log excesses over it; ξ is shrunk and clamped to
// [0, 0.5] and σ inflated by 1 + 1/√n, so the fitted tail errs wide. A
// call's tail probability is
//
//	p = ζ · (1 + ξ·(y − ln u)/σ)^(−1/ξ)        (ζ · e^(−(y − ln u)/σ) for ξ = 0)
//
// and it is a finding when p ≤ false_alarm_rate (default 10⁻⁶: about one
// false finding per million calls of a key — a key at one call a minute
// raises one every ~2 years, a fleet of 1,000 such keys ~1.4 a day, at the
// info band) and the call took more than min_alert_ms. A heavy tail (a SQL
// tool whose p99.9 is 10–20× its p99) has large σ and moves the threshold
// out by itself; a light one keeps it close (σ 0.4 log-normal: ~8× p99).
// A key with fewer than 16 excesses uses a conservative fallback: an
// exponential log tail through the body's p90 and p99, its slope at least
// a log-normal body's of the key's robust log scale s (0.454·s: a young
// digest's p90 and p99 may nearly coincide).
//
// While a new version relearns, the previous version's tail judges with
// the call's log value lowered by ln(relearn_factor).
//
// # Score
//
//	score = clamp(10·(−log10 p − 2 + prior), 0, 100)
//
// the shared scale of detect/score: p = 10⁻⁶ scores 40 (info), 10⁻⁸ 60
// (warning), 10⁻¹⁰ 80 (critical); prior = score.Prior(trust level,
// data classification × environment), 0–2 decades, only ever raising the
// score of a call that already crossed the threshold. 30 s against a
// ~400 ms p99 (σ ≈ 0.3) scores 100.
//
// # Egregious calls
//
// Because the fitted tail is never lighter than exponential in log space,
// far calls on wide keys would score lower than a log-normal model says,
// and noisily (30 s against a ~460 ms p99 at σ 1–1.5: fitted p 10⁻⁴·⁵–
// 10⁻⁷). A call of a key with at least 1,600 calls is egregious, and its
// −log10 p is raised to at least 10 (critical), when it is at least 10×
// p99, at least p99²/p50, beyond what a log-normal of the body's width
// (the narrower of its p10–p90 and p50–p90 log scales) puts at
// false_alarm_rate (4.75σ above the median at 10⁻⁶: a call an honest
// light-tailed model finds ordinary is not egregious under any heavier
// tail either), and 1.5× (in log, over p99) beyond the second
// largest of the key's last 32 exceedances, and either the fit puts it at
// p ≤ 10⁻⁴ or it is likewise 1.5× beyond the largest call learned in the
// key's two epochs; a key judged on its own baseline must also be beyond
// its tool's bound. Three egregious calls an hour or more apart in the
// tail ring suspend the rule (a recurring far tail is absorbed as below).
// A young baseline of 300–1,600 calls (a new tool, an autoscaled agent
// borrowing its tool's) has no fit: the rule applies to it too, but the
// call must always clear the largest call learned, by 1.5·ln 16/ln(n/100)
// times in log over p99 (2 at 800 calls, 3 at 400), which keeps the
// rule's false-alarm rate on a Pareto tail at its 1,600-call level —
// or by 1.5 where the body's log-normal explains that call (n·P ≥ 1 %:
// a lucky draw of a light tail, no evidence of a heavy one; 28 s after a
// z 3.8 maximum of 8.7 s on a 191 ms median is critical) — its 4.75σ is
// raised by √(1 + (π/2 + 2·4.75²)/n) for the young digest's sampling
// error (4.93σ at 630 calls), and its p99²/p50 uses the width 2.326·s of the robust log scale s when that
// is less (a young p99 rests on a handful of calls); a
// young key judged on its own defers to its tool's baseline (the young
// rule applies on the tool's, where a new agent is judged).
// So 30 s against 460 ms p99 is critical on log-normal keys of σ 0.5–1.5
// and on a Pareto-tailed (α 3) key, while a SQL tool whose epochs hold
// legitimate 20–50 s queries stays quiet (baseline/tail.go has the
// reasons; the finding carries egregious and egregious_bound).
//
// # Absorbing a tail, not learning anomalies
//
// A call the tail calls anomalous is not learned by the body. Tail
// entries are winsorized at u + σ·ln 32 and a winsorized entry enters at
// most once an hour, so exceedances that recur as part of the key's
// behaviour widen the tail over hours to days (each adds about a tenth to
// σ) and stop alerting, while one burst adds a single point. A young
// key learns what its ready tool baseline found normal; while no baseline
// is ready (a new tool), the young baselines learn every call: nothing
// judges it, and a young fit would refuse a mode it has not seen yet (a
// square wave's high phase) for good.
//
// # Level shifts
//
// Successful calls also feed a level test, except a call whose
// input_hash repeats one of the last 4 inputs the key's test took (a
// retry, an agent looping on one call: identical durations, one
// observation, not a shift of the key): the log deviation from the
// body's median, clipped to ±max(4s, 2·ln level_shift_ratio) (s the body's
// robust log scale), enters a short (10 min half-life, or 4 mean gaps
// between calls on a sparse key, a gap counting at most an hour) and a
// long (24 h) exponentially weighted mean. With n the short window's
// effective samples, z = |short − long| / √(var_long / n) gives a
// one-sided normal p; when p ≤ false_alarm_rate and the shift is at least
// level_shift_ratio (default 2, up or down; counted from 15/16 of its log,
// 1.92× for 2, because the short window approaches a step only
// asymptotically while the long one learns it), a level_shift_up /
// level_shift_down finding scores score.FromDecades(−log10 p + prior),
// once per episode (from the shift reaching the ratio until it falls
// back below half its log, 1.38× for 2): a 6-hour shift or one that
// hovers at the ratio is one finding, not one every few minutes. For a
// step the shift tested is the larger of the short window's and the mean
// deviation since a CUSUM's change point (two one-sided CUSUMs of the
// deviation from the long mean, k half the reach), used once that run
// spans the short window's convergence (16 calls and 40 min, at most
// twice that; a call nearer the old level than the run's mean ends it):
// the long mean learns part of a step meanwhile, so an exact 2× step at
// one call per 5 minutes otherwise never reaches 1.92×. A peak
// guard learns a key's routine bursts: a shift must also exceed the
// earlier episodes in its direction (decaying, half-life 7 days) by
// ln 1.5, where the first episode counts half its size and the second
// makes it routine, judged against the peak from before the ongoing
// episode. A 3× shift at one call a minute (σ ≤ 0.8) or a collapse to
// ~1 ms is found within 10–20 minutes, at one value every 5 minutes
// within 30–45 minutes; an exact 2× on a quiet key (σ 0.1) within 1–3 h
// (before, only if noise lifted it past 2×); ±30% day/night does not
// reach the ratio. Once an upward shift is reported, the calls of its
// episode are judged against the shifted level (the episode is that one
// finding, not a slow call every cooldown; a call far beyond the shifted
// level still is slow).
//
// Daily rhythm: each tool learns an hour-of-day profile of its calls' log
// deviation (baseline/rhythm.go: 24 UTC buckets decaying ×0.9 a day, used
// once every hour has been seen on 3 days and the spread of the hourly
// means is at least a tenth of the within-hour variance, 9× their noise,
// with an hour ≥ 0.1 in log off the day's mean). A key follows it by its
// own share β (its regression on the offsets, decayed like the long run,
// learned while the shift is within the ratio and near its expected
// level, clamped to [0, 4]; 0 for a key that does not share its tool's
// rhythm), and its
// level test takes each deviation from the hour's level, β·offset: a ×2.5
// night trough, a halved afternoon peak or a strong rhythm gone flat for
// a day is found (the finding says "against its usual level at this hour
// of the day", details against: hour_of_day) and the day's swing is not.
// While the rhythm is still learning (every hour seen, some on fewer than
// 3 days), a shift within the ratio of the tool's level at this hour on
// the days before is not reported (a square wave's high phase, a strong
// swing on days 2–3; the key is taken to follow the tool fully). An hour
// the rhythm has not seen yet counts with the tool's mean log value at
// that hour before it was ready (its first min_samples calls: at one per
// 5 minutes most of its first day), so the next morning's routine peak
// is not a shift either. In the tool's first 24 hours no shift is
// reported at all (it has not been seen at every hour: a business-hours
// tool's first morning is its rhythm, not news); such an episode is taken
// as reported, so its calls are judged against the shifted level.
// Until then (young keys and tools, sparse hours, no significant rhythm)
// the long mean follows the day and such a shift counts from the day's
// mean. When a key starts measuring against the hour, its peak guard
// loses what the rhythm explained (β times its largest offset).
//
// # Spread and spike density
//
// The level test's values (successful calls, a repeated input once) also
// feed two tests of the key's own history (baseline/judge_spread.go),
// each one finding per episode:
//
//   - spread_shift: the values scatter wider about an unchanged median (a
//     backend starting to time out intermittently). Over the short window,
//     ā = twice the smaller of the mean deviations above and below the
//     local level (the window's mean before the value), each value's
//     clipped at 4m; m = √(2/π)·σ from the level test's long-run (24 h)
//     variance, the mean absolute deviation of a normal body (larger on a
//     heavy-tailed key, which errs quiet). Where the key follows its
//     tool's daily rhythm, values, local level and σ are all taken from
//     the hour's level, as the level test's are (the rhythm is not
//     scatter); before that a rhythm widens σ and errs quiet. A step or a run of
//     one-sided spikes puts values on one side only and does not count.
//     Finding when z = (ā − m)/√(var/n) gives −log10 p ≥ −log10
//     false_alarm_rate, ā ≥ 2m and ā ≥ 0.15 (n the window's effective
//     samples, var = σ² − m² within [(m/2)², 3m²]), while the short
//     window's level is within half the level-shift reach of the long
//     run; the episode ends when ā/m falls below 1. σ ×3 for 3 h is found
//     in about 20 min at one call a minute, 80 min at one per 5 minutes.
//   - spike_density: starts of runs of calls beyond p99 (the drift guard's
//     anchor of it once set, so a dense run's spikes do not lift the
//     threshold they are counted against), counted from the local level,
//     over a window of half-life max(2 h, 24 mean gaps), against the 1 %
//     the body puts beyond p99: the Chernoff bound of a Poisson tail,
//     −log10 p = (s·ln(s/λ) − s + λ)/ln 10 with s the weighted count and
//     λ = 0.01·Σw, needs ≥ −log10 false_alarm_rate, s ≥ 4 and s ≥ 3λ;
//     a run counts once (a burst is one spike), and the episode ends when
//     s falls below 1.5λ or 1. 1 % → 10 % of calls taking 4–8× is found
//     in under 3 h at one call a minute.
//
// Both score score.FromDecades(−log10 p + prior) and add 16 bytes to a
// key's level memory (Dist state version 7).
//
// Tail bursts (a spike_density finding with details burst: true): every
// ready baseline that judges its calls (the key's, and the tool's across
// agents, so a young agent's burst is seen where it is judged) counts the
// calls, of any status and no finding of their own, its tail puts at
// p ≤ 10^−2.5 and at p ≤ 10^−3.5 with their log lowered by ln
// level_shift_ratio, over a window of half-life 30 min: k of them at
// depth p among window weight w give −log10 p = (k·ln(k/λ) − k + λ)/ln 10
// − log10 2, λ = p·w; a finding needs ≥ −log10 false_alarm_rate and
// k ≥ 2.5 (three calls within about 15 minutes), once per episode, not
// during a reported level, spread or density episode (a tool's first-day
// level episode is not emitted, so it does not count), and k at least
// twice the largest count of the key's earlier episodes (decaying,
// half-life 7 days: a tail that comes in clusters is routine). Five 28 s
// calls in ten minutes on a young ~200 ms tool (each ~4.5 decades, none
// egregious) are found at the third (baseline/judge_spread.go; 32 bytes,
// Dist state version 10).
//
// # Drift guard
//
// From 1,000 calls on, the body's log median and log p99 each have an
// anchor that follows them down at once and up by at most
// ln(max_drift_per_day) per day. When either runs ahead by δ, calls are
// judged as if δ larger and σ stays at its pre-drift value, so a slow
// poisoning cannot lift the threshold faster than the allowed rate; a
// median ahead by a full allowed day raises a drift finding (score
// 10·(2 + 2·δ/ln(max_drift_per_day)), at most hourly).
//
// # Reload and snapshots
//
// SetParams swaps thresholds and overrides without touching baselines or
// version slots: each key re-resolves its configuration on its next call
// (a generation compare, so nothing is looked up per record otherwise).
// MarshalState / UnmarshalState save and restore every baseline exactly
// (state.go).
//
// The key stores, reload, Tick, the settings, score and shift/drift
// findings are the shared core in detect/internal/distdetect (also used by
// output_size); the tail, level and drift models are baseline's; version
// slots, baseline choice and the slow finding are this package's.
//
// The detector is single-goroutine and allocates on Observe only when it
// creates a key, sees a new tool version, or emits a finding.
package latency

import (
	"math"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/record"
)

// DetailSlow is the Detail of a finding for a call far slower than its
// baseline.
const DetailSlow = "slow"

// Baseline scopes reported in Details["baseline_scope"].
const (
	ScopeAgent            = "agent"
	ScopeTool             = "tool"
	ScopeAgentPrevVersion = "agent_previous_version"
	ScopeToolPrevVersion  = "tool_previous_version"
)

// Detector is the latency detector. Its key stores, digester and params live
// in an unexported distdetect core, so no other package reaches them.
type Detector struct {
	core   distCore
	deltas // snapshot record, captures and deltas of core
}

type deltas = distdetect.Deltas[Config, state, *state, EntryState]

type distCore = distdetect.Core[Config, state, *state]

// SetParams swaps the configuration (hot reload): every key keeps its baselines and
// version slots and re-resolves its configuration on its next call.
func (d *Detector) SetParams(p *detect.Params[Config]) { d.core.SetParams(p) }

// SetLimits changes the key stores' cap and idle time-to-live.
func (d *Detector) SetLimits(maxKeys int, idle time.Duration) { d.core.SetLimits(maxKeys, idle) }

// Tick implements detect.Detector: evicts idle keys and rotates epochs.
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	return d.core.Tick(watermark, out)
}

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) { return d.core.KeyStats() }

type slot struct {
	version string
	used    bool
	relearn bool // opened by a version change while the other slot was usable
	dist    baseline.Dist
}

// state is one key. Its second version slot is allocated at the key's
// first version change (most keys never have one): until then it reads
// as noSlot.
type state struct {
	distdetect.Resolved[Config]
	active uint8 // slot of the newest version
	first  slot
	second *slot // nil: unused (reads as noSlot)
}

// noSlot is what a nil second slot reads as; never written.
var noSlot slot

// at returns slot i (0 or 1); an unallocated second reads as noSlot.
func (st *state) at(i uint8) *slot {
	if i == 0 {
		return &st.first
	}
	if st.second == nil {
		return &noSlot
	}
	return st.second
}

// secondSlot allocates the second slot if needed.
func (st *state) secondSlot() *slot {
	if st.second == nil {
		st.second = new(slot)
	}
	return st.second
}

var (
	_ detect.Detector      = (*Detector)(nil)
	_ detect.Stats         = (*Detector)(nil)
	_ detect.DeltaCapturer = (*Detector)(nil)
	_ detect.State         = (*Detector)(nil)
)

// New returns a detector with per-key parameters p and baseline settings b.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	d := &Detector{core: distdetect.New[Config, state](p, b)}
	d.deltas = distdetect.NewDeltas(&d.core, &codec)
	return d
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return detect.PatternLatency }

// usable reports whether s has enough calls to be its own baseline.
func (s *slot) usable(q baseline.Quantiles, cfg *Config) bool {
	return s.used && q.Count >= s.need(cfg)
}

// lapsed reports whether s, short of need calls, has had them and keeps
// half (baseline.Dist.Usable): its level test learns, unjudged. Called
// once per record for the key's slot being learned (it updates the
// Dist's memory).
func (s *slot) lapsed(q baseline.Quantiles, cfg *Config) bool {
	return s.used && s.dist.Usable(q.Count, s.need(cfg)) && q.Count < s.need(cfg)
}

// need is the calls s needs before it is used.
func (s *slot) need(cfg *Config) float64 {
	if s.relearn {
		return float64(cfg.RelearnSamples)
	}
	return float64(cfg.MinSamples)
}

// slotFor returns the slot for version v and the other (reference) slot,
// opening a slot for a version seen for the first time.
func (st *state) slotFor(g *baseline.Digester, v string) (cur, ref *slot) {
	a, o := st.at(st.active), st.at(1-st.active) // active 1 means second is allocated
	switch {
	case a.used && a.version == v:
		return a, o
	case o.used && o.version == v:
		return o, a
	case !a.used:
		a.version, a.used = strings.Clone(v), true
		return a, o
	}
	// A new version: keep the slot with more samples as the reference.
	st.secondSlot()
	a, o = st.at(st.active), st.at(1-st.active)
	victim, keep, idx := o, a, 1-st.active
	if a.dist.Count() < o.dist.Count() {
		victim, keep, idx = a, o, st.active
	}
	victim.dist.Reset()
	victim.version, victim.used = strings.Clone(v), true
	victim.relearn = keep.usable(keep.dist.Quantiles(g), st.Cfg)
	st.active = idx
	return victim, keep
}

// choice is the baseline a call is judged against: pointers to Observe's
// own quantiles, verdicts and judges (no per-record copies of them). Its
// scope and version are Observe's locals, apart: a string that reaches a
// finding would otherwise make every verdict it points at escape.
type choice struct {
	q *baseline.Quantiles
	v *baseline.Verdict
	j *baseline.Judge
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	if r.Invocation.Status == record.StatusDenied || r.Invocation.Status == record.StatusTimeout || r.Invocation.DurationMS < 0 {
		return out
	}
	x := r.Invocation.DurationMS
	now := r.Timestamp

	ks, ts, cfg := d.core.Lookup(r.AgentID, r.Tool.Name, now)
	if cfg == nil || !cfg.Enabled { // nil: both stores full, counted as rejected
		return out
	}

	// Judge against each slot's own baseline before it learns the call.
	y := baseline.LogValue(x)
	var kcur, kref, tcur, tref *slot
	var kq, tq baseline.Quantiles
	var kv, tv baseline.Verdict
	var kj, tj baseline.Judge
	if ks != nil {
		kcur, kref = ks.slotFor(d.core.G, r.Tool.Version)
		kj = *d.core.JudgeFor(ks.Cfg, judgeOf)
		kcur.dist.JudgeLogTo(&kv, d.core.G, x, y, &kj, 0)
		kq = kcur.dist.Quantiles(d.core.G)
	}
	if ts != nil {
		tcur, tref = ts.slotFor(d.core.G, r.Tool.Version)
		tj = *d.core.JudgeFor(ts.Cfg, judgeOf)
		tcur.dist.JudgeLogTo(&tv, d.core.G, x, y, &tj, 0)
		tq = tcur.dist.Quantiles(d.core.G)
	}
	kReady := kcur != nil && kcur.usable(kq, cfg)
	tReady := tcur != nil && tcur.usable(tq, cfg)
	var c choice
	var scope, version string
	var lv baseline.Level // level-shift outcome of the chosen slot (own scopes only)
	// alt holds a choice that is none of the verdicts above (pooled, a
	// previous version's, the consumer group's).
	var alt struct {
		q baseline.Quantiles
		v baseline.Verdict
		j baseline.Judge
	}
	switch {
	case kReady:
		c, scope = choice{q: &kq, v: &kv, j: &kj}, ScopeAgent
		if tReady && kv.Egregious { // Pool changes only an egregious verdict
			alt.v = kv      // the key learns its own verdict, not the pooled one
			alt.v.Pool(&tv) // egregious only if also for the tool (baseline/tail.go)
			c.v = &alt.v
		}
	case tReady:
		c, scope = choice{q: &tq, v: &tv, j: &tj}, ScopeTool
	case kcur != nil && kcur.relearn && kref.usable(kref.dist.Quantiles(d.core.G), cfg):
		alt.q = kref.dist.Quantiles(d.core.G)
		alt.v = kref.dist.Judge(d.core.G, x, &kj, math.Log(cfg.RelearnFactor))
		c, scope, version = choice{q: &alt.q, v: &alt.v, j: &kj}, ScopeAgentPrevVersion, kref.version
	case tcur != nil && tcur.relearn && tref.usable(tref.dist.Quantiles(d.core.G), cfg):
		alt.q = tref.dist.Quantiles(d.core.G)
		alt.v = tref.dist.Judge(d.core.G, x, &tj, math.Log(cfg.RelearnFactor))
		c, scope, version = choice{q: &alt.q, v: &alt.v, j: &tj}, ScopeToolPrevVersion, tref.version
	}
	if !kReady && (scope == ScopeTool || scope == "") && d.core.Sharing() {
		// Consumer group: the tool over all partitions (share.go).
		if q, v, j, ok := d.core.JudgeShared(r.Tool.Name, r.Tool.Version, x, y, cfg, judgeOf, float64(cfg.MinSamples)); ok {
			alt.q, alt.v, alt.j = q, v, j
			c, scope = choice{q: &alt.q, v: &alt.v, j: &alt.j}, ScopeTool
		}
	}
	// Learn (see the package doc). A slot without a tail yet (a fresh
	// version) does not learn a call the judging baseline found anomalous.
	anomalous := scope != "" && c.v.Anomalous(c.j)
	success := r.Invocation.Status == record.StatusSuccess
	// A young key learns what the ready tool baseline judged normal. With
	// no ready baseline at all (a new tool), the young baselines learn
	// every value: nothing judged it, and a young fit refusing a mode it
	// has not seen yet (a square wave's high phase, the afternoon of a
	// tool first seen at night) keeps that mode out of the body for good.
	kv.Vouched = scope == ScopeTool && !anomalous || scope == ""
	tv.Vouched = scope == ""
	// A sparse key's count lapses below need after a quiet day's
	// rotation: its level test keeps learning (baseline.Dist.Usable). The
	// tool's rhythm does not: learning it while lapsed too made a real
	// sparse series' night alerts worse (BENCHMARKS.md, issue 9: ready).
	kv.Lapsed = kcur != nil && kcur.lapsed(kq, cfg)
	if success {
		// Repeats of one input feed the level test once (baseline.Learn).
		kv.Input = baseline.InputKey(r.Invocation.InputHash)
		tv.Input = kv.Input
		// The tool learns its daily rhythm from every call; the level
		// test measures against the hour's level (baseline/rhythm.go).
		if tcur != nil {
			tv.LearnRhythm = true
			kv.Rhythm = tcur.dist.Rhythm()
			tv.Rhythm = kv.Rhythm
		}
	}
	if kcur != nil && (kv.Fit.Valid || !anomalous) {
		l := kcur.dist.Learn(d.core.G, x, now, &kv, &kj, kReady, success)
		if scope == ScopeAgent {
			lv = l
		}
	}
	if tcur != nil && (tv.Fit.Valid || !anomalous) {
		// The level test runs on the (agent, tool) key; the tool's only
		// stands in for a key the full store could not hold (one level
		// update per record, not two).
		l := tcur.dist.Learn(d.core.G, x, now, &tv, &tj, tReady, success && kcur == nil)
		if scope == ScopeTool {
			lv = l
		}
	}
	if scope == "" {
		return out
	}
	if anomalous {
		out = append(out, finding(r, x, c.q, c.v, scope, version))
	}
	if lv.Emit {
		out = append(out, distdetect.ShiftFinding(r, detect.PatternLatency, "ms", "latency", x, lv, *c.q, scope, alert.HumanMillis))
	}
	if lv.Drift {
		out = append(out, distdetect.DriftFinding(r, detect.PatternLatency, "ms", "latency", x, c.v, c.j, *c.q, scope, alert.HumanMillis))
	}
	if lv.Disp.Spread || lv.Disp.Density || lv.Disp.Burst {
		out = distdetect.DispersionFindings(out, r, detect.PatternLatency, "ms", "latency", x, &lv, *c.q, scope, alert.HumanMillis)
	}
	return out
}

// finding takes c's fields, not c: a *choice would leak, to the escape
// analysis, every verdict it may point at.
func finding(r *record.Record, x float64, q *baseline.Quantiles, v *baseline.Verdict, scope, version string) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = detect.PatternLatency
	f.Detail = DetailSlow
	f.Score = distdetect.Score(v.Decades, r)
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = "ms"
	f.Summary = r.Tool.Name + " took " + alert.HumanMillis(x) + " for " + r.AgentID +
		"; p99 baseline is " + alert.HumanMillis(q.P99)
	switch scope {
	case ScopeTool:
		f.Summary += " (all agents)"
	case ScopeAgentPrevVersion:
		f.Summary += " (version " + version + ")"
	case ScopeToolPrevVersion:
		f.Summary += " (all agents, version " + version + ")"
	}
	f.Details = distdetect.TailDetails(*q, v, scope)
	f.Details["status"] = r.Invocation.Status
	if scope == ScopeAgentPrevVersion || scope == ScopeToolPrevVersion {
		f.Details["baseline_version"] = version
	}
	return f
}

// Recycle resets an evicted key's state for a new key, keeping its
// digests' storage (distdetect).
func (st *state) Recycle() {
	d0, sec := st.first.dist, st.second
	d0.Reset()
	*st = state{}
	st.first.dist = d0
	if sec != nil {
		d1 := sec.dist
		d1.Reset()
		*sec = slot{dist: d1}
		st.second = sec
	}
}

// Advance rotates the epochs of the key's version slots
// (distdetect.Value).
func (st *state) Advance(g *baseline.Digester, t time.Time) {
	for _, sl := range [...]*slot{&st.first, st.second} {
		if sl != nil && sl.used {
			sl.dist.Advance(g, t)
		}
	}
}
