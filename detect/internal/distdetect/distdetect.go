// Package distdetect is the shared core of the per-key distribution
// detectors (detect/latency, detect/outputsize): two key stores of
// baseline.Dist-bearing state, one per (agent, tool) and one per tool (all
// agents), with the mechanics both need and nothing of their judgement:
// per-key configuration resolution by params generation, hot-reload of
// params and store limits, epoch rotation, idle eviction on Tick, key
// counters, the p99-ratio threshold, the winsorizing learn rule, and the
// key-store half of their snapshots (state.go).
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
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// Resolved is embedded first in every per-key state: the key's
// configuration and the params generation it was resolved under.
type Resolved[C any] struct {
	Cfg   *C // resolved when Gen != Core.Gen (new key, reload)
	Gen   uint64
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
	Gen       uint64 // bumped by SetParams; never 0, so new keys resolve
	G         *baseline.Digester
	Keys      *baseline.Store[baseline.Key, V] // (agent, tool)
	Tools     *baseline.Store[string, V]       // tool level
	LastEpoch int64
	epochAt   time.Time // a watermark in LastEpoch, to rotate keys to
}

// New returns a core with per-key parameters p and baseline settings b.
func New[C, V any, P Value[C, V]](p *detect.Params[C], b baseline.Config) Core[C, V, P] {
	c := Core[C, V, P]{
		Params:    p,
		Gen:       1,
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
	c.Gen++
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
	if r.Gen != c.Gen {
		r.Cfg, r.Gen = c.Params.For(agent, tool), c.Gen
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
func (c *Core[C, V, P]) Tick(watermark time.Time, out []alert.Finding) []alert.Finding {
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
	ki, kc := c.Keys.Evictions()
	ti, tc := c.Tools.Evictions()
	return c.Keys.Len() + c.Tools.Len(), ki + ti, kc + tc
}

// Threshold returns the alert threshold and the floored p99 (p99eff) for
// baseline quantiles q:
//
//	threshold = max(p99Ratio · max(q.p99, floor), p999Ratio · q.p99.9)
func Threshold(q baseline.Quantiles, p99Ratio, p999Ratio, floor float64) (thr, p99eff float64) {
	p99eff = math.Max(q.P99, floor)
	return math.Max(p99Ratio*p99eff, p999Ratio*q.P999), p99eff
}

// Learned is the value a baseline with quantiles q learns for an
// observation x that was judged against threshold thr (+Inf: not judged),
// and whether it learns it at all. An anomaly is learned as the baseline's
// current p99.9: it still counts, but mass added at p99.9 cannot raise
// p99.9, so repeated anomalies can neither lift the threshold nor become
// the baseline; a baseline with no quantiles yet (a fresh one or a fresh
// version slot) skips it. Other values are clamped to p99Ratio × the
// floored p99 once the baseline has folded values (so warm-up outliers are
// clamped too), unclamped before. The p99.9 term is left out of the clamp
// on purpose: clamped values raise p99.9, and a clamp that followed p99.9
// would ratchet up within one burst.
func Learned(x, thr float64, q baseline.Quantiles, p99Ratio, floor float64) (float64, bool) {
	if x > thr {
		return math.Min(x, q.P999), q.Folded > 0
	}
	if q.Folded == 0 {
		return x, true
	}
	return math.Min(x, p99Ratio*math.Max(q.P99, floor)), true
}
