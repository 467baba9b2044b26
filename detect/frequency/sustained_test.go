package frequency

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
)

// stepRuns is a runtime's key (~8 distinct calls an hour) that several
// times an hour re-sends one call 3–25 times within 10 s until its step
// limit stops it, from its first day on: the burst peak of its loop test
// learns ~25 a window, far above a loop of 60 a minute's share of it.
func stepRuns(rng *rand.Rand) func(sec int, add func(fleetCall)) { return stepRunsOf(rng, "runner") }

// stepRunsOf is stepRuns for agent.
func stepRunsOf(rng *rand.Rand, agent string) func(sec int, add func(fleetCall)) {
	left, per, input := 0, 0, ""
	return func(sec int, add func(fleetCall)) {
		if rng.Float64() < 8.0/3600 {
			add(fleetCall{agent, "exec_step", fmt.Sprintf("x-%d", rng.IntN(1<<20))})
		}
		if left == 0 && rng.Float64() < 4.0/3600 {
			input = fmt.Sprintf("st-%d", rng.IntN(1<<20))
			left = 3 + rng.IntN(23)
			per = (left + 9) / 10 // the whole run within 10 s
		}
		for k := 0; k < per && left > 0; k++ {
			add(fleetCall{agent, "exec_step", input})
			left--
		}
	}
}

// Step-limited runs (a burst of identical calls that ends within
// seconds, up to 25 in 10 s, several an hour for days) stay silent; after
// them a loop of one input that keeps going at 60 a minute alerts within
// 2 minutes whatever its phase in the loop window, though the runs raised
// the key's burst peak far above 60: a run sustained past one loop window
// is judged against the key's sustained runs (none), not its bursts.
func TestSustainedLoopAfterStepRuns(t *testing.T) {
	const days = 4
	for _, loop := range []bool{false, true} {
		for _, seed := range []uint64{1, 2, 3, 4} {
			at := 3*86400 + 14*3600 + int(seed)*17 // loop phase varies by seed
			rng := rand.New(rand.NewPCG(seed, 29))
			gen := stepRuns(rng)
			got, d := runFleetStream(t, days, func(sec int, add func(fleetCall)) {
				if loop && sec >= at {
					if sec < at+600 {
						add(fleetCall{"runner", "exec_step", "stuck"})
					}
					return // the runner does nothing else while stuck
				}
				gen(sec, add)
			})
			start := base.Add(time.Duration(at) * time.Second)
			found := false
			for _, f := range got {
				if f.AgentID != "runner" {
					continue
				}
				if loop && !f.EventTime.Before(start) {
					if f.Detail == "loop" && f.EventTime.Sub(start) <= 2*time.Minute {
						found = true
					}
					continue
				}
				t.Errorf("seed %d loop %v: step-limited runs alerted: %s %s %.1f %s", seed, loop, f.EventTime.Format(time.RFC3339), f.Detail, f.Score, f.Summary)
			}
			if loop && !found {
				t.Errorf("seed %d: a loop of 60 a minute not reported within 2 minutes: %v", seed, got)
			}
			if ks := d.keys.Peek(baseline.Key{Agent: "runner", Tool: "exec_step"}); ks == nil || (!loop && ks.loop.peak < 15) {
				t.Errorf("seed %d: the runs did not raise the burst peak: %+v", seed, ks)
			}
		}
	}
}

// A new instance of a tool (a key borrowing its tool's baseline) that
// loops on one input at 60 a minute is judged on its tool's sustained
// peak: the instances' step-limited runs raised the tool's burst peak far
// above 60 but never its sustained one, so it alerts within 2 minutes;
// the instances' runs stay silent.
func TestSustainedLoopYoungKey(t *testing.T) {
	const days = 4
	for _, seed := range []uint64{1, 2, 3} {
		at := 3*86400 + 14*3600 + 600 + int(seed)*23
		var gens []func(int, func(fleetCall))
		for i := range 3 {
			gens = append(gens, stepRunsOf(rand.New(rand.NewPCG(seed, uint64(31+i))), fmt.Sprint("runner-", i)))
		}
		got, d := runFleetStream(t, days, func(sec int, add func(fleetCall)) {
			for _, g := range gens {
				g(sec, add)
			}
			switch {
			case sec >= at-600 && sec < at && sec%120 == 0: // the new pod's first calls
				add(fleetCall{"pod-new", "exec_step", fmt.Sprint("p-", sec)})
			case sec >= at && sec < at+600:
				add(fleetCall{"pod-new", "exec_step", "stuck"})
			}
		})
		start := base.Add(time.Duration(at) * time.Second)
		found := false
		for _, f := range got {
			if f.AgentID == "pod-new" && f.Detail == "loop" && !f.EventTime.Before(start) && f.EventTime.Sub(start) <= 2*time.Minute {
				found = true
			}
			if f.AgentID != "pod-new" {
				t.Errorf("seed %d: step-limited runs alerted: %s %s %s %.1f %s", seed, f.AgentID, f.EventTime.Format(time.RFC3339), f.Detail, f.Score, f.Summary)
			}
		}
		if !found {
			t.Errorf("seed %d: the new pod's loop not reported within 2 minutes: %v", seed, got)
		}
		ks, ts := d.keys.Peek(baseline.Key{Agent: "pod-new", Tool: "exec_step"}), d.tools.Peek(baseline.Key{Tool: "exec_step"})
		if ks == nil || ks.rate.Warm(&ks.t.rule) || ts == nil || ts.loop.peak < 15 {
			t.Errorf("seed %d: want a young key on a tool whose burst peak the runs raised: key %+v tool %+v", seed, ks, ts)
		}
	}
}
