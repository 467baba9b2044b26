// Package frequency detects unusual tool-call frequency (pattern 1).
//
// # Spike (Detail "spike")
//
// Calls per (agent, tool) are counted per tumbling window (default 5m,
// aligned to the epoch) and judged at several time scales: the window
// itself and sliding long_windows (default 1h = the last 12 windows), so a
// moderate rise sustained for half an hour adds up even when no single
// window is extreme. Per scale the key learns (baseline.Rate, EWMA with
// half_life; each sum winsorised at its scale's critical count so a burst
// does not become the new normal at once):
//
//	seasonal model  S ~ NB(mu, k_s): mu = Σ over the scale's windows of
//	                the hour-of-day slot mean, shrunk toward the overall
//	                level by 10 events' worth of pseudo-windows (a sparse
//	                key has no daily pattern to invent), at least
//	                neighbour_weight × the adjacent slots'; the overall
//	                level for a slot with fewer than min_slot_windows
//	                windows. k_s = EWMA((S−mu)² − S) / EWMA(mu²)
//	overall model   S ~ NB(m, k_a): m, v = EWMA level and variance of S,
//	                k_a = (v − m)/m²
//	peak            a slow decaying maximum of S at any hour (half-life
//	                peak_half_life; it rises 1/(N+1) of the way to a larger
//	                sum per window, N the scale's windows, so a recurring
//	                burst is learned in a few occurrences but the ramp of
//	                the current episode cannot chase its own threshold)
//
// Dispersions are capped so that k·mean ≤ peak − 1 (the tail is never
// extrapolated heavier than the largest sum seen) and, on a long scale,
// ≤ the window's variance/mean − 1 (a 6h sum has a dozen independent
// samples in three days, the 5m window hundreds).
// NB(mu, k) is the negative binomial with variance mu + k·mu² (Poisson when
// k = 0): the dispersion is estimated from the key's own history, so a
// bursty key's recurring bursts are inside its own tail. A scale's sum S
// crosses when
//
//	P_seasonal(≥S) ≤ α  and  P_overall(≥S) ≤ α  and  S > peak_ratio·peak
//	and S ≥ min_count,   α = false_alarm_rate / scales
//
// The overall model and the peak are the peak guard for agents with no
// daily pattern: an irregular batch agent's runs at random hours are inside
// its overall tail and below its peak once seen a few times. Thresholds are
// armed when the window opens, so a spike is reported as soon as the
// running count reaches one (then at each doubling), not at window close.
// A long scale reports only while the current window keeps the crossing
// pace (count ≥ critical sum / N): the hour after a burst, whose sum still
// carries it, is not a new finding; a report skipped for the pace is
// re-armed at the pace count (not the doubled one), so a sustained rise
// reaching the pace late in a window is still reported.
//
// Hour-slot means learn robustly: a window that brings a long scale's sum
// to p ≤ 1% under the seasonal model (baseline.SuspectP, far below any
// alert level) teaches its slot at most that scale's suspect pace (its
// critical sum at 1% / N). A sustained moderate rise (×5 for 40 minutes)
// therefore cannot lift the expectation it is judged against while it
// builds up; a lasting change is still learned, at that pace per window,
// and a bursty key's dispersion and peaks learn as before.
//
// Expectations are floored at half an event per scale over the key's
// history.
//
// Score: p = scales × min over crossing scales of max(P_seasonal,
// P_overall) (Bonferroni), score = score.FromP(p) + 10·score.Prior(trust,
// classification, environment). With the default false_alarm_rate 1e-6
// every finding scores at least 40 (info).
//
// # Sustained rise (Detail "sustained_rise")
//
// A rise too moderate for any one scale's sum (×4–×8 for half an hour on a
// key whose calls come in task clusters) is found by a sequential test
// that accumulates evidence window by window: the Shiryaev–Roberts
// statistic R ← (1 + R)·Λ over the key's closed windows, Λ the likelihood
// ratio of the window's count under riseShift (4) times as many tasks as
// expected against the model the window was armed with: NB(mu, k) against
// NB(4·mu, k/4) (the same clusters, four times as many), the smaller
// ratio of the seasonal and overall models (as spikes take the larger p).
// Its log grows with the count only logarithmically once the count exceeds
// 1/k (like 3/k·ln x), so one burst of a clustered key adds little, while
// windows that keep running above their expectation add a steady amount
// each. Empty windows of a gap are judged against the last
// armed models; an empty long window (the longest scale's windows without
// a call) resets R, as does an alarm.
//
// Idle periods: the baseline counts a key's idle windows as zeros, so a
// key back from a day or more without a call (its agent down, a weekend,
// a batch agent between runs) finds its levels decayed (by a third after
// 1.5 days at the default half_life) and its usual working hours would run
// at once or twice that for days while the baseline re-learns: evidence a
// sequential test banks. The test therefore judges a returning key against
// the level it went idle at. At the first window after an empty long
// window whose overall level decayed by at least a day's EWMA weight (the
// key missed its whole daily pattern: nights and a sparse key's gaps are
// shorter and stay part of what the baseline learns), the deficit D is the
// level before the quiet less the decayed one; both models' expectations
// are raised by it (the overall one by D, the seasonal one in proportion),
// and D fades at the overall level's EWMA weight per window as the
// baseline re-learns (the windows of a later quiet are skipped). It
// changes nothing but the rise test's models and their reported expected
// calls.
//
// Agent-wide rise: more work for the whole agent (a busy day, a busy
// lunch hour on a key's second day) is not a compromised tool. Per agent
// the detector counts, in its window (the base config's), the calls of its
// judged keys (own warm baseline) and the sum of their rise expectations
// (each key's, once, when it arms its window). A key arming a window
// takes its agent's previous window less its own part there: the other
// tools' calls O and expectations E, and the factor
// f = clamp((O + 10)/(E + 10), 1, 4) (ten calls of prior, so a quiet agent's
// noise does not discount) scales both rise models' expectations for
// the window (keyState.riseF, in gen's padding; agents 16 bytes more).
// Its own excess is thus judged only beyond its agent's; a rise of one
// tool (the other tools at their expectation) keeps f near 1. Everything
// comes from records (the agent's counts roll on its records, a key's
// factor is fixed when it arms), so lazy and eager ticks see the same.
//
// Tasks: calls come in tasks (a trace of 3–30 calls), so a key's calls per
// window are overdispersed and a rise made of more tasks gains little per
// window on them. Each key therefore counts task starts per window too: a
// record whose task (its trace_id, else context.task_id) is not among the
// key's 8 most recently called traces (a recency ring of 32-bit hashes)
// starts one; a record naming neither is a task of its own. The task
// count T is judged by a second Shiryaev–Roberts statistic, as R above:
// the same NB(e, k) against NB(4e, k/4), the smaller ratio of the
// seasonal and overall models, whose expectations are the call models'
// (idle deficit included) times rho, the key's task starts per call (EWMA
// of T over EWMA of calls, overall weight), times the agent-wide factor
// of tasks: as the call factor, but on the task starts of the agent's
// other tools and their expectations (each judged key's rho times its
// rise expectation), clamp((T' + 10)/(E' + 10), 1, 4). Other tools' calls
// are overdispersed too: one long task of another tool is many calls (it
// would raise the call factor to ×4) but one task start. Its
// dispersion k is learned like the seasonal one, EWMA((T−e)² − T) /
// EWMA(e²), and an episode is judged for its first long-scale windows with
// the k it began with (the rise cannot widen its own tail). Its peak guard
// is on the excess of N times an EWMA of T of weight 2/(N+1) (N the
// longest scale's windows, the same centre of mass as the N windows' sum)
// over the same sum of the windows' seasonal task expectations, and that
// excess's decaying peak, updated as the call scales' peaks from the
// windows armed on the key's own warm baseline (for the first day of
// them the guard is on the sum and its peak): an irregular batch agent
// whose runs start dozens of tasks at random hours learns its runs (an
// excess its seasonal model does not explain), while the busy hours of a
// key's daily pattern are no excess, so a rise in a quiet hour is judged
// against that hour, not held back by the busiest hour's tasks (taskGuard;
// 8 bytes more per key: taskState 112, keyState 968 bytes).
// A key is judged on tasks only while rho ≤ 0.75: where calls hardly
// cluster (or carry no trace) the task series is the call series. Its
// alarm is reported as "sustained_rise" with details series "tasks",
// observed and expected tasks, calls (of the window), tasks_per_call.
// Everything comes from the key's own records and closed windows, one
// window at a time, so lazy and eager ticks judge alike. State: taskState,
// 88 bytes per key (in keyState's former padding: keyState stays 904
// bytes); agents 16 bytes more.
//
// Calls per task (Detail "task_calls"): a rise can also come inside one
// task (one trace calling the tool ×6 its usual rate for half an hour):
// the task series sees no extra task, and the call series' windows, on a
// key whose calls come in clusters, gain too little evidence. Each ring
// trace therefore counts its calls of the key, not counting a call whose
// input repeats one of the key's current loop window (a retry or a loop
// is the loop test's, not more work); a trace leaving the ring is a
// completed task, whose count the key learns: m, an EWMA (weight 1/64,
// 1/n over the first tasks) and a peak decaying per rate window at
// peak_half_life (not per task: hundreds of short tasks a day must not
// wear down the long task a key runs once a day), each winsorised at the
// alarm count. Calls beyond a task's first are judged
// geometric with mean m (at least 1: one extra call of prior), so c calls
// have p = riseTests·(m/(m+1))^(c−1) (Bonferroni as the rise); the alarm
// count, armed per window with the other thresholds, is the smallest c
// with p ≤ false_alarm_rate and c > peak_ratio × the peak (23 calls in one
// task for a key whose tasks call it once, ~40 at two); a task reaching it
// is re-judged at the current mean (tasks completing within the window
// move it) and waits for its next call if p > false_alarm_rate. The geometric
// tail is heavy for task sizes (its deviation is its mean), and a key
// whose count would pass 254 is not judged: a coding agent whose traces
// make hundreds of calls stays silent. A key is judged once its own
// baseline is warm and 16 of its tasks completed; each trace alarms at
// most once, sharing the key's hold with spikes and rises (a spike of the
// same or the previous window swallows it, as it does a rise). A task at
// least half of whose calls fall in the current window is a burst (an
// agent loop), left to the spike test's scales: it is reported only if it
// goes on into a later window, so a loop raises one alert, not two. Score:
// score.FromP(p) + 10·score.Prior. Details: observed (calls of the task
// so far), expected (m), largest (the peak), threshold, log10_p,
// tasks_seen; unit calls/task. Records naming no task are not counted.
// State: 16 bytes more per key (taskState 104, keyState 920 bytes).
//
// Alarm: R ≥ A = riseTests/false_alarm_rate (riseTests = 3). R − n is a
// martingale under the model (a supermartingale under both, with the
// smaller ratio), so the mean run length to a false alarm is at least A
// windows (an upper bound on the rate: Siegmund's overshoot correction
// would lengthen it). A key runs three tests on its windows, the two spike
// scales and this one; the rise takes a third of the budget (Bonferroni,
// as spikes split theirs over the scales), so a detector's false alarms
// stay within about false_alarm_rate per window overall (the spike scales
// keep their half each: 1.33× in all) rather than doubling it. The task
// series' test has the same alarm level (a third of the budget: 1.67× in
// all with both rise tests; the held-out gate's normal-only twins raised
// no frequency alert with or without it). The count of the current window at which
// R reaches A is armed when the window opens (about a dozen lgamma pairs,
// once per window), so the alarm comes at the record that reaches it. The
// peak guard of spikes applies at the longest scale (its sum must exceed
// peak_ratio × its recent peak: a return to a level the key showed lately
// is not a rise), and R banks no evidence beyond A while the guard holds.
// A rise in the window after a reported spike continues that alert and is
// not reported. Score: score.FromP(riseTests/R) + 10·score.Prior (at
// least 40 at the alarm, as a spike at its critical count). Details: windows (since R was last below 1), observed and
// expected calls over them, statistic (log10 R), threshold (log10 A),
// shift, dispersion. State: riseState (16 bytes), riseN (in padding) and
// idleState (8 bytes): 24 bytes more per key.
//
// # Loop (Detail "loop")
//
// Per key a 4-slot Misra–Gries table counts calls per input_hash in a short
// window (default 1m). Same-input repeats per loop window are modelled as
// geometric with mean g = the key's recent largest same-input count (at
// least 1; deliberately heavy: the peak, not the mean), so c repeats have
// p = (g/(g+1))^c. A loop is c ≥ max(loop_min_calls, the c where p ≤
// false_alarm_rate); scored on the same scale as spikes.
//
// Repeats: a call whose input repeats one of the key's current loop
// window (a retry, a runtime repeating a step until its step limit) is the
// loop test's, not more calls: the spike scales, the sustained rise and
// the agent-wide counts do not count it (nor learn it), unless its input
// has more than loop_min_calls calls in the window, or was the most
// repeated input (at least twice) of each of the two loop windows before
// the current (loopRuns: a loop going on; a retry loop a step limit stops
// within a minute straddles at most two). A benign run of a few dozen
// identical calls in seconds on a key expecting one call per window
// therefore raises nothing, while a loop below loop_min_calls a minute is
// counted in full from its third minute. State: the previous window's
// repeated input (8 bytes) and its run of windows (1 byte, in padding)
// per key, in loopState. Cost: one comparison per record (the hash is the loop
// table's).
//
// Sustained loops: a key's same-input run is the first input repeated in
// a loop window while none goes on (its time: its first repeat), kept
// while it is the most repeated input of each window it closes (another
// input that tops a window begins a run at the next window's start: late,
// never early). A call of the run loopSize or more after it began is
// sustained, and its window's same-input count c is also judged against
// the sustained peak: the recent largest count of the windows in which
// the key had a sustained call (same geometric tail, loop_min_calls,
// growth and decay as the burst peak; the lower of the two thresholds
// wins). A key borrowing its tool's baseline borrows its tool's sustained
// peak too: the tool's largest same-input count (all its keys) of the
// windows in which one of its keys had a sustained call. A
// step-limited retry (even 25 identical calls in 10 s, several an hour)
// ends within seconds and never teaches nor meets it, so a loop that
// keeps going at 60 a minute is reported about 60–90 s after it began
// (loop_min_calls 30) although the retries raised the burst peak far above
// 60; a key that polls one input without end learns its own rate. Reports
// of both tests escalate together (next report at twice the count). State:
// the run's input, start and sustained flag, the sustained peak,
// threshold and next report (32 bytes: keyState 960 bytes). Cost: one
// comparison and one subtraction per record with an input.
//
// # Drop (Detail "drop")
//
// A tool that stops being called while its agent keeps working. Per key the
// detector learns the gap between its calls measured in its agent's active
// windows (windows in which the agent called any tool): mean gap G (EWMA)
// and recent largest gap. In Tick, with n the agent's active windows since
// the key's last call, the key drops when the agent was active in the
// current or previous window, the key was called in drop_min_windows
// windows, its last call came after its warmup, n > max(peak_ratio, 2) ×
// largest gap and
// p = (1 − 1/(G + 0.5))^n ≤ false_alarm_rate. Counting in active windows
// makes day/night swings and agents that stop entirely silent by
// construction (n does not grow), and a loop on another tool does not
// inflate n. Reported once per drop; a call of the key ends it.
//
// # Damping
//
// After a reported spike or sustained rise a key holds (hold, default
// 6h): a later crossing is reported only when it continues the episode
// (same or next window: a sustained anomaly keeps its alert firing) or is
// two decades more improbable; other crossings extend the hold. Within one window only a
// report a decade stronger than the last is emitted. So a bursty key raises
// one alert per episode, not one per burst.
//
// Warm-up: a key is judged against its own baseline once it has warmup
// (default 24h) of event-time history; until then it borrows its tool's
// per-agent baseline (tool-level state, Agent "", levels divided by the
// mean number of active agents per window, its negative-binomial
// dispersion multiplied by it: a sum over n agents is n times smoother
// than one of them) if that is warm, and otherwise raises nothing.
//
// Instances: an average per active agent spreads what one instance does
// (a nightly job pod's run, an autoscaled instance's busy minutes) over
// the hour slot and over idle instances, and a tool whose first runs fell
// in its first hour of history (its long scale not filled) learned no
// peak of them. Each tool therefore keeps, per scale, the largest sum one
// of its keys reached (instPk: each key's sums, its closed windows plus
// the current count, taken on its records and capped at its own critical
// sum, so a burst teaches at most the threshold it crossed; the window's
// largest decays per tool window at the scale peaks' rate, peak_half_life,
// and takes a larger one at once). A borrowing key's peak guard and its
// dispersion cap (k·mean ≤ peak − 1) use it where it exceeds the tool's
// peak per agent: a new pod running as the last pods did is inside what
// one instance of the tool is known to do; a loop far beyond it still
// alerts. Cost: two comparisons a scale per record, a power per tool
// window. State: 24 bytes per tool.
//
// Hot reload (SetParams) keeps every key's learned state; snapshots
// (MarshalState/UnmarshalState, state.go) hold every key, tool and agent.
//
// # Ticks
//
// A tick costs the keys with something due, not all keys, and leaves every
// judgement as a tick over all keys would:
//   - rate windows close on the key's next record (baseline.Rate.Roll
//     closes the skipped windows bit for bit as ticks did, the empty ones
//     on a fast path, the quiet ones counted and decayed in closed form
//     when the key is next armed);
//   - loop windows: the detector keeps the watermarks of its recent ticks,
//     and a key replays the ones it missed before its next record
//     (rollLoopTicks: rollLoop until its window closes, then only the
//     peak's decay per empty window), so its same-input peak decays
//     exactly as under eager ticks (keys idle for more than maxTicks ticks
//     replay the retained ones only);
//   - drops: a key's drop condition depends only on its own gap state and
//     its agent's count of active windows, so each key is put on its
//     agent's drop index (baseline.Due) at the agent count where the
//     condition would hold, and a tick checks only the agents active in the
//     current or previous window whose count grew (or whose keys a reload
//     rescheduled) since the last tick: an agent's entries become due only
//     then;
//   - after SetParams the first tick visits every key once, brought to the
//     state the previous tick would have left it in, to re-resolve it;
//   - a snapshot first brings every key to the last tick.
//
// Tool-level state (one per tool) is still ticked eagerly.
package frequency

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// Detector is the frequency detector. Not safe for concurrent use (the
// engine is single-goroutine).
type Detector struct {
	// tn resolves per-key configs; a key whose stamp is not current
	// re-resolves on its next access (Observe or Tick).
	tn      ratedetect.Tuning[Config, tuned]
	keys    *baseline.Store[baseline.Key, keyState]
	tools   *baseline.Store[baseline.Key, toolState]
	agents  *baseline.Store[baseline.Key, agentState]
	minStep int64 // smallest window of any config, seconds
	// agentStep is the window agents' activity is counted in (the base
	// config's window).
	agentStep int64
	ticked    int64 // last watermark window start Tick processed
	// tickedAt is the watermark of that tick (unix seconds); ticks holds the
	// watermarks of the last ticks (at most maxTicks), which keys replay
	// lazily (catchUp).
	tickedAt int64
	ticks    []int64
	// capTickedAt is tickedAt at the last snapshot capture: a delta
	// carries the ticks after it (state.go).
	capTickedAt int64
	// recent holds agents whose drop index may have an entry due: those
	// that began an active window (their count grew) or had a key
	// rescheduled at or below their count (a reload) since the last tick.
	// A tick drains their due entries and empties it (duplicates are
	// visited once), so its cost follows the agents that changed, not the
	// active ones. Each carries its agent's entry (a zero ref: none), so a
	// tick finds it without the agents map (a cache miss per agent when
	// the store is large).
	recent []recentAgent
	// agentSeq numbers agent states, so a key can tell its agent's drop
	// index from that of an evicted namesake.
	agentSeq uint64
}

// tuned is a Config with its derived constants.
type tuned struct {
	cfg       *Config
	rp        baseline.RateParams
	rule      baseline.SpikeRule
	loopSize  int64
	loopDecay float64 // loop peak decay per loop window
	minL      float64 // −log10 false_alarm_rate: the decades a loop or drop needs
	riseLogA  float64 // ln(riseTests/false_alarm_rate): the sustained-rise alarm level of R
	idleDay   float64 // the overall level's decay over a day of empty windows (idleBack)
	spike     ratedetect.SpikeReport
}

// loopState tracks same-input calls of the current loop window.
type loopState struct {
	c       baseline.Counter
	top     baseline.TopK
	armedAt int64
	peak    float32 // recent largest same-input count per loop window
	thr     uint32  // 0: disarmed
	next    uint32
	// prev is the hash of the input repeated most (at least twice) in the
	// previous loop window, 0 if none or that window was not the one
	// before the current; runs is the number of consecutive loop windows
	// up to the previous one in which it was (see "Repeats" in the
	// package doc). runs and sus sit in next's padding.
	runs uint8
	// sus: a call of the current run came loopSize or more after the
	// run began, in the current window (see "Sustained loops").
	sus  bool
	prev uint64
	// run is the input of the key's current same-input run (0: none)
	// and runAt the time of its first repeat; spk is the recent largest
	// same-input count of the windows in which a run was sustained, and
	// sthr, snext the sustained test's threshold and next report.
	run         uint64
	runAt       int64
	spk         float32
	sthr, snext uint32
}

// gapState is a key's share of its agent's activity, as gaps between its
// calls counted in the agent's active windows (drop detection).
type gapState struct {
	last    uint64  // agent's active windows at the key's last call; 0: none yet
	mean    float32 // EWMA gap
	peak    float32 // recent largest gap (decays per gap)
	n       uint32  // gaps seen, saturating
	dropped bool    // a drop was reported; cleared by the next call (in n's padding: 32 bytes)
	lastAt  int64   // unix seconds of the key's last call
}

type keyState struct {
	rate baseline.Rate
	loop loopState
	gap  gapState
	t    *tuned
	gen  detect.Stamp // generation t was resolved under
	// riseN is the sustained-rise episode's closed windows (riseAdd) and
	// riseF the agent-wide factor of the current window's rise models
	// (agentFactor, in 1/riseFOne; 0: 1); both sit in gen's padding.
	riseN uint16
	riseF uint16
	rise  riseState
	idle  idleState
	task  taskState
	// tick is the tick watermark the key's loop window has been caught up
	// to (catchUp).
	tick int64
	// dropAt is the agent active-window count at which the key drops (0:
	// never under its current state); dropQ is the count of its entry on
	// its agent's drop index (0: none) and dropAgent that agent state's id.
	dropAt, dropQ uint64
	dropAgent     uint64
	// agent finds the key's agent state without the agents map (Observe).
	agent baseline.Ref[baseline.Key, agentState]
}

// recentAgent is an entry of Detector.recent: an agent and, when known,
// its entry in the agents store (PeekRef checks that it still holds it).
type recentAgent struct {
	key baseline.Key
	ref baseline.Ref[baseline.Key, agentState]
}

// toolState is the tool-level (all agents) state that cold keys borrow.
type toolState struct {
	keyState
	agents  baseline.Counter // agents active in the current window
	agentsP baseline.Profile // ... and per hour slot
	// inst is, per scale, the largest sum one key of the tool reached in
	// the tool's current window (each capped at that key's critical sum),
	// instPk its decaying peak (see "Instances" in the package doc).
	inst   [baseline.MaxScales]uint32
	instPk [baseline.MaxScales]float32
}

// agentState counts the windows in which an agent called any tool.
type agentState struct {
	total uint64 // active windows
	last  int64  // start of its latest active window (unix seconds)
	id    uint64 // Detector.agentSeq at creation
	// drops holds the agent's keys by the active-window count at which
	// they drop (keyState.dropAt), checked by Tick while the agent works.
	drops   baseline.Due[baseline.Key]
	visited int64 // Detector.ticked of the tick that last checked drops
	// obs and exp are the calls and the summed rise expectations of its
	// judged keys (own warm baseline, the agent's window) in the window
	// starting at last; pobs and pexp those of the window before (0 when
	// the agent was idle in it). See "Agent-wide rise" in the package doc.
	obs, pobs uint32
	exp, pexp float32
	// tobs and texp are the same for task starts (each judged key's task
	// expectation, rho times its rise expectation); ptobs and ptexp those
	// of the window before. See "Tasks" in the package doc.
	tobs, ptobs uint32
	texp, ptexp float32
}

// gapAlphaMin and gapPeakDecay: the gap mean forgets with weight 1/256 per
// gap; the largest gap halves in about 7000 gaps (weeks of a busy key: a
// nightly pause must be remembered through the day). dropPeakRatio: a drop
// is at least twice the largest gap (and peak_ratio times it): a pause as
// long as the longest seen can vary by tens of percent.
const (
	gapAlphaMin   = 1.0 / 256
	gapPeakDecay  = 0.9999
	dropPeakRatio = 2
)

// New returns a frequency detector; p's Base and Rules must be validated.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	d := &Detector{
		keys:   baseline.NewStore[baseline.Key, keyState](b.KeyCap(), b.IdleTTL),
		tools:  baseline.NewStore[baseline.Key, toolState](b.KeyCap(), b.IdleTTL),
		agents: baseline.NewStore[baseline.Key, agentState](b.KeyCap(), b.IdleTTL),
	}
	d.setParams(p)
	return d
}

func (d *Detector) setParams(p *detect.Params[Config]) {
	d.tn.Set(p, newTuned)
	d.minStep = 0
	d.tn.Each(func(t *tuned) {
		if d.minStep == 0 || t.loopSize < d.minStep {
			d.minStep = t.loopSize
		}
		if t.rp.Size < d.minStep {
			d.minStep = t.rp.Size
		}
	})
	d.agentStep = d.tn.Base().rp.Size
}

// SetParams swaps the configuration (hot reload); p must be validated and
// is not modified afterwards. Every key keeps its learned state and picks
// up its (possibly new) config on its next record or Tick, where its
// current window is re-armed under the new thresholds. State that the new
// config makes meaningless is reset for that key only:
//   - a changed window or long_windows: the key's rate baseline is dropped
//     and its warm-up starts again (it may borrow its tool's baseline
//     meanwhile); for tool-level state also the agent profile;
//   - a changed loop_window: the key's same-input table and peak.
//
// A window that was already reported keeps its escalation level, so a
// reload does not re-report it.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.setParams(p)
	d.tn.Reload()
}

// resolve points ks at the config for (agent, tool) under the current
// params: for a new key (ks.t nil) or after SetParams. A key whose config
// changed has its current windows re-armed at once.
func (d *Detector) resolve(ks *keyState, agent, tool string) {
	old := ks.t
	ks.t, ks.gen = d.tn.Resolve(agent, tool)
	t := ks.t
	if old == nil || old == t {
		return
	}
	ts := d.tools.Peek(baseline.Key{Tool: tool})
	if ts != nil && !d.tn.Current(ts.gen) {
		d.resolveTool(ts, tool)
	}
	if !ratedetect.SameScales(&old.rp, &t.rp) {
		ks.rate = baseline.Rate{}
		ks.riseEnd()
		ks.idle = idleState{}
		ks.task = taskState{}
	} else if ks.rate.Start != 0 && !ks.rate.NeedsArm() {
		rate, agents, peaks := borrowRate(borrowable(ks, ts))
		ks.rate.RearmSpikePeaks(&t.rule, &t.rp, rate, agents, peaks)
		ks.armRise()
		ks.armTask()
	}
	if old.loopSize != t.loopSize {
		ks.loop = loopState{}
	} else if ks.loop.c.Start != 0 && ks.loop.armedAt == ks.loop.c.Start {
		rearmLoop(ks, borrowable(ks, ts))
	}
}

// resolveTool is resolve for tool-level state. Its thresholds only
// winsorise its own baseline; they are re-armed at its next window.
func (d *Detector) resolveTool(ts *toolState, tool string) {
	old := ts.t
	ts.t, ts.gen = d.tn.Resolve("", tool)
	t := ts.t
	if old == nil || old == t {
		return
	}
	if !ratedetect.SameScales(&old.rp, &t.rp) {
		ts.rate, ts.agents, ts.agentsP = baseline.Rate{}, baseline.Counter{}, baseline.Profile{}
		ts.inst, ts.instPk = [baseline.MaxScales]uint32{}, [baseline.MaxScales]float32{}
	}
	if old.loopSize != t.loopSize {
		ts.loop = loopState{}
	}
}

// observeInst counts a call of one of the tool's keys, whose rate is kr:
// its scales' sums (each capped at the key's critical sum when armed: a
// key's own crossing does not teach the tool more than its threshold) feed
// the tool's largest per-key sums of the window. Two comparisons a scale.
func (ts *toolState) observeInst(kr *baseline.Rate, rp *baseline.RateParams) {
	sums := kr.Sums(rp)
	for i := 0; i < rp.Scales; i++ {
		x := sums[i]
		if c := kr.Sc[i].Crit; c > 0 && x > c {
			x = c
		}
		ts.inst[i] = max(ts.inst[i], x)
	}
}

// foldInst feeds the tool window just closed (followed by gap empty ones)
// into the per-key peaks: each decays as a scale peak (peak_half_life) and
// takes a larger sum at once. A key's sums are fed only from its records
// and capped at its critical sum, so a burst teaches at most the
// threshold it crossed.
func (ts *toolState) foldInst(gap int64, rp *baseline.RateParams) {
	decay := math.Pow(rp.WinPeakDecay, float64(gap+1))
	for i := 0; i < rp.Scales; i++ {
		ts.instPk[i] = float32(max(float64(ts.instPk[i])*decay, float64(ts.inst[i])))
		ts.inst[i] = 0
	}
}

// borrowable returns ts if ks may borrow its baseline: the tool counts the
// same windows and the key's config allows borrowing.
func borrowable(ks *keyState, ts *toolState) *toolState {
	if ts == nil || !ratedetect.SameScales(&ts.t.rp, &ks.t.rp) || !ks.t.cfg.BorrowToolBaseline {
		return nil
	}
	return ts
}

// rearmLoop re-arms the loop threshold after a config change, keeping the
// escalation level of a window already reported (as Rate.RearmSpike).
func rearmLoop(ks *keyState, borrow *toolState) {
	thr, next, snext := ks.loop.thr, ks.loop.next, ks.loop.snext
	armLoop(ks, borrow)
	if thr > 0 && next > thr && ks.loop.thr > 0 && ks.loop.thr < next {
		ks.loop.next = next // already reported in this window
	}
	if ks.loop.sthr > 0 && snext > ks.loop.snext {
		ks.loop.snext = snext
	}
}

func newTuned(c *Config) *tuned {
	loop := int64(c.LoopWindow / time.Second)
	if loop < 1 {
		loop = 1
	}
	rp := c.RateParams()
	return &tuned{
		cfg:       c,
		rp:        rp,
		rule:      c.Rule(),
		loopSize:  loop,
		loopDecay: math.Pow(0.5, c.LoopWindow.Seconds()/math.Max(c.PeakHalfLife.Seconds(), 1)),
		minL:      -math.Log10(c.FalseAlarmRate),
		riseLogA:  math.Log(riseTests / c.FalseAlarmRate),
		idleDay:   math.Pow(1-rp.OverallAlpha, float64(86400/rp.Size)),
		spike: ratedetect.Report(&c.SpikeConfig, detect.PatternFrequency, "calls",
			"%s called %d times in %s by %s; expected about %.3g"),
	}
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return detect.PatternFrequency }

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) {
	return detect.StoreStats(d.keys, d.tools, d.agents)
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	now := r.Timestamp.Unix()

	ts, _ := d.tools.Get(baseline.Key{Tool: r.Tool.Name}, r.Timestamp, nil)
	if ts != nil {
		if !d.tn.Current(ts.gen) {
			d.resolveTool(ts, r.Tool.Name)
		}
		d.rollTool(ts, now)
	}
	// The key first, so its agent is found through it (the stores are
	// independent: the order of their Gets changes nothing else).
	ks, _ := d.keys.Get(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, r.Timestamp, nil)
	var as *agentState
	created := false
	if ks != nil {
		as, created = d.agents.GetRef(baseline.Key{Agent: r.AgentID}, &ks.agent, r.Timestamp, nil)
	} else {
		as, created = d.agents.Get(baseline.Key{Agent: r.AgentID}, r.Timestamp, nil)
	}
	if as != nil {
		if created {
			d.agentSeq++
			as.id = d.agentSeq
		}
		if w := baseline.AlignDown(now, d.agentStep); w > as.last {
			as.pobs, as.pexp, as.ptobs, as.ptexp = 0, 0, 0, 0
			if w == as.last+d.agentStep {
				as.pobs, as.pexp, as.ptobs, as.ptexp = as.obs, as.exp, as.tobs, as.texp
			}
			as.obs, as.exp, as.tobs, as.texp = 0, 0, 0, 0
			as.total++
			as.last = w
			ra := recentAgent{key: baseline.Key{Agent: r.AgentID}}
			if ks != nil {
				ra.ref = ks.agent // as's entry (GetRef above)
			}
			d.recent = append(d.recent, ra)
		}
	}

	if ks == nil {
		return out
	}
	if !d.tn.Current(ks.gen) {
		if ks.t != nil {
			d.settle(ks) // as the last tick left it, then re-resolve
		}
		d.resolve(ks, r.AgentID, r.Tool.Name)
	}
	t := ks.t
	if !t.cfg.Enabled {
		return out
	}
	d.catchUp(ks)
	if as != nil {
		ks.gap.observe(as.total, now)
	}
	ks.roll(now)
	ks.rollLoop(now)
	if as != nil {
		d.scheduleDrop(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, ks, as)
	}
	// The tool's per-agent figures are comparable (and borrowable) only
	// when the tool counts the same windows as the key.
	if ts != nil && ts.t.rp.Size == t.rp.Size && ks.rate.N == 0 {
		ts.agents.N++
	}
	borrow := borrowable(ks, ts)
	agentWide := as != nil && t.rp.Size == d.agentStep && ks.rate.Start == as.last
	if ks.rate.NeedsArm() {
		f, tf := uint16(0), uint16(0)
		if agentWide {
			f, tf = ks.agentFactor(as), ks.taskFactor(as)
		}
		rate, agents, peaks := borrowRate(borrow)
		ks.rate.ArmSpikePeaks(&t.rule, &t.rp, rate, agents, peaks)
		ks.riseF, ks.task.tf = f, tf
		if agentWide && riseArmed(&ks.rate) {
			as.exp += float32(ks.rawExpected())
			as.texp += float32(ks.taskExpected())
		}
		ks.armRise()
		ks.armTask()
	}
	if ks.loop.armedAt != ks.loop.c.Start {
		armLoop(ks, borrow)
	}
	// The same-input count first: a repeat within the loop window (a
	// retry, a loop) is not more work of its task.
	var loopC uint32
	var h uint64
	if r.Invocation.InputHash != "" {
		if h = baseline.HashString(r.Invocation.InputHash); h == 0 {
			h = 1 // as TopK stores it
		}
		if ts != nil {
			ts.loop.top.Add(h)
		}
		loopC = ks.loop.top.Add(h)
	}
	// The key's same-input run: the first input repeated in a window
	// without one going on (rollLoop keeps it while it tops its windows).
	sustained := false
	if h != 0 {
		if ks.loop.run == 0 && loopC >= 2 {
			ks.loop.run, ks.loop.runAt = h, now
		}
		if h == ks.loop.run && now-ks.loop.runAt >= t.loopSize {
			sustained, ks.loop.sus = true, true
			if ts != nil { // the tool's sustained peak, for its young keys
				ts.loop.sus = true
			}
		}
	}
	th := recordTask(r)
	started := ks.task.observe(th, loopC > 1)
	// A repeat of an input within the loop window is the loop test's, not
	// more calls, unless it is beyond loop_min_calls in the window or the
	// input was repeated in the two loop windows before too (a loop going
	// on): see "Repeats" in the package doc.
	counted := loopC <= 1 || loopC > uint32(t.cfg.LoopMinCalls) || (h == ks.loop.prev && ks.loop.runs >= loopRuns)
	if counted && agentWide && riseArmed(&ks.rate) {
		as.obs++
	}
	if agentWide && riseArmed(&ks.rate) && started {
		as.tobs++
	}

	if counted && ks.rate.Hit() {
		if v := ks.rate.Judge(&t.rp, &t.rule); v.Scale >= 0 && ks.rate.Fire(v.Decades, t.rp.Size, &t.rule) {
			out = append(out, d.spikeFinding(r, ks, v))
		}
	}
	if counted && ts != nil && ratedetect.SameScales(&ts.t.rp, &t.rp) {
		ts.observeInst(&ks.rate, &t.rp)
	}
	if counted && ks.riseHit() {
		if f, ok := d.riseFinding(r, ks); ok {
			out = append(out, f)
		}
	}
	if started && ks.taskHit() {
		if f, ok := d.taskFinding(r, ks); ok {
			out = append(out, f)
		}
	}
	if th != 0 {
		if c, l, hit := ks.callsHit(); hit {
			if f, ok := d.callsFinding(r, ks, c, l); ok {
				out = append(out, f)
			}
		}
	}
	if r.Invocation.InputHash != "" {
		c := loopC
		burst := ks.loop.thr > 0 && c >= ks.loop.next
		sus := sustained && ks.loop.sthr > 0 && c >= ks.loop.snext
		if burst || sus {
			n := c + max(c, 1)
			if n < c {
				n = math.MaxUint32
			}
			ks.loop.next, ks.loop.snext = max(ks.loop.next, n), max(ks.loop.snext, n)
			out = append(out, d.loopFinding(r, ks, c, !burst, now))
		}
	}
	return out
}

// observe records a call of the key at agent call total total.
func (g *gapState) observe(total uint64, now int64) {
	if g.last != 0 && total > g.last {
		x := float64(total - g.last)
		if g.n < math.MaxUint32 {
			g.n++
		}
		a := math.Max(gapAlphaMin, 1/float64(g.n))
		g.mean += float32(a * (x - float64(g.mean)))
		g.peak = float32(math.Max(float64(g.peak)*gapPeakDecay, x))
	}
	g.last, g.lastAt, g.dropped = total, now, false
}

// rollTool advances the tool-level state to now and counts one call.
func (d *Detector) rollTool(ts *toolState, now int64) {
	t := ts.t
	if cl, ok := ts.rate.Roll(now, &t.rp); ok {
		ts.foldInst(cl.Gap, &t.rp)
	}
	if cl, ok := ts.agents.Roll(now, t.rp.Size); ok {
		ts.agentsP.UpdateGap(cl, float64(cl.N), &t.rp)
	}
	ts.rollLoop(now)
	if ts.rate.NeedsArm() {
		// Armed only to winsorise the tool's own baseline; never reported.
		ts.rate.ArmSpike(&t.rule, &t.rp, nil, nil)
	}
	if ts.loop.armedAt != ts.loop.c.Start {
		armLoop(&ts.keyState, nil)
	}
	ts.rate.N++
}

// borrowRate is what a key arms its spike threshold from besides its own
// baseline (baseline.Rate.ArmSpikePeaks): its tool's baseline per active
// agent (the tool's total divided by its mean active agents per window in
// the slot) and the recent largest sums of one of its keys, or nothing
// when ts is nil.
func borrowRate(ts *toolState) (*baseline.Rate, *baseline.Profile, *[baseline.MaxScales]float32) {
	if ts == nil {
		return nil, nil, nil
	}
	return &ts.rate, &ts.agentsP, &ts.instPk
}

// rollLoop closes the loop window if now is past it, feeding its largest
// same-input count into the decaying loop peak, and reports whether it did.
// The count is winsorised at the loop threshold and at loopGrowth × the
// current peak (at least loopFloor): the first, partial minute of a loop
// must not lift the threshold beyond the loop's full-minute rate.
func (ks *keyState) rollLoop(now int64) bool {
	cl, ok := ks.loop.c.Roll(now, ks.t.loopSize)
	if !ok {
		return false
	}
	h, c := ks.loop.top.Top()
	ks.loop.peak = ks.loopPeak(float64(c), cl.Gap)
	// Only a window in which a run was sustained teaches the sustained
	// test: a step-limited retry never is (see "Sustained loops").
	sx := 0.0
	if ks.loop.sus {
		sx = float64(c)
	}
	ks.loop.spk = peakStep(ks.loop.spk, ks.loop.sthr, sx, cl.Gap, ks.t.loopDecay)
	ks.loop.sus = false
	switch {
	case c < 2 || cl.Gap > 0:
		ks.loop.prev, ks.loop.runs = 0, 0
		ks.loop.run = 0
	case h == ks.loop.prev:
		ks.loop.runs = min(ks.loop.runs+1, loopRuns)
	default:
		ks.loop.prev, ks.loop.runs = h, 1
	}
	if c >= 2 && cl.Gap == 0 && h != ks.loop.run {
		// Another input topped the window: its run is taken to begin
		// now, not when it did (unknown), so it is judged late, never early.
		ks.loop.run, ks.loop.runAt = h, ks.loop.c.Start
	}
	ks.loop.top.Reset()
	return true
}

// loopPeak is the loop peak after a closed window with largest same-input
// count x followed by gap empty windows. (Builtin min and max: math.Min
// and math.Max's semantics, inlined.)
func (ks *keyState) loopPeak(x float64, gap int64) float32 {
	return peakStep(ks.loop.peak, ks.loop.thr, x, gap, ks.t.loopDecay)
}

// peakStep is a same-input peak p after a closed window with count x
// (winsorised at the threshold thr, 0: none, and at loopGrowth × p, at
// least loopFloor) followed by gap empty windows, decaying by decay per
// window.
func peakStep(p float32, thr uint32, x float64, gap int64, decay float64) float32 {
	if thr > 0 {
		x = min(x, float64(thr))
	}
	x = min(x, max(loopGrowth*float64(p), loopFloor))
	if gap > 0 {
		decay = math.Pow(decay, float64(gap+1))
	}
	return float32(max(float64(p)*decay, x))
}

// rollLoopTicks is rollLoop at each watermark of wms (ascending), as eager
// ticks rolled the key. Once one closes the key's window, the windows the
// later ones close are empty (count 0, table empty), so each only moves the
// window and decays the peak: the same operations as rollLoop without its
// division and table scan where the tick is the next window's.
func (ks *keyState) rollLoopTicks(wms []int64) {
	i := 0
	for i < len(wms) {
		i++
		if ks.rollLoop(wms[i-1]) {
			break
		}
	}
	// The window start and peak stay in registers (ks is written back
	// before loopPeak reads it and at the end).
	start, peak, sp := ks.loop.c.Start, ks.loop.peak, ks.loop.spk
	size, decay := ks.t.loopSize, ks.t.loopDecay
	for _, wm := range wms[i:] {
		next := start + size
		if wm < next {
			continue
		}
		if wm < next+size {
			start = next
			// loopPeak(0, 0) where its max is the decayed peak: the
			// winsorised count is +0 unless the peak is NaN.
			if p := float64(peak) * decay; p > 0 {
				peak = float32(p)
			} else {
				ks.loop.peak = peak
				peak = ks.loopPeak(0, 0)
			}
			if sp > 0 { // the sustained peak alike (it is never NaN)
				sp = float32(float64(sp) * decay)
			}
			continue
		}
		ns := baseline.AlignDown(wm, size)
		ks.loop.peak = peak
		peak = ks.loopPeak(0, (ns-start)/size-1)
		sp = peakStep(sp, ks.loop.sthr, 0, (ns-start)/size-1, decay)
		start = ns
	}
	if start != ks.loop.c.Start { // an empty window closed: no repeats before the current
		ks.loop.prev, ks.loop.runs, ks.loop.run = 0, 0, 0
	}
	ks.loop.c.Start, ks.loop.peak, ks.loop.spk = start, peak, sp
}

// loopRuns is how many loop windows in a row an input must have been
// repeated in before its repeats count as calls again: a retry loop a step
// limit stops within a minute straddles at most two windows.
const loopRuns = 2

// loopGrowth bounds how fast the same-input peak may rise per loop window.
const loopGrowth = 1.5

// loopFloor is the smallest cap of that growth: a key whose inputs never
// repeat (peak 1) may learn a repeat count of 2 per window at once.
const loopFloor = 2

// loopDecades is −log10 p of c same-input calls against peak g: the
// geometric tail (g/(g+1))^c with g at least 1.
func loopDecades(c uint32, g float64) float64 {
	g = math.Max(g, 1)
	return -float64(c) * math.Log10(g/(g+1))
}

// armLoop sets the loop threshold of the current loop window: armed once
// the key (or, borrowing, its tool) has warmup of history.
func armLoop(ks *keyState, ts *toolState) {
	t := ks.t
	ks.loop.armedAt = ks.loop.c.Start
	ks.loop.thr = 0
	peak, spk := float64(ks.loop.peak), float64(ks.loop.spk)
	switch {
	case ks.rate.Warm(&t.rule):
	case ts != nil && ts.rate.Warm(&t.rule):
		peak, spk = float64(ts.loop.peak), float64(ts.loop.spk)
	default:
		ks.loop.sthr = 0
		return
	}
	ks.loop.thr = loopThreshold(t, peak)
	ks.loop.next = ks.loop.thr
	ks.loop.sthr = min(ks.loop.thr, loopThreshold(t, spk))
	ks.loop.snext = ks.loop.sthr
}

// loopThreshold is the same-input count improbable at false_alarm_rate
// against peak g (at least 1), and at least loop_min_calls.
func loopThreshold(t *tuned, g float64) uint32 {
	g = math.Max(g, 1)
	thr := math.Max(float64(t.cfg.LoopMinCalls), math.Ceil(t.minL/-math.Log10(g/(g+1))))
	return uint32(math.Min(thr, math.MaxUint32/2))
}

func prior(r *record.Record) float64 {
	return score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment)
}

func (d *Detector) spikeFinding(r *record.Record, ks *keyState, v baseline.RateVerdict) detect.Finding {
	f := ratedetect.SpikeFinding(&ks.rate, r, &ks.t.spike, v, prior(r))
	f.Details["overall_mean"] = round3(float64(ks.rate.Sc[v.Scale].Mean))
	return f
}

// loopFinding is the "loop" finding of c same-input calls in the window,
// judged against the key's burst peak or, sustained, against its
// sustained-run peak (the run has gone on since runAt).
func (d *Detector) loopFinding(r *record.Record, ks *keyState, c uint32, sustained bool, now int64) detect.Finding {
	t := ks.t
	exp, thr := float64(ks.loop.peak), ks.loop.thr
	if sustained {
		exp, thr = float64(ks.loop.spk), ks.loop.sthr
	}
	l := loopDecades(c, exp)
	f := detect.Finding{
		Pattern:  detect.PatternFrequency,
		Detail:   "loop",
		Score:    score.FromDecades(l + prior(r)),
		Observed: float64(c),
		Expected: exp,
		Unit:     "calls/" + ratedetect.WindowName(t.cfg.LoopWindow),
		Summary: fmt.Sprintf("%s called %d times with one input in %s by %s; usually at most %.3g",
			r.Tool.Name, c, ratedetect.WindowName(t.cfg.LoopWindow), r.AgentID, exp),
		Details: map[string]any{
			"input_hash":       r.Invocation.InputHash,
			"same_input_peak":  round3(exp),
			"threshold":        thr,
			"log10_p":          round3(-l),
			"window_start":     time.Unix(ks.loop.c.Start, 0).UTC().Format(time.RFC3339),
			"same_input_calls": c,
		},
	}
	if sustained {
		f.Summary += fmt.Sprintf(", and the run has gone on for %ds: a sustained loop", now-ks.loop.runAt)
		f.Details["sustained_seconds"] = now - ks.loop.runAt
	}
	f.FromRecord(r)
	return f
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// maxTicks bounds the tick watermarks kept for lazy catch-up: at the
// default 1m step about 45 days, beyond the default idle_ttl.
const maxTicks = 1 << 16

// catchUp replays on ks's loop window the ticks since its last catch-up,
// as eager ticks rolled it (only for keys a tick would have rolled: enabled
// and with a rate window).
func (d *Detector) catchUp(ks *keyState) { catchUpTo(ks, d.tickedAt, d.ticks) }

// catchUpTo is catchUp to the tick watermark tickedAt, whose ticks are
// ticks (a snapshot settles keys to its capture's).
func catchUpTo(ks *keyState, tickedAt int64, ticks []int64) {
	if ks.tick >= tickedAt {
		return
	}
	if ks.t.cfg.Enabled && ks.rate.Start != 0 {
		i, _ := slices.BinarySearch(ticks, ks.tick+1)
		ks.rollLoopTicks(ticks[i:])
	}
	ks.tick = tickedAt
}

// settle brings ks to the state the last tick would have left it in: loop
// window caught up and rate windows rolled to its watermark.
func (d *Detector) settle(ks *keyState) { settleTo(ks, d.tickedAt, d.ticks) }

func settleTo(ks *keyState, tickedAt int64, ticks []int64) {
	catchUpTo(ks, tickedAt, ticks)
	if tickedAt != 0 && ks.t.cfg.Enabled && ks.rate.Start != 0 {
		ks.roll(tickedAt)
	}
}

// dropCount is the smallest count of its agent's active windows since the
// key's last call at which dropCheck reports the key, or 0 when no count
// would (the conditions that do not depend on the agent's count fail).
func (ks *keyState) dropCount() uint64 {
	t, g := ks.t, &ks.gap
	if !t.cfg.Enabled || ks.rate.Start == 0 || t.cfg.DropMinWindows == 0 || g.dropped || g.last == 0 ||
		g.n < uint32(t.cfg.DropMinWindows) || ks.rate.First == 0 || g.lastAt-ks.rate.First < t.rule.Warmup {
		return 0
	}
	lim := math.Max(t.cfg.PeakRatio, dropPeakRatio) * float64(g.peak)
	per := -math.Log10(dropQ(float64(g.mean)))
	// The same comparisons as dropCheck, from an estimate upward (n·per is
	// dropCheck's −n·log10 q bit for bit: negation is exact).
	ok := func(n float64) bool { return n > lim && n*per >= t.minL }
	n := math.Max(math.Floor(lim), math.Ceil(t.minL/per)-1)
	n = math.Max(n, 1)
	if n > 1<<52 {
		return 0
	}
	for n > 1 && ok(n-1) {
		n--
	}
	for !ok(n) {
		n++
	}
	return g.last + uint64(n)
}

// scheduleDrop puts k on its agent's drop index at the count where it would
// drop, unless an earlier entry of it is there (the tick moves that one
// on when it finds the count grew).
func (d *Detector) scheduleDrop(k baseline.Key, ks *keyState, as *agentState) {
	ks.dropAt = ks.dropCount()
	if ks.dropAgent != as.id {
		ks.dropQ, ks.dropAgent = 0, as.id
	}
	if ks.dropAt != 0 && (ks.dropQ == 0 || ks.dropAt < ks.dropQ) {
		ks.dropQ = ks.dropAt
		as.drops.Push(int64(ks.dropAt), k)
	}
}

// drops checks the keys of the agents active in the current or previous
// window whose drop count their agent has reached: the only keys dropCheck
// could report at wm. Only agents on recent are visited: after a visit an
// agent's index holds nothing due at its count, and an entry becomes due
// only when the count grows (a new active window, which puts the agent on
// recent) or a reload reschedules a key at or below it (the reload sweep
// puts it there); an agent inactive at the visit is skipped as before and
// comes back with its next active window.
func (d *Detector) drops(wm int64, out []detect.Finding) []detect.Finding {
	for i := range d.recent {
		as := d.agents.PeekRef(d.recent[i].key, &d.recent[i].ref)
		if as == nil || as.last < wm-2*d.agentStep || as.visited == d.ticked {
			continue
		}
		as.visited = d.ticked
		for {
			at, k, ok := as.drops.Pop(int64(as.total))
			if !ok {
				break
			}
			ks := d.keys.Peek(k)
			if ks == nil || ks.dropAgent != as.id || ks.dropQ != uint64(at) {
				continue // evicted, or a stale entry
			}
			ks.dropQ = 0
			if ks.dropAt > uint64(at) { // the key was called since: move on
				ks.dropQ = ks.dropAt
				as.drops.Push(int64(ks.dropAt), k)
				continue
			}
			if ks.dropAt == uint64(at) {
				out = d.dropCheck(k, ks, wm, out)
			}
		}
	}
	clear(d.recent)
	d.recent = d.recent[:0]
	return out
}

// dropQ is the probability that the key is absent from one active window
// of its agent, for mean gap g windows: 1 − 1/(g + 0.5) (the half window
// keeps a key that was in every window from being certain).
func dropQ(g float64) float64 { return 1 - 1/(math.Max(g, 1)+0.5) }

// dropCheck appends a "drop" finding for ks if its agent kept working
// while the key went silent (see the package doc).
func (d *Detector) dropCheck(k baseline.Key, ks *keyState, wm int64, out []detect.Finding) []detect.Finding {
	t, g := ks.t, &ks.gap
	// A pause that began during warm-up is not judged: its like (a
	// nightly pause) may not have been seen yet.
	if t.cfg.DropMinWindows == 0 || g.dropped || g.last == 0 || g.n < uint32(t.cfg.DropMinWindows) ||
		ks.rate.First == 0 || g.lastAt-ks.rate.First < t.rule.Warmup {
		return out
	}
	as := d.agents.PeekRef(baseline.Key{Agent: k.Agent}, &ks.agent)
	if as == nil || as.last < wm-2*d.agentStep || as.total <= g.last {
		return out
	}
	n := float64(as.total - g.last)
	if n <= math.Max(t.cfg.PeakRatio, dropPeakRatio)*float64(g.peak) {
		return out
	}
	l := -n * math.Log10(dropQ(float64(g.mean)))
	if l < t.minL {
		return out
	}
	g.dropped = true
	return append(out, detect.Finding{
		Pattern:  detect.PatternFrequency,
		Detail:   "drop",
		Score:    score.FromDecades(l),
		AgentID:  k.Agent,
		Tool:     k.Tool,
		Observed: 0,
		Expected: n / float64(g.mean),
		Unit:     "calls",
		Summary: fmt.Sprintf("%s stopped calling %s: active in %d windows since the last call, usually calls it every %.3g",
			k.Agent, k.Tool, int64(n), g.mean),
		Details: map[string]any{
			"agent_windows_since": int64(n),
			"mean_gap":            round3(float64(g.mean)),
			"largest_gap":         round3(float64(g.peak)),
			"log10_p":             round3(-l),
		},
		EventTime: time.Unix(wm, 0).UTC(),
	})
}

// Tick implements detect.Detector: it reports drops (sorted by agent,
// tool), evicts idle keys and rolls the tool-level windows. Spikes and
// loops are raised in Observe as counts cross thresholds; the windows of
// quiet keys close lazily (see Ticks in the package doc).
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	d.ticked = step
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	d.agents.Sweep(watermark)
	if d.tn.SweepDue() {
		// Once per reload, where an eager tick re-resolved every key.
		d.keys.Range(func(k baseline.Key, ks *keyState) bool {
			if !d.tn.Current(ks.gen) {
				d.settle(ks)
				d.resolve(ks, k.Agent, k.Tool)
				if as := d.agents.Peek(baseline.Key{Agent: k.Agent}); as != nil {
					d.scheduleDrop(k, ks, as)
					if ks.dropQ != 0 && ks.dropQ <= as.total {
						d.recent = append(d.recent, recentAgent{key: baseline.Key{Agent: k.Agent}})
					}
				}
			}
			return true
		})
		d.tn.Swept()
	}
	d.tickedAt = wm
	d.ticks = append(d.ticks, wm)
	if len(d.ticks) > maxTicks {
		d.ticks = d.ticks[:copy(d.ticks, d.ticks[len(d.ticks)-maxTicks/2:])]
	}
	n0 := len(out)
	out = d.drops(wm, out)
	// Map order must not reach the output.
	slices.SortFunc(out[n0:], func(a, b detect.Finding) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Tool, b.Tool))
	})
	d.tickTools(wm)
	return out
}

// tickTools rolls every tool-level window to wm (one state per tool).
func (d *Detector) tickTools(wm int64) {
	d.tools.Range(func(k baseline.Key, ts *toolState) bool {
		if !d.tn.Current(ts.gen) {
			d.resolveTool(ts, k.Tool)
		}
		if ts.rate.Start != 0 {
			if cl, ok := ts.rate.Roll(wm, &ts.t.rp); ok {
				ts.foldInst(cl.Gap, &ts.t.rp)
			}
			if cl, ok := ts.agents.Roll(wm, ts.t.rp.Size); ok {
				ts.agentsP.UpdateGap(cl, float64(cl.N), &ts.t.rp)
			}
			ts.rollLoop(wm)
		}
		return true
	})
}
