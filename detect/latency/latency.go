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
// The key stores, reload, Tick, the threshold and the learn rule are the
// shared core in detect/internal/distdetect (also used by output_size);
// version slots, baseline choice, score and findings are this package's.
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

// Detector is the latency detector. The embedded core holds the key
// stores and implements SetParams (every key keeps its baselines and
// version slots and re-resolves its configuration on its next call),
// SetLimits, Tick and KeyStats.
type Detector struct {
	core
}

type core = distdetect.Core[Config, state, *state]

type slot struct {
	version string
	used    bool
	relearn bool // opened by a version change while the other slot was usable
	dist    baseline.Dist
}

type state struct {
	distdetect.Resolved[Config]
	active uint8 // slot of the newest version
	slots  [2]slot
}

var (
	_ detect.Detector = (*Detector)(nil)
	_ detect.Stats    = (*Detector)(nil)
)

// New returns a detector with per-key parameters p and baseline settings b.
func New(p *detect.Params[Config], b baseline.Config) *Detector {
	return &Detector{distdetect.New[Config, state](p, b)}
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
	return distdetect.Threshold(q, cfg.P99Ratio, cfg.P999Ratio, cfg.MinBaselineMS)
}

// learned is distdetect.Learned under cfg: anomalies are learned at the
// Dist's p99.9 (skipped by a Dist without quantiles yet, like a fresh
// version slot), other values clamped to p99_ratio × its floored p99.
func learned(x, thr float64, q baseline.Quantiles, cfg *Config) (float64, bool) {
	return distdetect.Learned(x, thr, q, cfg.P99Ratio, cfg.MinBaselineMS)
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
	victim.relearn = keep.usable(keep.dist.Quantiles(g), st.Cfg)
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

	ks, ts, cfg := d.Lookup(r.AgentID, r.Tool.Name, now)
	if cfg == nil || !cfg.Enabled { // nil: both stores full, counted as rejected
		return out
	}

	var kcur, kref, tcur, tref *slot
	var kq, tq baseline.Quantiles
	if ks != nil {
		kcur, kref = ks.slotFor(d.G, r.Tool.Version)
		kq = kcur.dist.Quantiles(d.G)
	}
	if ts != nil {
		tcur, tref = ts.slotFor(d.G, r.Tool.Version)
		tq = tcur.dist.Quantiles(d.G)
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
		if v, ok := learned(x, thr, kq, ks.Cfg); ok {
			kcur.dist.Add(d.G, v, now)
		}
	}
	if tcur != nil {
		if v, ok := learned(x, thr, tq, ts.Cfg); ok {
			tcur.dist.Add(d.G, v, now)
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
		if q := kref.dist.Quantiles(d.G); kref.usable(q, cfg) {
			return choice{q: q, scope: ScopeAgentPrevVersion, version: kref.version, factor: cfg.RelearnFactor}, true
		}
	}
	if tcur != nil && tcur.relearn {
		if q := tref.dist.Quantiles(d.G); tref.usable(q, cfg) {
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

// Recycle resets an evicted key's state for a new key, keeping its
// digests' storage (distdetect).
func (st *state) Recycle() {
	d0, d1 := st.slots[0].dist, st.slots[1].dist
	d0.Reset()
	d1.Reset()
	*st = state{}
	st.slots[0].dist, st.slots[1].dist = d0, d1
}

// Advance rotates the epochs of the key's version slots
// (distdetect.Value).
func (st *state) Advance(g *baseline.Digester, t time.Time) {
	for i := range st.slots {
		if st.slots[i].used {
			st.slots[i].dist.Advance(g, t)
		}
	}
}
