package alert

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/detect"
)

var base = time.Date(2026, 3, 23, 14, 30, 0, 123_000_000, time.UTC)

func testConfig() Config {
	return Config{
		Bands:        Bands{Info: 40, Warning: 60, Critical: 80},
		Cooldown:     15 * time.Minute,
		ResolveAfter: 30 * time.Minute,
	}
}

// fnd is a latency finding for (agent-1, lookup, p99) at base+at.
func fnd(at time.Duration, score float64) detect.Finding {
	return detect.Finding{
		Pattern: detect.PatternLatency, Detail: "p99", Score: score,
		AgentID: "agent-1", Tool: "lookup",
		Observed: 3000, Expected: 200, Unit: "ms", Summary: "slow",
		Details:   map[string]any{"samples": 100},
		EventTime: base.Add(at),
		TraceID:   "tr", SpanID: "sp",
	}
}

// step is one call on the Manager: Add(f) when tick is false, else
// Tick(base+at).
type step struct {
	tick bool
	at   time.Duration
	f    detect.Finding
	want []want
}

// want is what an emitted alert must look like; times are offsets from base.
type want struct {
	status   string
	severity string
	score    float64
	event    time.Duration
	starts   time.Duration
	ends     time.Duration // only for resolved
	agent    string        // "" means agent-1
	repeats  int           // 0: no "repeats" key
	maxScore float64
}

func add(f detect.Finding, w ...want) step  { return step{f: f, want: w} }
func tick(at time.Duration, w ...want) step { return step{tick: true, at: at, want: w} }

func firing(sev string, score float64, event, starts time.Duration) want {
	return want{status: StatusFiring, severity: sev, score: score, event: event, starts: starts}
}

func resolved(sev string, score float64, ends, starts time.Duration) want {
	return want{status: StatusResolved, severity: sev, score: score, event: ends, starts: starts, ends: ends}
}

func (w want) rep(n int, max float64) want { w.repeats, w.maxScore = n, max; return w }
func (w want) ag(a string) want            { w.agent = a; return w }

func withAgent(f detect.Finding, a string) detect.Finding   { f.AgentID = a; return f }
func withDetail(f detect.Finding, d string) detect.Finding  { f.Detail = d; return f }
func withTool(f detect.Finding, t string) detect.Finding    { f.Tool = t; return f }
func withPattern(f detect.Finding, p string) detect.Finding { f.Pattern = p; return f }

const m1 = time.Minute

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		steps  []step
		firing int
	}{{
		name: "fire fold escalate re-emit resolve refire",
		steps: []step{
			add(fnd(0, 65), firing(SeverityWarning, 65, 0, 0)),
			add(fnd(1*m1, 70)), // folded
			add(fnd(2*m1, 62)), // folded
			tick(5 * m1),       // nothing due
			add(fnd(10*m1, 85), firing(SeverityCritical, 85, 10*m1, 0).rep(2, 85)), // escalation
			add(fnd(12*m1, 90)), // folded: critical is not above critical
			add(fnd(24*m1, 75)), // folded: 14m after the last emission
			add(fnd(26*m1, 70), firing(SeverityWarning, 70, 26*m1, 0).rep(2, 90)), // cooldown over
			tick(55*m1 + 59*time.Second),                                          // 26m+30m not reached
			tick(56*m1, resolved(SeverityWarning, 70, 56*m1, 0)),
			tick(90 * m1), // forgotten: no second resolve
			add(fnd(100*m1, 50), firing(SeverityInfo, 50, 100*m1, 100*m1)),
		},
		firing: 1,
	}, {
		name: "below band dropped, band edges",
		steps: []step{
			add(fnd(0, 39.999)),
			add(fnd(0, math.NaN())),
			add(fnd(0, math.Inf(1))),
			add(fnd(1*m1, 40), firing(SeverityInfo, 40, 1*m1, 1*m1)),
			add(fnd(2*m1, 59.999)), // info again: folded
			add(fnd(3*m1, 60), firing(SeverityWarning, 60, 3*m1, 1*m1).rep(1, 60)),
			add(fnd(4*m1, 80), firing(SeverityCritical, 80, 4*m1, 1*m1)),
		},
		firing: 1,
	}, {
		name: "resolve carries folded repeats and last evidence",
		steps: []step{
			add(fnd(0, 90), firing(SeverityCritical, 90, 0, 0)),
			add(fnd(5*m1, 65)),
			add(fnd(6*m1, 70)),
			tick(36*m1, resolved(SeverityCritical, 90, 36*m1, 0).rep(2, 70)),
		},
	}, {
		name: "late finding resolves the lapsed episode itself",
		steps: []step{
			add(fnd(0, 65), firing(SeverityWarning, 65, 0, 0)),
			add(fnd(40*m1, 65),
				resolved(SeverityWarning, 65, 30*m1, 0),
				firing(SeverityWarning, 65, 40*m1, 40*m1)),
		},
		firing: 1,
	}, {
		name: "out-of-order repeat folds and does not move last occurrence back",
		steps: []step{
			add(fnd(10*m1, 65), firing(SeverityWarning, 65, 10*m1, 10*m1)),
			add(fnd(5*m1, 65)),
			tick(39 * m1),
			tick(40*m1, resolved(SeverityWarning, 65, 40*m1, 10*m1).rep(1, 65)),
		},
	}, {
		name: "cooldown 0 disables folding",
		cfg:  func(c *Config) { c.Cooldown = 0 },
		steps: []step{
			add(fnd(0, 65), firing(SeverityWarning, 65, 0, 0)),
			add(fnd(0, 65), firing(SeverityWarning, 65, 0, 0)),
			add(fnd(1*m1, 61), firing(SeverityWarning, 61, 1*m1, 0)),
		},
		firing: 1,
	}, {
		name: "fingerprints are independent; tick resolves in fingerprint order",
		steps: []step{
			add(withAgent(fnd(0, 65), "agent-b"), firing(SeverityWarning, 65, 0, 0).ag("agent-b")),
			add(withAgent(fnd(0, 65), "agent-a"), firing(SeverityWarning, 65, 0, 0).ag("agent-a")),
			add(withAgent(fnd(0, 65), "agent-c"), firing(SeverityWarning, 65, 0, 0).ag("agent-c")),
			add(withAgent(fnd(1*m1, 65), "agent-a")),
			// fingerprints: agent-a 5b0c…, agent-b d3bf…, agent-c 981b… (checked below)
			tick(30*m1+30*time.Second,
				resolved(SeverityWarning, 65, 30*m1, 0).ag("agent-c"),
				resolved(SeverityWarning, 65, 30*m1, 0).ag("agent-b")),
			tick(30*m1 + 30*time.Second),
			tick(31*m1, resolved(SeverityWarning, 65, 31*m1, 0).ag("agent-a").rep(1, 65)),
		},
	}, {
		name: "max_firing rejects new fingerprints only",
		cfg:  func(c *Config) { c.MaxFiring = 1 },
		steps: []step{
			add(fnd(0, 65), firing(SeverityWarning, 65, 0, 0)),
			add(withAgent(fnd(0, 99), "other")),
			add(fnd(20*m1, 65), firing(SeverityWarning, 65, 20*m1, 0)),
		},
		firing: 1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			m := NewManager(cfg)
			var all []Alert
			for i, s := range tt.steps {
				var got []Alert
				if s.tick {
					got = m.Tick(base.Add(s.at), nil)
				} else {
					got = m.Add(s.f, nil)
				}
				checkAlerts(t, i, got, s.want)
				all = append(all, got...)
			}
			if m.Firing() != tt.firing {
				t.Errorf("Firing() = %d, want %d", m.Firing(), tt.firing)
			}
			ids := map[string]bool{}
			for _, a := range all {
				if ids[a.ID] {
					t.Errorf("duplicate id %s", a.ID)
				}
				ids[a.ID] = true
			}
		})
	}
}

func checkAlerts(t *testing.T, step int, got []Alert, want []want) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("step %d: %d alerts, want %d: %+v", step, len(got), len(want), got)
	}
	for i, w := range want {
		a := got[i]
		agent := w.agent
		if agent == "" {
			agent = "agent-1"
		}
		if a.Status != w.status || a.Severity != w.severity || a.Score != w.score || a.AgentID != agent {
			t.Errorf("step %d alert %d: %s/%s score %v agent %s, want %s/%s score %v agent %s",
				step, i, a.Status, a.Severity, a.Score, a.AgentID, w.status, w.severity, w.score, agent)
		}
		if !a.EventTime.Equal(base.Add(w.event)) || !a.StartsAt.Equal(base.Add(w.starts)) {
			t.Errorf("step %d alert %d: event %v starts %v, want +%v +%v", step, i, a.EventTime, a.StartsAt, w.event, w.starts)
		}
		if a.EventTime.Location() != time.UTC || a.StartsAt.Location() != time.UTC {
			t.Errorf("step %d alert %d: times not UTC", step, i)
		}
		if w.status == StatusResolved {
			if a.EndsAt == nil || !a.EndsAt.Equal(base.Add(w.ends)) {
				t.Errorf("step %d alert %d: ends_at %v, want +%v", step, i, a.EndsAt, w.ends)
			}
		} else if a.EndsAt != nil {
			t.Errorf("step %d alert %d: firing alert has ends_at", step, i)
		}
		rep, hasRep := a.Details[DetailRepeats]
		ms, hasMax := a.Details[DetailMaxScore]
		switch {
		case w.repeats == 0 && (hasRep || hasMax):
			t.Errorf("step %d alert %d: unexpected repeats %v max_score %v", step, i, rep, ms)
		case w.repeats > 0 && (rep != w.repeats || ms != w.maxScore):
			t.Errorf("step %d alert %d: repeats %v max_score %v, want %d %v", step, i, rep, ms, w.repeats, w.maxScore)
		}
		if a.Details["samples"] != 100 {
			t.Errorf("step %d alert %d: detector details lost: %v", step, i, a.Details)
		}
		if len(a.ID) != 16 || a.Fingerprint != Fingerprint(&detect.Finding{Pattern: a.Pattern, AgentID: a.AgentID, Tool: a.Tool, Detail: "p99"}) {
			t.Errorf("step %d alert %d: id %q fingerprint %q", step, i, a.ID, a.Fingerprint)
		}
	}
}

func TestTickOrderIsFingerprintOrder(t *testing.T) {
	// The "fingerprints are independent" case above relies on this order.
	fa := withAgent(fnd(0, 65), "agent-a")
	fb := withAgent(fnd(0, 65), "agent-b")
	fc := withAgent(fnd(0, 65), "agent-c")
	a, b, c := Fingerprint(&fa), Fingerprint(&fb), Fingerprint(&fc)
	if !(a < c && c < b) {
		t.Fatalf("fingerprint order changed: a=%s b=%s c=%s", a, b, c)
	}
	// Many fingerprints: resolves come out sorted whatever the map order.
	m := NewManager(testConfig())
	for i := range 50 {
		m.Add(withDetail(fnd(0, 65), string(rune('A'+i))), nil)
	}
	got := m.Tick(base.Add(time.Hour), nil)
	if len(got) != 50 {
		t.Fatalf("%d resolves, want 50", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1].Fingerprint >= got[i].Fingerprint {
			t.Fatalf("resolves not sorted at %d: %s >= %s", i, got[i-1].Fingerprint, got[i].Fingerprint)
		}
	}
}

func TestSeverityBands(t *testing.T) {
	b := Bands{Info: 40, Warning: 60, Critical: 80}
	tests := []struct {
		score float64
		want  string
	}{
		{-1, SeverityNone}, {0, SeverityNone}, {39.999, SeverityNone}, {40, SeverityInfo},
		{59.999, SeverityInfo}, {60, SeverityWarning}, {79.999, SeverityWarning},
		{80, SeverityCritical}, {100, SeverityCritical}, {math.NaN(), SeverityNone},
	}
	for _, tt := range tests {
		if got := b.Severity(tt.score); got != tt.want {
			t.Errorf("Severity(%v) = %s, want %s", tt.score, got, tt.want)
		}
	}
	if got := (Bands{Info: 0, Warning: 50, Critical: 100}).Severity(0); got != SeverityInfo {
		t.Errorf("info band 0: Severity(0) = %s, want info", got)
	}
}

func TestFingerprint(t *testing.T) {
	f := detect.Finding{Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01", Tool: "customer-lookup", Detail: "p99"}
	// Golden: changing the encoding changes every fingerprint in the field.
	const golden = "c59bd5bc96672e8b"
	if got := Fingerprint(&f); got != golden {
		t.Errorf("Fingerprint = %s, want %s", got, golden)
	}
	seen := map[string]string{golden: "base"}
	variants := map[string]detect.Finding{
		"pattern":        withPattern(f, detect.PatternOutputSize),
		"agent":          withAgent(f, "support-agent-prod-02"),
		"tool":           withTool(f, "customer-update"),
		"detail":         withDetail(f, "p50"),
		"shift a|t":      {Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01customer", Tool: "-lookup", Detail: "p99"},
		"nul in agent":   {Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01\x00customer-lookup", Tool: "", Detail: "p99"},
		"empty detail":   withDetail(f, ""),
		"detail to tool": {Pattern: detect.PatternLatency, AgentID: "support-agent-prod-01", Tool: "customer-lookupp99", Detail: ""},
	}
	for name, v := range variants {
		got := Fingerprint(&v)
		if other, dup := seen[got]; dup {
			t.Errorf("%s: fingerprint %s equals %s", name, got, other)
		}
		seen[got] = name
		if len(got) != 16 {
			t.Errorf("%s: fingerprint %q is not 16 hex", name, got)
		}
	}
	// Fields outside the identity do not change it.
	g := f
	g.Score, g.Summary, g.EventTime, g.TraceID, g.Environment = 99, "x", base, "t", "staging"
	if Fingerprint(&g) != golden {
		t.Error("fingerprint depends on non-identity fields")
	}
}

func TestDeterministicIDs(t *testing.T) {
	run := func() []Alert {
		m := NewManager(testConfig())
		var out []Alert
		for i := range 40 {
			f := withAgent(fnd(time.Duration(i)*3*m1, float64(40+i%60)), string(rune('a'+i%3)))
			out = m.Add(f, out)
			out = m.Tick(base.Add(time.Duration(i)*3*m1), out)
		}
		return m.Tick(base.Add(24*time.Hour), out)
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs on the same findings differ")
	}
	ids := map[string]bool{}
	for _, x := range a {
		if ids[x.ID] {
			t.Errorf("duplicate id %s", x.ID)
		}
		ids[x.ID] = true
	}
	if len(a) < 10 {
		t.Fatalf("only %d alerts; scenario too weak", len(a))
	}
	// Same fingerprint, status and event time: the sequence number differs.
	fp, _ := fingerprintKey(nil, "p", "a", "t", "d")
	if alertID(fp, StatusFiring, base, base, 0) == alertID(fp, StatusFiring, base, base, 1) ||
		alertID(fp, StatusFiring, base, base, 0) == alertID(fp, StatusResolved, base, base, 0) ||
		alertID(fp, StatusFiring, base, base, 0) != alertID(fp, StatusFiring, base.In(time.FixedZone("x", 3600)), base, 0) {
		t.Error("alertID does not separate seq/status or depends on the zone")
	}
}

func TestSetConfigKeepsState(t *testing.T) {
	m := NewManager(testConfig())
	m.Add(fnd(0, 65), nil)
	if got := m.Add(fnd(1*m1, 65), nil); len(got) != 0 {
		t.Fatalf("repeat inside cooldown emitted %d alerts", len(got))
	}
	cfg := testConfig()
	cfg.Cooldown = 2 * m1
	cfg.Bands = Bands{Info: 10, Warning: 20, Critical: 30}
	m.SetConfig(cfg)
	if m.Firing() != 1 || m.Config().Cooldown != 2*m1 {
		t.Fatal("SetConfig dropped state or did not apply")
	}
	// Still inside the new cooldown, but 65 is critical under the new bands.
	got := m.Add(fnd(90*time.Second, 65), nil)
	checkAlerts(t, 0, got, []want{firing(SeverityCritical, 65, 90*time.Second, 0).rep(1, 65)})
	// The shorter resolve interval applies at the next Tick.
	cfg.ResolveAfter = 5 * m1
	m.SetConfig(cfg)
	got = m.Tick(base.Add(7*m1), nil)
	checkAlerts(t, 1, got, []want{resolved(SeverityCritical, 65, 90*time.Second+5*m1, 0)})
}

func TestDetectorDetailsNotMutated(t *testing.T) {
	m := NewManager(testConfig())
	f := fnd(0, 65)
	m.Add(f, nil)
	m.Add(fnd(1*m1, 65), nil)
	g := fnd(20*m1, 65)
	g.Details = map[string]any{"samples": 100, DetailRepeats: "detector value"}
	got := m.Add(g, nil)
	if len(got) != 1 || got[0].Details[DetailRepeats] != 1 {
		t.Fatalf("re-emit: %+v", got)
	}
	if len(f.Details) != 1 || g.Details[DetailRepeats] != "detector value" || len(g.Details) != 2 {
		t.Errorf("detector maps were written: %v %v", f.Details, g.Details)
	}
	// The resolve starts from the last emission but drops its stale count.
	res := m.Tick(base.Add(time.Hour), nil)
	if len(res) != 1 {
		t.Fatalf("%d resolves", len(res))
	}
	if _, ok := res[0].Details[DetailRepeats]; ok {
		t.Errorf("resolve carries stale repeats: %v", res[0].Details)
	}
	if got[0].Details[DetailRepeats] != 1 {
		t.Error("resolve modified the emitted alert's details")
	}
}

func TestFiringAlertsAndCounters(t *testing.T) {
	m := NewManager(testConfig())
	m.Add(withAgent(fnd(0, 65), "agent-b"), nil)
	m.Add(withAgent(fnd(0, 85), "agent-a"), nil)
	m.Add(withAgent(fnd(1*m1, 66), "agent-b"), nil) // folded
	m.Add(withAgent(fnd(2*m1, 10), "agent-c"), nil) // below band
	m.Add(withPattern(fnd(2*m1, math.NaN()), detect.PatternFrequency), nil)

	fa := m.FiringAlerts([]Alert{{ID: "keep"}})
	if len(fa) != 3 || fa[0].ID != "keep" || fa[1].Fingerprint >= fa[2].Fingerprint {
		t.Fatalf("FiringAlerts = %+v", fa)
	}
	m.Tick(base.Add(time.Hour), nil)
	got := m.Counters(nil)
	want := []Counter{
		{Pattern: detect.PatternFrequency, Severity: SeverityNone, Rejected: 1},
		{Pattern: detect.PatternLatency, Severity: SeverityNone, BelowBand: 1},
		{Pattern: detect.PatternLatency, Severity: SeverityWarning, Emitted: 1, Folded: 1, Resolved: 1},
		{Pattern: detect.PatternLatency, Severity: SeverityCritical, Emitted: 1, Resolved: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Counters =\n%+v\nwant\n%+v", got, want)
	}
	if m.Firing() != 0 || len(m.FiringAlerts(nil)) != 0 {
		t.Error("resolved alerts still firing")
	}
}

func TestFoldPathDoesNotAllocate(t *testing.T) {
	m := NewManager(testConfig())
	f := fnd(0, 65)
	out := m.Add(f, make([]Alert, 0, 4))
	f.EventTime = base.Add(m1)
	allocs := testing.AllocsPerRun(100, func() { out = m.Add(f, out[:0]) })
	if allocs != 0 || len(out) != 0 {
		t.Errorf("fold path: %v allocs, %d alerts", allocs, len(out))
	}
	allocs = testing.AllocsPerRun(100, func() { out = m.Tick(base.Add(2*m1), out[:0]) })
	if allocs != 0 {
		t.Errorf("idle Tick: %v allocs", allocs)
	}
}

func BenchmarkAddFold(b *testing.B) {
	m := NewManager(testConfig())
	f := fnd(0, 65)
	out := m.Add(f, make([]Alert, 0, 4))
	f.EventTime = base.Add(m1)
	b.ReportAllocs()
	for b.Loop() {
		out = m.Add(f, out[:0])
	}
}

func BenchmarkAddEmit(b *testing.B) {
	cfg := testConfig()
	cfg.Cooldown = 0
	m := NewManager(cfg)
	f := fnd(0, 65)
	out := make([]Alert, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		out = m.Add(f, out[:0])
	}
}
