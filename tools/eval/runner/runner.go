// Package runner runs the detection-quality evaluation end to end: it
// simulates a labeled set and its normal-only twin (tools/sim), replays
// both in event time through the daemon's pipeline (replay) and scores the
// alerts (tools/eval). It is separate from tools/eval because replay
// depends on the pipeline, whose tests use tools/eval.
package runner

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/config"
	"github.com/toolwatch/toolwatch/replay"
	"github.com/toolwatch/toolwatch/tools/eval"
	"github.com/toolwatch/toolwatch/tools/sim"
	"github.com/toolwatch/toolwatch/tools/sim/fleet"
)

// DefaultGrace is how long after an anomaly's End an alert still counts.
const DefaultGrace = 10 * time.Minute

// Options configure a run.
type Options struct {
	Config *config.Config // nil: config.Default()
	Grace  time.Duration  // 0: DefaultGrace
}

func (o Options) withDefaults() Options {
	if o.Config == nil {
		o.Config = config.Default()
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	return o
}

// SeedReport is the evaluation of one simulation and its twin.
type SeedReport struct {
	Seed          uint64
	Labeled, Twin eval.Result
	// Records are the lines replayed (labeled set, twin).
	Records, TwinRecords int
	Elapsed              time.Duration
}

// RunSeed simulates cfg with its anomalies and its normal-only twin (same
// seed and topology, NoAnomalies), replays both and scores them; false
// alerts are attributed to the simulation's normal behaviours.
func RunSeed(ctx context.Context, cfg sim.Config, opts Options) (SeedReport, error) {
	opts = opts.withDefaults()
	start := time.Now()
	rep := SeedReport{Seed: cfg.Seed}
	bs, err := sim.Behaviours(cfg)
	if err != nil {
		return rep, err
	}
	for i, twin := range []bool{false, true} {
		c := cfg
		c.NoAnomalies = twin
		alerts, plan, normal, total, err := Simulate(ctx, c, opts.Config)
		if err != nil {
			return rep, err
		}
		res := eval.Score(plan, alerts, normal, opts.Grace)
		res.Attribute(bs, opts.Grace)
		if i == 0 {
			rep.Labeled, rep.Records = res, total
		} else {
			rep.Twin, rep.TwinRecords = res, total
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// Simulate streams the records of cfg through a replay with conf and
// returns the alerts, the plan and the normal and total record counts.
func Simulate(ctx context.Context, cfg sim.Config, conf *config.Config) (alerts []alert.Alert, plan []sim.Anomaly, normal, total int, err error) {
	pr, pw := io.Pipe()
	type gen struct {
		plan          []sim.Anomaly
		normal, total int
		err           error
	}
	done := make(chan gen, 1)
	go func() {
		p, n, t, err := eval.WriteJSONL(cfg, pw)
		pw.CloseWithError(err)
		done <- gen{p, n, t, err}
	}()
	end := WallAfter(cfg)
	alerts, sum, rerr := Replay(ctx, pr, conf, end)
	pr.CloseWithError(io.ErrClosedPipe) // unblock the writer if replay stopped early
	g := <-done
	if rerr != nil {
		return nil, nil, 0, 0, rerr
	}
	if g.err != nil {
		return nil, nil, 0, 0, g.err
	}
	if sum.Lines != g.total || sum.Invalid != 0 || sum.Late != 0 {
		return nil, nil, 0, 0, fmt.Errorf("replay read %d lines of %d: %d invalid, %d late", sum.Lines, g.total, sum.Invalid, sum.Late)
	}
	return alerts, g.plan, g.normal, g.total, nil
}

// WallAfter is a fixed wall clock just after cfg's simulated run, so the
// replay's future-timestamp check does not depend on the machine's clock.
func WallAfter(cfg sim.Config) time.Time {
	start, d := cfg.Start, cfg.Duration
	if start.IsZero() {
		start = sim.DefaultStart
	}
	if d <= 0 {
		d = 7 * 24 * time.Hour
	}
	return start.Add(d + time.Hour)
}

// Replay runs records (JSON lines) through the pipeline with conf and
// returns the alerts it raised.
func Replay(ctx context.Context, records io.Reader, conf *config.Config, now time.Time) ([]alert.Alert, replay.Summary, error) {
	if conf == nil {
		conf = config.Default()
	}
	var out, stderr bytes.Buffer
	sum, err := replay.Run(ctx, records, &out, replay.Options{Config: conf, Stderr: &stderr,
		Now: func() time.Time { return now }})
	if err != nil {
		return nil, sum, fmt.Errorf("replay: %w (%s)", err, bytes.TrimSpace(stderr.Bytes()))
	}
	alerts, err := eval.ParseAlerts(&out)
	return alerts, sum, err
}

// Merge combines seed reports: the labeled sets and the twins, each merged;
// missed anomaly ids are prefixed with their seed ("s42:latency-3").
func Merge(reps []SeedReport) (labeled, twin eval.Result) {
	var ls, ts []eval.Result
	for _, r := range reps {
		l := r.Labeled
		l.Patterns = slices.Clone(l.Patterns)
		for i := range l.Patterns {
			p := &l.Patterns[i]
			missed := make([]string, len(p.Missed))
			for j, id := range p.Missed {
				missed[j] = fmt.Sprintf("s%d:%s", r.Seed, id)
			}
			p.Missed = missed
		}
		ls, ts = append(ls, l), append(ts, r.Twin)
	}
	return eval.Merge(ls...), eval.Merge(ts...)
}

// RunFleet is RunSeed for the independent fleet generator (tools/sim/fleet):
// its labeled set and its normal-only twin, replayed and scored, false
// alerts attributed to the fleet's normal behaviours.
func RunFleet(ctx context.Context, cfg fleet.Config, opts Options) (SeedReport, error) {
	opts = opts.withDefaults()
	start := time.Now()
	rep := SeedReport{Seed: cfg.Seed}
	for i, twin := range []bool{false, true} {
		c := cfg
		c.NoAnomalies = twin
		alerts, sum, err := SimulateFleet(ctx, c, opts.Config)
		if err != nil {
			return rep, err
		}
		res := eval.Score(sum.Plan, alerts, sum.Normal, opts.Grace)
		res.Attribute(sum.Behaviours, opts.Grace)
		if i == 0 {
			rep.Labeled, rep.Records = res, sum.Records
		} else {
			rep.Twin, rep.TwinRecords = res, sum.Records
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// SimulateFleet streams cfg's fleet records through a replay with conf and
// returns the alerts and the generation summary.
func SimulateFleet(ctx context.Context, cfg fleet.Config, conf *config.Config) ([]alert.Alert, fleet.Summary, error) {
	pr, pw := io.Pipe()
	type gen struct {
		sum fleet.Summary
		err error
	}
	done := make(chan gen, 1)
	go func() {
		s, err := fleet.WriteJSONL(cfg, pw)
		pw.CloseWithError(err)
		done <- gen{s, err}
	}()
	alerts, rs, rerr := Replay(ctx, pr, conf, cfg.End().Add(time.Hour))
	pr.CloseWithError(io.ErrClosedPipe)
	g := <-done
	if rerr != nil {
		return nil, g.sum, rerr
	}
	if g.err != nil {
		return nil, g.sum, g.err
	}
	if rs.Lines != g.sum.Records || rs.Invalid != 0 || rs.Late != 0 {
		return nil, g.sum, fmt.Errorf("replay read %d lines of %d: %d invalid, %d late", rs.Lines, g.sum.Records, rs.Invalid, rs.Late)
	}
	return alerts, g.sum, nil
}
