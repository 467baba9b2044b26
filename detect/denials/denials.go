// Package denials detects permission-denial spikes and first-seen denials
// (pattern 3, "denial_spike").
//
// A record is a denial when invocation.status is "denied" or
// invocation.permissions_denied has at least one non-empty entry; each
// such record counts once, however many permissions it lists. Denied
// permissions are "type:action"; the type is the part before the first ':'
// (the whole string when there is none).
//
// Findings, by Detail:
//
//   - "spike": denials per (agent, tool) judged against the key's own
//     denial baseline in every environment, at several scales (default the
//     5m window and sliding 1h and 6h sums), with the negative binomial
//     seasonal and overall models, peak guard, false_alarm_rate budget,
//     hold damping, robust hour-slot learning and score of package
//     frequency (baseline.Rate): a
//     routine denial type denied a few times a day is inside its key's
//     tail, a ×20 rise of it is not. A key in warm-up borrows its tool's
//     total denial baseline (all agents; conservative). Score
//     score.FromP(scales × p) + 10·score.Prior(trust, classification,
//     environment).
//   - "new:<type>": the tool (across agents) is denied a permission type it
//     was never denied before, after the tool's type_warmup (default 24h
//     from its first record of any kind). Always reported. Score: the odds
//     bound p = (T+1)/(N+2) — of the tool's N calls so far at most T+1
//     (T = its known denied types) introduced a new denied type — scored
//     score.FromP(p) + dangerous_decades (2) for dangerous_types
//     (code_execution, network, filesystem) + the record's risk prior, and
//     at least 40 (info): a first-seen type is an alert by itself.
//   - "new_action:<type>": a new "type:action" of an already denied type,
//     scored the same way with A (known actions) for T, reported only when
//     that reaches 40 (the tool already probes that class of permission).
//
// A denied permission that the tool's own successful calls use
// (invocation.permissions_used, learned once per tool window) is never
// "new": the tool has attempted that operation all along, and the denial
// is a missing grant — a sandbox or staging account without it, an
// expired or revoked credential — not the tool trying something new. It
// does not enter the seen sets (a later denial of another action of that
// type is still a new type); its counts still feed the key's spike
// baseline, so a revoked grant that denies every call still spikes.
//
// A denial of a (key, permission) seen before is never an alert by itself:
// only a spike of the key's own denial count is. There is no environment
// rule: a production denial is judged like any other.
//
// Retries: a denied call its key repeats verbatim — same trace_id,
// input_hash and permissions_denied — within retry_window (default 10m)
// of the first try is counted once, for the key and for the tool total a
// young key borrows: an LLM agent re-sending a denied call 10–20 times is
// one denial, not a spike (a loop of identical calls is frequency's
// same-input loop). Distinct denied calls of one task each count; a record
// without a trace or input hash is never a retry. The key keeps only its
// last counted denied call (a 64-bit fingerprint and its time, with the
// full rate: blank keys carry nothing), so a retry interleaved with
// another denied call counts again.
//
// Seen types and actions are kept per tool, capped (max_types_per_tool,
// max_actions_per_tool); past the cap new ones are not remembered, not
// alerted, and counted (Overflow).
//
// Hot reload (SetParams) keeps every key's learned state; snapshots
// (MarshalState/UnmarshalState, state.go) hold every key, tool, seen set
// and counter.
//
// A key whose agent was never denied (most keys) keeps its rate blank
// (baseline.BlankRate: 160 bytes instead of a ~600-byte Rate that would
// hold only zeros) and materialises the full Rate on its first denial;
// findings and snapshots are those of full rates, bit for bit.
//
// Ticks do not visit (agent, tool) keys: a tick only rolled a key's
// windows, and the key's next record rolls them (baseline.Rate.Roll closes
// the skipped windows bit for bit as ticks did, empty ones on a fast path;
// a key that never had a denial only counts them), so its judgement is the
// same. Only the first tick after SetParams visits every key once, to
// re-resolve it where an eager tick would have. Tool-level state (one per
// tool) is still ticked eagerly.
package denials

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// Detector is the denial detector. Not safe for concurrent use.
type Detector struct {
	// tn resolves per-key configs; a key whose stamp is not current
	// re-resolves on its next access (Observe or Tick).
	tn      ratedetect.Tuning[Config, tuned]
	keys    *baseline.Store[baseline.Key, keyState]
	tools   *baseline.Store[baseline.Key, toolState]
	minStep int64
	ticked  int64
	// tickedAt is the watermark of that tick (unix seconds): what a key's
	// windows had been rolled to when ticks rolled every key.
	tickedAt int64
	overflow uint64
}

type tuned struct {
	cfg        *Config
	rp         baseline.RateParams
	rule       baseline.SpikeRule
	typeWarmup int64
	// retryWindow: retry_window in seconds (0: retries are not folded).
	retryWindow int64
	spike       ratedetect.SpikeReport
}

// keyState is one (agent, tool) key. Its rate is kept blank
// (baseline.BlankRate, 160 bytes) until the key's first denial, which
// materialises the full Rate (~600 bytes): most keys are never denied.
type keyState struct {
	full  *deniedKey         // nil while the rate is blank
	blank baseline.BlankRate // the rate while full is nil
	t     *tuned
	gen   detect.Stamp // generation t was resolved under
}

// deniedKey is a key once denied: its full rate and the last denied call
// it counted, so that verbatim retries of that call fold into it (the
// fingerprint lives here, not in keyState: most keys are never denied).
type deniedKey struct {
	baseline.Rate
	call   uint64 // fingerprint of trace, input hash and denied permissions; 0 none
	callAt int64  // event time of that call, unix seconds
}

// rate returns a copy of ks's rate.
func (ks *keyState) rate() baseline.Rate {
	if ks.full != nil {
		return ks.full.Rate
	}
	var r baseline.Rate
	ks.blank.Expand(&r)
	return r
}

// setRate stores r as ks's rate, blank when it can be.
func (ks *keyState) setRate(r *baseline.Rate) {
	if ks.full != nil {
		ks.full.Rate = *r
		return
	}
	if !ks.blank.From(r) {
		ks.full = &deniedKey{Rate: *r}
	}
}

// update applies fn to ks's rate (off the per-record path).
func (ks *keyState) update(fn func(r *baseline.Rate)) {
	if ks.full != nil {
		fn(&ks.full.Rate)
		return
	}
	r := ks.rate()
	fn(&r)
	ks.setRate(&r)
}

// resetRate gives ks an unused rate.
func (ks *keyState) resetRate() { ks.full, ks.blank = nil, baseline.BlankRate{} }

// materialise gives ks its full rate, before it counts a denial.
func (ks *keyState) materialise() *baseline.Rate {
	if ks.full == nil {
		ks.full = new(deniedKey)
		ks.blank.Expand(&ks.full.Rate)
	}
	return &ks.full.Rate
}

// retry reports whether denial r of ks (materialised) repeats verbatim —
// same trace, input hash and denied permissions — the last denied call ks
// counted, within the key's retry window of it; otherwise r becomes that
// call. An agent re-sending a denied call is one denial, not one per try
// (a retry loop is frequency's same-input loop, not a denial spike). A
// record without a trace or input hash is never a retry: it cannot be
// told apart from a new call.
func (ks *keyState) retry(r *record.Record, now int64) bool {
	w := ks.t.retryWindow
	if w <= 0 || r.TraceID == "" || r.Invocation.InputHash == "" {
		return false
	}
	fp := mix(baseline.HashString(r.TraceID), baseline.HashString(r.Invocation.InputHash))
	for _, p := range r.Invocation.PermissionsDenied {
		fp = mix(fp, baseline.HashString(p))
	}
	fp |= 1 // 0 is "none"
	k := ks.full
	if k.call == fp && now-k.callAt <= w {
		return true // the window runs from the first try: a loop of hours still counts
	}
	k.call, k.callAt = fp, now
	return false
}

// mix combines two 64-bit hashes (order matters).
func mix(a, b uint64) uint64 {
	a ^= b + 0x9e3779b97f4a7c15 + a<<6 + a>>2
	return a * 0xff51afd7ed558ccd
}

type toolState struct {
	rate    baseline.Rate // denials of all agents
	types   []uint64      // hashes of denied types seen
	actions []uint64      // hashes of denied "type:action" seen
	since   int64         // start of the tool's first window: type warm-up runs from it
	calls   uint64        // records of the tool (the odds bound's N)
	// used holds hashes of the permissions ("type:action") the tool's
	// successful calls used, learned from the first successful call with
	// permissions in each of its windows (usedAt: that window's start), so
	// the per-record cost is one comparison.
	used   []uint64
	usedAt int64
	t      *tuned
	gen    detect.Stamp
}

// New returns a denial detector; p's Base and Rules must be validated.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	d := &Detector{
		keys:  baseline.NewStore[baseline.Key, keyState](b.KeyCap(), b.IdleTTL),
		tools: baseline.NewStore[baseline.Key, toolState](b.KeyCap(), b.IdleTTL),
	}
	d.setParams(p)
	return d
}

// SetParams swaps the configuration (hot reload); p must be validated and
// is not modified afterwards. Every key keeps its learned state (rate
// baseline, seen types and actions, production counters) and picks up its
// (possibly new) config on its next record or Tick, where its current
// window is re-armed under the new thresholds; a window already reported
// keeps its escalation level, so a reload does not re-report it. A changed
// window resets that key's rate baseline (counts per window of the old
// size; its warm-up starts again and it may borrow meanwhile). The type
// warm-up of a tool keeps running from its first record. Lowered
// max_types/max_actions keep what is remembered and only stop new entries.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.setParams(p)
	d.tn.Reload()
}

// resolve points ks at the config for (agent, tool) under the current
// params: for a new key (ks.t nil) or after SetParams, once per key.
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
		ks.resetRate()
		return
	}
	ks.update(func(r *baseline.Rate) {
		if r.Start != 0 && !r.NeedsArm() {
			r.RearmSpike(&t.rule, &t.rp, borrowRate(ks, ts), nil)
		}
	})
}

// resolveTool is resolve for tool-level state; its threshold only
// winsorises its own baseline and is re-armed at its next window.
func (d *Detector) resolveTool(ts *toolState, tool string) {
	old := ts.t
	ts.t, ts.gen = d.tn.Resolve("", tool)
	if old != nil && old != ts.t && !ratedetect.SameScales(&old.rp, &ts.t.rp) {
		ts.rate = baseline.Rate{}
	}
}

func (d *Detector) setParams(p *detect.Params[Config]) {
	d.tn.Set(p, func(c *Config) *tuned {
		return &tuned{cfg: c, rp: c.RateParams(), rule: c.Rule(), typeWarmup: int64(c.TypeWarmup / time.Second),
			retryWindow: int64(c.RetryWindow / time.Second),
			spike: ratedetect.Report(&c.SpikeConfig, detect.PatternDenialSpike, "denials",
				"%s had %d permission denials in %s for %s; expected about %.3g")}
	})
	d.minStep = 0
	d.tn.Each(func(t *tuned) {
		if d.minStep == 0 || t.rp.Size < d.minStep {
			d.minStep = t.rp.Size
		}
	})
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return detect.PatternDenialSpike }

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) {
	return detect.StoreStats(d.keys, d.tools)
}

// Overflow counts denied types/actions not remembered because their tool's
// seen set was full.
func (d *Detector) Overflow() uint64 { return d.overflow }

// IsDenial reports whether r counts as a denial (see the package doc).
func IsDenial(r *record.Record) bool {
	if r.Invocation.Status == record.StatusDenied {
		return true
	}
	for _, p := range r.Invocation.PermissionsDenied {
		if p != "" {
			return true
		}
	}
	return false
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	now := r.Timestamp.Unix()
	// Every record moves the windows, so windows without denials count as
	// zeros and a tool's type warm-up runs from its first call.
	ts, _ := d.tools.Get(baseline.Key{Tool: r.Tool.Name}, r.Timestamp, nil)
	if ts != nil {
		if !d.tn.Current(ts.gen) {
			d.resolveTool(ts, r.Tool.Name)
		}
		ts.rate.Roll(now, &ts.t.rp)
		ts.calls++
		if ts.since == 0 {
			ts.since = ts.rate.First
		}
		if ts.rate.NeedsArm() {
			ts.rate.ArmSpike(&ts.t.rule, &ts.t.rp, nil, nil)
		}
		if ts.usedAt != ts.rate.Start && len(r.Invocation.PermissionsUsed) > 0 && r.Invocation.Status == record.StatusSuccess {
			ts.learnUsed(r.Invocation.PermissionsUsed)
		}
	}
	ks, _ := d.keys.Get(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, r.Timestamp, nil)
	if ks != nil && !d.tn.Current(ks.gen) {
		d.resolve(ks, r.AgentID, r.Tool.Name)
	}
	if ks != nil && ks.t.cfg.Enabled {
		t := ks.t
		if ks.full != nil {
			kr := &ks.full.Rate
			kr.Roll(now, &t.rp)
			if kr.NeedsArm() {
				kr.ArmSpike(&t.rule, &t.rp, borrowRate(ks, ts), nil)
			}
		} else if !ks.blank.Quiet(now, t.rp.Size) {
			ks.rollBlank(now, ts) // once per window
		}
	}
	if !IsDenial(r) {
		return out
	}
	keyOn := ks != nil && ks.t.cfg.Enabled
	var kr *baseline.Rate
	if keyOn {
		kr = ks.materialise()
	}
	if keyOn && ks.retry(r, now) {
		// A retry of a counted denied call: counted neither for the key
		// nor for the tool it may borrow from; novelty already saw it.
		return out
	}
	if ts != nil {
		ts.rate.N++
	}
	if keyOn {
		if kr.Hit() {
			t := ks.t
			if v := kr.Judge(&t.rp, &t.rule); v.Scale >= 0 && kr.Fire(v.Decades, t.rp.Size, &t.rule) {
				out = append(out, d.spikeFinding(r, ks, v))
			}
		}
	}
	if ts != nil && ts.t.cfg.Enabled {
		out = d.novelty(r, ts, out)
	}
	return out
}

// rollBlank is Observe's roll and arming of a blank rate, on a copy
// expanded for it: the key stays blank unless a borrowed arming or a
// restored state makes it otherwise.
func (ks *keyState) rollBlank(now int64, ts *toolState) {
	t := ks.t
	var r baseline.Rate
	ks.blank.Expand(&r)
	r.Roll(now, &t.rp)
	if r.NeedsArm() {
		r.ArmSpike(&t.rule, &t.rp, borrowRate(ks, ts), nil)
	}
	ks.setRate(&r)
}

// borrowRate is the baseline ks may borrow while in warm-up: its tool's
// total over all agents (conservative), when the key's config allows it
// and the tool counts the same windows; else nil.
func borrowRate(ks *keyState, ts *toolState) *baseline.Rate {
	if ts == nil || !ks.t.cfg.BorrowToolBaseline || !ratedetect.SameScales(&ts.t.rp, &ks.t.rp) {
		return nil
	}
	return &ts.rate
}

func deniedText(r *record.Record) string {
	if len(r.Invocation.PermissionsDenied) == 0 {
		return "a call"
	}
	return strings.Join(r.Invocation.PermissionsDenied, ", ")
}

// learnUsed adds the permissions of a successful call to ts.used (capped
// at max_actions_per_tool) and marks the window learned.
func (ts *toolState) learnUsed(perms []string) {
	ts.usedAt = ts.rate.Start
	for _, p := range perms {
		if h := baseline.HashString(p); p != "" && !slices.Contains(ts.used, h) && len(ts.used) < ts.t.cfg.MaxActionsPerTool {
			ts.used = append(ts.used, h)
		}
	}
}

// novelty checks r's denied permissions against the tool's seen sets.
func (d *Detector) novelty(r *record.Record, ts *toolState, out []detect.Finding) []detect.Finding {
	t := ts.t
	history := ts.rate.Start - ts.since
	warm := history >= t.typeWarmup
	for _, p := range r.Invocation.PermissionsDenied {
		if p == "" {
			continue
		}
		if slices.Contains(ts.used, baseline.HashString(p)) {
			continue // a grant missing (sandbox, expired, revoked), not a new operation
		}
		typ, _, _ := strings.Cut(p, ":")
		newType := false
		if th := baseline.HashString(typ); !slices.Contains(ts.types, th) {
			if len(ts.types) >= t.cfg.MaxTypesPerTool {
				d.overflow++
				continue
			}
			ts.types = append(ts.types, th)
			newType = true
		}
		newAction := false
		if ah := baseline.HashString(p); !slices.Contains(ts.actions, ah) {
			if len(ts.actions) >= t.cfg.MaxActionsPerTool {
				d.overflow++
			} else {
				ts.actions = append(ts.actions, ah)
				newAction = true
			}
		}
		if !warm {
			continue
		}
		var f detect.Finding
		pr := prior(r)
		switch {
		case newType:
			kind, l := "type", oddsDecades(len(ts.types)-1, ts.calls)
			if slices.Contains(t.cfg.DangerousTypes, typ) {
				kind, l = "dangerous type", l+t.cfg.DangerousDecades
			}
			f = detect.Finding{Detail: "new:" + typ, Score: math.Max(score.FromDecades(l+pr), minNovelty),
				Summary: fmt.Sprintf("%s was denied %s for %s: first %s denial for this tool in %s of history (%s)",
					r.Tool.Name, p, r.AgentID, typ, hours(history), kind)}
		case newAction:
			sc := score.FromDecades(oddsDecades(len(ts.actions)-1, ts.calls) + pr)
			if sc < minNovelty {
				continue
			}
			f = detect.Finding{Detail: "new_action:" + typ, Score: sc,
				Summary: fmt.Sprintf("%s was denied %s for %s: a %s action not denied before in %s of history",
					r.Tool.Name, p, r.AgentID, typ, hours(history))}
		default:
			continue
		}
		f.Pattern = detect.PatternDenialSpike
		f.Observed, f.Expected, f.Unit = 1, 0, "denials"
		f.Details = map[string]any{
			"permission":    p,
			"type":          typ,
			"known_types":   len(ts.types) - 1,
			"history_hours": math.Round(float64(history) / 3600),
		}
		f.FromRecord(r)
		out = append(out, f)
	}
	return out
}

// minNovelty is the info band: the floor of a first-seen type's score and
// the bar a new action must reach.
const minNovelty = 40

// oddsDecades is −log10 of the odds bound (known+1)/(calls+2) that a call
// introduces a new denied value (see the package doc).
func oddsDecades(known int, calls uint64) float64 {
	return -math.Log10(float64(known+1) / (float64(calls) + 2))
}

func prior(r *record.Record) float64 {
	return score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment)
}

func hours(sec int64) string { return fmt.Sprintf("%dh", sec/3600) }

func (d *Detector) spikeFinding(r *record.Record, ks *keyState, v baseline.RateVerdict) detect.Finding {
	f := ratedetect.SpikeFinding(ks.materialise(), r, &ks.t.spike, v, prior(r))
	f.Details["permissions_denied"] = slices.Clone(r.Invocation.PermissionsDenied)
	return f
}

// Tick implements detect.Detector: it evicts idle keys and rolls the
// tool-level windows. (agent, tool) keys' windows close lazily, on the
// key's next record (see the package doc); after SetParams every key is
// re-resolved once, in the state the previous tick would have left it.
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	prev := d.tickedAt
	d.ticked, d.tickedAt = step, wm
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	if d.tn.SweepDue() {
		d.keys.Range(func(k baseline.Key, ks *keyState) bool {
			if !d.tn.Current(ks.gen) {
				if prev != 0 && ks.t.cfg.Enabled {
					ks.update(func(r *baseline.Rate) {
						if r.Start != 0 {
							r.Roll(prev, &ks.t.rp)
						}
					})
				}
				d.resolve(ks, k.Agent, k.Tool)
			}
			return true
		})
		d.tn.Swept()
	}
	d.tools.Range(func(k baseline.Key, ts *toolState) bool {
		if !d.tn.Current(ts.gen) {
			d.resolveTool(ts, k.Tool)
		}
		if ts.rate.Start != 0 {
			ts.rate.Roll(wm, &ts.t.rp)
		}
		return true
	})
	return out
}
