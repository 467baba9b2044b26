// Package outputsize detects pattern 4 (docs/design.md §5, "output_size"): a tool
// call whose invocation.output_bytes is far above the usual size for that
// (agent, tool) — a bulk read, an exfiltration, a runaway query.
//
// # Baselines
//
// Each (agent, tool) key and each tool (all agents) keeps a baseline.Dist of
// output sizes over two event-time epochs (baseline.epoch). Records without
// output_bytes and denied calls (which never ran) are skipped. A key with
// fewer than min_samples outputs borrows its tool's baseline; if that has
// fewer too, nothing alerts (warm-up). Both baselines learn every output
// their own tail does not call anomalous.
//
// # Tail model, score, level shifts, spread and drift
//
// As in detect/latency (whose package doc gives the formulas), on log
// sizes y = ln(1+bytes): each baseline fits a peaks-over-threshold tail
// above its p99 (generalized Pareto on the last 32 log excesses, ξ in
// [0, 0.5], fallback through p90/p99 for young keys); an output is a
// "large" finding when its tail probability p ≤ false_alarm_rate (default
// 10⁻⁶) and it is above min_alert_bytes (default 8 KiB, so a 200 B tool
// returning 2 KB never alerts), scored score.FromDecades(−log10 p +
// prior). 100 MB from a ~1 KB tool scores 100; a file-read tool with p99
// ≈ 500 KB and occasional legitimate 5 MB files stays quiet, and 100 MB
// from it is critical by the egregious rule (detect/latency's doc,
// baseline/tail.go): at least 10× p99, p99²/p50, 4.75σ of the body's
// log-normal above its median (false_alarm_rate 10⁻⁶) and 1.5× (log)
// beyond what the key has shown, scored at least 10 decades whatever the
// fit says (from 300 values; a young baseline below 1,600 must clear its
// largest value by more unless the body's log-normal explains that
// value, and its 4.75σ carries the young digest's sampling error, see
// detect/latency).
//
// Anomalous outputs teach only the tail (winsorized, at most one point an
// hour), so recurring legitimate large outputs are absorbed within days
// while one exfiltration burst is not. Successful calls feed the level
// test (level_shift_up / level_shift_down, e.g. a tool that suddenly
// returns empty outputs; one finding per episode, and outputs of a
// reported upward episode are judged against the shifted level; where
// the tool has learned a daily rhythm the shift is measured against the
// hour's level, as in detect/latency), except
// a call repeating one of the last 4 inputs the key's test took (a benign
// loop returns identical sizes: one observation), and the drift guard keeps outputs growing
// 20%/h for 48 h from lifting the threshold: the body's median and p99 may
// rise at most max_drift_per_day per day before values are judged against
// the envelope, and a faster median raises a drift finding.
//
// The level test's values also feed the spread and spike-density tests of
// detect/latency's doc (spread_shift: outputs scattering twice as wide
// about an unchanged median; spike_density: starts of runs beyond p99
// far more often than the 1 % the body expects; one finding per episode
// each, baseline/judge_spread.go), and the key's and the tool's baselines
// test tail bursts as detect/latency's doc says (spike_density with
// burst: true: three or more outputs within minutes each at p ≤ 10^−2.5 or 10^−3.5).
//
// # Reload and snapshots
//
// SetParams swaps thresholds and overrides without touching baselines:
// each key re-resolves its configuration on its next record (a generation
// compare, so nothing is looked up per record otherwise). MarshalState /
// UnmarshalState save and restore every baseline exactly (state.go).
//
// The key stores, reload, Tick, the settings, score and shift/drift
// findings are the shared core in detect/internal/distdetect (also used by
// latency); the tail, level and drift models are baseline's; the baseline
// choice and the large finding are this package's.
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

// Detector is the output-size detector. Its key stores, digester and params live
// in an unexported distdetect core, so no other package reaches them.
type Detector struct {
	core   distCore
	deltas // snapshot record, captures and deltas of core
}

type deltas = distdetect.Deltas[Config, state, *state, EntryState]

type distCore = distdetect.Core[Config, state, *state]

// SetParams swaps the configuration (hot reload): every key keeps its baseline and
// re-resolves its configuration on its next record.
func (d *Detector) SetParams(p *detect.Params[Config]) { d.core.SetParams(p) }

// SetLimits changes the key stores' cap and idle time-to-live.
func (d *Detector) SetLimits(maxKeys int, idle time.Duration) { d.core.SetLimits(maxKeys, idle) }

// Tick implements detect.Detector: evicts idle keys and rotates epochs.
func (d *Detector) Tick(watermark time.Time, out []detect.Finding) []detect.Finding {
	return d.core.Tick(watermark, out)
}

// KeyStats implements detect.Stats.
func (d *Detector) KeyStats() (live int, idle, capacity uint64) { return d.core.KeyStats() }

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
func (d *Detector) Pattern() string { return detect.PatternOutputSize }

// Observe implements detect.Detector.
func (d *Detector) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	if r.Invocation.OutputBytes < 0 || r.Invocation.Status == record.StatusDenied {
		return out
	}
	x := float64(r.Invocation.OutputBytes)
	now := r.Timestamp

	ks, ts, cfg := d.core.Lookup(r.AgentID, r.Tool.Name, now)
	if cfg == nil || !cfg.Enabled { // nil: both stores full, counted as rejected
		return out
	}
	// Judge against each baseline before either learns the output.
	y := baseline.LogValue(x)
	need := float64(cfg.MinSamples)
	var kq, tq baseline.Quantiles
	var kv, tv baseline.Verdict
	var kj, tj baseline.Judge
	if ks != nil {
		kj = *d.core.JudgeFor(ks.Cfg, judgeOf)
		ks.dist.JudgeLogTo(&kv, d.core.G, x, y, &kj, 0)
		kq = ks.dist.Quantiles(d.core.G)
	}
	if ts != nil {
		tj = *d.core.JudgeFor(ts.Cfg, judgeOf)
		ts.dist.JudgeLogTo(&tv, d.core.G, x, y, &tj, 0)
		tq = ts.dist.Quantiles(d.core.G)
	}
	kReady, tReady := ks != nil && kq.Count >= need, ts != nil && tq.Count >= need
	var q baseline.Quantiles
	var v *baseline.Verdict
	var j *baseline.Judge
	scope := ""
	switch {
	case kReady:
		q, v, j, scope = kq, &kv, &kj, "agent"
		if tReady {
			kv.Pool(&tv) // egregious only if also for the tool (baseline/tail.go)
		}
	case tReady:
		q, v, j, scope = tq, &tv, &tj, "tool"
	}
	if !kReady && d.core.Sharing() {
		// Consumer group: the tool over all partitions (share.go).
		if sq, sv, sj, ok := d.core.JudgeShared(r.Tool.Name, "", x, y, cfg, judgeOf, need); ok {
			q, v, j, scope = sq, &sv, &sj, "tool"
		}
	}
	// Learn (see the package doc). A baseline without a tail yet does not
	// learn an output the judging baseline found anomalous.
	anomalous := scope != "" && v.Anomalous(j)
	success := r.Invocation.Status == record.StatusSuccess
	// A young key learns what the ready tool baseline judged normal. With
	// no ready baseline at all (a new tool), the young baselines learn
	// every value: nothing judged it, and a young fit refusing a mode it
	// has not seen yet (a square wave's high phase, the afternoon of a
	// tool first seen at night) keeps that mode out of the body for good.
	kv.Vouched = scope == "tool" && !anomalous || scope == ""
	tv.Vouched = scope == ""
	// A sparse key's count lapses below need after a quiet day's
	// rotation: its level test keeps learning (baseline.Dist.Usable), not
	// the tool's rhythm (see detect/latency).
	kv.Lapsed = ks != nil && ks.dist.Usable(kq.Count, need) && !kReady
	if success {
		// Repeats of one input feed the level test once (baseline.Learn).
		kv.Input = baseline.InputKey(r.Invocation.InputHash)
		tv.Input = kv.Input
		// The tool learns its daily rhythm from every call; the level
		// test measures against the hour's level (baseline/rhythm.go).
		if ts != nil {
			tv.LearnRhythm = true
			kv.Rhythm = ts.dist.Rhythm()
			tv.Rhythm = kv.Rhythm
		}
	}
	var lv baseline.Level
	if ks != nil && (kv.Fit.Valid || !anomalous) {
		l := ks.dist.Learn(d.core.G, x, now, &kv, &kj, kReady, success)
		if scope == "agent" {
			lv = l
		}
	}
	if ts != nil && (tv.Fit.Valid || !anomalous) {
		// The level test runs on the (agent, tool) key; the tool's only
		// stands in for a key the full store could not hold (one level
		// update per record, not two).
		l := ts.dist.Learn(d.core.G, x, now, &tv, &tj, tReady, success && ks == nil)
		if scope == "tool" {
			lv = l
		}
	}
	if scope == "" {
		return out
	}
	if anomalous {
		out = append(out, d.finding(r, x, q, v, scope))
	}
	if lv.Emit {
		out = append(out, distdetect.ShiftFinding(r, detect.PatternOutputSize, "bytes", "output size", x, lv, q, scope, alert.HumanBytes))
	}
	if lv.Drift {
		out = append(out, distdetect.DriftFinding(r, detect.PatternOutputSize, "bytes", "output size", x, v, j, q, scope, alert.HumanBytes))
	}
	if lv.Disp.Spread || lv.Disp.Density || lv.Disp.Burst {
		out = distdetect.DispersionFindings(out, r, detect.PatternOutputSize, "bytes", "output size", x, &lv, q, scope, alert.HumanBytes)
	}
	return out
}

func (d *Detector) finding(r *record.Record, x float64, q baseline.Quantiles, v *baseline.Verdict, scope string) detect.Finding {
	var f detect.Finding
	f.FromRecord(r)
	f.Pattern = detect.PatternOutputSize
	f.Detail = DetailLarge
	f.Score = distdetect.Score(v.Decades, r)
	f.Observed = x
	f.Expected = math.Round(q.P50)
	f.Unit = "bytes"
	f.Summary = r.Tool.Name + " returned " + alert.HumanBytes(x) + " to " + r.AgentID +
		"; p99 baseline is " + alert.HumanBytes(q.P99)
	if scope == "tool" {
		f.Summary += " (all agents)"
	}
	f.Details = distdetect.TailDetails(q, v, scope)
	return f
}
