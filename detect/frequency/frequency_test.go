package frequency

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

type call struct{ agent, tool, hash string }

var hashes = func() []string {
	h := make([]string, 500)
	for i := range h {
		h[i] = fmt.Sprintf("sha256:%04x", i)
	}
	return h
}()

// normalRate is calls per hour of a regular key: busy by day, quiet by night.
func normalRate(hour int) float64 {
	if hour >= 8 && hour < 20 {
		return 60
	}
	return 6
}

// stream replays hours of synthetic traffic starting at base: four regular
// (agent, tool) keys with Poisson-ish arrivals and a day/night cycle, a
// batch agent that runs ~600 calls in 10 minutes after 02:00 every day, agent-c joining
// "search" at hour 36, plus whatever inject adds at each second. Tick runs
// every 10s of event time.
func stream(d detect.Detector, hours int, inject func(sec int, add func(call))) []detect.Finding {
	return streamFrom(d, 0, hours, inject)
}

// streamFrom is stream with the data starting startHour hours after base
// (inject still sees seconds since base).
func streamFrom(d detect.Detector, startHour, hours int, inject func(sec int, add func(call))) []detect.Finding {
	rng := rand.New(rand.NewPCG(1, 2))
	regular := []call{{"agent-a", "db-query", ""}, {"agent-b", "db-query", ""}, {"agent-a", "search", ""}, {"agent-b", "search", ""}, {"agent-c", "search", ""}}
	var out []detect.Finding
	var rec record.Record
	for sec := startHour * 3600; sec < (startHour+hours)*3600; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		hour := (sec / 3600) % 24
		add := func(c call) {
			rec = record.Record{Timestamp: ts, AgentID: c.agent, Tool: record.Tool{Name: c.tool}}
			rec.Invocation.InputHash = c.hash
			rec.Context.Environment = "production"
			out = d.Observe(&rec, out)
		}
		for i, c := range regular {
			if i == 4 && sec < (startHour+36)*3600 {
				continue
			}
			if rng.Float64() < normalRate(hour)/3600 {
				c.hash = hashes[rng.IntN(len(hashes))]
				add(c)
			}
		}
		// The batch drifts by up to 12 minutes and shrinks by a third on
		// some days, as real jobs do.
		day := sec / 86400
		shift := (day * 7 % 13) * 60
		inBatch := hour == 2 && sec%3600 >= shift && sec%3600 < shift+600 && (day%3 != 1 || sec%3 != 0)
		if rng.Float64() < 2.0/3600 || inBatch {
			add(call{"batch-agent", "db-query", hashes[sec%20]})
		}
		if inject != nil {
			inject(sec, add)
		}
		if sec%10 == 0 {
			out = d.Tick(ts, out)
		}
	}
	return out
}

func newDetector(t testing.TB, cfg Config, b baseline.Config) *Detector {
	return detecttest.New(t, cfg, b, New)
}

func TestNormalStreamRaisesNothing(t *testing.T) {
	// Data starting mid-day or just after the batch: the first nightly
	// batch then falls late in the first 24h and must still be learned.
	for _, start := range []int{3, 13} {
		d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
		for _, f := range streamFrom(d, start, 72, nil) {
			t.Errorf("start %02d:00: unexpected finding: %s %s/%s %s score %.1f: %s", start, f.Pattern, f.AgentID, f.Tool, f.Detail, f.Score, f.Summary)
		}
	}
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	got := stream(d, 72, nil)
	for _, f := range got {
		t.Errorf("unexpected finding: %s %s/%s %s score %.1f: %s", f.Pattern, f.AgentID, f.Tool, f.Detail, f.Score, f.Summary)
	}
	// The check above must not pass vacuously: by day 3 the batch key and a
	// regular key are armed against their own baselines, and agent-c (36h
	// old) against the borrowed tool baseline.
	for _, k := range []baseline.Key{{Agent: "batch-agent", Tool: "db-query"}, {Agent: "agent-a", Tool: "search"}} {
		ks := d.keys.Peek(k)
		if ks == nil || ks.rate.Thr == 0 || ks.rate.Borrowed || ks.loop.thr == 0 {
			t.Fatalf("%v not armed on its own baseline: %+v", k, ks)
		}
	}
	if ks := d.keys.Peek(baseline.Key{Agent: "agent-c", Tool: "search"}); ks == nil || ks.rate.Thr == 0 {
		t.Fatalf("agent-c not armed: %+v", ks)
	}
	// The batch slot learned the batch: its peak is batch-sized.
	ks := d.keys.Peek(baseline.Key{Agent: "batch-agent", Tool: "db-query"})
	if _, peak, _ := ks.rate.Profile.Expect(2, 0); peak < 200 {
		t.Fatalf("batch slot peak = %v, want the batch (~300)", peak)
	}
	if live, _, capacity := d.KeyStats(); live != 6+2+4 || capacity != 0 {
		t.Fatalf("KeyStats live=%d capacity evictions=%d", live, capacity)
	}
}

func TestInjectedSpike(t *testing.T) {
	spikeFrom := (48 + 14) * 3600 // day 3, 14:00, for 10 minutes
	tests := []struct {
		name               string
		agent              string
		every              int // one extra call every `every` of 3 seconds
		wantMin, wantBelow float64
		wantBase           string
	}{
		// 2 calls per 3s = 2400/h against 60/h: x40.
		{"x40 own baseline", "agent-a", 2, 40, 101, "own"},
		// 3 calls per second against 5/5m: x180.
		{"x180 own baseline", "agent-b", 9, 60, 101, "own"},
		// An agent seen for the first time borrows the tool's per-agent
		// level (whose peak includes the nightly batch: only a large
		// spike clears it).
		{"new agent borrows tool", "agent-new", 9, 40, 101, "tool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			got := stream(d, 66, func(sec int, add func(call)) {
				if sec >= spikeFrom && sec < spikeFrom+600 {
					for i := range tc.every / 3 {
						add(call{tc.agent, "db-query", hashes[(sec*7+i)%len(hashes)]})
					}
					if tc.every%3 != 0 && sec%3 < tc.every%3 {
						add(call{tc.agent, "db-query", hashes[(sec*13)%len(hashes)]})
					}
				}
			})
			if len(got) == 0 {
				t.Fatal("no finding")
			}
			maxScore := 0.0
			for _, f := range got {
				if f.Pattern != detect.PatternFrequency || f.Detail != "spike" || f.AgentID != tc.agent || f.Tool != "db-query" {
					t.Fatalf("wrong finding: %+v", f)
				}
				maxScore = max(maxScore, f.Score)
				if f.Details["baseline"] != tc.wantBase {
					t.Errorf("baseline %v, want %s", f.Details["baseline"], tc.wantBase)
				}
			}
			if maxScore < tc.wantMin || maxScore >= tc.wantBelow {
				t.Errorf("max score %.1f, want [%v,%v)", maxScore, tc.wantMin, tc.wantBelow)
			}
			t.Logf("%d findings, max score %.1f, first: %s (details %v)", len(got), maxScore, got[0].Summary, got[0].Details)
			// Early: the first finding comes inside the first window.
			if first := got[0].EventTime; first.After(base.Add(time.Duration(spikeFrom+300) * time.Second)) {
				t.Errorf("first finding at %v, not within the first window", first)
			}
			// Escalation, not one finding per call.
			if len(got) > 20 {
				t.Errorf("%d findings for one burst", len(got))
			}
			if !strings.Contains(got[0].Summary, "db-query called") || got[0].Unit != "calls/5m" {
				t.Errorf("summary %q unit %q", got[0].Summary, got[0].Unit)
			}
		})
	}
}

func TestWarmupSuppresses(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	// x100 burst at hour 14 of day 1: no history yet, nothing to borrow.
	got := stream(d, 20, func(sec int, add func(call)) {
		if sec >= 14*3600 && sec < 14*3600+600 {
			for range 2 {
				add(call{"agent-a", "db-query", hashes[sec%len(hashes)]})
			}
		}
	})
	if len(got) != 0 {
		t.Fatalf("%d findings during warm-up, first %+v", len(got), got[0])
	}
	// The same burst a day later alerts, so the silence above was warm-up.
	d = newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	got = stream(d, 40, func(sec int, add func(call)) {
		if sec >= 38*3600 && sec < 38*3600+600 {
			for range 2 {
				add(call{"agent-a", "db-query", hashes[sec%len(hashes)]})
			}
		}
	})
	if len(got) == 0 {
		t.Fatal("no finding after warm-up")
	}
}

func TestLoop(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	from := (48 + 10) * 3600 // day 3, 10:00: one input, 1 call/s for 2 minutes
	got := stream(d, 59, func(sec int, add func(call)) {
		if sec >= from && sec < from+120 {
			add(call{"agent-b", "search", "sha256:stuck"})
		}
	})
	var loops []detect.Finding
	for _, f := range got {
		if f.AgentID != "agent-b" || f.Tool != "search" {
			t.Fatalf("finding for wrong key: %+v", f)
		}
		if f.Detail == "loop" {
			loops = append(loops, f)
		}
	}
	if len(loops) == 0 {
		t.Fatalf("no loop finding among %d", len(got))
	}
	f := loops[0]
	if f.Observed < 30 || f.Score < 40 || f.Details["input_hash"] != "sha256:stuck" || f.Unit != "calls/1m" {
		t.Fatalf("loop finding: observed %v score %v details %v unit %s", f.Observed, f.Score, f.Details, f.Unit)
	}
	if len(loops) > 6 {
		t.Fatalf("%d loop findings for one 2-minute loop", len(loops))
	}
}

// A loop that starts late in a loop window has a small first count (here
// 12 calls in the first, partial minute). That count must not lift the
// same-input baseline past the loop's full-minute rate, or the loop escapes.
func TestLoopRampUpDoesNotHideLoop(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	from := (48+10)*3600 + 48 // the first minute of the loop has 12 calls
	got := stream(d, 59, func(sec int, add func(call)) {
		if sec >= from && sec < from+600 && sec%5 < 4 { // ~48 calls/min for 10 minutes
			add(call{"agent-b", "search", "sha256:stuck"})
		}
	})
	var loops int
	for _, f := range got {
		if f.Detail == "loop" {
			loops++
			if f.Score < 40 && loops == 1 {
				t.Errorf("first loop finding scores %.1f, want at least info (>= 40)", f.Score)
			}
		}
	}
	if loops == 0 {
		t.Fatalf("loop with a partial first minute was not detected (%d findings)", len(got))
	}
}

func TestTickClosesQuietWindows(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	var out []detect.Finding
	r := record.Record{AgentID: "a", Tool: record.Tool{Name: "x"}}
	for i := range 60 { // one call a minute for an hour
		r.Timestamp = base.Add(time.Duration(i) * time.Minute)
		out = d.Observe(&r, out)
	}
	ks := d.keys.Peek(baseline.Key{Agent: "a", Tool: "x"})
	if ks.rate.Windows != 11 {
		t.Fatalf("windows closed by records = %d, want 11", ks.rate.Windows)
	}
	// No records for two hours: only Tick moves time (keys catch up lazily).
	out = d.Tick(base.Add(3*time.Hour), out)
	settle(d)
	ks.rate.Settle(&ks.t.rp) // the quiet windows' decay (Rate.Quiet)
	if ks.rate.Windows != 36 || ks.rate.Start != base.Add(3*time.Hour).Unix() || ks.rate.N != 0 {
		t.Fatalf("after tick: windows %d start %v n %d", ks.rate.Windows, time.Unix(ks.rate.Start, 0).UTC(), ks.rate.N)
	}
	if ks.rate.Mean[0] < 4.9 || ks.rate.Mean[1] != 0 || ks.rate.Seen[2] != 12 {
		t.Fatalf("slot means %v %v seen %v", ks.rate.Mean[0], ks.rate.Mean[1], ks.rate.Seen[2])
	}
	// Ticks within the same step are no-ops; idle keys are evicted.
	b := baseline.DefaultConfig()
	b.IdleTTL = time.Hour
	d = newDetector(t, DefaultConfig(), b)
	r.Timestamp = base
	out = d.Observe(&r, out)
	out = d.Tick(base.Add(2*time.Hour), out)
	if live, ev, _ := d.KeyStats(); live != 0 || ev != 3 || len(out) != 0 {
		t.Fatalf("after idle tick: live %d evicted %d findings %d", live, ev, len(out))
	}
}

func TestKeyCapEvictsAndCounts(t *testing.T) {
	b := baseline.DefaultConfig()
	b.MaxKeys = 2
	d := newDetector(t, DefaultConfig(), b)
	var out []detect.Finding
	for _, a := range []string{"a1", "a2", "a3", "a3"} {
		r := record.Record{Timestamp: base, AgentID: a, Tool: record.Tool{Name: "x"}}
		out = d.Observe(&r, out)
	}
	live, _, capacity := d.KeyStats()
	if live != 5 || capacity != 2 { // 1 tool + 2 keys + 2 agents; a3 evicted a1 as key and agent
		t.Fatalf("live %d capacity evictions %d", live, capacity)
	}
	if d.keys.Peek(baseline.Key{Agent: "a3", Tool: "x"}) == nil || d.keys.Peek(baseline.Key{Agent: "a1", Tool: "x"}) != nil {
		t.Fatal("a3 did not replace the least recently seen key")
	}
}

func TestOverrideDisablesTool(t *testing.T) {
	off := DefaultConfig()
	off.Enabled = false
	p := detect.NewParams(DefaultConfig())
	p.Rules = []detect.Rule[Config]{{Tool: "db-*", Config: off}}
	d := New(p, baseline.DefaultConfig())
	spikeFrom := (24 + 14) * 3600
	got := stream(d, 39, func(sec int, add func(call)) {
		if sec >= spikeFrom && sec < spikeFrom+600 {
			add(call{"agent-a", "db-query", "h"})
			add(call{"agent-a", "search", hashes[sec%len(hashes)]})
		}
	})
	if len(got) == 0 {
		t.Fatal("search spike not found")
	}
	for _, f := range got {
		if f.Tool != "search" {
			t.Fatalf("finding for disabled tool: %+v", f)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" valid, else the failing path
	}{
		{"default", func(*Config) {}, ""},
		{"window not dividing a day", func(c *Config) { c.Window = 7 * time.Minute }, "window"},
		{"min_count zero", func(c *Config) { c.MinCount = 0 }, "min_count"},
		{"false_alarm_rate high", func(c *Config) { c.FalseAlarmRate = 0.5 }, "false_alarm_rate"},
		{"long window not a multiple", func(c *Config) { c.LongWindows = []time.Duration{7 * time.Minute} }, "long_windows.0"},
		{"long window too long", func(c *Config) { c.LongWindows = []time.Duration{24 * time.Hour} }, "long_windows.0"},
		{"neighbour_weight", func(c *Config) { c.NeighbourWeight = 2 }, "neighbour_weight"},
		{"half_life", func(c *Config) { c.HalfLife = time.Minute }, "half_life"},
		{"loop_window", func(c *Config) { c.LoopWindow = 0 }, "loop_window"},
		{"loop_min_calls", func(c *Config) { c.LoopMinCalls = 1 }, "loop_min_calls"},
		{"drop_min_windows", func(c *Config) { c.DropMinWindows = -1 }, "drop_min_windows"},
	}
	for _, tc := range tests {
		c := DefaultConfig()
		tc.mod(&c)
		es := c.Validate()
		switch {
		case tc.want == "" && len(es) != 0:
			t.Errorf("%s: unexpected %v", tc.name, es)
		case tc.want != "" && (len(es) != 1 || es[0].Path != tc.want):
			t.Errorf("%s: got %v, want one error at %s", tc.name, es, tc.want)
		}
	}
}

func TestLoopDecades(t *testing.T) {
	// Peak 1: each repeat halves p; 30 repeats are 9 decades (score 70).
	if l := loopDecades(30, 1); math.Abs(l-30*math.Log10(2)) > 1e-9 {
		t.Errorf("loopDecades(30, 1) = %v", l)
	}
	if loopDecades(30, 6) >= loopDecades(30, 1) || loopDecades(31, 6) <= loopDecades(30, 6) {
		t.Error("loop decades must fall with the peak and rise with the count")
	}
}

// warmDetector returns a detector whose n keys each saw one call every
// `every` for two days, and the records to keep driving them.
func warmDetector(n int, every time.Duration) (*Detector, []record.Record, time.Time) {
	d := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	recs := make([]record.Record, n)
	for i := range recs {
		recs[i] = record.Record{AgentID: fmt.Sprintf("agent-%d", i%100), Tool: record.Tool{Name: fmt.Sprintf("tool-%d", i/100)}}
	}
	var out []detect.Finding
	ts := base
	for ; ts.Before(base.Add(48 * time.Hour)); ts = ts.Add(every) {
		for i := range recs {
			recs[i].Timestamp = ts
			recs[i].Invocation.InputHash = hashes[(i+int(ts.Unix()))%len(hashes)]
			out = d.Observe(&recs[i], out[:0])
		}
		d.Tick(ts, nil)
	}
	return d, recs, ts
}

// BenchmarkObserve: 10 keys at one call per second each, the in-window
// path (no window closes most of the time).
func BenchmarkObserve(b *testing.B) {
	benchObserve(b, 10, time.Second, nil)
}

// BenchmarkObserveRolling: 1000 keys at one call per 10 minutes, so every
// call closes its key's window (the slow normal path).
func BenchmarkObserveRolling(b *testing.B) {
	benchObserve(b, 1000, 10*time.Minute, nil)
}

// benchObserve: n keys at one call each per every; with traces, a key's
// calls take the next trace every 6 calls.
func benchObserve(b *testing.B, n int, every time.Duration, traces []string) {
	d, recs, ts := warmDetector(n, every)
	out := make([]detect.Finding, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := &recs[i%len(recs)]
		i++
		if i%len(recs) == 0 {
			ts = ts.Add(every)
		}
		r.Timestamp = ts
		r.Invocation.InputHash = hashes[(i+int(ts.Unix()))%len(hashes)]
		if traces != nil {
			r.TraceID = traces[(i/(6*len(recs)))%len(traces)]
		}
		out = d.Observe(r, out[:0])
		if len(out) != 0 {
			b.Fatalf("finding on the normal path: %+v", out[0])
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	d := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	r := record.Record{Timestamp: base, AgentID: "a", Tool: record.Tool{Name: "x"}}
	r.Invocation.InputHash = "sha256:abc"
	out := d.Observe(&r, nil)
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		i++
		r.Timestamp = base.Add(time.Duration(i) * 7 * time.Second)
		r.Invocation.InputHash = hashes[i%len(hashes)]
		out = d.Observe(&r, out[:0])
		if i%10 == 0 {
			out = d.Tick(r.Timestamp, out)
		}
	})
	if allocs != 0 || len(out) != 0 {
		t.Fatalf("allocs %v findings %d", allocs, len(out))
	}
}

func BenchmarkBytesPerKey(b *testing.B) {
	detecttest.BytesPerKey(b, func() detect.Detector {
		return New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	}, "db-query", base)
}

// settle brings every key to the last tick, as its next record would: the
// state eager ticks used to leave.
func settle(d *Detector) {
	d.keys.Range(func(_ baseline.Key, ks *keyState) bool {
		d.settle(ks)
		return true
	})
}

// Ephemeral agent instances of a shared, bursty tool (an autoscaled pool:
// a new instance id every 3 hours, each working in tasks of 3–15 calls a
// few seconds apart, up to four times the fleet's average agent, as a
// support instance is beside the analysts on one LLM tool) are judged on
// the tool's per-agent baseline until they have their own. A sum over
// many agents is far smoother than one agent (its dispersion is the
// agents' divided by their number), so the borrowed baseline must give a
// single agent the agents' dispersion back: the instances' ordinary
// bursts stay quiet, while a loop of one call a second on a fresh instance
// still alerts.
func TestEphemeralInstancesBorrowAgentDispersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		load    float64 // the instances' task rate over the fleet's
		maxFals int
	}{
		{"average load", 1, 0},
		{"four times the load", 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			rng := rand.New(rand.NewPCG(9, 9))
			type pending struct {
				at    int
				agent string
			}
			var queue []pending
			task := func(sec int, agent string) {
				at := sec
				for n := 3 + rng.IntN(13); n > 0; n-- {
					at += 1 + rng.IntN(8)
					queue = append(queue, pending{at, agent})
				}
			}
			var out []detect.Finding
			var rec record.Record
			falseOnes, loopFound := 0, false
			const loopFrom = 114 * 3600
			for sec := 0; sec < 120*3600; sec++ {
				ts := base.Add(time.Duration(sec) * time.Second)
				for a := range 12 { // the warm fleet: ~6 tasks an hour each
					if rng.Float64() < 6.0/3600 {
						task(sec, fmt.Sprintf("warm-%d", a))
					}
				}
				inst := fmt.Sprintf("inst-%d", sec/(3*3600))
				if sec >= 24*3600 && rng.Float64() < tc.load*6.0/3600 {
					task(sec, inst)
				}
				if sec >= loopFrom && sec < loopFrom+900 {
					queue = append(queue, pending{sec, "inst-looping"})
				}
				keep := queue[:0]
				for _, p := range queue {
					if p.at > sec {
						keep = append(keep, p)
						continue
					}
					rec = record.Record{Timestamp: ts, AgentID: p.agent, Tool: record.Tool{Name: "llm"}}
					rec.Invocation.InputHash = hashes[rng.IntN(len(hashes))]
					out = d.Observe(&rec, out[:0])
					for _, f := range out {
						switch {
						case f.AgentID == "inst-looping":
							loopFound = true
						case strings.HasPrefix(f.AgentID, "inst-"):
							falseOnes++
							t.Logf("%s %s %s %v", f.EventTime.Format(time.DateTime), f.AgentID, f.Summary, f.Details["baseline"])
						}
					}
				}
				queue = keep
				if sec%10 == 0 {
					out = d.Tick(ts, out[:0])
				}
			}
			if falseOnes > tc.maxFals {
				t.Errorf("%d findings on instances' ordinary bursts, want ≤ %d", falseOnes, tc.maxFals)
			}
			if !loopFound {
				t.Error("a loop of one call a second on a fresh instance raised nothing")
			}
		})
	}
}
