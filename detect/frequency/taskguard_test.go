package frequency

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
)

// runDayShape replays days of three agents through det (a Tick every 10 s):
//   - analyst: a daily pattern with a quiet morning and a busy afternoon:
//     tasks start at 80/h 08–13, 240/h 13–19 (×3) and 6/h at night; a
//     task calls one of files (half of the tasks), sql or chart a
//     geometric number of times (mean 4), ~8 s apart, with its own
//     trace: files' afternoon hours run ~120 tasks, its mornings ~40;
//   - sync: an irregular batch agent, 2 runs a day at random hours (one
//     in each half of the day, so that they never overlap), each
//     15 minutes of items every 20 s, each item its own task of 1–3 db
//     calls (dozens of tasks at no fixed hour);
//   - etl: short tasks of 1–3 load calls at 12/h, and once a day, at a
//     random hour, one long legit task calling load 60–150 times over
//     ~25 minutes (routine from its first day).
//
// extra(sec) reports whether one extra files task of ~4 calls (its own
// trace) starts at sec.
func runDayShape(det detect.Detector, seed uint64, days int, extra func(sec int) bool) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 91))
	var queue callQueue
	var out []detect.Finding
	n := 0
	task := func(sec int, agent, tool string, calls, gap int) {
		n++
		trace := fmt.Sprintf("%s-%d-%d", agent, seed, n)
		for i := range calls {
			queue = append(queue, scheduledCall{at: sec + i*gap + rng.IntN(gap/2+1), agent: agent, tool: tool, trace: trace,
				input: fmt.Sprintf("in-%d-%d", n, i)})
		}
	}
	geom := func(mean float64) int {
		c := 1
		for rng.Float64() >= 1/mean {
			c++
		}
		return c
	}
	syncRuns, etlRuns := map[int]bool{}, map[int]bool{}
	for d := range days {
		for half := range 2 { // one in each half of the day: runs do not overlap
			syncRuns[d*1440+half*720+rng.IntN(720-15)] = true
		}
		etlRuns[d*86400+rng.IntN(86400-1800)] = true
	}
	for sec := 0; sec < days*86400; sec++ {
		perHour := 6.0
		switch h := (sec / 3600) % 24; {
		case h >= 8 && h < 13:
			perHour = 80
		case h >= 13 && h < 19:
			perHour = 240
		}
		if rng.Float64() < perHour/3600 {
			tool := "files"
			if u := rng.Float64(); u < 0.25 {
				tool = "sql"
			} else if u < 0.5 {
				tool = "chart"
			}
			task(sec, "analyst", tool, geom(4), 8)
		}
		if extra(sec) {
			task(sec, "analyst", "files", geom(4), 8)
		}
		for m := sec/60 - 14; m <= sec/60; m++ {
			if syncRuns[m] && sec%20 == 0 {
				task(sec, "sync", "db", 1+rng.IntN(3), 4)
				break
			}
		}
		if rng.Float64() < 12.0/3600 {
			task(sec, "etl", "load", 1+rng.IntN(3), 6)
		}
		if etlRuns[sec] {
			task(sec, "etl", "load", 60+rng.IntN(91), 12)
		}
		out = queue.step(det, sec, out)
	}
	return out
}

// morningIncident starts extra files tasks of ~4 calls at 120/h for 30
// minutes on day 5 at 10:00: files' morning tasks ×4, a rate (~160 tasks
// an hour) its busy afternoons reach (~120 an hour, their leaky sums up
// to ~150).
func morningIncident(seed uint64) func(sec int) bool {
	return incidentStarts(seed, 92, quietHourFrom, 120)
}

const quietHourFrom = 5*86400 + 10*3600

// A rise in a quiet hour of a key with a daily pattern (files' morning
// tasks ×4 for 30 minutes, its hour still below the tasks of its busy
// afternoons) alerts on at least 6 of 8 seeds: the task series' peak
// guard is on the excess of the hour's tasks over their seasonal
// expectation, not on their sum, whose peak the afternoons set (with the
// sum guard: 0 of 8). Without the rise nothing alerts on any seed: not
// the key's daily swing, not the irregular batch agent whose runs start
// dozens of tasks at random hours (its runs are an excess the guard
// learns); the agent that runs one long task a day raises neither a
// task-series nor a task_calls finding (the calls peak decays per
// window, not per task) (issue 9: taskmiss).
func TestTaskRiseInQuietHour(t *testing.T) {
	const days, seeds, minFound = 6, 8, 6
	from := quietHourFrom
	detected := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		for _, rise := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed %d rise %v", seed, rise), func(t *testing.T) {
				d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
				extra := noTasks
				if rise {
					extra = morningIncident(seed)
				}
				got := runDayShape(d, seed, days, extra)
				ks := d.keys.Peek(baseline.Key{Agent: "analyst", Tool: "files"})
				if ks == nil || ks.task.rho() > 0.5 || !ks.rate.Warm(&ks.t.rule) {
					t.Fatalf("analyst/files' task series is not judged: %+v", ks)
				}
				found := false
				for _, f := range got {
					sec := int(f.EventTime.Sub(base) / time.Second)
					if rise && f.AgentID == "analyst" && f.Tool == "files" && f.Detail != "drop" && sec >= from && sec <= from+2400 {
						found = true
						continue
					}
					if f.Detail == "drop" {
						continue // the drop test's business
					}
					if f.AgentID == "etl" && f.Detail != "task_calls" && f.Details["series"] != "tasks" {
						// Known, not this test's: the call series' spike and
						// rise tests see the long task's calls at a random
						// hour (BENCHMARKS.md "Held-out task rate").
						t.Logf("etl's long task (open weakness): %s %.1f at %v", f.Detail, f.Score, f.EventTime)
						continue
					}
					t.Errorf("false finding: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
				}
				if found {
					detected++
				}
				t.Logf("rise found: %v", found)
			})
		}
	}
	if detected < minFound {
		t.Errorf("analyst/files' morning rise found on %d of %d seeds, want at least %d", detected, seeds, minFound)
	}
}
