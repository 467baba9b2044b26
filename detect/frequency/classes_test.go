package frequency

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// A fleet of keys whose normal traffic is shaped unlike the detector's own
// assumptions (issue 9): a steady low-rate tool, an irregular batch agent
// running at random hours, a bursty crawler, a day-only tool of an agent
// that keeps working at night, and an agent that simply stops.

// fleet generates calls per second of event time.
type fleet struct {
	rng  *rand.Rand
	trng *rand.Rand   // the desk agent's tasks (its own stream: the other keys stay as they were)
	runs map[int]bool // start minutes (since base) of the batch agent's runs
	// burst: seconds left and rate of the crawler's current burst
	burstLeft int
	desk      []int // calls left of the desk agent's queued tasks
}

func newFleet(seed uint64, days int) *fleet {
	f := &fleet{rng: rand.New(rand.NewPCG(seed, 99)), trng: rand.New(rand.NewPCG(seed, 98)), runs: map[int]bool{}}
	// 2–4 runs a day at uniformly random minutes: no daily pattern.
	for d := 0; d < days; d++ {
		for range 2 + f.rng.IntN(3) {
			f.runs[d*1440+f.rng.IntN(1440)] = true
		}
	}
	return f
}

func (f *fleet) poisson(perHour float64) int {
	l, k, p := math.Exp(-perHour/3600), 0, 1.0
	for {
		p *= f.rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// calls appends the normal calls at sec.
func (f *fleet) calls(sec int, add func(agent, tool string)) {
	hour := (sec / 3600) % 24
	day := hour >= 8 && hour < 20
	rep := func(n int, agent, tool string) {
		for range n {
			add(agent, tool)
		}
	}
	// Steady: 12/h of lookup, 60/h of search.
	rep(f.poisson(12), "app", "lookup")
	rep(f.poisson(60), "app", "search")
	// Irregular batch: 10-minute runs of 6 calls/min of bulk-copy at
	// random minutes; nothing in between.
	for m := sec/60 - 9; m <= sec/60; m++ {
		if f.runs[m] && sec%10 == 0 {
			add("sync", "bulk-copy")
			break
		}
	}
	// Bursty crawler: bursts start about once an hour and last 30–120 s at
	// one call a second; 10/h in between.
	if f.burstLeft == 0 && f.rng.Float64() < 1.0/3600 {
		f.burstLeft = 30 + f.rng.IntN(91)
	}
	if f.burstLeft > 0 {
		f.burstLeft--
		add("crawler", "fetch")
	}
	rep(f.poisson(10), "crawler", "fetch")
	rep(f.poisson(20), "crawler", "parse")
	// Office: mail day and night (60/h, 6/h), calendar by day only.
	if day {
		rep(f.poisson(60), "office", "mail")
		rep(f.poisson(30), "office", "calendar")
	} else {
		rep(f.poisson(6), "office", "mail")
	}
	// Desk: tasks by day (12/h) that each call desk/calendar a geometric
	// number of times (mean 2, one call every 8 s): counts are clustered
	// by task, variance three times the mean at every scale.
	if day && f.trng.Float64() < 12.0/3600 {
		n := 1
		for f.trng.Float64() < 0.5 {
			n++
		}
		f.desk = append(f.desk, n)
	}
	if sec%8 == 0 && len(f.desk) > 0 {
		add("desk", "calendar")
		if f.desk[0]--; f.desk[0] == 0 {
			f.desk = f.desk[1:]
		}
	}
	// Temp: two tools for two days, then the agent stops entirely.
	if sec < 2*86400 {
		rep(f.poisson(30), "temp", "a")
		rep(f.poisson(30), "temp", "b")
	}
}

// maxPerKeyDay is the most findings one (agent, tool, detail) raised in one
// UTC day.
func maxPerKeyDay(fs []detect.Finding) int {
	type k struct {
		agent, tool, detail string
		day                 int
	}
	n, m := map[k]int{}, 0
	for _, f := range fs {
		key := k{f.AgentID, f.Tool, f.Detail, int(f.EventTime.Sub(base) / (24 * time.Hour))}
		n[key]++
		m = max(m, n[key])
	}
	return m
}

// maxFiringPerKeyDay passes fs through the alert manager with its default
// cooldown and resolve_after and returns the most firing alerts (first,
// re-emitted, escalated) one (agent, tool) sent in one UTC day.
func maxFiringPerKeyDay(fs []detect.Finding) int {
	m := alert.NewManager(alert.DefaultConfig())
	type k struct {
		agent, tool string
		day         int
	}
	n, most := map[k]int{}, 0
	var out []alert.Alert
	for _, f := range fs {
		out = m.Add(f, out[:0])
		for _, a := range out {
			if a.Status == alert.StatusFiring {
				key := k{a.AgentID, a.Tool, int(f.EventTime.Sub(base) / (24 * time.Hour))}
				n[key]++
				most = max(most, n[key])
			}
		}
	}
	return most
}

func TestFleetClasses(t *testing.T) {
	const days = 5
	at := func(day, hour, min int) int { return day*86400 + hour*3600 + min*60 }
	tests := []struct {
		name   string
		seed   uint64
		inject func(sec int, add func(agent, tool string))
		// want: the (agent, tool, detail) that must alert, and by when
		// (seconds); "" for a normal-only run that must stay silent.
		agent, tool, detail string
		from, by            int
	}{
		{name: "normal fleet, seed 1", seed: 1},
		{name: "normal fleet, seed 2", seed: 2},
		{name: "normal fleet, seed 3", seed: 3},
		{
			// 12/h -> 96/h for 25 minutes: 8 per 5m against 1.
			name: "x8 above 12/h for 25 minutes", seed: 4,
			inject: func(sec int, add func(agent, tool string)) {
				if sec >= at(3, 14, 10) && sec < at(3, 14, 35) && sec%43 == 0 {
					add("app", "lookup")
				}
			},
			agent: "app", tool: "lookup", detail: "spike,sustained_rise", from: at(3, 14, 10), by: at(3, 14, 35),
		},
		{
			// ×8 for 40 minutes on the task-clustered desk/calendar (~24/h
			// by day, variance ~3× the mean): one stuck task adding a call
			// every 20 s. Caught only when judged against a seasonal
			// expectation the episode does not lift (baseline.SuspectP)
			// and reported at the 1h scale's pace, not at a doubled count
			// the window never reaches.
			name: "x8 for 40 minutes on a task-clustered key", seed: 7,
			inject: func(sec int, add func(agent, tool string)) {
				if sec >= at(3, 14, 10) && sec < at(3, 14, 50) && sec%20 == 0 {
					add("desk", "calendar")
				}
			},
			agent: "desk", tool: "calendar", detail: "spike,sustained_rise", from: at(3, 14, 10), by: at(3, 15, 0),
		},
		{
			// A key that turns bursty on day 2 (60 calls in a minute about
			// every 45 minutes, on 10/h): the first bursts alert, later ones
			// are absorbed (hold, dispersion, peak) — no alert storm.
			name: "new bursty regime", seed: 6,
			inject: func() func(sec int, add func(agent, tool string)) {
				rng := rand.New(rand.NewPCG(6, 6))
				next, left := at(2, 0, 0), 0
				return func(sec int, add func(agent, tool string)) {
					if sec%360 == 0 && rng.Float64() < 0.1 {
						add("crawler", "index") // background, about 10/h
					}
					if sec >= next {
						next, left = sec+15*60+rng.IntN(60*60), 60
					}
					if left > 0 {
						left--
						add("crawler", "index")
					}
				}
			}(),
			agent: "crawler", tool: "index", detail: "spike", from: at(2, 0, 0), by: days * 86400,
		},
		{
			// app stops calling lookup on day 4 at 10:00, keeps searching.
			name: "drop while the agent keeps working", seed: 5,
			agent: "app", tool: "lookup", detail: "drop", from: at(3, 10, 0), by: at(3, 12, 0),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			inject := tc.inject
			if tc.detail == "drop" {
				// Filter: drop app/lookup from the normal stream after from.
				d2 := &dropFilter{Detector: d, from: base.Add(time.Duration(tc.from) * time.Second)}
				got := runFleetDetector(d2, tc.seed, days, inject)
				check(t, got, tc.agent, tc.tool, tc.detail, tc.from, tc.by)
				return
			}
			got := runFleetDetector(d, tc.seed, days, inject)
			check(t, got, tc.agent, tc.tool, tc.detail, tc.from, tc.by)
			// Not vacuous: every class was learned and is armed.
			for _, k := range []baseline.Key{{Agent: "app", Tool: "lookup"}, {Agent: "sync", Tool: "bulk-copy"},
				{Agent: "crawler", Tool: "fetch"}, {Agent: "office", Tool: "calendar"}, {Agent: "desk", Tool: "calendar"}} {
				ks := d.keys.Peek(k)
				if ks == nil || !ks.rate.Warm(&ks.t.rule) || ks.rate.Windows < 1000 || ks.gap.n < 24 {
					t.Fatalf("%v not learned: %+v", k, ks)
				}
			}
			for _, f := range got {
				t.Logf("%s/%s %s %.1f %v %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
			}
		})
	}
}

func check(t *testing.T, got []detect.Finding, agent, tool, detail string, from, by int) {
	t.Helper()
	found := false
	for _, f := range got {
		ok := f.AgentID == agent && f.Tool == tool && slices.Contains(strings.Split(detail, ","), f.Detail)
		sec := int(f.EventTime.Sub(base) / time.Second)
		if ok && sec >= from && sec <= by {
			found = true
			if f.Score < 40 {
				t.Errorf("finding below the info band: %.1f %s", f.Score, f.Summary)
			}
			continue
		}
		if !ok || sec < from {
			t.Errorf("false finding: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
		}
	}
	if detail != "" && !found {
		t.Errorf("no %s finding for %s/%s in [%d, %d]s", detail, agent, tool, from, by)
	}
	m := maxPerKeyDay(got)
	fa := maxFiringPerKeyDay(got)
	t.Logf("%d findings; most by one key in a day: %d findings, %d firing alerts", len(got), m, fa)
	if m > 3 || fa > 3 {
		t.Errorf("a key raised %d findings / %d firing alerts in one day", m, fa)
	}
}

// dropFilter hides app/lookup calls from its detector after from.
type dropFilter struct {
	*Detector
	from time.Time
}

func (f *dropFilter) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	if r.AgentID == "app" && r.Tool.Name == "lookup" && !r.Timestamp.Before(f.from) {
		return out
	}
	return f.Detector.Observe(r, out)
}

// runFleetDetector replays days of the fleet (plus inject) through d with a
// Tick every 10 s and returns the findings.
func runFleetDetector(d interface {
	Observe(*record.Record, []detect.Finding) []detect.Finding
	Tick(time.Time, []detect.Finding) []detect.Finding
}, seed uint64, days int, inject func(sec int, add func(agent, tool string))) []detect.Finding {
	fl := newFleet(seed, days)
	var out []detect.Finding
	var rec record.Record
	for sec := 0; sec < days*86400; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		add := func(agent, tool string) {
			rec = record.Record{Timestamp: ts, AgentID: agent, Tool: record.Tool{Name: tool}}
			out = d.Observe(&rec, out)
		}
		fl.calls(sec, add)
		if inject != nil {
			inject(sec, add)
		}
		if sec%10 == 0 {
			out = d.Tick(ts, out)
		}
	}
	return out
}

// idleDays, idleFrom and idleTo: the idle-return stream runs a week; its
// agent is idle for 36 h from day 3, 09:00.
const (
	idleDays = 7
	idleFrom = 3*86400 + 9*3600
	idleTo   = idleFrom + 36*3600
)

var idleTools = []string{"fetch", "exec", "read"}

// runIdleReturn replays the idle-return stream of seed through det (with a
// Tick every 10 s) and returns its findings; seen, if not nil, is called
// after each record with its tool.
func runIdleReturn(det detect.Detector, seed uint64, seen func(tool string)) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 36))
	var out []detect.Finding
	var rec record.Record
	left, tool, next := 0, "", 0
	for sec := 0; sec < idleDays*86400; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		idle := sec >= idleFrom && sec < idleTo
		// Tasks: 6/h by day (08–20), 1.5/h at night.
		perHour := 1.5
		if h := (sec / 3600) % 24; h >= 8 && h < 20 {
			perHour = 6
		}
		if !idle && rng.Float64() < perHour/3600 {
			left += 3 + rng.IntN(28)
			if tool == "" || rng.Float64() < 0.7 {
				tool = idleTools[rng.IntN(len(idleTools))]
			}
		}
		if left > 0 && sec >= next {
			rec = record.Record{Timestamp: ts, AgentID: "qa", Tool: record.Tool{Name: tool}}
			out = det.Observe(&rec, out)
			if seen != nil {
				seen(tool)
			}
			left--
			next = sec + 1 + int(rng.ExpFloat64()*8)
		}
		if sec%10 == 0 {
			out = det.Tick(ts, out)
		}
	}
	return out
}

// An agent that works in bursty tasks (3–30 calls, one every ~8 s, on one
// of its three tools; tasks queue, so a busy hour runs one tool for most
// of it) goes idle for 36 h and comes back at its usual rate (issue 9:
// real fleets return from nights, weekends and outages all the time). Its
// level decayed through the idle windows; the return must stay silent.
func TestIdleReturn(t *testing.T) {
	tests := []struct {
		name string
		seed uint64
	}{
		{name: "seed 1", seed: 1},
		{name: "seed 2", seed: 2},
		{name: "seed 3", seed: 3},
		// Seeds on which the sustained rise fired within two days of the
		// return while it judged against the decayed level.
		{name: "seed 89", seed: 89},
		{name: "seed 157", seed: 157},
		{name: "seed 224", seed: 224},
		{name: "seed 249", seed: 249},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			restored := map[string]bool{} // keys judged with an idle deficit after the return
			out := runIdleReturn(d, tc.seed, func(tool string) {
				if ks := d.keys.Peek(baseline.Key{Agent: "qa", Tool: tool}); ks != nil && ks.idle.def > 0 {
					restored[tool] = true
				}
			})
			for _, tl := range idleTools {
				ks := d.keys.Peek(baseline.Key{Agent: "qa", Tool: tl})
				if ks == nil || !ks.rate.Warm(&ks.t.rule) || ks.rate.Windows < 1500 {
					t.Fatalf("qa/%s not learned: %+v", tl, ks)
				}
				// Not vacuous: the return was judged against the level
				// the key went idle at (nights never are: shorter than a day).
				if !restored[tl] {
					t.Errorf("qa/%s: no idle deficit after the return", tl)
				}
			}
			for _, f := range out {
				sec := int(f.EventTime.Sub(base) / time.Second)
				if sec >= idleFrom && f.Detail != "drop" {
					t.Errorf("false finding after the idle period: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
				}
			}
		})
	}
}

// The idle deficit evolves alike under lazy rolls and eager ticks: same
// findings (with a sustained rise among them) and the same snapshot.
func TestIdleReturnLazyMatchesEager(t *testing.T) {
	// A rise two days after the return, deficit open (seed 194's, a day
	// and a half after, is now explained by the agent's other tools).
	const seed = 313
	lazyMatchesEager(t, base.Add(idleDays*24*time.Hour), func(d *Detector, det detect.Detector) []detect.Finding {
		out := runIdleReturn(det, seed, nil)
		if ks := d.keys.Peek(baseline.Key{Agent: "qa", Tool: "exec"}); ks == nil || ks.idle.def <= 0 {
			t.Fatalf("%T: qa/exec has no idle deficit at the end", det)
		}
		return out
	}, "sustained rise", func(f detect.Finding) bool { return f.Detail == "sustained_rise" })
}

// busyTools are the analytics agent's tools: tasks per hour by day (a
// third of it at night) and mean calls per task.
var busyTools = []struct {
	name        string
	perHour, sz float64
}{{"sql-query", 20, 3}, {"file-read", 30, 4}, {"http-get", 120, 1}}

// riseOne is the tool of the single-tool rise (10 calls per 5m by day).
const riseOne = "http-get"

// runBusyAgent replays days of the analytics agent (a Tick every 10 s)
// through det: each tool's tasks (geometric sizes, one call every 5 s,
// queued per tool). busy(sec) multiplies the task rate of every tool; a
// call of tool one(sec) (if not "") is added at sec.
func runBusyAgent(det detect.Detector, seed uint64, days int, busy func(sec int) float64, one func(sec int) string) []detect.Finding {
	rng := rand.New(rand.NewPCG(seed, 41))
	var out []detect.Finding
	var rec record.Record
	left := make([]int, len(busyTools))
	for sec := 0; sec < days*86400; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		night := 1.0
		if h := (sec / 3600) % 24; h < 8 || h >= 20 {
			night = 1.0 / 3
		}
		for i, tl := range busyTools {
			m := night * busy(sec)
			if rng.Float64() < tl.perHour*m/3600 {
				left[i]++
				for rng.Float64() >= 1/tl.sz {
					left[i]++
				}
			}
			if left[i] > 0 && (sec+i)%5 == 0 {
				left[i]--
				rec = record.Record{Timestamp: ts, AgentID: "analytics", Tool: record.Tool{Name: tl.name}}
				out = det.Observe(&rec, out)
			}
		}
		if tl := one(sec); tl != "" {
			rec = record.Record{Timestamp: ts, AgentID: "analytics", Tool: record.Tool{Name: tl}}
			out = det.Observe(&rec, out)
		}
		if sec%10 == 0 {
			out = det.Tick(ts, out)
		}
	}
	return out
}

// A whole agent busier for a lunch hour (every tool's tasks ×2 for 90
// minutes, on the second and third day of its history: hour slots learned
// from a day or two) is more work, not a compromised tool: its keys' rises
// are explained by the agent's other tools and stay silent (without the
// agent-wide factor every seed raises a sustained rise). On the same agent
// a stuck task adding an http-get call every 10 s for 30 minutes on the
// second morning (30 per 5m window to its 10: ×4) still alerts (issue 9).
func TestAgentBusyDay(t *testing.T) {
	const days = 4
	at := func(day, hour, min int) int { return day*86400 + hour*3600 + min*60 }
	lunch := func(sec int) float64 {
		for _, d := range []int{1, 2} {
			if sec >= at(d, 11, 30) && sec < at(d, 13, 0) {
				return 2
			}
		}
		return 1
	}
	none := func(int) string { return "" }
	rise := func(sec int) string {
		if sec >= at(1, 9, 10) && sec < at(1, 9, 40) && sec%10 == 3 {
			return riseOne
		}
		return ""
	}
	tests := []struct {
		name      string
		seed      uint64
		one       func(int) string
		from, by  int
		wantAlert bool
	}{
		{name: "busy lunch, seed 1", seed: 1, one: none},
		{name: "busy lunch, seed 2", seed: 2, one: none},
		{name: "busy lunch, seed 3", seed: 3, one: none},
		{name: "busy lunch and http-get x4 for 30m, seed 1", seed: 1, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
		{name: "busy lunch and http-get x4 for 30m, seed 2", seed: 2, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
		{name: "busy lunch and http-get x4 for 30m, seed 3", seed: 3, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
		{name: "busy lunch and http-get x4 for 30m, seed 4", seed: 4, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
		{name: "busy lunch and http-get x4 for 30m, seed 5", seed: 5, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
		{name: "busy lunch and http-get x4 for 30m, seed 6", seed: 6, one: rise, from: at(1, 9, 10), by: at(1, 10, 0), wantAlert: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			discounted := false // a file-read window judged against a busier agent
			det := observeHook{d, func() {
				if ks := d.keys.Peek(baseline.Key{Agent: "analytics", Tool: "file-read"}); ks != nil && ks.riseF > riseFOne*3/2 {
					discounted = true
				}
			}}
			got := runBusyAgent(det, tc.seed, days, lunch, tc.one)
			for _, tl := range busyTools {
				ks := d.keys.Peek(baseline.Key{Agent: "analytics", Tool: tl.name})
				if ks == nil || !ks.rate.Warm(&ks.t.rule) {
					t.Fatalf("analytics/%s not learned: %+v", tl.name, ks)
				}
			}
			if !discounted {
				t.Error("file-read was never judged against a busier agent: the test is vacuous")
			}
			found := false
			for _, f := range got {
				if f.Detail == "drop" {
					continue
				}
				sec := int(f.EventTime.Sub(base) / time.Second)
				if tc.wantAlert && f.Tool == riseOne && sec >= tc.from && sec <= tc.by {
					found = true
					continue
				}
				t.Errorf("false finding: %s/%s %s %.1f at %v: %s", f.AgentID, f.Tool, f.Detail, f.Score, f.EventTime, f.Summary)
			}
			if tc.wantAlert && !found {
				t.Errorf("no finding for %s's single-tool rise", riseOne)
			}
		})
	}
}

// The agent-wide factor is settled alike under lazy rolls and eager
// ticks: the busy-lunch stream with the single-tool rise gives the same
// findings (the rise among them) and the same snapshot.
func TestAgentBusyLazyMatchesEager(t *testing.T) {
	lunch := func(sec int) float64 {
		if h := sec % 86400; sec >= 86400 && sec < 3*86400 && h >= 11*3600+1800 && h < 13*3600 {
			return 2
		}
		return 1
	}
	one := func(sec int) string {
		if sec >= 86400+9*3600+600 && sec < 86400+9*3600+2400 && sec%10 == 3 {
			return riseOne
		}
		return ""
	}
	lazyMatchesEager(t, base.Add(3*24*time.Hour), func(_ *Detector, det detect.Detector) []detect.Finding {
		return runBusyAgent(det, 1, 3, lunch, one)
	}, riseOne+" finding", func(f detect.Finding) bool { return f.Tool == riseOne && f.Detail != "drop" })
}

// observeHook calls after after each Observe.
type observeHook struct {
	*Detector
	after func()
}

func (h observeHook) Observe(r *record.Record, out []detect.Finding) []detect.Finding {
	out = h.Detector.Observe(r, out)
	h.after()
	return out
}
