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
//   - "spike": denials per (agent, tool) per window (default 5m) reach
//     max(min_count, spike_ratio*expected, peak_ratio*recent_peak, Poisson
//     critical value) against the key's hour-of-day baseline (as in package
//     frequency; see baseline.Rate). Reported as the running count crosses
//     the threshold, again at each doubling, and with the final count at
//     window close if it grew. A key in warm-up borrows its tool's total
//     denial baseline (all agents; conservative). Score
//     40 + 20*log10(observed / max(expected, 1)) (baseline.Score): ratio 10
//     scores 60, 100 scores 80.
//   - "new:<type>": the tool (across agents) is denied a permission type it
//     was never denied before, after the tool's type_warmup (default 24h
//     from its first record of any kind). Score dangerous_type_score (85)
//     for dangerous_types (code_execution, network, filesystem), else
//     new_type_score (65).
//   - "new_action:<type>": a new "type:action" of an already denied type.
//     Score new_action_score (45, info; 0 disables): the tool already
//     probes that class of permission, so a new action is worth a look but
//     not a page.
//   - "production": a denial whose context.environment is one of
//     production_environments (target there is zero denials). Score
//     production_score + 5*log2(n), capped at 100, n the key's production
//     denials in the current window: the first scores 40 (info), 16 score
//     60, 256 score 80. Reported at n = 1, 2, 4, 8, ...
//
// Seen types and actions are kept per tool, capped (max_types_per_tool,
// max_actions_per_tool); past the cap new ones are not remembered, not
// alerted, and counted (Overflow).
//
// Hot reload (SetParams) keeps every key's learned state; snapshots
// (MarshalState/UnmarshalState, state.go) hold every key, tool, seen set
// and counter.
//
// Ticks cost the keys with something due, not all keys: a key whose spike
// was reported is put on a due index at its window's end, where Tick
// reports the window's final count; every other key's windows close on
// its next record (baseline.Rate.Roll feeds the skipped windows as zeros,
// exactly as eager ticks did). Tool-level state is still ticked eagerly.
package denials

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Detector is the denial detector. Not safe for concurrent use.
type Detector struct {
	tuned    map[*Config]*tuned
	params   *detect.Params[Config]
	keys     *baseline.Store[baseline.Key, keyState]
	tools    *baseline.Store[baseline.Key, toolState]
	minStep  int64
	ticked   int64
	overflow uint64
	due      baseline.Due[baseline.Key] // keys whose reported window closes at a time
	// gen counts SetParams calls; a key whose gen differs re-resolves its
	// config on its next access (Observe or Tick).
	gen uint32
}

type tuned struct {
	cfg        *Config
	rp         baseline.RateParams
	rule       baseline.SpikeRule
	typeWarmup int64
	spike      baseline.SpikeReport
}

type keyState struct {
	rate     baseline.Rate
	prodAt   int64 // window start the production counters belong to
	prodN    uint32
	prodNext uint32
	t        *tuned
	gen      uint32 // Detector.gen t was resolved at
	due      int64  // end of the reported window the key is on d.due for; 0: none
}

type toolState struct {
	rate    baseline.Rate // denials of all agents
	types   []uint64      // hashes of denied types seen
	actions []uint64      // hashes of denied "type:action" seen
	since   int64         // start of the tool's first window: type warm-up runs from it
	t       *tuned
	gen     uint32
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
	d.gen++
}

// resolve points ks at the config for (agent, tool) under the current
// params: for a new key (ks.t nil) or after SetParams, once per key.
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
	switch {
	case old.rp.Size != t.rp.Size:
		ks.rate = baseline.Rate{}
	case ks.rate.Start != 0 && !ks.rate.NeedsArm():
		ks.rate.RearmSpike(&t.rule, borrowRate(ks, ts), nil)
	}
}

// resolveTool is resolve for tool-level state; its threshold only
// winsorises its own baseline and is re-armed at its next window.
func (d *Detector) resolveTool(ts *toolState, tool string) {
	t := d.tuned[d.params.For("", tool)]
	old := ts.t
	ts.t, ts.gen = t, d.gen
	if old != nil && old != t && old.rp.Size != t.rp.Size {
		ts.rate = baseline.Rate{}
	}
}

func (d *Detector) setParams(p *detect.Params[Config]) {
	d.params = p
	d.tuned = make(map[*Config]*tuned, 1+len(p.Rules))
	d.minStep = 0
	add := func(c *Config) {
		t := &tuned{cfg: c, rp: c.RateParams(), rule: c.Rule(), typeWarmup: int64(c.TypeWarmup / time.Second),
			spike: c.Report(alert.PatternDenialSpike, "denials",
				"%s had %d permission denials in %s for %s; expected about %.3g for this hour")}
		d.tuned[c] = t
		if d.minStep == 0 || t.rp.Size < d.minStep {
			d.minStep = t.rp.Size
		}
	}
	add(&p.Base)
	for i := range p.Rules {
		add(&p.Rules[i].Config)
	}
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return alert.PatternDenialSpike }

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) {
	ki, kc := d.keys.Evictions()
	ti, tc := d.tools.Evictions()
	return d.keys.Len() + d.tools.Len(), ki + ti, kc + tc
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
func (d *Detector) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	now := r.Timestamp.Unix()
	// Every record moves the windows, so windows without denials count as
	// zeros and a tool's type warm-up runs from its first call.
	ts, _ := d.tools.Get(baseline.Key{Tool: r.Tool.Name}, r.Timestamp, nil)
	if ts != nil {
		if ts.t == nil || ts.gen != d.gen {
			d.resolveTool(ts, r.Tool.Name)
		}
		ts.rate.Roll(now, &ts.t.rp)
		if ts.since == 0 {
			ts.since = ts.rate.First
		}
		if ts.rate.NeedsArm() {
			ts.rate.ArmSpike(&ts.t.rule, nil, nil)
		}
	}
	ks, _ := d.keys.Get(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, r.Timestamp, nil)
	if ks != nil && (ks.t == nil || ks.gen != d.gen) {
		d.resolve(ks, r.AgentID, r.Tool.Name)
	}
	if ks != nil && ks.t.cfg.Enabled {
		t := ks.t
		if cl, ok := ks.rate.Roll(now, &t.rp); ok && ks.rate.Unreported(cl) {
			f := ks.rate.CloseFinding(r.AgentID, r.Tool.Name, cl, &t.spike)
			f.ToolVersion, f.Environment = r.Tool.Version, r.Context.Environment
			out = append(out, f)
		}
		if ks.rate.NeedsArm() {
			ks.rate.ArmSpike(&t.rule, borrowRate(ks, ts), nil)
		}
	}
	if !IsDenial(r) {
		return out
	}
	if ts != nil {
		ts.rate.N++
	}
	if ks != nil && ks.t.cfg.Enabled {
		if ks.rate.Hit() {
			out = append(out, d.spikeFinding(r, ks))
			if end := ks.rate.Start + ks.t.rp.Size; ks.due != end {
				ks.due = end // Tick reports the window's final count
				d.due.Push(end, baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name})
			}
		}
		if slices.Contains(ks.t.cfg.ProductionEnvironments, r.Context.Environment) {
			out = d.production(r, ks, out)
		}
	}
	if ts != nil && ts.t.cfg.Enabled {
		out = d.novelty(r, ts, out)
	}
	return out
}

// borrowRate is the baseline ks may borrow while in warm-up: its tool's
// total over all agents (conservative), when the key's config allows it
// and the tool counts the same windows; else nil.
func borrowRate(ks *keyState, ts *toolState) *baseline.Rate {
	if ts == nil || !ks.t.cfg.BorrowToolBaseline || ts.t.rp.Size != ks.t.rp.Size {
		return nil
	}
	return &ts.rate
}

func (d *Detector) production(r *record.Record, ks *keyState, out []alert.Finding) []alert.Finding {
	if ks.prodAt != ks.rate.Start {
		ks.prodAt, ks.prodN, ks.prodNext = ks.rate.Start, 0, 1
	}
	ks.prodN++
	if ks.prodN < ks.prodNext {
		return out
	}
	ks.prodNext = ks.prodN + ks.prodN
	n := ks.prodN
	f := alert.Finding{
		Pattern:  alert.PatternDenialSpike,
		Detail:   "production",
		Score:    math.Min(100, ks.t.cfg.ProductionScore+5*math.Log2(float64(n))),
		Observed: float64(n),
		Expected: 0,
		Unit:     ks.t.spike.Unit,
		Summary: fmt.Sprintf("%s was denied %s for %s in %s (%d production denials in %s)",
			r.Tool.Name, deniedText(r), r.AgentID, r.Context.Environment, n, ks.t.spike.Window),
		Details: map[string]any{
			"permissions_denied": slices.Clone(r.Invocation.PermissionsDenied),
			"status":             r.Invocation.Status,
			"window_start":       time.Unix(ks.rate.Start, 0).UTC().Format(time.RFC3339),
		},
	}
	f.FromRecord(r)
	return append(out, f)
}

func deniedText(r *record.Record) string {
	if len(r.Invocation.PermissionsDenied) == 0 {
		return "a call"
	}
	return strings.Join(r.Invocation.PermissionsDenied, ", ")
}

// novelty checks r's denied permissions against the tool's seen sets.
func (d *Detector) novelty(r *record.Record, ts *toolState, out []alert.Finding) []alert.Finding {
	t := ts.t
	history := ts.rate.Start - ts.since
	warm := history >= t.typeWarmup
	for _, p := range r.Invocation.PermissionsDenied {
		if p == "" {
			continue
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
		var f alert.Finding
		switch {
		case newType:
			score, kind := t.cfg.NewTypeScore, "type"
			if slices.Contains(t.cfg.DangerousTypes, typ) {
				score, kind = t.cfg.DangerousTypeScore, "dangerous type"
			}
			f = alert.Finding{Detail: "new:" + typ, Score: score,
				Summary: fmt.Sprintf("%s was denied %s for %s: first %s denial for this tool in %s of history (%s)",
					r.Tool.Name, p, r.AgentID, typ, hours(history), kind)}
		case newAction && t.cfg.NewActionScore > 0:
			f = alert.Finding{Detail: "new_action:" + typ, Score: t.cfg.NewActionScore,
				Summary: fmt.Sprintf("%s was denied %s for %s: a %s action not denied before in %s of history",
					r.Tool.Name, p, r.AgentID, typ, hours(history))}
		default:
			continue
		}
		f.Pattern = alert.PatternDenialSpike
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

func hours(sec int64) string { return fmt.Sprintf("%dh", sec/3600) }

func (d *Detector) spikeFinding(r *record.Record, ks *keyState) alert.Finding {
	f := ks.rate.SpikeFinding(r, &ks.t.spike)
	f.Details["permissions_denied"] = slices.Clone(r.Invocation.PermissionsDenied)
	return f
}

// Tick implements detect.Detector: reports the final count of spike
// windows that grew after their last report (keys on the due index; sorted
// by agent, tool), evicts idle keys and rolls the tool-level windows.
func (d *Detector) Tick(watermark time.Time, out []alert.Finding) []alert.Finding {
	wm := watermark.Unix()
	step := baseline.AlignDown(wm, d.minStep)
	if step <= d.ticked {
		return out
	}
	d.ticked = step
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
		ks.due = 0
		if ks.gen != d.gen {
			d.resolve(ks, k.Agent, k.Tool)
		}
		if ks.t.cfg.Enabled && ks.rate.Start != 0 {
			if cl, ok := ks.rate.Roll(wm, &ks.t.rp); ok && ks.rate.Unreported(cl) {
				out = append(out, ks.rate.CloseFinding(k.Agent, k.Tool, cl, &ks.t.spike))
			}
		}
	}
	slices.SortFunc(out[n0:], func(a, b alert.Finding) int {
		return cmp.Or(cmp.Compare(a.AgentID, b.AgentID), cmp.Compare(a.Tool, b.Tool))
	})
	d.tools.Range(func(k baseline.Key, ts *toolState) bool {
		if ts.gen != d.gen {
			d.resolveTool(ts, k.Tool)
		}
		if ts.rate.Start != 0 {
			ts.rate.Roll(wm, &ts.t.rp)
		}
		return true
	})
	return out
}
