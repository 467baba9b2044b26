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
func stepRuns(rng *rand.Rand) func(sec int, add func(fleetCall)) {
	left, per, input := 0, 0, ""
	return func(sec int, add func(fleetCall)) {
		if rng.Float64() < 8.0/3600 {
			add(fleetCall{"runner", "exec_step", fmt.Sprintf("x-%d", rng.IntN(1<<20))})
		}
		if left == 0 && rng.Float64() < 4.0/3600 {
			input = fmt.Sprintf("st-%d", rng.IntN(1<<20))
			left = 3 + rng.IntN(23)
			per = (left + 9) / 10 // the whole run within 10 s
		}
		for k := 0; k < per && left > 0; k++ {
			add(fleetCall{"runner", "exec_step", input})
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
