package latency

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

func rec(ts time.Time, agent, tool, version string, ms float64) *record.Record {
	r := detecttest.Record(ts, agent, tool)
	r.Tool.Version, r.Invocation.DurationMS = version, ms
	return r
}

func newDet(t testing.TB, mod func(*Config, *baseline.Config)) *Detector {
	c, b := DefaultConfig(), baseline.DefaultConfig()
	if mod != nil {
		mod(&c, &b)
	}
	return detecttest.New(t, c, b, New)
}

type toolSpec struct {
	name   string
	median float64 // ms
	sigma  float64
}

// stream generates one call per step from base, round-robin over tools
// and agents, durations log-normal around median × drift × shift.
type stream struct {
	d      *Detector
	rng    *rand.Rand
	i      int
	step   time.Duration
	agents []string
	tools  []toolSpec
	drift  func(time.Duration) float64
	// version returns the tool version an agent runs at elapsed time e and
	// the latency multiplier of that version.
	version func(agent, tool string, e time.Duration) (string, float64)
	found   []detect.Finding
}

func (s *stream) now() time.Time { return base.Add(time.Duration(s.i) * s.step) }

func (s *stream) run(n int) {
	var out []detect.Finding
	for range n {
		ts := s.now()
		tl := s.tools[s.i%len(s.tools)]
		ag := s.agents[(s.i/len(s.tools))%len(s.agents)]
		m := tl.median
		if s.drift != nil {
			m *= s.drift(ts.Sub(base))
		}
		ver := "1.0.0"
		if s.version != nil {
			v, mult := s.version(ag, tl.name, ts.Sub(base))
			ver, m = v, m*mult
		}
		ms := math.Round(m*math.Exp(tl.sigma*s.rng.NormFloat64())*10) / 10
		out = s.d.Observe(rec(ts, ag, tl.name, ver, ms), out[:0])
		s.found = append(s.found, out...)
		if s.i%10 == 0 {
			out = s.d.Tick(ts, out[:0])
			s.found = append(s.found, out...)
		}
		s.i++
	}
}

var normalTools = []toolSpec{
	{"customer-lookup", 120, 0.5},
	{"web-search", 800, 0.8},
	{"db-query", 40, 0.6},
}

var normalAgents = []string{"agent-a", "agent-b", "agent-c"}

func newStream(d *Detector, seed uint64) *stream {
	return &stream{d: d, rng: rand.New(rand.NewPCG(seed, seed+1)), step: time.Second, agents: normalAgents, tools: normalTools}
}

func TestNormalTrafficDriftAndUpgradeNoFindings(t *testing.T) {
	d := newDet(t, nil)
	s := newStream(d, 11)
	s.step = 3 * time.Second
	s.drift = func(e time.Duration) float64 { return 1 + 0.3*math.Min(e.Hours(), 72)/72 }
	// At 40h customer-lookup rolls out 2.0.0 (×1.5 latency) one agent per
	// 20 minutes, so versions are mixed for 40 minutes.
	s.version = func(agent, tool string, e time.Duration) (string, float64) {
		if tool != "customer-lookup" {
			return "1.0.0", 1
		}
		at := 40*time.Hour + time.Duration(agent[len(agent)-1]-'a')*20*time.Minute
		if e >= at {
			return "2.0.0", 1.5
		}
		return "1.0.0", 1
	}
	s.run(80 * 1200)
	if len(s.found) != 0 {
		t.Fatalf("%d findings on normal traffic, first: %+v", len(s.found), s.found[0])
	}
	// Both versions are tracked at tool level.
	ts := d.core.Tools.Peek("customer-lookup")
	if ts.at(ts.active).version != "2.0.0" || ts.at(1-ts.active).version != "1.0.0" {
		t.Fatalf("tool slots: %q active, %q other", ts.at(ts.active).version, ts.at(1-ts.active).version)
	}
}

func TestFalseAlarmRateSigmaOne(t *testing.T) {
	d := newDet(t, nil)
	s := newStream(d, 21)
	s.agents = []string{"a1", "a2"}
	s.tools = []toolSpec{{"t1", 200, 1.0}, {"t2", 15, 1.0}, {"t3", 3000, 1.0}}
	s.run(200000)
	if len(s.found) >= 10 { // target: fewer than 5 per 100,000
		t.Fatalf("%d findings in 200k calls of log-normal σ=1 latency", len(s.found))
	}
	t.Logf("%d findings in 200k σ=1 calls", len(s.found))
}

func warm(t *testing.T, d *Detector, n int) *stream {
	t.Helper()
	s := newStream(d, 31)
	s.run(n)
	if len(s.found) != 0 {
		t.Fatalf("warm-up produced %d findings", len(s.found))
	}
	return s
}

func TestInjectedSlowCall(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000) // 1000 per (agent, tool)
	kq := d.core.Keys.Peek(baseline.Key{Agent: "agent-a", Tool: "customer-lookup"}).at(0).dist.Quantiles(d.core.G)
	r := rec(s.now(), "agent-a", "customer-lookup", "1.0.0", 30120)
	r.TraceID, r.SpanID = "agent-task-x", "tool-call-007"
	out := d.Observe(r, nil)
	if len(out) != 1 {
		t.Fatalf("got %d findings, want 1", len(out))
	}
	f := out[0]
	if f.Pattern != detect.PatternLatency || f.Detail != DetailSlow || f.AgentID != "agent-a" ||
		f.Tool != "customer-lookup" || f.ToolVersion != "1.0.0" || f.Unit != "ms" || f.Observed != 30120 ||
		f.TraceID != "agent-task-x" || f.SpanID != "tool-call-007" || !f.EventTime.Equal(s.now()) {
		t.Fatalf("bad finding identity: %+v", f)
	}
	if f.Score < 80 {
		t.Fatalf("score %.1f, want critical", f.Score)
	}
	if f.Details["baseline_p99"] != math.Round(kq.P99) || f.Details["baseline_p50"] != math.Round(kq.P50) ||
		f.Expected != math.Round(kq.P50) || f.Details["samples"] != int64(kq.Count) ||
		f.Details["baseline_scope"] != ScopeAgent || f.Details["status"] != record.StatusSuccess {
		t.Fatalf("bad evidence %+v vs %+v", f.Details, kq)
	}
	want := "customer-lookup took 30.1s for agent-a; p99 baseline is " + alert.HumanMillis(kq.P99)
	if f.Summary != want {
		t.Fatalf("summary %q, want %q", f.Summary, want)
	}
}

// The score is score.FromDecades of the fitted tail probability: it grows
// with the duration, and 30 s against a ~400 ms p99 is critical whatever the
// key's spread.
func TestScoreMonotone(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	prev := -1.0
	c := DefaultConfig()
	j := judgeOf(&c)
	sl := d.core.Keys.Peek(baseline.Key{Agent: "agent-a", Tool: "web-search"}).at(0)
	for x := 500.0; x < 1e8; x *= 1.3 {
		r := rec(s.now(), "agent-a", "web-search", "1.0.0", x)
		v := sl.dist.Judge(d.core.G, x, &j, 0)
		sc := distdetect.Score(v.Decades, r)
		if sc < prev || sc < 0 || sc > 100 {
			t.Fatalf("score(%v) = %v after %v", x, sc, prev)
		}
		prev = sc
	}
	if prev != 100 {
		t.Fatalf("score at 1e8 ms = %v, want 100", prev)
	}
}

// Timeouts report the caller's timeout, not the tool's execution time:
// they neither alert nor enter the baseline. Denied calls never ran.
func TestTimeoutsAndDenialsSkipped(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	k := baseline.Key{Agent: "agent-b", Tool: "db-query"}
	before := d.core.Keys.Peek(k).at(0).dist.Count()
	r := rec(s.now(), "agent-b", "db-query", "1.0.0", 30000)
	r.Invocation.Status = record.StatusTimeout
	if out := d.Observe(r, nil); len(out) != 0 {
		t.Fatalf("timeout at 30 s raised %+v", out)
	}
	if after := d.core.Keys.Peek(k).at(0).dist.Count(); after != before {
		t.Fatalf("timeout counted: %v -> %v", before, after)
	}
	r = rec(s.now(), "agent-b", "db-query", "1.0.0", 30000)
	r.Invocation.Status = record.StatusSuccess
	if out := d.Observe(r, nil); len(out) != 1 {
		t.Fatalf("a successful 30 s call raised %d findings, want 1", len(out))
	}
	// The anomalous call taught only the tail, not the body; a denied call
	// teaches nothing, and a normal one is counted.
	r = rec(s.now(), "agent-b", "db-query", "1.0.0", 30000)
	r.Invocation.Status = record.StatusDenied
	if out := d.Observe(r, nil); len(out) != 0 || d.core.Keys.Peek(k).at(0).dist.Count() != before {
		t.Fatal("denied call alerted or was counted")
	}
	if d.Observe(rec(s.now(), "agent-b", "db-query", "1.0.0", 40), nil); d.core.Keys.Peek(k).at(0).dist.Count() != before+1 {
		t.Fatal("a normal call was not counted")
	}
}

// upgrade feeds one agent and tool (σ 0.5, 100 ms) on 1.0.0 and then on
// 2.0.0 with latency × mult, and returns the findings after the upgrade.
func upgrade(t *testing.T, mult float64, newVersion string, extra func(s *stream)) (*Detector, []detect.Finding) {
	t.Helper()
	d := newDet(t, nil)
	s := newStream(d, 41)
	s.agents = []string{"solo"}
	s.tools = []toolSpec{{"lookup", 100, 0.5}}
	s.run(2000)
	if len(s.found) != 0 {
		t.Fatalf("findings before upgrade: %d", len(s.found))
	}
	s.version = func(_, _ string, _ time.Duration) (string, float64) { return newVersion, mult }
	if extra != nil {
		extra(s)
	}
	s.run(3000)
	return d, s.found
}

func TestVersionUpgradeRelearns(t *testing.T) {
	// ×10 at σ 0.5: 3% of the new calls exceed 8× the old p99 until the
	// baseline has learned them; the relaxed 24× leaves 3e-5.
	if _, found := upgrade(t, 10, "1.0.0", nil); len(found) == 0 {
		t.Fatal("a ×10 shift without a version change should alert (test premise)")
	}
	d, found := upgrade(t, 10, "2.0.0", nil)
	if len(found) != 0 {
		t.Fatalf("×10 shift with a version change: %d findings, first %+v", len(found), found[0])
	}
	st := d.core.Keys.Peek(baseline.Key{Agent: "solo", Tool: "lookup"})
	cur := st.at(st.active)
	if cur.version != "2.0.0" || !cur.relearn || cur.dist.Count() != 3000 {
		t.Fatalf("new slot %q relearn=%v count=%v", cur.version, cur.relearn, cur.dist.Count())
	}
	// After relearning, the new version's own baseline judges: 120 s (37×
	// its p99) alerts against it.
	out := d.Observe(rec(base.Add(6000*time.Second), "solo", "lookup", "2.0.0", 120000), nil)
	if len(out) != 1 || out[0].Details["baseline_scope"] != ScopeAgent || out[0].ToolVersion != "2.0.0" {
		t.Fatalf("after relearn: %+v", out)
	}
}

func TestExtremeCallDuringRelearnAlerts(t *testing.T) {
	var got []detect.Finding
	d, found := upgrade(t, 1.5, "2.0.0", func(s *stream) {
		s.run(10) // inside the relearn period (100 calls)
		r := rec(s.now(), "solo", "lookup", "2.0.0", 30000)
		got = s.d.Observe(r, nil)
		s.i++
	})
	if len(found) != 0 {
		t.Fatalf("normal calls of the new version alerted: %+v", found[0])
	}
	if len(got) != 1 {
		t.Fatalf("30 s during relearn: %d findings", len(got))
	}
	f := got[0]
	if f.Details["baseline_scope"] != ScopeAgentPrevVersion || f.Details["baseline_version"] != "1.0.0" || f.Score < 80 {
		t.Fatalf("during relearn: %+v", f)
	}
	// The reference's tail widened by relearn_factor: 3 × its own threshold.
	st := d.core.Keys.Peek(baseline.Key{Agent: "solo", Tool: "lookup"})
	c := DefaultConfig()
	j := judgeOf(&c)
	ref := st.at(1 - st.active)
	own := ref.dist.Judge(d.core.G, 1, &j, 0).Threshold()
	if thr := f.Details["threshold"].(float64); math.Abs(thr-3*own) > 3*own/500+1 {
		t.Fatalf("relaxed threshold %v, want ≈3 × %v", thr, own)
	}
}

func TestRollbackAndThirdVersion(t *testing.T) {
	d := newDet(t, nil)
	g := d.core.G
	var st state
	c := DefaultConfig()
	st.Cfg = &c
	add := func(v string, n int) {
		s, _ := st.slotFor(g, v)
		for i := range n {
			s.dist.Add(g, 100, base.Add(time.Duration(i)*time.Second))
		}
	}
	add("1", 500)
	add("2", 50)
	add("1", 10) // rollback: the old slot is reused, not reset
	if st.at(0).version != "1" || st.at(0).dist.Count() != 510 {
		t.Fatalf("slot 0: %q %v", st.at(0).version, st.at(0).dist.Count())
	}
	add("3", 5) // replaces the slot with fewer samples ("2")
	if st.at(1).version != "3" || st.at(1).dist.Count() != 5 || !st.at(1).relearn || st.active != 1 {
		t.Fatalf("slot 1: %q %v relearn=%v active=%d", st.at(1).version, st.at(1).dist.Count(), st.at(1).relearn, st.active)
	}
	if st.at(0).version != "1" || st.at(0).dist.Count() != 510 {
		t.Fatal("reference slot lost")
	}
}

func TestWarmupSuppressesAndToolBorrowing(t *testing.T) {
	d := newDet(t, nil)
	s := newStream(d, 51)
	s.agents = []string{"a"}
	s.tools = []toolSpec{{"lookup", 100, 0.5}}
	s.run(199)
	if out := d.Observe(rec(s.now(), "a", "lookup", "1.0.0", 60000), nil); len(out) != 0 {
		t.Fatalf("alerted during warm-up: %+v", out[0])
	}
	s.i++
	s.run(300)
	if out := d.Observe(rec(s.now(), "a", "lookup", "1.0.0", 60000), nil); len(out) != 1 {
		t.Fatal("no finding after warm-up")
	}
	// A new agent borrows the tool baseline.
	out := d.Observe(rec(s.now(), "new-agent", "lookup", "1.0.0", 60000), nil)
	if len(out) != 1 || out[0].Details["baseline_scope"] != ScopeTool {
		t.Fatalf("new agent: %+v", out)
	}
}

func TestBurstIsWinsorized(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 90000) // 10,000 per (agent, tool)
	sl := d.core.Keys.Peek(baseline.Key{Agent: "agent-c", Tool: "web-search"}).at(0)
	before := sl.dist.Quantiles(d.core.G)
	n := 0
	for i := range 50 {
		for _, f := range d.Observe(rec(s.now().Add(time.Duration(i)*time.Second), "agent-c", "web-search", "1.0.0", 600000), nil) {
			if f.Detail == DetailSlow {
				n++
			}
		}
	}
	s.run(3000) // normal traffic after the burst; the cached quantiles refresh
	after := sl.dist.Quantiles(d.core.G)
	t.Logf("p99 %.0f -> %.0f ms, p99.9 %.0f -> %.0f ms", before.P99, after.P99, before.P999, after.P999)
	if n != 50 {
		t.Fatalf("burst: %d findings, want 50", n)
	}
	if after.P99 > 1.5*before.P99 || after.P999 > 1.5*before.P999 {
		t.Fatalf("burst moved the baseline: p99 %.0f -> %.0f, p99.9 %.0f -> %.0f", before.P99, after.P99, before.P999, after.P999)
	}
	// One burst teaches the tail at most one (clamped) point.
	c := DefaultConfig()
	j := judgeOf(&c)
	if v := sl.dist.Judge(d.core.G, 600000, &j, 0); !v.Anomalous(&j) {
		t.Fatalf("after the burst 600 s is no longer anomalous: %+v", v)
	}
}

func TestKeyCapEvictsAndCounts(t *testing.T) {
	d := newDet(t, func(_ *Config, b *baseline.Config) { b.MaxKeys = 2; b.IdleTTL = time.Hour })
	for i, ag := range []string{"a1", "a2", "a3"} {
		d.Observe(rec(base.Add(time.Duration(i)*time.Second), ag, "t", "1", 10), nil)
	}
	// a3/t evicted a1/t (least recently seen).
	if live, idle, capacity := d.KeyStats(); live != 3 || capacity != 1 || idle != 0 || d.core.Keys.Peek(baseline.Key{Agent: "a1", Tool: "t"}) != nil {
		t.Fatalf("live=%d capacity=%d idle=%d, want 3/1/0 without a1", live, capacity, idle)
	}
	d.Tick(base.Add(2*time.Hour), nil)
	if live, idle, _ := d.KeyStats(); live != 0 || idle != 3 {
		t.Fatalf("after idle sweep live=%d idle=%d, want 0/3", live, idle)
	}
}

func TestTickRotatesEpochs(t *testing.T) {
	run := func(tickEvery int) baseline.Quantiles {
		d := newDet(t, func(_ *Config, b *baseline.Config) { b.Epoch = time.Hour })
		for i := range 7200 {
			ts := base.Add(time.Duration(i) * time.Second)
			ms := 10.0
			if i >= 3600 {
				ms = 40
			}
			d.Observe(rec(ts, "a", "t", "1", ms), nil)
			if tickEvery > 0 && i%tickEvery == 0 {
				d.Tick(ts, nil)
			}
		}
		d.Tick(base.Add(3*time.Hour), nil)
		d.core.AdvanceAll() // rotation is lazy: bring the key to the ticked epoch
		sl := d.core.Keys.Peek(baseline.Key{Agent: "a", Tool: "t"}).at(0)
		if e := sl.dist.Epoch(); e != d.core.G.EpochOf(base.Add(3*time.Hour)) {
			t.Fatalf("tickEvery=%d: epoch %d not advanced", tickEvery, e)
		}
		return sl.dist.Quantiles(d.core.G)
	}
	q1, q2 := run(0), run(13)
	if q1 != q2 {
		t.Fatalf("rotation depends on tick cadence: %+v vs %+v", q1, q2)
	}
	if q1.P50 != 40 || q1.Count != 3600 {
		t.Fatalf("after rotation: %+v", q1)
	}
}

func TestOverrideDisables(t *testing.T) {
	c := DefaultConfig()
	off := c
	off.Enabled = false
	p := &detect.Params[Config]{Base: c, Rules: []detect.Rule[Config]{{Tool: "db-*", Config: off}}}
	d := New(p, baseline.DefaultConfig())
	s := warm(t, d, 9000)
	if out := d.Observe(rec(s.now(), "agent-a", "db-query", "1.0.0", 60000), nil); len(out) != 0 {
		t.Fatal("disabled tool alerted")
	}
	if out := d.Observe(rec(s.now(), "agent-a", "web-search", "1.0.0", 600000), nil); len(out) != 1 {
		t.Fatal("enabled tool did not alert")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		path string
	}{
		{"default", func(*Config) {}, ""},
		{"min_samples low", func(c *Config) { c.MinSamples = 10 }, "min_samples"},
		{"false_alarm_rate high", func(c *Config) { c.FalseAlarmRate = 0.01 }, "false_alarm_rate"},
		{"false_alarm_rate NaN", func(c *Config) { c.FalseAlarmRate = math.NaN() }, "false_alarm_rate"},
		{"level_shift_ratio low", func(c *Config) { c.LevelShiftRatio = 1.1 }, "level_shift_ratio"},
		{"max_drift_per_day low", func(c *Config) { c.MaxDriftPerDay = 1 }, "max_drift_per_day"},
		{"floor negative", func(c *Config) { c.MinAlertMS = -1 }, "min_alert_ms"},
		{"relearn_samples low", func(c *Config) { c.RelearnSamples = 5 }, "relearn_samples"},
		{"relearn_factor low", func(c *Config) { c.RelearnFactor = 0.5 }, "relearn_factor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			detecttest.WantFieldError(t, c.Validate(), tc.path)
		})
	}
}

func records(n int, from time.Time, seed uint64) []*record.Record {
	rng := rand.New(rand.NewPCG(seed, seed))
	rs := make([]*record.Record, n)
	for i := range rs {
		tl := normalTools[i%3]
		rs[i] = rec(from.Add(time.Duration(i)*time.Second), normalAgents[(i/3)%3], tl.name, "1.0.0",
			tl.median*math.Exp(tl.sigma*rng.NormFloat64()))
	}
	return rs
}

func TestObserveNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	rs := records(1024, s.now(), 7)
	if a := detecttest.ObserveAllocs(5000, d, rs, 0); a != 0 {
		t.Fatalf("Observe allocates %.2f per call", a)
	}
}

func BenchmarkObserve(b *testing.B) {
	d := newDet(b, nil)
	s := newStream(d, 61)
	s.run(9000)
	rs := records(4096, s.now(), 8)
	for i, r := range rs { // real records carry an input hash (the level test's repeat check)
		r.Invocation.InputHash = "sha256:" + strconv.FormatUint(uint64(i+1)*0x9E3779B97F4A7C15, 16)
	}
	detecttest.BenchObserve(b, d, rs)
}

// BenchmarkMemoryPerKey reports heap bytes per warmed (agent, tool) key
// over 10,000 keys (one tool-level state per 100 keys included).
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 10000
	detecttest.MemoryPerKey(b, keys, func() detect.Detector {
		d := newDet(b, nil)
		for k := range keys {
			ag, tl := "agent-"+strconv.Itoa(k), "tool-"+strconv.Itoa(k%100)
			for i := range 64 {
				d.Observe(rec(base.Add(time.Duration(i)*time.Second), ag, tl, "1.0.0", float64(10+i)), nil)
			}
		}
		return d
	})
}

// A key holds its second version slot only from its first version change,
// also after a snapshot round trip; the shared empty slot is never written.
func TestSecondSlotLazy(t *testing.T) {
	d := newDet(t, nil)
	for i := range 300 {
		v := "1.0.0"
		if i >= 250 {
			v = "2.0.0"
		}
		d.Observe(rec(base.Add(time.Duration(i)*time.Second), "a", "t", v, 100), nil)
		d.Observe(rec(base.Add(time.Duration(i)*time.Second), "b", "t", "1.0.0", 100), nil)
	}
	snap, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newDet(t, nil)
	if err := r.UnmarshalState(snap); err != nil {
		t.Fatal(err)
	}
	again, _ := r.MarshalState(nil)
	for _, x := range []*Detector{d, r} {
		a, b := x.core.Keys.Peek(baseline.Key{Agent: "a", Tool: "t"}), x.core.Keys.Peek(baseline.Key{Agent: "b", Tool: "t"})
		if a.second == nil || a.at(a.active).version != "2.0.0" || b.second != nil || !b.first.used {
			t.Fatalf("second slots: changed key %v, unchanged key %v", a.second != nil, b.second != nil)
		}
	}
	if !bytes.Equal(snap, again) || !reflect.DeepEqual(noSlot, slot{}) {
		t.Fatal("restore re-encodes differently or the empty slot was written")
	}
}
