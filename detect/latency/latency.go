// Package latency detects pattern 5 (DESIGN §5, "latency"): a tool call
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
// # Threshold
//
// With q the chosen baseline's quantiles and p99eff = max(q.p99,
// min_baseline_ms):
//
//	threshold = f · max(p99_ratio · p99eff, p999_ratio · q.p99.9)
//
// with f = relearn_factor when judging a new version against the previous
// one, else 1. Defaults p99_ratio 8 and p999_ratio 2: for log-normal
// durations with σ ≤ 1, 8·p99 is exp(μ+4.4σ), a tail probability of 5e-6
// (under 1 false alarm per 100,000 calls), with headroom for the sketch's
// p99 error; the p99.9 term binds only for heavier tails.
//
// # Score
//
//	score = clamp(40 + 25·log10(duration / p99eff), 0, 100)
//
// monotone in the duration: 8× p99 scores 62.6 (warning), 40× 80
// (critical), 73× (30.1 s against 410 ms) 86.6. Latency uses a steeper
// slope than output size because a call 10–100× slower than its p99 is
// already an outage-grade symptom.
//
// # Anomalies do not become the baseline
//
// Durations are winsorized before a Dist learns them. A call above the
// threshold is learned as that Dist's current p99.9: it counts, but mass
// added at p99.9 cannot raise p99.9, so a burst of hung calls cannot lift
// the threshold and moves p99 only by its rank share (a Dist without
// quantiles yet, like a fresh version slot, skips it). Other calls are
// clamped to p99_ratio × the Dist's own floored p99 (from its first fold
// on, protecting young baselines). A sustained shift above the threshold
// without a version change is therefore never learned automatically: it
// keeps alerting (deduplicated by the alert cooldown) until it stops or an
// override changes the tool's ratios. Drift below the threshold is learned
// as the epochs rotate; a new tool.version relearns as described above.
//
// # Reload and snapshots
//
// SetParams swaps thresholds and overrides without touching baselines or
// version slots: each key re-resolves its configuration on its next call
// (a generation compare, so nothing is looked up per record otherwise).
// MarshalState / UnmarshalState save and restore every baseline exactly
// (state.go).
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

// Detector is the latency detector.
type Detector struct {
	params    *detect.Params[Config]
	gen       uint64 // bumped by SetParams; never 0, so new keys resolve
	g         *baseline.Digester
	keys      *baseline.Store[baseline.Key, state] // (agent, tool)
	tools     *baseline.Store[string, state]       // tool level
	lastEpoch int64
}

type slot struct {
	version string
	used    bool
	relearn bool // opened by a version change while the other slot was usable
	dist    baseline.Dist
}

type state struct {
	cfg    *Config // resolved when gen != Detector.gen (new key, reload)
	gen    uint64
	active uint8 // slot of the newest version
	slots  [2]slot
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stats    = (*Detector)(nil)
)

// New returns a detector with per-key parameters p and baseline settings b.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	return &Detector{
		params:    p,
		gen:       1,
		g:         baseline.NewDigester(b.Compression, b.Epoch),
		keys:      baseline.NewStore[baseline.Key, state](b.MaxKeys, b.IdleTTL),
		tools:     baseline.NewStore[string, state](b.MaxKeys, b.IdleTTL),
		lastEpoch: math.MinInt64,
	}
}

// SetParams swaps the configuration and overrides (hot reload). Every key
// keeps its baselines and version slots and re-resolves its configuration
// on its next call.
func (d *Detector) SetParams(p *detect.Params[Config]) {
	d.params = p
	d.gen++
}

// SetLimits applies a reloaded baseline.max_keys and idle_ttl to both key
// stores; live keys are kept. Compression and epoch cannot change at run
// time (they shape the stored digests): a restart applies them.
func (d *Detector) SetLimits(maxKeys int, idle time.Duration) {
	d.keys.SetLimits(maxKeys, idle)
	d.tools.SetLimits(maxKeys, idle)
}

// resolve refreshes st's configuration if the params changed since it was
// resolved (or st is new): one compare per record otherwise.
func (d *Detector) resolve(st *state, agent, tool string) {
	if st.gen != d.gen {
		st.cfg, st.gen = d.params.For(agent, tool), d.gen
	}
}

// Pattern implements detect.Detector.
func (d *Detector) Pattern() string { return alert.PatternLatency }

// Score maps a duration against a floored p99 to 0..100.
func Score(ms, p99eff float64) float64 {
	if p99eff <= 0 {
		return 100
	}
	return math.Max(0, math.Min(100, 40+25*math.Log10(ms/p99eff)))
}

func threshold(q baseline.Quantiles, cfg *Config) (thr, p99eff float64) {
	p99eff = math.Max(q.P99, cfg.MinBaselineMS)
	return math.Max(cfg.P99Ratio*p99eff, cfg.P999Ratio*q.P999), p99eff
}

// learned is the value a baseline with quantiles q learns for an
// observation x that was judged against threshold thr (+Inf: not judged),
// and whether it learns it at all. An anomaly is learned as the baseline's
// current p99.9: it still counts, but mass added at p99.9 cannot raise
// p99.9, so repeated anomalies can neither lift the threshold nor become
// the baseline; a baseline with no quantiles yet (a fresh version slot)
// skips it. Other values are clamped to learnClamp, which protects young
// baselines from outliers.
func learned(x, thr float64, q baseline.Quantiles, cfg *Config) (float64, bool) {
	if x > thr {
		return math.Min(x, q.P999), q.Folded > 0
	}
	return math.Min(x, learnClamp(q, cfg)), true
}

// learnClamp is the largest value a Dist with quantiles q learns. The
// p99.9 term is left out: clamped values lift p99.9, and a clamp that
// followed it would ratchet up within one burst.
func learnClamp(q baseline.Quantiles, cfg *Config) float64 {
	if q.Folded == 0 {
		return math.Inf(1)
	}
	return cfg.P99Ratio * math.Max(q.P99, cfg.MinBaselineMS)
}

// usable reports whether s has enough calls to be its own baseline.
func (s *slot) usable(q baseline.Quantiles, cfg *Config) bool {
	if !s.used {
		return false
	}
	need := cfg.MinSamples
	if s.relearn {
		need = cfg.RelearnSamples
	}
	return q.Count >= float64(need)
}

// slotFor returns the slot for version v and the other (reference) slot,
// opening a slot for a version seen for the first time.
func (st *state) slotFor(g *baseline.Digester, v string) (cur, ref *slot) {
	a, o := &st.slots[st.active], &st.slots[1-st.active]
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
	victim, keep, idx := o, a, 1-st.active
	if a.dist.Count() < o.dist.Count() {
		victim, keep, idx = a, o, st.active
	}
	victim.dist.Reset()
	victim.version, victim.used = strings.Clone(v), true
	victim.relearn = keep.usable(keep.dist.Quantiles(g), st.cfg)
	st.active = idx
	return victim, keep
}

// choice is the baseline a call is judged against.
type choice struct {
	q       baseline.Quantiles
	scope   string
	version string // of the reference, for previous-version scopes
	factor  float64
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	if r.Invocation.Status == record.StatusDenied || r.Invocation.Status == record.StatusTimeout || r.Invocation.DurationMS < 0 {
		return out
	}
	x := r.Invocation.DurationMS
	now := r.Timestamp

	ks, _ := d.keys.Get(baseline.Key{Agent: r.AgentID, Tool: r.Tool.Name}, now, nil)
	ts, _ := d.tools.Get(r.Tool.Name, now, nil)
	var cfg *Config
	switch {
	case ks != nil:
		d.resolve(ks, r.AgentID, r.Tool.Name)
		cfg = ks.cfg
		if ts != nil {
			d.resolve(ts, "", r.Tool.Name)
		}
	case ts != nil:
		d.resolve(ts, "", r.Tool.Name)
		cfg = ts.cfg
	default:
		return out // both stores full: counted as rejected
	}
	if !cfg.Enabled {
		return out
	}

	var kcur, kref, tcur, tref *slot
	var kq, tq baseline.Quantiles
	if ks != nil {
		kcur, kref = ks.slotFor(d.g, r.Tool.Version)
		kq = kcur.dist.Quantiles(d.g)
	}
	if ts != nil {
		tcur, tref = ts.slotFor(d.g, r.Tool.Version)
		tq = tcur.dist.Quantiles(d.g)
	}
	c, ok := d.choose(cfg, kcur, kref, kq, tcur, tref, tq)
	thr, p99eff := math.Inf(1), 0.0
	if ok {
		thr, p99eff = threshold(c.q, cfg)
		thr *= c.factor
		if x > thr {
			out = append(out, finding(r, x, &c, thr, p99eff))
		}
	}

	// Winsorize (see the package doc): anomalies enter each baseline at
	// its own p99.9, everything else at most at its clamp.
	if kcur != nil {
		if v, ok := learned(x, thr, kq, ks.cfg); ok {
			kcur.dist.Add(d.g, v, now)
		}
	}
	if tcur != nil {
		if v, ok := learned(x, thr, tq, ts.cfg); ok {
			tcur.dist.Add(d.g, v, now)
		}
	}
	return out
}

// choose picks the baseline: the key's own for this version, the tool's
// for this version, then (while a new version relearns) the key's or the
// tool's previous version with the relaxed factor.
func (d *Detector) choose(cfg *Config, kcur, kref *slot, kq baseline.Quantiles, tcur, tref *slot, tq baseline.Quantiles) (choice, bool) {
	if kcur != nil && kcur.usable(kq, cfg) {
		return choice{q: kq, scope: ScopeAgent, factor: 1}, true
	}
	if tcur != nil && tcur.usable(tq, cfg) {
		return choice{q: tq, scope: ScopeTool, factor: 1}, true
	}
	if kcur != nil && kcur.relearn {
		if q := kref.dist.Quantiles(d.g); kref.usable(q, cfg) {
			return choice{q: q, scope: ScopeAgentPrevVersion, version: kref.version, factor: cfg.RelearnFactor}, true
		}
	}
	if tcur != nil && tcur.relearn {
		if q := tref.dist.Quantiles(d.g); tref.usable(q, cfg) {
			return choice{q: q, scope: ScopeToolPrevVersion, version: tref.version, factor: cfg.RelearnFactor}, true
		}
	}
	return choice{}, false
}

func finding(r *record.Record, x float64, c *choice, thr, p99eff float64) alert.Finding {
	var f alert.Finding
	f.FromRecord(r)
	f.Pattern = alert.PatternLatency
	f.Detail = DetailSlow
	f.Score = Score(x, p99eff)
	f.Observed = x
	f.Expected = math.Round(c.q.P50)
	f.Unit = "ms"
	f.Summary = r.Tool.Name + " took " + alert.HumanMillis(x) + " for " + r.AgentID +
		"; p99 baseline is " + alert.HumanMillis(c.q.P99)
	switch c.scope {
	case ScopeTool:
		f.Summary += " (all agents)"
	case ScopeAgentPrevVersion:
		f.Summary += " (version " + c.version + ")"
	case ScopeToolPrevVersion:
		f.Summary += " (all agents, version " + c.version + ")"
	}
	f.Details = map[string]any{
		"baseline_p50":   math.Round(c.q.P50),
		"baseline_p99":   math.Round(c.q.P99),
		"baseline_p999":  math.Round(c.q.P999),
		"threshold":      math.Round(thr),
		"samples":        int64(c.q.Count),
		"baseline_scope": c.scope,
		"status":         r.Invocation.Status,
	}
	if c.scope == ScopeAgentPrevVersion || c.scope == ScopeToolPrevVersion {
		f.Details["baseline_version"] = c.version
	}
	return f
}

// Tick implements detect.Detector: it evicts idle keys and, when the
// watermark enters a new epoch, rotates every baseline's epochs.
func (d *Detector) Tick(watermark time.Time, out []alert.Finding) []alert.Finding {
	d.keys.Sweep(watermark)
	d.tools.Sweep(watermark)
	if e := d.g.EpochOf(watermark); e > d.lastEpoch {
		d.lastEpoch = e
		d.keys.Range(func(_ baseline.Key, s *state) bool {
			s.advance(d.g, watermark)
			return true
		})
		d.tools.Range(func(_ string, s *state) bool {
			s.advance(d.g, watermark)
			return true
		})
	}
	return out
}

func (st *state) advance(g *baseline.Digester, t time.Time) {
	for i := range st.slots {
		if st.slots[i].used {
			st.slots[i].dist.Advance(g, t)
		}
	}
}

// KeyStats implements detect.Stats over the (agent, tool) and tool stores.
func (d *Detector) KeyStats() (live int, rejected, evicted uint64) {
	return d.keys.Len() + d.tools.Len(), d.keys.Rejected() + d.tools.Rejected(), d.keys.Evicted() + d.tools.Evicted()
}
