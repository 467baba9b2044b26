// Package distdetect is the shared core of the per-key distribution
// detectors (detect/latency, detect/outputsize): two key stores of
// baseline.Dist-bearing state, one per (agent, tool) and one per tool (all
// agents), with the mechanics both need and nothing of their judgement:
// per-key configuration resolution by params generation, hot-reload of
// params and store limits, epoch rotation, idle eviction on Tick, key
// counters, the conversion of their settings into a baseline.Judge (the
// calibrated tail, level-shift and drift rules live in baseline/tail.go and
// baseline/judge.go), the shared score (score.FromDecades of the tail
// probability plus score.Prior), the level-shift and drift findings, and
// the key-store half of their snapshots (state.go).
//
// Each detector embeds a Core and keeps its own value extraction, baseline
// choice, score and finding text.
//
// Epoch rotation is lazy, so a tick costs nothing per key: when the
// watermark enters a new epoch Tick only records it, and a key is rotated
// to that epoch on its next access (Lookup) or snapshot (Save). Rotation
// depends only on the epoch index and an untouched key changes in no other
// way meanwhile, so the key ends up exactly as an eager rotation at the
// tick would have left it.
package distdetect

import (
	"math"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// Resolved is embedded first in every per-key state: the key's
// configuration and the params generation it was resolved under.
type Resolved[C any] struct {
	Cfg   *C // resolved when Gen is not Core.Gen's current (new key, reload)
	Gen   detect.Stamp
	Epoch int64 // Core.LastEpoch the key's Dists were rotated to
}

func (r *Resolved[C]) resolved() *Resolved[C] { return r }

// Value is the constraint on a detector's per-key state V: it embeds
// Resolved[C] and rotates its Dists' epochs.
type Value[C, V any] interface {
	*V
	resolved() *Resolved[C]
	// Advance rotates every Dist of the key to the epoch of t.
	Advance(g *baseline.Digester, t time.Time)
}

// Core holds a detector's params, digester and key stores.
type Core[C, V any, P Value[C, V]] struct {
	Params    *detect.Params[C]
	Gen       detect.Generation // next on SetParams; a new key's zero stamp is stale
	G         *baseline.Digester
	Keys      *baseline.Store[baseline.Key, V] // (agent, tool)
	Tools     *baseline.Store[string, V]       // tool level
	LastEpoch int64
	epochAt   time.Time // a watermark in LastEpoch, to rotate keys to
	// capEpoch is LastEpoch at the last capture (captured): a delta is
	// possible only within it, since a new epoch rotates every key.
	capEpoch int64
	captured bool

	judgeCfg *C // configuration judge was converted from
	judge    baseline.Judge

	// shared is the consumer group's view of each tool (share.go); nil
	// in a single daemon.
	shared map[string]sharedTool
}

// New returns a core with per-key parameters p and baseline settings b.
func New[C, V any, P Value[C, V]](p *detect.Params[C], b baseline.Config) Core[C, V, P] {
	c := Core[C, V, P]{
		Params:    p,
		G:         baseline.NewDigester(b.Compression, b.Epoch),
		Keys:      baseline.NewStore[baseline.Key, V](b.KeyCap(), b.IdleTTL),
		Tools:     baseline.NewStore[string, V](b.KeyCap(), b.IdleTTL),
		LastEpoch: math.MinInt64,
	}
	if _, ok := any(P(new(V))).(recycler); ok {
		recycle := func(v *V) { any(P(v)).(recycler).Recycle() }
		c.Keys.SetRecycle(recycle)
		c.Tools.SetRecycle(recycle)
	}
	return c
}

// recycler is implemented by per-key states that can be reset for a new
// key keeping their digest storage (baseline.Store.SetRecycle): keys
// evicted at the cap then leave no garbage behind.
type recycler interface{ Recycle() }

// SetParams swaps the configuration and overrides (hot reload). Every key
// keeps its baselines and re-resolves its configuration on its next record.
func (c *Core[C, V, P]) SetParams(p *detect.Params[C]) {
	c.Params = p
	c.Gen.Next()
}

// SetLimits applies a reloaded baseline.max_keys and idle_ttl to both key
// stores; live keys are kept. Compression and epoch cannot change at run
// time (they shape the stored digests): a restart applies them.
func (c *Core[C, V, P]) SetLimits(maxKeys int, idle time.Duration) {
	c.Keys.SetLimits(maxKeys, idle)
	c.Tools.SetLimits(maxKeys, idle)
}

// resolve refreshes v's configuration if the params changed since it was
// resolved (or v is new), and rotates its epochs if an epoch began since
// its last access: two compares per record otherwise. A new key starts in
// the current epoch.
func (c *Core[C, V, P]) resolve(v *V, agent, tool string, created bool) {
	r := P(v).resolved()
	if !c.Gen.Current(r.Gen) {
		r.Cfg, r.Gen = c.Params.For(agent, tool), c.Gen.Stamp()
	}
	if created {
		r.Epoch = c.LastEpoch
	} else {
		c.advance(v)
	}
}

// advance rotates v to the last epoch Tick saw, if it is behind.
func (c *Core[C, V, P]) advance(v *V) {
	if r := P(v).resolved(); r.Epoch != c.LastEpoch {
		r.Epoch = c.LastEpoch
		P(v).Advance(c.G, c.epochAt)
	}
}

// Lookup returns the (agent, tool) and tool states of a record at event
// time now, creating them as needed and resolving their configurations.
// Either is nil when its store is full; cfg is the key's configuration
// (the tool's when the key is nil), nil when both are.
func (c *Core[C, V, P]) Lookup(agent, tool string, now time.Time) (ks, ts *V, cfg *C) {
	ks, kNew := c.Keys.Get(baseline.Key{Agent: agent, Tool: tool}, now, nil)
	ts, tNew := c.Tools.Get(tool, now, nil)
	if ts != nil {
		c.resolve(ts, "", tool, tNew)
		cfg = P(ts).resolved().Cfg
	}
	if ks != nil {
		c.resolve(ks, agent, tool, kNew)
		cfg = P(ks).resolved().Cfg
	}
	return ks, ts, cfg
}

// Tick implements detect.Detector: it evicts idle keys and notes when the
// watermark enters a new epoch; keys rotate to it on their next access.
func (c *Core[C, V, P]) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	c.Keys.Sweep(watermark)
	c.Tools.Sweep(watermark)
	if e := c.G.EpochOf(watermark); e > c.LastEpoch {
		c.LastEpoch, c.epochAt = e, watermark
	}
	return out
}

// PeekTool returns the tool-level state of tool, rotated to the current
// epoch, without creating or touching it; nil for an unknown tool.
func (c *Core[C, V, P]) PeekTool(tool string) *V {
	v := c.Tools.Peek(tool)
	if v != nil {
		c.advance(v)
	}
	return v
}

// AdvanceAll rotates every key to the current epoch (snapshots, and
// readers that look at keys without Lookup). It costs one pass over the
// keys.
func (c *Core[C, V, P]) AdvanceAll() {
	c.Keys.Range(func(_ baseline.Key, v *V) bool { c.advance(v); return true })
	c.Tools.Range(func(_ string, v *V) bool { c.advance(v); return true })
}

// KeyStats implements detect.Stats over the (agent, tool) and tool stores.
func (c *Core[C, V, P]) KeyStats() (live int, idle, capacity uint64) {
	return detect.StoreStats(c.Keys, c.Tools)
}

// JudgeFor returns the judge of cfg, converting it with conv only when cfg
// is not the configuration converted last (one pointer compare per record:
// keys share their resolved *C).
func (c *Core[C, V, P]) JudgeFor(cfg *C, conv func(*C) baseline.Judge) *baseline.Judge {
	if cfg != c.judgeCfg {
		c.judgeCfg, c.judge = cfg, conv(cfg)
	}
	return &c.judge
}

// Score maps L = −log10 p of an observation to the shared 0–100 scale,
// raised by the record's risk prior (score.Prior).
func Score(decades float64, r *record.Record) float64 {
	return score.FromDecades(decades + score.Prior(r.Tool.TrustLevel, r.Context.DataClassification, r.Context.Environment))
}

// TailDetails is the evidence of a tail finding: the baseline it was judged
// against and the fitted tail (p_decades: −log10 p under the fit; an
// egregious value, scored at least baseline.EgregiousDecades whatever the
// fit, also carries egregious and egregious_bound).
func TailDetails(q baseline.Quantiles, v *baseline.Verdict, scope string) map[string]any {
	m := map[string]any{
		"baseline_p50":   math.Round(q.P50),
		"baseline_p99":   math.Round(q.P99),
		"baseline_p999":  math.Round(q.P999),
		"threshold":      math.Round(v.Threshold()),
		"samples":        int64(q.Count),
		"baseline_scope": scope,
		"p_decades":      math.Round(math.Min(v.TailDecades(), 300)*100) / 100,
		"tail_scale":     math.Round(v.Fit.Sigma*1000) / 1000,
		"tail_shape":     math.Round(v.Fit.Xi*1000) / 1000,
		"tail_fitted":    v.Fit.N,
	}
	if v.Egregious {
		m["egregious"] = true
		m["egregious_bound"] = math.Round(v.EgregiousBound)
	}
	if v.DriftLn > 0 {
		m["drift_ratio"] = math.Round(math.Exp(v.DriftLn)*1000) / 1000
	}
	return m
}

// Finding details shared by both detectors.
const (
	DetailShiftUp   = "level_shift_up"
	DetailShiftDown = "level_shift_down"
	DetailDrift     = "drift"
)

// Human formats a value of the detector's unit (alert.HumanMillis,
// alert.HumanBytes).
type Human func(float64) string

// ShiftFinding is the finding for a sustained level shift of the median
// of x's key (lv from baseline.Dist.Learn, q the baseline's quantiles).
func ShiftFinding(r *record.Record, pattern, unit, what string, x float64, lv baseline.Level, q baseline.Quantiles, scope string, h Human) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = pattern
	ratio := math.Exp(lv.ShiftLn)
	f.Detail = DetailShiftUp
	dir := "up"
	if lv.ShiftLn < 0 {
		f.Detail, dir = DetailShiftDown, "down"
	}
	f.Score = Score(lv.Decades, r)
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = unit
	f.Summary = r.Tool.Name + " " + what + " for " + r.AgentID + " shifted " + dir + " " +
		strconv.FormatFloat(math.Exp(math.Abs(lv.ShiftLn)), 'f', 1, 64) + "× or more over the last minutes"
	if lv.Hourly {
		// Measured against the learned daily rhythm (baseline/rhythm.go).
		f.Summary += " against its usual level at this hour of the day"
	}
	f.Summary += "; baseline median is " + h(q.P50)
	f.Details = map[string]any{
		"baseline_p50":   math.Round(q.P50),
		"shift_ratio":    math.Round(ratio*1000) / 1000,
		"p_decades":      math.Round(lv.Decades*100) / 100,
		"samples":        int64(q.Count),
		"baseline_scope": scope,
	}
	if lv.Hourly {
		f.Details["against"] = "hour_of_day"
	}
	return f
}

// DriftFinding is the finding for a baseline whose median rose faster than
// max_drift_per_day allows (v.DriftLn: how far, in ln, the median or p99
// is ahead of the envelope). Its score is a rule, not a probability: L = 4 +
// 2·δ/ln(max_drift_per_day), so a baseline one allowed day ahead of the
// envelope scores 40 (info), two days 60, three days 80.
func DriftFinding(r *record.Record, pattern, unit, what string, x float64, v *baseline.Verdict, j *baseline.Judge, q baseline.Quantiles, scope string, h Human) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = pattern
	f.Detail = DetailDrift
	f.Score = Score(4+2*v.DriftLn/j.DriftLn, r)
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = unit
	ratio := math.Exp(v.DriftLn)
	f.Summary = r.Tool.Name + " " + what + " baseline for " + r.AgentID + " rose faster than allowed: median " +
		h(q.P50) + ", p99 " + h(q.P99) + ", " + strconv.FormatFloat(ratio, 'f', 1, 64) + "× above the allowed envelope (possible slow baseline poisoning)"
	f.Details = map[string]any{
		"baseline_p50":       math.Round(q.P50),
		"baseline_p99":       math.Round(q.P99),
		"drift_ratio":        math.Round(ratio*1000) / 1000,
		"max_drift_per_day":  math.Round(math.Exp(j.DriftLn)*1000) / 1000,
		"samples":            int64(q.Count),
		"baseline_scope":     scope,
		"threshold_adjusted": math.Round(v.Threshold()),
	}
	return f
}
