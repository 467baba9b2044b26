package outputsize

import (
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
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

func rec(ts time.Time, agent, tool string, bytes int64) *record.Record {
	r := detecttest.Record(ts, agent, tool)
	r.Invocation.DurationMS, r.Invocation.OutputBytes = 12, bytes
	return r
}

func newDet(t testing.TB, mod func(*Config, *baseline.Config)) *Detector {
	c, b := DefaultConfig(), baseline.DefaultConfig()
	if mod != nil {
		mod(&c, &b)
	}
	return detecttest.New(t, c, b, New)
}

type stream struct {
	rng  *rand.Rand
	i    int
	step time.Duration // between records; 0 means one second
}

func (s *stream) at(start time.Time) time.Time {
	if s.step == 0 {
		return start.Add(time.Duration(s.i) * time.Second)
	}
	return start.Add(time.Duration(s.i) * s.step)
}

// lognormal returns exp(N(ln median, sigma)).
func (s *stream) lognormal(median, sigma float64) int64 {
	return int64(math.Round(median * math.Exp(sigma*s.rng.NormFloat64())))
}

type toolSpec struct {
	name   string
	median float64
	sigma  float64
}

// feed sends n records, one per second from start, round-robin over agents
// and tools, each size log-normal around the tool's median times drift(t).
func feed(d *Detector, s *stream, start time.Time, n int, agents []string, tools []toolSpec, drift func(time.Duration) float64) []detect.Finding {
	var all []detect.Finding
	var out []detect.Finding
	for range n {
		ts := s.at(start)
		tl := tools[s.i%len(tools)]
		ag := agents[(s.i/len(tools))%len(agents)]
		m := tl.median
		if drift != nil {
			m *= drift(ts.Sub(base))
		}
		out = d.Observe(rec(ts, ag, tl.name, s.lognormal(m, tl.sigma)), out[:0])
		all = append(all, out...)
		if s.i%10 == 0 {
			out = d.Tick(ts, out[:0])
			all = append(all, out...)
		}
		s.i++
	}
	return all
}

// normalTools have σ ≤ 0.8, where the expected false-alarm count of this
// test is ~0.01; σ = 1 has its own rate test below (~0.5 per 100k).
var normalTools = []toolSpec{
	{"file-reader", 2000, 0.8},
	{"customer-lookup", 1000, 0.5},
	{"web-search", 20000, 0.7},
}

var normalAgents = []string{"agent-a", "agent-b", "agent-c"}

func TestNormalTrafficWithDriftNoFindings(t *testing.T) {
	d := newDet(t, nil)
	s := &stream{rng: rand.New(rand.NewPCG(11, 12)), step: 3 * time.Second}
	// 80h at one record per 3 seconds, sizes drifting +30% over 72h.
	drift := func(e time.Duration) float64 { return 1 + 0.3*math.Min(e.Hours(), 72)/72 }
	got := feed(d, s, base, 80*1200, normalAgents, normalTools, drift)
	if len(got) != 0 {
		t.Fatalf("%d findings on normal traffic, first: %+v", len(got), got[0])
	}
}

func TestFalseAlarmRateSigmaOne(t *testing.T) {
	d := newDet(t, nil)
	s := &stream{rng: rand.New(rand.NewPCG(21, 22))}
	tools := []toolSpec{{"t1", 5000, 1.0}, {"t2", 300, 1.0}, {"t3", 100000, 1.0}}
	got := feed(d, s, base, 200000, []string{"a1", "a2"}, tools, nil)
	// Target: fewer than 5 per 100,000 records.
	if len(got) >= 10 {
		t.Fatalf("%d findings in 200k records of log-normal σ=1 traffic", len(got))
	}
	t.Logf("%d findings in 200k σ=1 records", len(got))
}

func warm(t *testing.T, d *Detector, n int) *stream {
	t.Helper()
	s := &stream{rng: rand.New(rand.NewPCG(31, 32))}
	if got := feed(d, s, base, n, normalAgents, normalTools, nil); len(got) != 0 {
		t.Fatalf("warm-up produced %d findings", len(got))
	}
	return s
}

func TestInjectedLargeOutput(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000) // 1000 per (agent, tool)
	ts := base.Add(time.Duration(s.i) * time.Second)
	kd := &d.core.Keys.Peek(baseline.Key{Agent: "agent-b", Tool: "file-reader"}).dist
	kq := kd.Quantiles(d.core.G)
	c := DefaultConfig()
	j := judgeOf(&c)
	thr := kd.Judge(d.core.G, 1, &j, 0).Threshold()

	for _, tc := range []struct {
		name     string
		bytes    int64
		minScore float64
		maxScore float64
	}{
		{"100MB", 100_000_000, 80, 100},
		{"3x-threshold", int64(3 * thr), 40, 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rec(ts, "agent-b", "file-reader", tc.bytes)
			r.TraceID, r.SpanID = "trace-x", "span-x"
			out := d.Observe(r, nil)
			if len(out) != 1 {
				t.Fatalf("got %d findings, want 1", len(out))
			}
			f := out[0]
			if f.Pattern != detect.PatternOutputSize || f.Detail != DetailLarge || f.AgentID != "agent-b" ||
				f.Tool != "file-reader" || f.ToolVersion != "1.0.0" || f.TraceID != "trace-x" || f.SpanID != "span-x" ||
				f.Unit != "bytes" || f.Observed != float64(tc.bytes) || !f.EventTime.Equal(ts) {
				t.Fatalf("bad finding identity: %+v", f)
			}
			if f.Score < tc.minScore || f.Score > tc.maxScore {
				t.Fatalf("score %.1f not in [%v, %v]", f.Score, tc.minScore, tc.maxScore)
			}
			p99 := f.Details["baseline_p99"].(float64)
			if math.Abs(p99-kq.P99)/kq.P99 > 0.05 || f.Details["samples"].(int64) < 1000 ||
				f.Details["baseline_scope"] != "agent" || f.Expected != f.Details["baseline_p50"] {
				t.Fatalf("bad evidence: %+v (key p99 %.0f)", f.Details, kq.P99)
			}
			want := "file-reader returned " + alert.HumanBytes(float64(tc.bytes)) + " to agent-b; p99 baseline is " + alert.HumanBytes(p99)
			if f.Summary != want {
				t.Fatalf("summary %q, want %q", f.Summary, want)
			}
		})
	}
}

// The score is score.FromDecades of the fitted tail probability: monotone
// in the output, 100 far out.
func TestScoreMonotone(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	ts := base.Add(time.Duration(s.i) * time.Second)
	c := DefaultConfig()
	j := judgeOf(&c)
	kd := &d.core.Keys.Peek(baseline.Key{Agent: "agent-b", Tool: "file-reader"}).dist
	prev := -1.0
	for x := 1.0; x < 1e10; x *= 1.3 {
		v := kd.Judge(d.core.G, x, &j, 0)
		sc := distdetect.Score(v.Decades, rec(ts, "agent-b", "file-reader", int64(x)))
		if sc < prev || sc < 0 || sc > 100 {
			t.Fatalf("score(%v) = %v after %v", x, sc, prev)
		}
		prev = sc
	}
	if prev != 100 {
		t.Fatalf("score at 1e10 B = %v, want 100", prev)
	}
}

func TestTinyToolFloor(t *testing.T) {
	d := newDet(t, nil)
	s := &stream{rng: rand.New(rand.NewPCG(41, 42))}
	tiny := []toolSpec{{"ping", 120, 0.3}}
	if got := feed(d, s, base, 2000, []string{"a"}, tiny, nil); len(got) != 0 {
		t.Fatalf("warm-up findings: %d", len(got))
	}
	ts := base.Add(time.Duration(s.i) * time.Second)
	if out := d.Observe(rec(ts, "a", "ping", 2000), nil); len(out) != 0 {
		t.Fatalf("2 KB from a ~200 B tool alerted: %+v", out[0])
	}
	// 8 KiB floor threshold exceeded: alerts.
	if out := d.Observe(rec(ts, "a", "ping", 20000), nil); len(out) != 1 {
		t.Fatalf("20 KB from a ~200 B tool: %d findings, want 1", len(out))
	}
}

func TestWarmupSuppresses(t *testing.T) {
	d := newDet(t, nil)
	s := &stream{rng: rand.New(rand.NewPCG(51, 52))}
	one := []toolSpec{{"file-reader", 2000, 0.5}}
	feed(d, s, base, 199, []string{"a"}, one, nil)
	ts := base.Add(time.Duration(s.i) * time.Second)
	if out := d.Observe(rec(ts, "a", "file-reader", 100_000_000), nil); len(out) != 0 {
		t.Fatalf("alerted during warm-up (199 samples): %+v", out[0])
	}
	// The warm-up outlier was clamped to 8× the early p99, so once the
	// baseline is usable a second extreme value alerts.
	feed(d, s, base, 300, []string{"a"}, one, nil)
	ts = base.Add(time.Duration(s.i) * time.Second)
	if out := d.Observe(rec(ts, "a", "file-reader", 100_000_000), nil); len(out) != 1 {
		t.Fatalf("no finding after warm-up")
	}
}

func TestNewAgentBorrowsToolBaseline(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	ts := base.Add(time.Duration(s.i) * time.Second)
	out := d.Observe(rec(ts, "agent-new", "customer-lookup", 50_000_000), nil)
	if len(out) != 1 || out[0].Details["baseline_scope"] != "tool" || out[0].AgentID != "agent-new" {
		t.Fatalf("new agent on a known tool: %+v", out)
	}
	if !strings.HasSuffix(out[0].Summary, "(all agents)") || out[0].Score < 80 {
		t.Fatalf("summary/score: %q %.1f", out[0].Summary, out[0].Score)
	}
	// An unknown tool has no baseline at all.
	if out := d.Observe(rec(ts, "agent-new", "brand-new-tool", 50_000_000), nil); len(out) != 0 {
		t.Fatal("unknown tool alerted")
	}
}

func TestSkipsAbsentAndDenied(t *testing.T) {
	d := newDet(t, nil)
	warm(t, d, 9000)
	r := rec(base.Add(10000*time.Second), "agent-a", "file-reader", record.Absent)
	if out := d.Observe(r, nil); len(out) != 0 {
		t.Fatal("absent output_bytes alerted")
	}
	r = rec(base.Add(10000*time.Second), "agent-a", "file-reader", 100_000_000)
	r.Invocation.Status = record.StatusDenied
	if out := d.Observe(r, nil); len(out) != 0 {
		t.Fatal("denied call alerted")
	}
	if c := d.core.Keys.Peek(baseline.Key{Agent: "agent-a", Tool: "file-reader"}).dist.Count(); c != 1000 {
		t.Fatalf("skipped records were learned: count %v", c)
	}
}

func TestBurstIsWinsorized(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 90000) // 10,000 per (agent, tool)
	k := baseline.Key{Agent: "agent-c", Tool: "web-search"}
	before := d.core.Keys.Peek(k).dist.Quantiles(d.core.G)
	ts := base.Add(time.Duration(s.i) * time.Second)
	findings := 0
	for i := range 50 {
		for _, f := range d.Observe(rec(ts.Add(time.Duration(i)*time.Second), "agent-c", "web-search", 100_000_000), nil) {
			if f.Detail == DetailLarge {
				findings++
			}
		}
	}
	// Normal traffic after the burst, so the cached quantiles refresh. The
	// burst lifted the key's recent level, so level_shift_up may follow for
	// a few minutes; nothing else may.
	for _, f := range feed(d, s, base, 3000, normalAgents, normalTools, nil) {
		if f.Detail != distdetect.DetailShiftUp {
			t.Fatalf("finding after the burst: %+v", f)
		}
	}
	after := d.core.Keys.Peek(k).dist.Quantiles(d.core.G)
	t.Logf("p99 %.0f -> %.0f, p99.9 %.0f -> %.0f", before.P99, after.P99, before.P999, after.P999)
	if findings != 50 {
		t.Fatalf("burst: %d findings, want 50", findings)
	}
	if after.P99 > 1.5*before.P99 {
		t.Fatalf("p99 moved %.0f -> %.0f after a 50-value burst", before.P99, after.P99)
	}
	if after.P999 > 1.5*before.P999 {
		t.Fatalf("p99.9 moved %.0f -> %.0f after a 50-value burst", before.P999, after.P999)
	}
	c := DefaultConfig()
	j := judgeOf(&c)
	if v := d.core.Keys.Peek(k).dist.Judge(d.core.G, 100_000_000, &j, 0); !v.Anomalous(&j) {
		t.Fatalf("after the burst 100 MB is no longer anomalous: %+v", v)
	}
}

func TestOverrideDisables(t *testing.T) {
	c := DefaultConfig()
	off := c
	off.Enabled = false
	p := &detect.Params[Config]{Base: c, Rules: []detect.Rule[Config]{{Agent: "agent-b", Config: off}}}
	d := New(p, baseline.DefaultConfig())
	s := warm(t, d, 9000)
	ts := base.Add(time.Duration(s.i) * time.Second)
	if out := d.Observe(rec(ts, "agent-b", "file-reader", 100_000_000), nil); len(out) != 0 {
		t.Fatal("disabled key alerted")
	}
	if out := d.Observe(rec(ts, "agent-a", "file-reader", 100_000_000), nil); len(out) != 1 {
		t.Fatal("enabled key did not alert")
	}
}

func TestKeyCapEvictsAndCounts(t *testing.T) {
	d := newDet(t, func(_ *Config, b *baseline.Config) { b.MaxKeys = 2; b.IdleTTL = time.Hour })
	for i, ag := range []string{"a1", "a2", "a3"} {
		d.Observe(rec(base.Add(time.Duration(i)*time.Second), ag, "t", 100), nil)
	}
	live, idle, capacity := d.KeyStats()
	// keys: a3/t evicted a1/t (least recently seen); tools: t.
	if live != 3 || capacity != 1 || idle != 0 || d.core.Keys.Peek(baseline.Key{Agent: "a1", Tool: "t"}) != nil {
		t.Fatalf("live=%d capacity=%d idle=%d, want 3/1/0 without a1", live, capacity, idle)
	}
	d.Tick(base.Add(2*time.Hour), nil)
	if live, idle, _ = d.KeyStats(); live != 0 || idle != 3 {
		t.Fatalf("after idle sweep live=%d idle=%d, want 0/3", live, idle)
	}
}

func TestTickRotatesEpochs(t *testing.T) {
	run := func(tickEvery int) baseline.Quantiles {
		d := newDet(t, func(_ *Config, b *baseline.Config) { b.Epoch = time.Hour })
		// Epoch 0: ~1 KB, epoch 1: ~4 KB, then silence until epoch 3.
		for i := range 3600 {
			d.Observe(rec(base.Add(time.Duration(i)*time.Second), "a", "t", 1000), nil)
			if tickEvery > 0 && i%tickEvery == 0 {
				d.Tick(base.Add(time.Duration(i)*time.Second), nil)
			}
		}
		for i := range 3600 {
			ts := base.Add(time.Hour + time.Duration(i)*time.Second)
			d.Observe(rec(ts, "a", "t", 4000), nil)
			if tickEvery > 0 && i%tickEvery == 0 {
				d.Tick(ts, nil)
			}
		}
		d.Tick(base.Add(3*time.Hour), nil)
		d.core.AdvanceAll() // rotation is lazy: bring the key to the ticked epoch
		st := d.core.Keys.Peek(baseline.Key{Agent: "a", Tool: "t"})
		if e := st.dist.Epoch(); e != d.core.G.EpochOf(base.Add(3*time.Hour)) {
			t.Fatalf("tickEvery=%d: epoch %d not advanced", tickEvery, e)
		}
		return st.dist.Quantiles(d.core.G)
	}
	q1, q2 := run(0), run(7)
	if q1 != q2 {
		t.Fatalf("rotation depends on tick cadence: %+v vs %+v", q1, q2)
	}
	// Epoch 0 (1 KB) has aged out; the last active epoch (4 KB) remains.
	if q1.P50 != 4000 || q1.Count != 3600 {
		t.Fatalf("after rotation: %+v", q1)
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
		{"floor negative", func(c *Config) { c.MinAlertBytes = -1 }, "min_alert_bytes"},
		{"floor inf", func(c *Config) { c.MinAlertBytes = math.Inf(1) }, "min_alert_bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			detecttest.WantFieldError(t, c.Validate(), tc.path)
		})
	}
}

func TestObserveNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	rs := make([]*record.Record, 1024)
	for i := range rs {
		tl := normalTools[i%3]
		rs[i] = rec(base.Add(time.Duration(9000+i)*time.Second), normalAgents[i%3], tl.name, s.lognormal(tl.median, tl.sigma))
	}
	if a := detecttest.ObserveAllocs(5000, d, rs, 0); a != 0 {
		t.Fatalf("Observe allocates %.2f per record", a)
	}
}

func BenchmarkObserve(b *testing.B) {
	d := newDet(b, nil)
	s := &stream{rng: rand.New(rand.NewPCG(61, 62))}
	feed(d, s, base, 9000, normalAgents, normalTools, nil)
	rs := make([]*record.Record, 4096)
	for i := range rs {
		tl := normalTools[i%3]
		rs[i] = rec(base.Add(time.Duration(9000+i)*time.Second), normalAgents[(i/3)%3], tl.name, s.lognormal(tl.median, tl.sigma))
		rs[i].Invocation.InputHash = "sha256:" + strconv.FormatUint(uint64(i+1)*0x9E3779B97F4A7C15, 16) // as real records (the level test's repeat check)
	}
	detecttest.BenchObserve(b, d, rs)
}

// BenchmarkMemoryPerKey reports heap bytes per warmed (agent, tool) key
// over 10,000 keys (one tool-level baseline per 100 keys included).
func BenchmarkMemoryPerKey(b *testing.B) {
	const keys = 10000
	detecttest.MemoryPerKey(b, keys, func() detect.Detector {
		d := newDet(b, nil)
		for k := range keys {
			ag, tl := "agent-"+strconv.Itoa(k), "tool-"+strconv.Itoa(k%100)
			for i := range 64 {
				d.Observe(rec(base.Add(time.Duration(i)*time.Second), ag, tl, int64(100+i)), nil)
			}
		}
		return d
	})
}

func TestAlwaysEmptyTool(t *testing.T) {
	d := newDet(t, nil)
	for i := range 500 {
		if out := d.Observe(rec(base.Add(time.Duration(i)*time.Second), "a", "noop", 0), nil); len(out) != 0 {
			t.Fatalf("empty outputs alerted: %+v", out[0])
		}
	}
	ts := base.Add(500 * time.Second)
	if out := d.Observe(rec(ts, "a", "noop", 5000), nil); len(out) != 0 {
		t.Fatal("5 KB from an always-empty tool alerted under the 8 KiB floor threshold")
	}
	out := d.Observe(rec(ts, "a", "noop", 5_000_000), nil)
	if len(out) != 1 || out[0].Details["threshold"] != 8192.0 || out[0].Score != 100 {
		t.Fatalf("5 MB from an always-empty tool: %+v", out)
	}
	// Anomalies are learned at the body's p99 (0 here), so the baseline stays empty.
	if q := d.core.Keys.Peek(baseline.Key{Agent: "a", Tool: "noop"}).dist.Quantiles(d.core.G); q.Max != 5000 {
		t.Fatalf("max %v, want 5000 (the anomaly learned as 0)", q.Max)
	}
}
