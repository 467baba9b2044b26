// Package frequency detects unusual tool-call frequency (pattern 1).
//
// Spike (Detail "spike"): calls per (agent, tool) per tumbling window
// (default 5m, aligned to the epoch) are compared with that key's own
// hour-of-day baseline (baseline.Profile: per UTC hour slot an EWMA mean and
// a decaying peak of past window counts). The expected count of a window is
// the slot mean, at least neighbour_weight times the adjacent slots' means;
// the window's threshold is
//
//	max(min_count, spike_ratio*expected, peak_ratio*recent_peak, Poisson critical(expected, p_value))
//
// armed when the window opens, so a spike is reported as soon as the running
// count reaches it (then again at each doubling of the count), not at window
// close. recent_peak (largest window in the slot or its neighbours, half-life
// 7d) keeps recurring bursts such as a nightly batch from alerting.
//
// Loop (Detail "loop"): per key a 4-slot Misra–Gries table counts calls per
// input_hash in a short window (default 1m); one hash reaching
// max(loop_min_calls, loop_ratio*recent largest same-input count) is a loop.
//
// Score (both): 40 + 20*log10(observed / max(expected, 1)), clamped to
// 0..100 (baseline.Score) — ratio 5 scores 54, 10 scores 60 (warning), 100
// scores 80 (critical). For loops expected is the key's recent largest
// same-input count.
//
// Warm-up: a key is judged against its own baseline once it has warmup
// (default 24h) of event-time history and its hour slot has min_slot_windows
// windows; until then it borrows its tool's per-agent baseline (tool-level
// state, Agent "", summed over agents and divided by the mean number of
// active agents per window) if that is warm, and otherwise raises nothing.
// Because every daily pattern occurs once within the first 24h, the first
// nightly batch is learned, not alerted.
//
// Baseline updates: windows above their own threshold enter the baseline
// winsorised at the threshold (baseline.Rate.Roll), and loop windows likewise
// at the loop threshold and at 1.5 × the current same-input peak (at least
// 2), so a burst — or the ramp-up minute of a loop —
// does not quickly become the new normal.
//
// Drops (far fewer calls than usual) are not detected: without a per-key
// notion of "should be running now" they false-alarm on day/night swings
// and on agents that simply stop.
//
// Hot reload (SetParams) keeps every key's learned state; snapshots
// (MarshalState/UnmarshalState, state.go) hold every key, tool and counter.
//
// Ticks cost the keys with something due, not all keys: a key whose spike
// was reported is put on a due index at its window's end, where Tick
// reports the window's final count; every other key is brought up to the
// last tick lazily, on its next record (catchUp), exactly as the tick
// would have left it (window closes are replayed one window at a time).
// Tool-level state (one per tool) is still ticked eagerly.
package frequency

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Detector is the frequency detector. Not safe for concurrent use (the
// engine is single-goroutine).
type Detector struct {
	tuned   map[*Config]*tuned
	params  *detect.Params[Config]
	keys    *baseline.Store[baseline.Key, keyState]
	tools   *baseline.Store[baseline.Key, toolState]
	minStep int64 // smallest window of any config, seconds
	ticked  int64 // last watermark window start Tick processed
	// tickedAt is the watermark of that tick (unix seconds): keys catch
	// up to it lazily.
	tickedAt int64
	// due holds keys whose reported spike window closes at a time.
	due baseline.Due[baseline.Key]
	// gen counts SetParams calls; a key whose gen differs re-resolves its
	// config on its next access (Observe or Tick).
	gen uint32
}

// tuned is a Config with its derived constants.
type tuned struct {
	cfg       *Config
	rp        baseline.RateParams
	rule      baseline.SpikeRule
	loopSize  int64
	loopDecay float64 // loop peak decay per loop window
	spike     baseline.SpikeReport
}

// loopState tracks same-input calls of the current loop window.
type loopState struct {
	c       baseline.Counter
	top     baseline.TopK
	armedAt int64
	peak    float32 // recent largest same-input count per loop window
	thr     uint32  // 0: disarmed
	next    uint32
}

type keyState struct {
	rate baseline.Rate
	loop loopState
	t    *tuned
	gen  uint32 // Detector.gen t was resolved at
	due  int64  // end of the reported window the key is on d.due for; 0: none
}

// toolState is the tool-level (all agents) state that cold keys borrow.
type toolState struct {
	keyState
	agents  baseline.Counter // agents active in the current window
	agentsP baseline.Profile // ... and per hour slot
}

// New returns a frequency detector; p's Base and Rules must be validated.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	d := &Detector{
		keys:  baseline.NewStore[baseline.Key, keyState](b.KeyCap(), b.IdleTTL),
		tools: baseline.NewStore[baseline.Key, toolState](b.KeyCap(), b.IdleTTL),
	}
	d.setParams(p)
	return d
}

func (d *Detector) setParams(p *detect.Params[Config]) {
	d.params = p
	d.tuned = make(map[*Config]*tuned, 1+len(p.Rules))
	d.minStep = 0
	add := func(c *Config) {
		t := newTuned(c)
		d.tuned[c] = t
		if d.minStep == 0 || t.loopSize < d.minStep {
			d.minStep = t.loopSize
		}
		if t.rp.Size < d.minStep {
			d.minStep = t.rp.Size
		}
	}
	add(&p.Base)
	for i := range p.Rules {
		add(&p.Rules[i].Config)
	}
}

// SetParams swaps the configuration (hot reload); p must be validated and
// is not modified afterwards. Every key keeps its learned state and picks
// up its (possibly new) config on its next record or Tick, where its
// current window is re-armed under the new thresholds. State that the new
// config makes meaningless is reset for that key only:
//   - a changed window: the key's rate baseline (counts per window of the
//     old size) is dropped and its warm-up starts again (it may borrow its
//     tool's baseline meanwhile); for tool-level state also the agent
//     profile;
//   - a changed loop_window: the key's same-input table and peak.
//
// A window that was already reported keeps its escalation level, so a
// reload does not re-report it.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.setParams(p)
	d.gen++
}

// resolve points ks at the config for (agent, tool) under the current
// params: for a new key (ks.t nil) or after SetParams. A key whose config
// changed has its current windows re-armed at once (with its tool as the
// borrow source, looked up here: this runs once per key per reload, never
// per record).
func (d *Detector) resolve(ks *keyState, agent, tool string) {
	t := d.tuned[d.params.For(agent, tool)]
	old := ks.t
	ks.t, ks.gen = t, d.gen
	if old == nil || old == t {
		return
	}
	ts := d.tools.Peek(baseline.Key{Tool: tool})
	if ts != nil && ts.gen != d.gen {
		d.resolveTool(ts, tool)
	}
	if old.rp.Size != t.rp.Size {
		ks.rate = baseline.Rate{}
	} else if ks.rate.Start != 0 && !ks.rate.NeedsArm() {
		rate, agents := borrowRate(borrowable(ks, ts))
		ks.rate.RearmSpike(&t.rule, rate, agents)
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
	t := d.tuned[d.params.For("", tool)]
	old := ts.t
	ts.t, ts.gen = t, d.gen
	if old == nil || old == t {
		return
	}
	if old.rp.Size != t.rp.Size {
		ts.rate, ts.agents, ts.agentsP = baseline.Rate{}, baseline.Counter{}, baseline.Profile{}
	}
	if old.loopSize != t.loopSize {
		ts.loop = loopState{}
	}
}

// borrowable returns ts if ks may borrow its baseline: the tool counts the
// same windows and the key's config allows borrowing.
func borrowable(ks *keyState, ts *toolState) *toolState {
	if ts == nil || ts.t.rp.Size != ks.t.rp.Size || !ks.t.cfg.BorrowToolBaseline {
		return nil
	}
	return ts
}

// rearmLoop re-arms the loop threshold after a config change, keeping the
// escalation level of a window already reported (as Rate.RearmSpike).
func rearmLoop(ks *keyState, borrow *toolState) {
	thr, next := ks.loop.thr, ks.loop.next
	armLoop(ks, borrow)
	if thr > 0 && next > thr && ks.loop.thr > 0 && ks.loop.thr < next {
		ks.loop.next = next // already reported in this window
	}
}

func newTuned(c *Config) *tuned {
	loop := int64(c.LoopWindow / time.Second)
	if loop < 1 {
		loop = 1
	}
	return &tuned{
		cfg:       c,
		rp:        c.RateParams(),
		rule:      c.Rule(),
		loopSize:  loop,
		loopDecay: math.Pow(0.5, c.LoopWindow.Seconds()/math.Max(c.PeakHalfLife.Seconds(), 1)),
		spike: c.Report(alert.PatternFrequency, "calls",
			"%s called %d times in %s by %s; expected about %.3g for this hour"),
	}
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return alert.PatternFrequency }

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) {
	ki, kc := d.keys.Evictions()
	ti, tc := d.tools.Evictions()
	return d.keys.Len() + d.tools.Len(), ki + ti, kc + tc
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	now := r.Timestamp.Unix()

	ts, _ := d.tools.Get(baseline.Key{Tool: r.Tool.Name}, r.Timestamp, nil)
	if ts != nil {
		if ts.t == nil || ts.gen != d.gen {
			d.resolveTool(ts, r.Tool.Name)
		}
		d.rollTool(ts, now)
	}

	ks, _ := d.keys.Get(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, r.Timestamp, nil)
	if ks == nil {
		return out
	}
	if ks.t == nil || ks.gen != d.gen {
		d.resolve(ks, r.AgentID, r.Tool.Name)
	}
	t := ks.t
	if !t.cfg.Enabled {
		return out
	}
	out = d.catchUp(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, ks, out)
	if cl, ok := ks.rate.Roll(now, &t.rp); ok && ks.rate.Unreported(cl) {
		f := ks.rate.CloseFinding(r.AgentID, r.Tool.Name, cl, &t.spike)
		f.ToolVersion, f.Environment = r.Tool.Version, r.Context.Environment
		out = append(out, f)
	}
	ks.rollLoop(now)
	// The tool's per-agent figures are comparable (and borrowable) only
	// when the tool counts the same windows as the key.
	if ts != nil && ts.t.rp.Size == t.rp.Size && ks.rate.N == 0 {
		ts.agents.N++
	}
	borrow := borrowable(ks, ts)
	if ks.rate.NeedsArm() {
		rate, agents := borrowRate(borrow)
		ks.rate.ArmSpike(&t.rule, rate, agents)
	}
	if ks.loop.armedAt != ks.loop.c.Start {
		armLoop(ks, borrow)
	}

	if ks.rate.Hit() {
		out = append(out, d.spikeFinding(r, ks))
		if end := ks.rate.Start + t.rp.Size; ks.due != end {
			ks.due = end // Tick reports the window's final count
			d.due.Push(end, baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name})
		}
	}
	if r.Invocation.InputHash != "" {
		h := baseline.HashString(r.Invocation.InputHash)
		if ts != nil {
			ts.loop.top.Add(h)
		}
		if c := ks.loop.top.Add(h); ks.loop.thr > 0 && c >= ks.loop.next {
			ks.loop.next = c + max(c, 1)
			if ks.loop.next < c {
				ks.loop.next = math.MaxUint32
			}
			out = append(out, d.loopFinding(r, ks, c))
		}
	}
	return out
}

// catchUp brings ks to the state the last Tick would have left it in had
// it rolled every key: the rate window rolled to the tick's watermark
// (reporting the final count of a reported window that grew) and each
// loop window since closed in turn, one per tick, as eager ticks closed
// them (after a few windows the empty ones decay the peak in closed form).
// Keys untouched since the last tick return at once.
func (d *Detector) catchUp(k baseline.Key, ks *keyState, out []alert.Finding) []alert.Finding {
	wm := d.tickedAt
	if wm == 0 || !ks.t.cfg.Enabled || ks.rate.Start == 0 {
		return out
	}
	if ks.due != 0 && wm >= ks.due {
		ks.due = 0
	}
	if cl, ok := ks.rate.Roll(wm, &ks.t.rp); ok && ks.rate.Unreported(cl) {
		out = append(out, ks.rate.CloseFinding(k.Agent, k.Tool, cl, &ks.t.spike))
	}
	size := ks.t.loopSize
	if s := ks.loop.c.Start; s == 0 || wm < s+size {
		ks.rollLoop(wm) // starts an unused loop counter, as a tick did
		return out
	}
	last := baseline.AlignDown(wm, size)
	w := ks.loop.c.Start + size
	for n := 0; w <= last && n < loopRun; w += size {
		ks.rollLoop(w)
		n++
	}
	if w <= last { // the rest are empty windows: peak × decay each
		g := (last-w)/size + 1
		ks.loop.c = baseline.Counter{Start: last}
		ks.loop.peak = float32(float64(ks.loop.peak) * math.Pow(ks.t.loopDecay, float64(g)))
	}
	return out
}

// loopRun: loop windows caught up one by one; beyond, in closed form.
const loopRun = 8

// rollTool advances the tool-level state to now and counts one call.
func (d *Detector) rollTool(ts *toolState, now int64) {
	t := ts.t
	ts.rate.Roll(now, &t.rp)
	if cl, ok := ts.agents.Roll(now, t.rp.Size); ok {
		ts.agentsP.UpdateGap(cl, float64(cl.N), &t.rp)
	}
	ts.rollLoop(now)
	if ts.rate.NeedsArm() {
		// Armed only to winsorise the tool's own baseline; never reported.
		ts.rate.ArmSpike(&t.rule, nil, nil)
	}
	if ts.loop.armedAt != ts.loop.c.Start {
		armLoop(&ts.keyState, nil)
	}
	ts.rate.N++
}

// borrowRate is what a key arms its spike threshold from besides its own
// baseline (baseline.Rate.ArmSpike): its tool's baseline per active agent
// (the tool's total divided by its mean active agents per window in the
// slot), or nothing when ts is nil.
func borrowRate(ts *toolState) (*baseline.Rate, *baseline.Profile) {
	if ts == nil {
		return nil, nil
	}
	return &ts.rate, &ts.agentsP
}

// rollLoop closes the loop window if now is past it, feeding its largest
// same-input count into the decaying loop peak. The count is winsorised at
// the loop threshold and at loopGrowth × the current peak (at least
// loopFloor): the first, partial minute of a loop must not
// lift the threshold beyond the loop's full-minute rate.
func (ks *keyState) rollLoop(now int64) {
	cl, ok := ks.loop.c.Roll(now, ks.t.loopSize)
	if !ok {
		return
	}
	x := float64(ks.loop.top.Max())
	if ks.loop.thr > 0 {
		x = math.Min(x, float64(ks.loop.thr))
	}
	x = math.Min(x, math.Max(loopGrowth*float64(ks.loop.peak), loopFloor))
	decay := ks.t.loopDecay
	if cl.Gap > 0 {
		decay = math.Pow(decay, float64(cl.Gap+1))
	}
	ks.loop.peak = float32(math.Max(float64(ks.loop.peak)*decay, x))
	ks.loop.top.Reset()
}

// loopGrowth bounds how fast the same-input peak may rise per loop window.
const loopGrowth = 1.5

// loopFloor is the smallest cap of that growth: a key whose inputs never
// repeat (peak 1) may learn a repeat count of 2 per window at once.
const loopFloor = 2

// armLoop sets the loop threshold of the current loop window: armed once
// the key (or, borrowing, its tool) has warmup of history.
func armLoop(ks *keyState, ts *toolState) {
	t := ks.t
	ks.loop.armedAt = ks.loop.c.Start
	ks.loop.thr = 0
	peak := float64(ks.loop.peak)
	switch {
	case ks.rate.Start-ks.rate.First >= t.rule.Warmup:
	case ts != nil && ts.rate.Start-ts.rate.First >= t.rule.Warmup:
		peak = float64(ts.loop.peak)
	default:
		return
	}
	thr := math.Max(float64(t.cfg.LoopMinCalls), math.Ceil(t.cfg.LoopRatio*peak))
	ks.loop.thr = uint32(math.Min(thr, math.MaxUint32/2))
	ks.loop.next = ks.loop.thr
}

func (d *Detector) spikeFinding(r *record.Record, ks *keyState) alert.Finding {
	f := ks.rate.SpikeFinding(r, &ks.t.spike)
	f.Details["overall_mean"] = round3(float64(ks.rate.Overall))
	f.Details["log10_p"] = round3(baseline.PoissonLogSF(int(ks.rate.N), float64(ks.rate.Exp)) / math.Ln10)
	return f
}

func (d *Detector) loopFinding(r *record.Record, ks *keyState, c uint32) alert.Finding {
	t := ks.t
	exp := float64(ks.loop.peak)
	f := alert.Finding{
		Pattern:  alert.PatternFrequency,
		Detail:   "loop",
		Score:    baseline.Score(float64(c), exp),
		Observed: float64(c),
		Expected: exp,
		Unit:     "calls/" + baseline.WindowName(t.cfg.LoopWindow),
		Summary: fmt.Sprintf("%s called %d times with one input in %s by %s; usually at most %.3g",
			r.Tool.Name, c, baseline.WindowName(t.cfg.LoopWindow), r.AgentID, exp),
		Details: map[string]any{
			"input_hash":       r.Invocation.InputHash,
			"same_input_peak":  round3(exp),
			"threshold":        ks.loop.thr,
			"window_start":     time.Unix(ks.loop.c.Start, 0).UTC().Format(time.RFC3339),
			"same_input_calls": c,
		},
	}
	f.FromRecord(r)
	return f
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Tick implements detect.Detector: it reports the final count of spike
// windows that grew after their last report (keys on the due index), sorted
// by (agent, tool), evicts idle keys and rolls the tool-level windows.
// Spikes are raised in Observe as counts cross thresholds. Other keys'
// windows close lazily (catchUp).
func (d *Detector) Tick(watermark time.Time, out []alert.Finding) []alert.Finding {
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	d.ticked, d.tickedAt = step, wm
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	n0 := len(out)
	for {
		at, k, ok := d.due.Pop(wm)
		if !ok {
			break
		}
		ks := d.keys.Peek(k)
		if ks == nil || ks.due != at {
			continue // evicted, or rescheduled for a later window
		}
		if ks.gen != d.gen {
			d.resolve(ks, k.Agent, k.Tool)
		}
		out = d.catchUp(k, ks, out)
	}
	// Map order must not reach the output.
	slices.SortFunc(out[n0:], func(a, b alert.Finding) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Tool, b.Tool))
	})
	d.tools.Range(func(k baseline.Key, ts *toolState) bool {
		if ts.gen != d.gen {
			d.resolveTool(ts, k.Tool)
		}
		if ts.rate.Start != 0 {
			ts.rate.Roll(wm, &ts.t.rp)
			if cl, ok := ts.agents.Roll(wm, ts.t.rp.Size); ok {
				ts.agentsP.UpdateGap(cl, float64(cl.N), &ts.t.rp)
			}
			ts.rollLoop(wm)
		}
		return true
	})
	return out
}
