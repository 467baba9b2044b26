package frequency

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// taskTools are the desk agent's tools: each call of a task picks one,
// sticking with the previous one half of the time, so a key's calls come
// in clusters of a task's calls (overdispersed counts per window).
var taskTools = []string{"crm", "mail", "search"}

// runTaskAgent replays days of two agents through det (a Tick every 10 s):
//   - desk: tasks start at 40/h by day (08–20) and 8/h by night; a task
//     makes a geometric number of calls (mean 8) 2–12 s apart, each with
//     the task's trace id;
//   - sync: an irregular batch agent, 2 runs a day at random hours, each
//     run 15 minutes of items, every item its own task (trace) of 1–3
//     db calls: many tasks at once, at no fixed hour.
//
// extra(sec) reports whether one extra task of ~4 crm calls (its own
// trace) starts at sec. withTrace false drops every trace id (each call
// is then a task of its own).
func runTaskAgent(det detect.Detector, seed uint64, days int, extra func(sec int) bool, withTrace bool) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 77))
	var queue callQueue
	var out []detect.Finding
	n := 0
	newTask := func(sec int, agent string, calls func() []string) {
		n++
		trace := fmt.Sprintf("%s-%d-%d", agent, seed, n)
		if !withTrace {
			trace = ""
		}
		at := sec
		for _, tl := range calls() {
			if tl == "" {
				tl = "db"
			}
			queue = append(queue, scheduledCall{at: at, tool: tl, trace: trace, agent: agent})
			at += 2 + rng.IntN(11)
		}
	}
	deskCalls := func(mean float64, only string) func() []string {
		return func() []string {
			tl := taskTools[rng.IntN(len(taskTools))]
			var cs []string
			for {
				if only != "" {
					tl = only
				} else if rng.Float64() < 0.5 {
					tl = taskTools[rng.IntN(len(taskTools))]
				}
				cs = append(cs, tl)
				if rng.Float64() < 1/mean {
					return cs
				}
			}
		}
	}
	runs := map[int]bool{} // sync's run starts, in minutes since base
	for d := 0; d < days; d++ {
		for range 2 {
			runs[d*1440+rng.IntN(1440-15)] = true
		}
	}
	for sec := 0; sec < days*86400; sec++ {
		perHour := 8.0
		if h := (sec / 3600) % 24; h >= 8 && h < 20 {
			perHour = 40
		}
		if rng.Float64() < perHour/3600 {
			newTask(sec, "desk", deskCalls(8, ""))
		}
		if extra(sec) {
			newTask(sec, "desk", deskCalls(4, "crm"))
		}
		for m := sec/60 - 14; m <= sec/60; m++ {
			if runs[m] && sec%20 == 0 {
				newTask(sec, "sync", func() []string { return make([]string, 1+rng.IntN(3)) })
				break
			}
		}
		out = queue.step(det, sec, out)
	}
	return out
}

// taskIncident starts extra crm tasks of ~4 calls at 80/h for 30 minutes
// on day 2 at 10:00: crm's daytime calls (~107/h in ~28 tasks) ×4, its
// tasks ×3.9.
func taskIncident(seed uint64) func(sec int) bool {
	return incidentStarts(seed, 78, 2*86400+10*3600, 80)
}

func noTasks(int) bool { return false }

// A rise in a task-clustered key's tasks (extra tasks of ~4 calls, ×4 its
// calls for 30 minutes) alerts on the task series ("sustained_rise",
// series "tasks") on at least 4 of 8 seeds (the power at ~2.3 tasks per
// window, some windows discounted by the agent-wide factor; the call
// series alone finds it on 1 of the 8);
// without the rise nothing alerts on any seed: not the desk agent's
// clustered keys, not the irregular batch agent whose runs start dozens
// of tasks at random hours (the task series' peak guard) (issue 9:
// taskrate).
func TestTaskRise(t *testing.T) {
	const days, seeds, minFound = 4, 8, 4
	from := 2*86400 + 10*3600
	detected := 0
	for seed := uint64(1); seed <= seeds; seed++ {
		for _, rise := range []bool{false, true} {
			t.Run(fmt.Sprintf("seed %d rise %v", seed, rise), func(t *testing.T) {
				d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
				extra := noTasks
				if rise {
					extra = taskIncident(seed)
				}
				got := runTaskAgent(d, seed, days, extra, true)
				ks := d.keys.Peek(baseline.Key{Agent: "desk", Tool: "crm"})
				if ks == nil || ks.task.rho() > 0.5 || !ks.rate.Warm(&ks.t.rule) {
					t.Fatalf("desk/crm's task series is not judged: %+v", ks)
				}
				found := false
				for _, f := range got {
					sec := int(f.EventTime.Sub(base) / time.Second)
					if rise && f.AgentID == "desk" && f.Tool == "crm" && f.Detail != "drop" && sec >= from && sec <= from+2400 {
						found = true
						continue
					}
					if f.Detail == "drop" {
						continue // the drop test's business
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
		t.Errorf("desk/crm's rise in tasks found on %d of %d seeds, want at least %d", detected, seeds, minFound)
	}
}

// The task series is judged alike under lazy rolls and eager ticks: the
// same findings (the rise among them, on the task series) and the same
// snapshot.
func TestTaskLazyMatchesEager(t *testing.T) {
	lazyMatchesEager(t, base.Add(3*24*time.Hour), func(_ *Detector, det detect.Detector) []detect.Finding {
		return runTaskAgent(det, 1, 3, taskIncident(1), true)
	}, "task-series finding", func(f detect.Finding) bool { return f.Details["series"] == "tasks" })
}

// Calls without a trace or task id are each a task of their own: the
// task series is the call series (rho 1) and is not judged.
func TestTaskSeriesOffWithoutTraces(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	runTaskAgent(d, 1, 2, noTasks, false)
	ks := d.keys.Peek(baseline.Key{Agent: "desk", Tool: "crm"})
	if ks == nil || ks.task.rho() < 0.99 || ks.task.thr != 0 {
		t.Fatalf("desk/crm without traces: rho %v, threshold %d; want 1 and none", ks.task.rho(), ks.task.thr)
	}
}

func TestTaskRing(t *testing.T) {
	tests := []struct {
		name   string
		traces []uint32
		starts int
	}{
		{"one task", []uint32{5, 5, 5, 5}, 1},
		{"two interleaved", []uint32{5, 6, 5, 6, 5, 6}, 2},
		{"eight interleaved", []uint32{1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 8, 1}, 8},
		// the longest idle of nine goes: 1 starts again, then 2 (pushed out by 1)
		{"nine interleaved", []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2}, 11},
		{"recently used stays", []uint32{1, 2, 3, 4, 5, 6, 7, 8, 1, 9, 1}, 9},
		{"no trace", []uint32{0, 0, 0}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ts taskState
			n := 0
			for _, h := range tc.traces {
				if ts.observe(h, false) {
					n++
				}
			}
			if n != tc.starts || ts.n != uint32(n) {
				t.Fatalf("%d task starts (n %d), want %d", n, ts.n, tc.starts)
			}
		})
	}
}

func TestRecordTask(t *testing.T) {
	r := record.Record{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}
	if h := recordTask(&r); h == 0 || h != traceHash(r.TraceID) {
		t.Fatalf("trace hash %d", h)
	}
	r2 := record.Record{Context: record.Context{TaskID: r.TraceID}}
	if recordTask(&r2) != recordTask(&r) {
		t.Fatal("a task_id without a trace is not the task")
	}
	if recordTask(&record.Record{}) != 0 {
		t.Fatal("a record without trace or task has a task")
	}
	seen := map[uint32]bool{}
	for i := range 10000 {
		h := traceHash(fmt.Sprintf("agent-task-2026-03-23-%06x", i))
		if h == 0 || seen[h] {
			t.Fatalf("trace %d: hash %d zero or repeated", i, h)
		}
		seen[h] = true
	}
}

// BenchmarkObserveTraced is BenchmarkObserve with records that carry
// 32-character trace ids (a new trace every 6 calls of a key): the task
// ring's per-record cost on the in-window path.
func BenchmarkObserveTraced(b *testing.B) {
	traces := make([]string, 64)
	for i := range traces {
		traces[i] = fmt.Sprintf("%032x", i*7919)
	}
	benchObserve(b, 10, time.Second, traces)
}

// The task series' agent-wide factor counts the other tools' task starts,
// not their calls: one long task of another tool (60 calls under one
// trace) raises the call factor to its cap but leaves the task factor at
// 1, while as many calls in 30 tasks raise both (issue 9: agenttask).
// Agent "a" calls x once a minute (each call its own task) and y twice a
// minute in one task; the extra y calls fill the window before noon of
// day 2, and x's factors are read when it arms the next window.
func TestTaskFactor(t *testing.T) {
	type ev struct {
		at          int
		tool, trace string
	}
	win := int(DefaultConfig().Window / time.Second)
	at := 2*86400 + 12*3600 // the window after the extra calls
	for _, tc := range []struct {
		name           string
		tasks, perTask int // extra y tasks and calls per task
		minF, maxF     float64
		minTF, maxTF   float64
	}{
		{"one long task", 1, 60, riseFMax, riseFMax, 1, 1.1},
		{"many tasks", 30, 2, riseFMax, riseFMax, 2.5, riseFMax},
		{"none", 0, 0, 1, 1.1, 1, 1.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var evs []ev
			for s := 0; s < 3*86400; s += 60 {
				evs = append(evs, ev{s, "x", fmt.Sprint("x", s)}, ev{s + 10, "y", fmt.Sprint("y", s)}, ev{s + 20, "y", fmt.Sprint("y", s)})
			}
			for i := range tc.tasks * tc.perTask {
				evs = append(evs, ev{at - win + 1 + i*(win-2)/(tc.tasks*tc.perTask), "y", fmt.Sprint("extra", i/tc.perTask)})
			}
			slices.SortStableFunc(evs, func(a, b ev) int { return a.at - b.at })
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			var rec record.Record
			checked := false
			for _, e := range evs {
				ts := base.Add(time.Duration(e.at) * time.Second)
				rec = record.Record{Timestamp: ts, AgentID: "a", Tool: record.Tool{Name: e.tool}, TraceID: e.trace}
				d.Observe(&rec, nil)
				if e.at%60 == 59 {
					d.Tick(ts, nil)
				}
				if e.tool != "x" || e.at != at {
					continue
				}
				ks := d.keys.Peek(baseline.Key{Agent: "a", Tool: "x"})
				if ks == nil || !riseArmed(&ks.rate) || ks.rate.ArmedAt != int64(base.Unix())+int64(at) {
					t.Fatalf("a/x is not armed from its own baseline at %d: %+v", at, ks)
				}
				f, tf := max(float64(ks.riseF)/riseFOne, 1), max(float64(ks.task.tf)/riseFOne, 1)
				if f < tc.minF || f > tc.maxF || tf < tc.minTF || tf > tc.maxTF {
					t.Errorf("call factor %.3f (want %g..%g), task factor %.3f (want %g..%g)", f, tc.minF, tc.maxF, tf, tc.minTF, tc.maxTF)
				}
				t.Logf("call factor %.3f, task factor %.3f", f, tf)
				checked = true
			}
			if !checked {
				t.Fatal("x never armed the window after the extra calls")
			}
		})
	}
}
