package frequency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// Fleet traffic the spike test must not mistake for attacks (issue 9:
// freqfleet): new job pods of a nightly batch, each a new agent id judged
// on its tool's baseline; agents that repeat one call a few times until a
// step limit stops them; a quiet holiday. And the attacks on the same keys
// that must still alert.

// fleetCall is one call of a synthetic fleet stream.
type fleetCall struct{ agent, tool, input string }

// runFleetStream replays days of gen (called per second of event time)
// through a default detector with a Tick every 10 s.
func runFleetStream(t testing.TB, days int, gen func(sec int, add func(fleetCall))) ([]detect.Finding, *Detector) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	var out []detect.Finding
	var rec record.Record
	for sec := 0; sec < days*86400; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		gen(sec, func(c fleetCall) {
			rec = record.Record{Timestamp: ts, AgentID: c.agent, Tool: record.Tool{Name: c.tool}}
			rec.Invocation.InputHash = c.input
			out = d.Observe(&rec, out)
		})
		if sec%10 == 0 {
			out = d.Tick(ts, out)
		}
	}
	return out, d
}

// spikesOf are the spike and sustained-rise findings of agent (any agent
// when ""), tool.
func spikesOf(fs []detect.Finding, agent, tool string) []detect.Finding {
	var got []detect.Finding
	for _, f := range fs {
		if (agent == "" || f.AgentID == agent) && f.Tool == tool && (f.Detail == "spike" || f.Detail == "sustained_rise") {
			got = append(got, f)
		}
	}
	return got
}

// nightly is a batch role run as a new job pod each night at 02:00 (and
// now and then on demand at another hour): a pod calls the tool "post"
// through its run, tens of minutes at a volume that varies by half either
// way, more in its first minutes; nothing else calls "post". Background
// agents keep the fleet busy on other tools.
type nightly struct {
	rng  *rand.Rand
	pods map[int]nightlyRun // by start second
	seq  int
}

type nightlyRun struct {
	pod              string
	start, end, each int // first and last second; a call every each seconds on average
}

func newNightly(seed uint64, days int) *nightly {
	n := &nightly{rng: rand.New(rand.NewPCG(seed, 4)), pods: map[int]nightlyRun{}}
	for d := 0; d < days; d++ {
		starts := []int{d*86400 + 2*3600 + n.rng.IntN(300)}
		if n.rng.Float64() < 0.35 {
			starts = append(starts, d*86400+n.rng.IntN(86400))
		}
		for _, s := range starts {
			n.seq++
			// 4–30 calls over a 30–60 minute run.
			length := 1800 + n.rng.IntN(1800)
			calls := 4 + n.rng.IntN(27)
			n.pods[s] = nightlyRun{pod: fmt.Sprintf("nightly-%04x", n.seq*7919%65536), start: s, end: s + length, each: length / calls}
		}
	}
	return n
}

func (n *nightly) calls(sec int, add func(fleetCall), live map[string]nightlyRun) {
	// The tool's first night (its first hour of history: the tool's own
	// hourly sums learn nothing yet) is one pod's run of 10 calls in 7
	// minutes; the second night's pod makes 14 calls in its first 7
	// minutes, then a few more: what the only pod seen so far did, give
	// or take as one run varies. The spread-out tool average expects
	// about one call in the run's first hour slot windows.
	switch {
	case sec < 86400:
		if off := sec - 2*3600 - 60; off >= 0 && off < 420 && off%42 == 0 {
			add(fleetCall{"nightly-first", "post", fmt.Sprint("in-", sec)})
		}
		return
	case sec < 2*86400:
		if off := sec - 86400 - 2*3600 - 240; off >= 0 && (off < 420 && off%30 == 0 || off == 1600 || off == 2500) {
			add(fleetCall{"nightly-second", "post", fmt.Sprint("in-", sec)})
		}
		return
	}
	if r, ok := n.pods[sec]; ok {
		live[r.pod] = r
	}
	for pod, r := range live {
		if sec > r.end {
			delete(live, pod)
			continue
		}
		// Front-loaded: twice the pace in the run's first 10 minutes.
		p := 1 / float64(r.each)
		if sec-r.start < 600 {
			p *= 2
		}
		if n.rng.Float64() < p {
			add(fleetCall{pod, "post", fmt.Sprintf("in-%d", n.rng.IntN(1<<20))})
		}
	}
	if n.rng.Float64() < 120.0/3600 {
		add(fleetCall{"web-1", "search", fmt.Sprintf("q-%d", n.rng.IntN(1<<20))})
	}
}

// A nightly batch run as a new job pod each night: every pod is a young
// key judged on its tool's baseline, and the tool's average per active
// agent spreads a run over the hour slot. Its runs at the pace other pods
// ran must stay silent: the peak guard and the tail take the largest sum
// one pod of the tool reached (the tool's per-key peaks). A loop on a new
// pod (a call a second, new inputs) still alerts within minutes.
func TestNightlyPodsJudgedOnInstances(t *testing.T) {
	const days = 6
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			n := newNightly(seed, days)
			live := map[string]nightlyRun{}
			loopAt := 4*86400 + 14*3600 + 7*60
			got, d := runFleetStream(t, days, func(sec int, add func(fleetCall)) {
				n.calls(sec, add, live)
				if sec >= loopAt && sec < loopAt+600 {
					add(fleetCall{"nightly-loop", "post", fmt.Sprintf("loop-%d", sec)})
				}
			})
			var loop, normal []detect.Finding
			for _, f := range spikesOf(got, "", "post") {
				if f.AgentID == "nightly-loop" {
					loop = append(loop, f)
				} else {
					normal = append(normal, f)
				}
			}
			for _, f := range normal {
				t.Errorf("normal pod run alerted: %s %s %.1f %s", f.EventTime.Format(time.RFC3339), f.AgentID, f.Score, f.Summary)
			}
			if len(loop) == 0 || loop[0].EventTime.Sub(base.Add(time.Duration(loopAt)*time.Second)) > 3*time.Minute {
				t.Errorf("loop on a new pod: %v, want a spike within 3 minutes", loop)
			} else if loop[0].Details["baseline"] != "tool" {
				t.Errorf("loop judged on %v, want the tool's baseline (a young key)", loop[0].Details["baseline"])
			}
			// Not vacuous: the tool learned its pods' largest sums.
			ts := d.tools.Peek(baseline.Key{Tool: "post"})
			if ts == nil || !ts.rate.Warm(&ts.t.rule) || ts.instPk[1] < 4 {
				t.Fatalf("tool post not warm or no per-key peaks: %+v", ts)
			}
		})
	}
}

// benignRepeats is a mail agent's status_update (~8/h by day, 2/h at
// night) where now and then (four times in days 1–4, after the key's
// warm-up) a task repeats one call 3–22 times, 1–2 s apart, until the
// runtime's step limit stops it: a retry loop the loop test judges (far
// below its threshold), not a rise of calls. Its read_inbox runs at 30/h.
func benignRepeats(rng *rand.Rand) func(sec int, add func(fleetCall)) {
	runs := map[int]bool{}
	for range 4 {
		runs[86400+rng.IntN(3*86400)] = true
	}
	left, input, next := 0, "", 0
	return func(sec int, add func(fleetCall)) {
		h := (sec / 3600) % 24
		rate := 8.0
		if h < 7 || h >= 21 {
			rate = 2
		}
		if left == 0 && (runs[sec] || rng.Float64() < rate/3600) {
			input = fmt.Sprintf("st-%d", rng.IntN(1<<20))
			left = 1
			if runs[sec] {
				left = 3 + rng.IntN(20)
			}
		}
		if left > 0 && sec >= next {
			add(fleetCall{"mailbot", "status_update", input})
			left--
			next = sec + 1 + rng.IntN(2)
		}
		if rng.Float64() < 30.0/3600 {
			add(fleetCall{"mailbot", "read_inbox", fmt.Sprintf("in-%d", rng.IntN(1<<20))})
		}
	}
}

// Benign step-limited repeats of one call stay silent; a loop that goes on
// past one loop window alerts even far below loop_min_calls a minute (its
// repeats count from the second minute), and so does a loop of new inputs.
func TestRepeatRunsLeftToLoopTest(t *testing.T) {
	const days = 5
	at := 3*86400 + 15*3600 + 20*60
	tests := []struct {
		name   string
		inject func(sec int, add func(fleetCall))
		alert  bool
	}{
		{name: "benign repeats only"},
		{name: "same input 20 a minute for 15 minutes", alert: true, inject: func(sec int, add func(fleetCall)) {
			if sec >= at && sec < at+900 && sec%3 == 0 {
				add(fleetCall{"mailbot", "status_update", "stuck"})
			}
		}},
		{name: "new inputs 20 a minute for 15 minutes", alert: true, inject: func(sec int, add func(fleetCall)) {
			if sec >= at && sec < at+900 && sec%3 == 0 {
				add(fleetCall{"mailbot", "status_update", fmt.Sprint("x", sec)})
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, seed := range []uint64{1, 2, 3} {
				rng := rand.New(rand.NewPCG(seed, 17))
				gen := benignRepeats(rng)
				got, _ := runFleetStream(t, days, func(sec int, add func(fleetCall)) {
					gen(sec, add)
					if tc.inject != nil {
						tc.inject(sec, add)
					}
				})
				fs := spikesOf(got, "mailbot", "status_update")
				if !tc.alert {
					for _, f := range fs {
						t.Errorf("seed %d: benign repeats alerted: %s %.1f %s", seed, f.EventTime.Format(time.RFC3339), f.Score, f.Summary)
					}
					continue
				}
				ok := false
				for _, f := range fs {
					if d := f.EventTime.Sub(base.Add(time.Duration(at) * time.Second)); d >= 0 && d <= 15*time.Minute {
						ok = true
					}
				}
				if !ok {
					t.Errorf("seed %d: loop not reported within its 15 minutes: %v", seed, fs)
				}
			}
		})
	}
}

// The stream of TestRepeatRunsLeftToLoopTest has benign repeat runs long
// enough to matter: without the loop window's share of them, its key would
// see ten and more calls in a window whose expectation is below one.
func TestBenignRepeatsAreLong(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 17))
	gen := benignRepeats(rng)
	long := 0
	last, run := "", 0
	for sec := 0; sec < 5*86400; sec++ {
		gen(sec, func(c fleetCall) {
			if c.tool != "status_update" {
				return
			}
			if c.input == last {
				run++
				if run == 10 {
					long++
				}
			} else {
				last, run = c.input, 1
			}
		})
	}
	if long < 2 {
		t.Fatalf("%d runs of 10+ repeats in 5 days, want several", long)
	}
}

// A key with a working-day pattern whose day 3 is a holiday (a tenth of
// its traffic) resumes its usual rate on day 4 silently: a quiet day
// teaches each hour slot one day of the slot's EWMA (half_life 72h: a
// fifth), not the whole of it.
func TestHolidayThenUsualDay(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, 23))
		got, d := runFleetStream(t, 6, func(sec int, add func(fleetCall)) {
			day, h := sec/86400, (sec/3600)%24
			rate := 3.0
			if h >= 8 && h < 18 {
				rate = 90
			}
			if day == 3 {
				rate /= 10
			}
			if rng.Float64() < rate/3600 {
				add(fleetCall{"support", "kb_search", fmt.Sprint(rng.IntN(1 << 20))})
			}
		})
		for _, f := range spikesOf(got, "support", "kb_search") {
			t.Errorf("seed %d: %s %s %.1f %s", seed, f.EventTime.Format(time.RFC3339), f.Detail, f.Score, f.Summary)
		}
		ks := d.keys.Peek(baseline.Key{Agent: "support", Tool: "kb_search"})
		if ks == nil || !ks.rate.Warm(&ks.t.rule) || math.IsNaN(float64(ks.rate.Sc[0].Mean)) {
			t.Fatalf("key not learned: %+v", ks)
		}
	}
}
