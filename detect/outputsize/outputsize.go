// Package outputsize detects pattern 4 (DESIGN §5, "output_size"): a tool
// call whose invocation.output_bytes is far above the usual size for that
// (agent, tool) — a bulk read, an exfiltration, a runaway query.
//
// # Baselines
//
// Each (agent, tool) key and each tool (all agents) keeps a baseline.Dist of
// output sizes over two event-time epochs (baseline.epoch). Records without
// output_bytes and denied calls (which never ran) are skipped. A key with
// fewer than min_samples outputs borrows its tool's baseline; if that has
// fewer too, nothing alerts (warm-up). Both baselines learn every output.
//
// # Threshold
//
// With q the baseline quantiles and p99eff = max(q.p99, min_baseline_bytes):
//
//	threshold = max(p99_ratio · p99eff, p999_ratio · q.p99.9)
//
// and an output alerts when it is above the threshold. Defaults p99_ratio 8,
// p999_ratio 2: for log-normal sizes with σ ≤ 1, 8·p99 is exp(μ+4.4σ), a
// tail probability of 5e-6 (0.5 per 100,000 records) — headroom for the
// sketch's p99 error (a few %) and the sampling error of a young baseline.
// The p99.9 term binds only for tails heavier than log-normal σ≈1.8. The
// floor of 1 KiB keeps tools that return a few hundred bytes from alerting
// on a few KB.
//
// # Score
//
//	score = clamp(40 + 20·log10(output / p99eff), 0, 100)
//
// monotone in the output: 8× p99 scores 58 (info), 10× 60 (warning), 100×
// 80 (critical); 100 MB against a 5 KB p99 scores 100.
//
// # Anomalies do not become the baseline
//
// Outputs are winsorized before a baseline learns them. An output above
// the threshold is learned as that baseline's current p99.9: it counts,
// but mass added at p99.9 cannot raise p99.9, so neither a burst nor a
// repeated exfiltration lifts the threshold (a baseline without quantiles
// yet skips it) (a burst of 50 in 10,000 moves
// p99 only by its rank share, to about the old p99.5). Other outputs are
// clamped to p99_ratio × the baseline's own floored p99 (from its first
// fold on, so young baselines are protected too). Consequence: a sustained
// shift above the threshold is never learned automatically — it keeps
// alerting (deduplicated by the alert cooldown) until an override raises
// p99_ratio for the tool; drift below the threshold is learned as the
// epochs rotate.
//
// # Reload and snapshots
//
// SetParams swaps thresholds and overrides without touching baselines:
// each key re-resolves its configuration on its next record (a generation
// compare, so nothing is looked up per record otherwise). MarshalState /
// UnmarshalState save and restore every baseline exactly (state.go).
//
// The key stores, reload, Tick, the threshold and the learn rule are the
// shared core in detect/internal/distdetect (also used by latency); the
// baseline choice, score and findings are this package's.
//
// The detector is single-goroutine and allocates on Observe only when it
// creates a key or emits a finding.
package outputsize

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/record"
)

// Detail of a finding for an output far above the baseline.
const DetailLarge = "large"

// Detector is the output-size detector. The embedded core holds the key
// stores and implements SetParams (every key keeps its baseline and
// re-resolves its configuration on its next record), SetLimits, Tick and
// KeyStats.
type Detector struct {
	core
}

type core = distdetect.Core[Config, state, *state]

type state struct {
	distdetect.Resolved[Config]
	dist baseline.Dist
}

// Advance rotates the key's epochs (distdetect.Value).
func (st *state) Advance(g *baseline.Digester, t time.Time) { st.dist.Advance(g, t) }

// Recycle resets an evicted key's state for a new key, keeping its digest
// storage (distdetect).
func (st *state) Recycle() {
	d := st.dist
	d.Reset()
	*st = state{dist: d}
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
func (d *Detector) Pattern() string { return alert.PatternOutputSize }

// threshold returns the alert threshold and the floored p99 for baseline
// quantiles q under cfg.
func threshold(q baseline.Quantiles, cfg *Config) (thr, p99eff float64) {
	return distdetect.Threshold(q, cfg.P99Ratio, cfg.P999Ratio, cfg.MinBaselineBytes)
}

// learned is distdetect.Learned under cfg: anomalies are learned at the
// baseline's p99.9 (skipped by a baseline without quantiles yet), other
// outputs clamped to p99_ratio × its floored p99.
func learned(x, thr float64, q baseline.Quantiles, cfg *Config) (float64, bool) {
	return distdetect.Learned(x, thr, q, cfg.P99Ratio, cfg.MinBaselineBytes)
}

// Score maps an output of x bytes against a floored p99 to 0..100.
func Score(x, p99eff float64) float64 {
	if p99eff <= 0 {
		return 100
	}
	return math.Max(0, math.Min(100, 40+20*math.Log10(x/p99eff)))
}

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	if r.Invocation.OutputBytes < 0 || r.Invocation.Status == record.StatusDenied {
		return out
	}
	x := float64(r.Invocation.OutputBytes)
	now := r.Timestamp

	ks, ts, cfg := d.Lookup(r.AgentID, r.Tool.Name, now)
	if cfg == nil || !cfg.Enabled { // nil: both stores full, counted as rejected
		return out
	}

	// Decide against the key's own baseline, else the tool's.
	need := float64(cfg.MinSamples)
	var kq, tq, q baseline.Quantiles
	if ts != nil {
		tq = ts.dist.Quantiles(d.G)
	}
	if ks != nil {
		kq = ks.dist.Quantiles(d.G)
	}
	scope := ""
	switch {
	case ks != nil && kq.Count >= need:
		q, scope = kq, "agent"
	case ts != nil && tq.Count >= need:
		q, scope = tq, "tool"
	}
	thr, p99eff := math.Inf(1), 0.0
	if scope != "" {
		thr, p99eff = threshold(q, cfg)
	}

	if x > thr {
		out = append(out, d.finding(r, x, q, thr, p99eff, scope))
	}

	// Winsorize (see the package doc): anomalies enter each baseline at
	// its own p99.9, everything else at most at its clamp.
	if ks != nil {
		if v, ok := learned(x, thr, kq, ks.Cfg); ok {
			ks.dist.Add(d.G, v, now)
		}
	}
	if ts != nil {
		if v, ok := learned(x, thr, tq, ts.Cfg); ok {
			ts.dist.Add(d.G, v, now)
		}
	}
	return out
}

func (d *Detector) finding(r *record.Record, x float64, q baseline.Quantiles, thr, p99eff float64, scope string) alert.Finding {
	var f alert.Finding
	f.FromRecord(r)
	f.Pattern = alert.PatternOutputSize
	f.Detail = DetailLarge
	f.Score = Score(x, p99eff)
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = "bytes"
	f.Summary = r.Tool.Name + " returned " + alert.HumanBytes(x) + " to " + r.AgentID +
		"; p99 baseline is " + alert.HumanBytes(q.P99)
	if scope == "tool" {
		f.Summary += " (all agents)"
	}
	f.Details = map[string]any{
		"baseline_p50":   math.Round(q.P50),
		"baseline_p99":   math.Round(q.P99),
		"baseline_p999":  math.Round(q.P999),
		"threshold":      math.Round(thr),
		"samples":        int64(q.Count),
		"baseline_scope": scope,
	}
	return f
}
