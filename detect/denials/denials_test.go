package denials

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

type call struct {
	agent, tool, env, status string
	denied, used             []string
}

// stream replays hours of synthetic staging traffic from base: regular keys
// with a day/night cycle and a background of occasional data_access
// denials, and a batch agent that collects ~60 data_access:read denials at
// 02:00–02:10 every night. Tick runs every 10s of event time.
func stream(d detect.Detector, hours int, inject func(sec int, add func(call))) []detect.Finding {
	rng := rand.New(rand.NewPCG(3, 4))
	keys := [][2]string{{"agent-a", "db-query"}, {"agent-b", "db-query"}, {"agent-a", "files"}}
	var out []detect.Finding
	var rec record.Record
	for sec := 0; sec < hours*3600; sec++ {
		ts := base.Add(time.Duration(sec) * time.Second)
		hour := (sec / 3600) % 24
		add := func(c call) {
			rec = record.Record{Timestamp: ts, AgentID: c.agent, Tool: record.Tool{Name: c.tool}}
			rec.Invocation.Status = c.status
			if rec.Invocation.Status == "" {
				rec.Invocation.Status = record.StatusSuccess
			}
			rec.Invocation.PermissionsDenied = c.denied
			rec.Invocation.PermissionsUsed = c.used
			rec.Context.Environment = c.env
			if c.env == "" {
				rec.Context.Environment = "staging"
			}
			out = d.Observe(&rec, out)
		}
		rate := 6.0
		if hour >= 8 && hour < 20 {
			rate = 60
		}
		for _, k := range keys {
			if rng.Float64() < rate/3600 {
				c := call{agent: k[0], tool: k[1]}
				if rng.Float64() < 0.05 {
					c.status = record.StatusDenied
					c.denied = []string{[]string{"data_access:write", "data_access:read"}[rng.IntN(2)]}
				}
				add(c)
			}
		}
		if hour == 2 && sec%3600 < 600 && sec%10 == 0 {
			add(call{agent: "batch-agent", tool: "db-query", status: record.StatusDenied, denied: []string{"data_access:read"}})
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
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	for _, f := range stream(d, 72, nil) {
		t.Errorf("unexpected: %s %s/%s %s %.1f %s", f.Pattern, f.AgentID, f.Tool, f.Detail, f.Score, f.Summary)
	}
	settle(d)
	ks := d.keys.Peek(baseline.Key{Agent: "batch-agent", Tool: "db-query"})
	if ks == nil || ks.rate().Borrowed {
		t.Fatal("batch key missing")
	}
	kr := ks.rate()
	if _, peak, _ := kr.Profile.Expect(2, 0); peak < 25 {
		t.Fatalf("batch slot peak %v: the nightly denials were not learned", peak)
	}
	if warm, m := kr.Warm(&d.tn.Base().rule), kr.Sc[0].Mean; !warm || m > 1 {
		t.Fatalf("batch key not warm at the end (warm %v mean %v)", warm, m)
	}
}

func TestSpike(t *testing.T) {
	from := (48 + 15) * 3600 // day 3, 15:00, 10 minutes
	tests := []struct {
		name, agent   string
		tool          string
		perMin        int
		wantMin, less float64
		wantBase      string
	}{
		{"x~40 own", "agent-a", "db-query", 6, 40, 101, "own"},
		// At files (db-query's total is dominated by the nightly batch, whose
		// dispersion hides a new agent's burst).
		{"new agent borrows tool", "agent-z", "files", 6, 40, 101, "tool"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			got := stream(d, 64, func(sec int, add func(call)) {
				if sec >= from && sec < from+600 && sec%(60/tc.perMin) == 0 {
					add(call{agent: tc.agent, tool: tc.tool, status: record.StatusDenied, denied: []string{"data_access:write"}})
				}
			})
			if len(got) == 0 {
				t.Fatal("no finding")
			}
			top := 0.0
			for _, f := range got {
				if f.Pattern != detect.PatternDenialSpike || f.Detail != "spike" || f.AgentID != tc.agent || f.Tool != tc.tool || f.Details["baseline"] != tc.wantBase {
					t.Fatalf("unexpected finding %+v", f)
				}
				top = max(top, f.Score)
			}
			t.Logf("%d findings, top score %.1f: %s", len(got), top, got[0].Summary)
			if top < tc.wantMin || top >= tc.less {
				t.Fatalf("top score %.1f not in [%v,%v)", top, tc.wantMin, tc.less)
			}
		})
	}
}

func TestNovelty(t *testing.T) {
	at := func(h float64) int { return int(h * 3600) }
	type ev struct {
		sec int
		c   call
	}
	tests := []struct {
		name   string
		events []ev
		want   []string // "detail score"
	}{
		{"new dangerous type after warm-up", []ev{{at(30), call{agent: "agent-b", tool: "files", denied: []string{"code_execution:exec"}}}},
			[]string{"new:code_execution 40"}},
		{"new plain type", []ev{{at(30), call{agent: "agent-b", tool: "files", denied: []string{"payments:refund"}}}},
			[]string{"new:payments 40"}},
		{"type without action", []ev{{at(30), call{agent: "agent-b", tool: "files", denied: []string{"network"}}}},
			[]string{"new:network 40"}},
		// Tens of thousands of calls: the odds bound is ~5 decades, below info.
		{"new action of known type", []ev{{at(30), call{agent: "agent-a", tool: "db-query", denied: []string{"data_access:delete"}}}},
			nil},
		{"known type and action", []ev{{at(30), call{agent: "agent-b", tool: "db-query", denied: []string{"data_access:read"}}}},
			nil},
		{"new type in warm-up is learned", []ev{
			{at(3), call{agent: "agent-a", tool: "files", denied: []string{"network:connect"}}},
			{at(30), call{agent: "agent-b", tool: "files", denied: []string{"network:connect"}}}},
			nil},
		{"new type seen once", []ev{
			{at(30), call{agent: "agent-a", tool: "files", denied: []string{"filesystem:write"}}},
			{at(31), call{agent: "agent-b", tool: "files", denied: []string{"filesystem:write"}}}},
			[]string{"new:filesystem 40"}},
		// No environment rule: a few production denials are not an alert.
		{"production denials alone", []ev{
			{at(30), call{agent: "agent-a", tool: "db-query", env: "production", status: record.StatusDenied}},
			{at(30) + 1, call{agent: "agent-a", tool: "db-query", env: "production", status: record.StatusDenied}},
			{at(30) + 2, call{agent: "agent-a", tool: "db-query", env: "production", status: record.StatusDenied}},
			{at(30) + 3, call{agent: "agent-a", tool: "db-query", env: "production", status: record.StatusDenied}}},
			nil},
		{"production success is no denial", []ev{{at(30), call{agent: "agent-a", tool: "db-query", env: "production"}}}, nil},
		// A denial of the permission the tool's successful calls use is a
		// missing grant (a sandbox account, an expired credential), not a
		// new operation; another action of that type still is new.
		{"its own permission denied", []ev{
			{at(29), call{agent: "agent-a", tool: "files", used: []string{"filesystem:read"}}},
			{at(30), call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"filesystem:read"}}}},
			nil},
		{"another action of its own permission's type", []ev{
			{at(29), call{agent: "agent-a", tool: "files", used: []string{"filesystem:read"}}},
			{at(30), call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"filesystem:read"}}},
			{at(31), call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"filesystem:write"}}}},
			[]string{"new:filesystem 40"}},
		{"used only by a failed call", []ev{
			{at(29), call{agent: "agent-a", tool: "files", status: record.StatusError, used: []string{"filesystem:read"}}},
			{at(30), call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"filesystem:read"}}}},
			[]string{"new:filesystem 40"}},
		{"used by another tool", []ev{
			{at(29), call{agent: "agent-a", tool: "db-query", used: []string{"filesystem:read"}}},
			{at(30), call{agent: "agent-b", tool: "files", status: record.StatusDenied, denied: []string{"filesystem:read"}}}},
			[]string{"new:filesystem 40"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			last := 0
			for _, e := range tc.events {
				last = max(last, e.sec)
			}
			got := stream(d, last/3600+1, func(sec int, add func(call)) {
				for _, e := range tc.events {
					if e.sec == sec {
						add(e.c)
					}
				}
			})
			var gotS []string
			for _, f := range got {
				gotS = append(gotS, fmt.Sprintf("%s %.0f", f.Detail, f.Score))
				if f.Pattern != detect.PatternDenialSpike || f.Summary == "" {
					t.Errorf("finding %+v", f)
				}
			}
			if fmt.Sprint(gotS) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", gotS, tc.want)
			}
		})
	}
}

func TestSeenSetCap(t *testing.T) {
	cfg := DefaultConfig()
	cfg.TypeWarmup, cfg.MaxTypesPerTool, cfg.MaxActionsPerTool = 0, 2, 2
	d := newDetector(t, cfg, baseline.DefaultConfig())
	var out []detect.Finding
	for i, p := range []string{"a:1", "b:1", "c:1", "c:1", "a:2"} {
		r := record.Record{Timestamp: base.Add(time.Duration(i) * time.Second), AgentID: "x", Tool: record.Tool{Name: "t"}}
		r.Invocation.PermissionsDenied = []string{p}
		out = d.Observe(&r, out)
	}
	var details []string
	for _, f := range out {
		details = append(details, f.Detail)
	}
	// c is refused twice (types full); a:2 is a known type whose action set is full.
	if fmt.Sprint(details) != "[new:a new:b]" || d.Overflow() != 3 {
		t.Fatalf("findings %v overflow %d", details, d.Overflow())
	}
}

func TestTickClosesQuietWindowsSorted(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Warmup, cfg.MinSlotWindows, cfg.BorrowToolBaseline = 0, 0, false
	d := newDetector(t, cfg, baseline.DefaultConfig())
	var out []detect.Finding
	for i := range 15 {
		for _, a := range []string{"z", "m", "a"} {
			r := record.Record{Timestamp: base.Add(time.Duration(i) * time.Second), AgentID: a, Tool: record.Tool{Name: "t"}}
			r.Invocation.Status = record.StatusDenied
			out = d.Observe(&r, out)
		}
	}
	if len(out) != 3 || out[0].Observed != 10 { // min_count 10 per key
		t.Fatalf("observe: %d findings", len(out))
	}
	// A tick reports nothing and leaves the keys alone; a key's next record
	// closes the skipped windows one by one, as eager ticks did.
	if fin := d.Tick(base.Add(time.Hour), nil); len(fin) != 0 {
		t.Fatalf("tick findings %+v", fin)
	}
	ks := d.keys.Peek(baseline.Key{Agent: "a", Tool: "t"})
	if ks.rate().Windows != 0 {
		t.Fatalf("tick rolled a key: windows %d", ks.rate().Windows)
	}
	r := record.Record{Timestamp: base.Add(time.Hour + time.Second), AgentID: "a", Tool: record.Tool{Name: "t"}}
	d.Observe(&r, nil)
	if ks.rate().Windows != 12 || ks.rate().Start != base.Add(time.Hour).Unix() {
		t.Fatalf("windows %d", ks.rate().Windows)
	}
}

func TestKeyCap(t *testing.T) {
	b := baseline.DefaultConfig()
	b.MaxKeys = 1
	d := newDetector(t, DefaultConfig(), b)
	for _, a := range []string{"a", "b", "c"} {
		r := record.Record{Timestamp: base, AgentID: a, Tool: record.Tool{Name: "t"}}
		d.Observe(&r, nil)
	}
	// Each new agent evicts the previous one at the cap.
	if live, _, capacity := d.KeyStats(); live != 2 || capacity != 2 || d.keys.Peek(baseline.Key{Agent: "c", Tool: "t"}) == nil {
		t.Fatalf("live %d capacity evictions %d", live, capacity)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"window", func(c *Config) { c.Window = 0 }, "window"},
		{"type_warmup", func(c *Config) { c.TypeWarmup = -time.Second }, "type_warmup"},
		{"max_types", func(c *Config) { c.MaxTypesPerTool = 0 }, "max_types_per_tool"},
		{"max_actions", func(c *Config) { c.MaxActionsPerTool = 1 << 20 }, "max_actions_per_tool"},
		{"dangerous decades", func(c *Config) { c.DangerousDecades = 11 }, "dangerous_decades"},
		{"false alarm rate", func(c *Config) { c.FalseAlarmRate = 0 }, "false_alarm_rate"},
		{"empty dangerous type", func(c *Config) { c.DangerousTypes = []string{"network", ""} }, "dangerous_types.1"},
		{"retry window off", func(c *Config) { c.RetryWindow = 0 }, ""},
		{"negative retry window", func(c *Config) { c.RetryWindow = -time.Second }, "retry_window"},
		{"retry window too long", func(c *Config) { c.RetryWindow = 25 * time.Hour }, "retry_window"},
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

func TestObserveDoesNotAllocate(t *testing.T) {
	d := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	r := record.Record{Timestamp: base, AgentID: "a", Tool: record.Tool{Name: "x"}}
	r.Context.Environment = "staging"
	r.Invocation.PermissionsDenied = []string{"data_access:read"}
	r.TraceID, r.Invocation.InputHash = "task-1", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	out := d.Observe(&r, nil)
	i := 0
	allocs := testing.AllocsPerRun(5000, func() {
		i++
		r.Timestamp = base.Add(time.Duration(i) * 7 * time.Second)
		if i%100 == 0 { // every other denial a new call, the rest its retries
			r.TraceID = fmt.Sprint("task-", i) // allocates outside Observe only
		}
		if i%50 == 0 { // an occasional known denial; the rest succeed
			r.Invocation.PermissionsDenied = r.Invocation.PermissionsDenied[:1]
		} else {
			r.Invocation.PermissionsDenied = r.Invocation.PermissionsDenied[:0]
		}
		out = d.Observe(&r, out[:0])
		if i%10 == 0 {
			out = d.Tick(r.Timestamp, out)
		}
	})
	if allocs != 0 || len(out) != 0 {
		t.Fatalf("allocs %v findings %d", allocs, len(out))
	}
}

func BenchmarkObserve(b *testing.B) {
	d := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	recs := make([]record.Record, 1000)
	for i := range recs {
		recs[i] = record.Record{AgentID: fmt.Sprintf("agent-%d", i%100), Tool: record.Tool{Name: fmt.Sprintf("tool-%d", i/100)}}
		recs[i].Invocation.Status = record.StatusSuccess
		recs[i].Context.Environment = "staging"
	}
	observeLoop(b, d, recs)
}

// observeLoop feeds recs round and round, a second of event time per pass.
func observeLoop(b *testing.B, d *Detector, recs []record.Record) {
	out := make([]detect.Finding, 0, 8)
	ts := base
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		r := &recs[i%len(recs)]
		i++
		if i%len(recs) == 0 {
			ts = ts.Add(time.Second)
		}
		r.Timestamp = ts
		out = d.Observe(r, out[:0])
	}
}

// BenchmarkObserveDenials is BenchmarkObserve with every 20th record a
// denial carrying a trace and an input hash; each pass over the records
// repeats it a second later (with retry_window 10m a retry, folded): the
// retry fingerprint's cost.
func BenchmarkObserveDenials(b *testing.B) {
	for _, w := range []time.Duration{0, 10 * time.Minute} {
		b.Run("retry_window="+w.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.RetryWindow = w
			d := New(detect.NewParams(cfg), baseline.DefaultConfig())
			recs := make([]record.Record, 1000)
			for i := range recs {
				r := &recs[i]
				*r = record.Record{AgentID: fmt.Sprintf("agent-%d", i%100), TraceID: fmt.Sprintf("acme-task-%07d", i/40), Tool: record.Tool{Name: fmt.Sprintf("tool-%d", i/100)}}
				r.Invocation.Status = record.StatusSuccess
				r.Invocation.InputHash = fmt.Sprintf("sha256:%064x", i/40)
				if i%20 == 0 {
					r.Invocation.Status, r.Invocation.PermissionsDenied = record.StatusDenied, []string{"data_access:read_pii"}
				}
				r.Context.Environment = "staging"
			}
			observeLoop(b, d, recs)
		})
	}
}

func BenchmarkBytesPerKey(b *testing.B) {
	detecttest.BytesPerKey(b, func() detect.Detector {
		return New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	}, "db-query", base)
}

// settle rolls every key's window to the last tick, as its next record
// would: the state eager ticks used to leave.
func settle(d *Detector) {
	d.keys.Range(func(_ baseline.Key, ks *keyState) bool {
		if ks.t.cfg.Enabled {
			ks.update(func(r *baseline.Rate) {
				if r.Start != 0 {
					r.Roll(d.tickedAt, &ks.t.rp)
				}
			})
		}
		return true
	})
}

// The used permissions survive a snapshot: a restored detector still takes
// a denial of the tool's own permission for a missing grant, and a burst
// of such denials (a revoked grant) still spikes the key.
func TestUsedPermissionsSnapshotAndSpike(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, func(sec int, add func(call)) {
		if sec == 29*3600 {
			add(call{agent: "agent-a", tool: "files", used: []string{"filesystem:read"}})
		}
	})
	r := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	detecttest.Restore(t, r, detecttest.MustMarshal(t, d))
	ts := base.Add(30 * time.Hour)
	var out []detect.Finding
	for i := range 40 {
		rec := record.Record{Timestamp: ts.Add(time.Duration(i) * 5 * time.Second), AgentID: "agent-b", Tool: record.Tool{Name: "files"}}
		rec.Invocation.Status, rec.Invocation.PermissionsDenied = record.StatusDenied, []string{"filesystem:read"}
		rec.Context.Environment = "production"
		out = r.Observe(&rec, out)
	}
	kinds := map[string]int{}
	for _, f := range out {
		kinds[f.Detail]++
	}
	if kinds["new:filesystem"] != 0 || kinds["spike"] == 0 {
		t.Fatalf("findings by detail %v: want a spike and no new type", kinds)
	}
}
