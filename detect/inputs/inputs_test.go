package inputs

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

var base = time.Date(2026, 3, 23, 14, 0, 0, 0, time.UTC)

func testConfig() Config {
	c := DefaultConfig()
	c.WarmupRecords = 100
	c.WarmupAge = 10 * time.Minute
	c.NoveltyWindowRecords = 50
	c.OpenNewPer1000 = 20 // one new shape per 50 records
	c.OpenDistinct = 16
	c.DistinctWindow = time.Hour
	c.StableAfter = time.Hour
	return c
}

func newDet(c Config) *Detector {
	if es := c.Validate(); len(es) > 0 {
		panic(es)
	}
	return New(detect.NewParams(c), baseline.Config{MaxKeys: 100, IdleTTL: 24 * time.Hour})
}

func rec(i int, tool, agent, shape string) *record.Record {
	return &record.Record{
		TraceID:   "trace-" + agent,
		SpanID:    fmt.Sprintf("span-%d", i),
		Timestamp: base.Add(time.Duration(i) * time.Second),
		AgentID:   agent,
		Tool:      record.Tool{Name: tool, Version: "1.0"},
		Invocation: record.Invocation{
			Status: record.StatusSuccess, InputShape: shape,
			OutputBytes: record.Absent, InputBytes: record.Absent,
		},
		Context: record.Context{Environment: "production", TaskID: "task-1"},
	}
}

// stream feeds records i in [from, to) with shapes[i%len], ticking every 60
// records, and returns all findings.
func stream(d *Detector, from, to int, tool, agent string, shapes []string) []detect.Finding {
	var out []detect.Finding
	for i := from; i < to; i++ {
		out = d.Observe(rec(i, tool, agent, shapes[i%len(shapes)]), out)
		if i%60 == 59 {
			out = d.Tick(base.Add(time.Duration(i)*time.Second), out)
		}
	}
	return out
}

var dbShapes = []string{"json{limit:num,query:str/sql}", "json{id:num}", "json{query:str/sql}"}

func one(t *testing.T, fs []detect.Finding) detect.Finding {
	t.Helper()
	if len(fs) != 1 {
		t.Fatalf("got %d findings, want 1: %+v", len(fs), fs)
	}
	return fs[0]
}

func TestClosedToolSQLInjectionIsCritical(t *testing.T) {
	d := newDet(testConfig())
	if fs := stream(d, 0, 1200, "db-query", "agent-a", dbShapes); len(fs) != 0 {
		t.Fatalf("learning a closed vocabulary raised %d findings: %+v", len(fs), fs)
	}
	f := one(t, d.Observe(rec(1200, "db-query", "agent-x", "json{query:str/sql-injection}"), nil))
	if f.Score < 80 || f.Score > 100 {
		t.Fatalf("score %v, want critical (>= 80)", f.Score)
	}
	want := "db-query received a new input shape json{query:str/sql-injection} from agent-x; its 3 known shapes are all json"
	if f.Summary != want {
		t.Errorf("summary\n got %q\nwant %q", f.Summary, want)
	}
	if f.Pattern != detect.PatternInputNovelty || f.Detail != "json{query:str/sql-injection}" || f.Unit != "shapes" ||
		f.Observed != 4 || f.Expected != 3 || f.AgentID != "agent-x" || f.Tool != "db-query" ||
		f.SpanID != "span-1200" || !f.EventTime.Equal(base.Add(1200*time.Second)) {
		t.Errorf("finding fields: %+v", f)
	}
	if f.Details["class"] != "sql-injection" || f.Details["first_seen"] != true {
		t.Errorf("details: %v", f.Details)
	}
}

func TestTextToolBinaryIsCritical(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "summarize", "agent-a", []string{"text/plain", "text/long"})
	f := one(t, d.Observe(rec(1200, "summarize", "agent-b", "binary"), nil))
	if f.Score < 80 {
		t.Fatalf("score %v, want critical", f.Score)
	}
	if !strings.HasSuffix(f.Summary, "its 2 known shapes are all text") {
		t.Errorf("summary %q", f.Summary)
	}
}

func TestBinaryAtNonTextToolIsBelowCritical(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "upload", "agent-a", []string{"json{name:str,data:str/base64}", "text/path"})
	f := one(t, d.Observe(rec(1200, "upload", "agent-a", "binary"), nil))
	if f.Score < 40 || f.Score >= 80 {
		t.Fatalf("score %v, want an alert below critical", f.Score)
	}
}

func TestClosedToolNewJSONShapeAlerts(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
	// Three new fields: not an extension (TestExtension).
	f := one(t, d.Observe(rec(1200, "db-query", "agent-a", "json{id:num,owner:str,schema:str,table:str}"), nil))
	// 1,200 records, no singletons, a young vocabulary: info.
	if f.Score < 40 || f.Score >= 60 {
		t.Fatalf("score %v, want info (40-59)", f.Score)
	}
	// Seen once: the second time it is known and raises nothing.
	if fs := d.Observe(rec(1201, "db-query", "agent-b", "json{id:num,owner:str,schema:str,table:str}"), nil); len(fs) != 0 {
		t.Fatalf("known shape re-alerted: %+v", fs)
	}
}

// A longer quiet period before the new shape means a more stable vocabulary
// and a higher score.
func TestScoreRisesWithStability(t *testing.T) {
	score := func(quiet int) float64 {
		c := testConfig()
		c.MinScore = 0 // compare raw scores
		d := newDet(c)
		stream(d, 0, 600+quiet, "db-query", "agent-a", dbShapes)
		return one(t, d.Observe(rec(600+quiet, "db-query", "agent-a", "json{new:bool}"), nil)).Score
	}
	short, long := score(100), score(3600)
	if !(short < long) || long > 79 || long < 40 {
		t.Fatalf("scores after short/long quiet: %v, %v", short, long)
	}
}

func TestOpenVocabularyRaisesOnlyDangerous(t *testing.T) {
	d := newDet(testConfig())
	var out []detect.Finding
	n := 0
	for i := 0; i < 2000; i++ {
		s := "json{q:str}"
		if i%20 == 0 { // a search tool: a new shape every ~20 records
			n++
			s = fmt.Sprintf("json{q:str,facet%d:str}", n)
		}
		out = d.Observe(rec(i, "web-search", "agent-a", s), out)
		if i%60 == 59 {
			out = d.Tick(base.Add(time.Duration(i)*time.Second), out)
		}
	}
	if len(out) != 0 {
		t.Fatalf("open vocabulary raised %d findings, first %+v", len(out), out[0])
	}
	f := one(t, d.Observe(rec(2000, "web-search", "agent-a", "json{q:str/sql-injection}"), nil))
	if f.Score < 80 || !strings.HasSuffix(f.Summary, "(open vocabulary)") {
		t.Fatalf("injection at open tool: score %v summary %q", f.Score, f.Summary)
	}
	if f.Details["openness"] != 1.0 {
		t.Errorf("openness %v, want 1", f.Details["openness"])
	}
}

// Many distinct shapes in use make a tool open even when none is new lately.
func TestOpenByDistinctShapesInUse(t *testing.T) {
	c := testConfig()
	d := newDet(c)
	var shapes []string
	for i := 0; i < 20; i++ { // > OpenDistinct (16)
		shapes = append(shapes, fmt.Sprintf("json{k%d:num}", i))
	}
	stream(d, 0, 1200, "kv", "agent-a", shapes)
	if fs := d.Observe(rec(1200, "kv", "agent-a", "json{other:num}"), nil); len(fs) != 0 {
		t.Fatalf("new plain shape at a tool using 20 shapes: %+v", fs)
	}
}

func TestWarmupSuppresses(t *testing.T) {
	c := testConfig()
	d := newDet(c)
	stream(d, 0, 50, "db-query", "agent-a", dbShapes)
	if fs := d.Observe(rec(50, "db-query", "agent-a", "json{early:num}"), nil); len(fs) != 0 {
		t.Fatalf("before warmup_records: %+v", fs)
	}
	// Enough records but not enough event time: all in the first 5 minutes.
	d = newDet(c)
	var out []detect.Finding
	for i := 0; i < 300; i++ {
		r := rec(0, "db-query", "agent-a", dbShapes[i%3])
		r.Timestamp = base.Add(time.Duration(i) * time.Second)
		out = d.Observe(r, out)
	}
	if out = d.Observe(rec(300, "db-query", "agent-a", "json{early:num}"), out); len(out) != 0 {
		t.Fatalf("before warmup_age: %+v", out)
	}
	// A plain shape first seen in warm-up is known afterwards.
	stream(d, 301, 1500, "db-query", "agent-a", dbShapes)
	if fs := d.Observe(rec(1500, "db-query", "agent-a", "json{early:num}"), nil); len(fs) != 0 {
		t.Fatalf("shape learned in warm-up re-alerted: %+v", fs)
	}
}

func TestInjectionAlwaysAlerts(t *testing.T) {
	inj := "text/sql-injection"
	d := newDet(testConfig())
	stream(d, 0, 10, "db-query", "agent-a", dbShapes)
	if f := one(t, d.Observe(rec(10, "db-query", "agent-a", inj), nil)); f.Score < 80 {
		t.Fatalf("injection in warm-up: score %v", f.Score)
	}
	f := one(t, d.Observe(rec(11, "db-query", "agent-a", inj), nil))
	if f.Details["first_seen"] != false || f.Score < 80 || !strings.Contains(f.Summary, "again") {
		t.Fatalf("known injection: %+v", f)
	}

	c := testConfig()
	c.AlwaysAlertInjection = false
	d = newDet(c)
	stream(d, 0, 10, "db-query", "agent-a", dbShapes)
	if fs := d.Observe(rec(10, "db-query", "agent-a", inj), nil); len(fs) != 0 {
		t.Fatalf("injection in warm-up with always_alert_injection off: %+v", fs)
	}
	stream(d, 11, 1200, "db-query", "agent-a", append(dbShapes, inj))
	if fs := d.Observe(rec(1200, "db-query", "agent-a", inj), nil); len(fs) != 0 {
		t.Fatalf("known injection with always_alert_injection off: %+v", fs)
	}
}

// A shape the tool knows is not an alert for an agent that never sent it.
func TestKnownShapeFromNewAgent(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
	if fs := d.Observe(rec(1200, "db-query", "agent-new", dbShapes[1]), nil); len(fs) != 0 {
		t.Fatalf("%+v", fs)
	}
}

func TestSkipsRecordsWithoutShape(t *testing.T) {
	d := newDet(testConfig())
	d.Observe(rec(0, "db-query", "agent-a", ""), nil)
	if live, _, _ := d.KeyStats(); live != 0 || d.ShapeStats().Skipped != 1 {
		t.Fatalf("live %d stats %+v", live, d.ShapeStats())
	}
}

func TestShapeCapOverflow(t *testing.T) {
	c := testConfig()
	c.MaxShapes = 16
	d := newDet(c)
	var shapes []string
	for i := 0; i < 40; i++ {
		shapes = append(shapes, fmt.Sprintf("json{f%d:num}", i))
	}
	out := stream(d, 0, 400, "wide", "agent-a", shapes)
	st := d.ShapeStats()
	// 16 shapes fit; each record of the other 24 is counted (10 records each).
	if st.FullTools != 1 || st.Overflow != 240 {
		t.Fatalf("stats %+v, want 1 full tool and 240 overflow records", st)
	}
	tl := d.store.Peek(baseline.Key{Tool: "wide"})
	if tl.set.Len() != 16 {
		t.Fatalf("set holds %d shapes, want 16", tl.set.Len())
	}
	d.Tick(base.Add(400*time.Second), nil)
	if k := tl.known(); k < 38 || k > 42 {
		t.Fatalf("known shapes estimate %d, want ~40", k)
	}
	if len(out) != 0 {
		t.Fatalf("findings during warm-up: %d", len(out))
	}
	// Past warm-up an overflowing tool is open: plain shapes raise nothing,
	// injection still does.
	out = stream(d, 400, 1200, "wide", "agent-a", shapes)
	if len(out) != 0 {
		t.Fatalf("overflowing tool raised %d findings", len(out))
	}
	if f := one(t, d.Observe(rec(1200, "wide", "agent-a", "text/sql-injection"), nil)); f.Score < 80 || f.Observed < 38 {
		t.Fatalf("injection at full tool: %+v", f)
	}
}

func TestOverrides(t *testing.T) {
	off := testConfig()
	off.Enabled = false
	p := detect.NewParams(testConfig())
	p.Rules = []detect.Rule[Config]{{Tool: "noisy-*", Config: off}}
	d := New(p, baseline.Config{MaxKeys: 10})
	stream(d, 0, 1200, "noisy-search", "agent-a", dbShapes)
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
	if fs := d.Observe(rec(1200, "noisy-search", "agent-a", "text/sql-injection"), nil); len(fs) != 0 {
		t.Fatalf("disabled tool raised %+v", fs)
	}
	one(t, d.Observe(rec(1200, "db-query", "agent-a", "text/sql-injection"), nil))
}

func TestKeyCapAndEviction(t *testing.T) {
	d := New(detect.NewParams(testConfig()), baseline.Config{MaxKeys: 2, IdleTTL: time.Hour})
	for i, tool := range []string{"a", "b", "c"} {
		d.Observe(rec(i, tool, "agent", "text/plain"), nil)
	}
	if live, _, capacity := d.KeyStats(); live != 2 || capacity != 1 { // c evicted a
		t.Fatalf("live %d capacity evictions %d", live, capacity)
	}
	d.Tick(base.Add(2*time.Hour), nil)
	if live, evicted, _ := d.KeyStats(); live != 0 || evicted != 2 {
		t.Fatalf("after idle: live %d evicted %d", live, evicted)
	}
}

// Distinct windows rotate in event time: a tool that used many shapes long
// ago but few lately is closed again.
func TestDistinctWindowRotation(t *testing.T) {
	c := testConfig()
	c.OpenNewPer1000 = 400  // only the distinct rule matters here
	c.OpeningNewShapes = 20 // an opening must leave the vocabulary open (20 new shapes per 50 records)
	d := newDet(c)
	var many []string
	for i := 0; i < 20; i++ {
		many = append(many, fmt.Sprintf("json{k%d:num}", i))
	}
	stream(d, 0, 600, "kv", "agent-a", many)
	tl := d.store.Peek(baseline.Key{Tool: "kv"})
	if o, _ := tl.openness(); o != 1 {
		t.Fatalf("openness with 20 shapes in use: %v", o)
	}
	// Two hours with only one shape: previous and current window hold 1.
	stream(d, 600, 600+2*3600+10, "kv", "agent-a", many[:1])
	if o, _ := tl.openness(); o > 0.5 {
		t.Fatalf("openness after quiet windows: %v (prev %d cur %d)", o, tl.prevDistinct, tl.curExact)
	}
	f := one(t, d.Observe(rec(9000, "kv", "agent-a", "json{fresh:num}"), nil))
	if f.Score < 40 {
		t.Fatalf("score %v", f.Score)
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []detect.Finding {
		d := newDet(testConfig())
		var out []detect.Finding
		out = append(out, stream(d, 0, 1200, "db-query", "agent-a", dbShapes)...)
		out = append(out, stream(d, 0, 1200, "summarize", "agent-b", []string{"text/plain"})...)
		out = d.Observe(rec(1200, "db-query", "agent-x", "json{query:str/sql-injection}"), out)
		out = d.Observe(rec(1201, "summarize", "agent-x", "binary"), out)
		out = d.Observe(rec(1202, "db-query", "agent-x", "json{extra:num}"), out)
		return out
	}
	a, b := run(), run()
	if len(a) != 3 || !reflect.DeepEqual(a, b) {
		t.Fatalf("runs differ or wrong count (%d):\n%+v\n%+v", len(a), a, b)
	}
}

func TestDetailTruncated(t *testing.T) {
	c := testConfig()
	c.MaxDetailBytes = 16
	d := newDet(c)
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
	s := "json{a_long_field_name:num,b:str}"
	f := one(t, d.Observe(rec(1200, "db-query", "agent-a", s), nil))
	if f.Detail != s[:16] || f.Details["shape"] != s {
		t.Fatalf("detail %q shape %v", f.Detail, f.Details["shape"])
	}
	if got := truncate("aé", 2); got != "a" {
		t.Fatalf("truncate on a rune boundary: %q", got)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		path string
	}{
		{"default ok", func(*Config) {}, ""},
		{"warmup_records", func(c *Config) { c.WarmupRecords = 0 }, "warmup_records"},
		{"warmup_age", func(c *Config) { c.WarmupAge = -time.Second }, "warmup_age"},
		{"max_shapes", func(c *Config) { c.MaxShapes = 0 }, "max_shapes"},
		{"window too small", func(c *Config) { c.NoveltyWindowRecords = 5 }, "novelty_window_records"},
		{"window > warmup", func(c *Config) { c.NoveltyWindowRecords = 1000 }, "novelty_window_records"},
		{"rate zero", func(c *Config) { c.OpenNewPer1000 = 0 }, "open_new_per_1000"},
		{"rate uncountable", func(c *Config) { c.OpenNewPer1000 = 500 }, "open_new_per_1000"},
		{"open_distinct", func(c *Config) { c.OpenDistinct = 1 }, "open_distinct"},
		{"open_distinct > max_shapes", func(c *Config) { c.MaxShapes = 8 }, "open_distinct"},
		{"distinct_window", func(c *Config) { c.DistinctWindow = time.Second }, "distinct_window"},
		{"stable_after", func(c *Config) { c.StableAfter = 0 }, "stable_after"},
		{"min_score", func(c *Config) { c.MinScore = 101 }, "min_score"},
		{"max_detail_bytes", func(c *Config) { c.MaxDetailBytes = 300 }, "max_detail_bytes"},
		{"reference_min_windows", func(c *Config) { c.ReferenceMinWindows = 1 }, "reference_min_windows"},
		{"reference_min_windows > 15", func(c *Config) { c.ReferenceMinWindows = 16 }, "reference_min_windows"},
		{"reference_max_shapes", func(c *Config) { c.ReferenceMaxShapes = 0 }, "reference_max_shapes"},
		{"reference_windows", func(c *Config) { c.ReferenceWindows = 0 }, "reference_windows"},
		{"opening_new_shapes", func(c *Config) { c.OpeningNewShapes = 33 }, "opening_new_shapes"},
		{"opening below open", func(c *Config) { c.OpenNewPer1000 = 100; c.OpeningNewShapes = 16 }, "opening_new_shapes"},
		{"opening > window", func(c *Config) { c.NoveltyWindowRecords = 10; c.OpenNewPer1000 = 100; c.OpeningNewShapes = 12 }, "opening_new_shapes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			es := c.Validate()
			if tt.path == "" {
				if len(es) != 0 {
					t.Fatalf("unexpected errors: %v", es)
				}
				return
			}
			if len(es) != 1 || es[0].Path != tt.path {
				t.Fatalf("errors %v, want one at %s", es, tt.path)
			}
		})
	}
}

func BenchmarkObserveKnownShape(b *testing.B) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
	recs := make([]*record.Record, 3)
	for i := range recs {
		recs[i] = rec(1200+i, "db-query", "agent-a", dbShapes[i])
	}
	out := make([]detect.Finding, 0, 4)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := recs[i%3]
		r.Timestamp = base.Add(time.Duration(1200+i) * time.Millisecond)
		if out = d.Observe(r, out[:0]); len(out) != 0 {
			b.Fatal("finding on known path")
		}
	}
}

// BenchmarkTickOverflowingTools measures Tick over 100 tools whose sets
// overflowed, i.e. the HyperLogLog refresh cost.
func BenchmarkTickOverflowingTools(b *testing.B) {
	c := testConfig()
	c.MaxShapes = 16
	d := newDet(c)
	for k := 0; k < 100; k++ {
		for i := 0; i < 2000; i++ {
			d.Observe(rec(i, fmt.Sprintf("tool-%d", k), "a", fmt.Sprintf("json{f%d:num}", i)), nil)
		}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		// Dirty every sketch so Refresh recomputes.
		d.store.Range(func(_ baseline.Key, t *tool) bool {
			t.overAll.InsertHash(uint64(i))
			t.overCur.InsertHash(uint64(i))
			return true
		})
		d.Tick(base.Add(2000*time.Second), nil)
	}
}

// BenchmarkMemoryPerTool reports heap bytes per tool key holding 8 shapes.
func BenchmarkMemoryPerTool(b *testing.B) {
	const n = 2000
	shapes := make([]string, 8)
	for i := range shapes {
		shapes[i] = fmt.Sprintf("json{f%d:num}", i)
	}
	tools := make([]string, n)
	for i := range tools {
		tools[i] = fmt.Sprintf("tool-%d", i)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		d := New(detect.NewParams(testConfig()), baseline.Config{MaxKeys: n})
		for k := 0; k < n; k++ {
			for i, s := range shapes {
				d.Observe(rec(i, tools[k], "a", s), nil)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/tool")
		runtime.KeepAlive(d)
	}
}

// A misnamed argument (a plain new shape the tool rejected: status error)
// is discounted and not learned; the same shape executing later, and
// dangerous shapes whatever their status, are judged at full weight.
func TestRejectedNewShape(t *testing.T) {
	const wrong = "json{customerId:str,fields:str}"
	raw := func(status, s string) (float64, float64, []detect.Finding) {
		c := testConfig()
		c.MinScore = 0
		d := newDet(c)
		stream(d, 0, 1200, "crm", "agent-a", []string{"json{customer_id:str,fields:str}"})
		r := rec(1200, "crm", "agent-a", s)
		r.Invocation.Status = status
		f := one(t, d.Observe(r, nil))
		later := d.Observe(rec(1201, "crm", "agent-a", s), nil)
		return f.Score, f.Details["log10_p"].(float64), later
	}
	ok, okP, _ := raw(record.StatusSuccess, wrong)
	rej, rejP, later := raw(record.StatusError, wrong)
	if d := rejP - okP; math.Abs(d-rejectedDecades) > 0.01 {
		t.Errorf("rejected shape log10 p %.3f, executed %.3f: want %d decades more probable", rejP, okP, rejectedDecades)
	}
	if rej >= testConfig().MinScore {
		t.Errorf("rejected misnamed argument at a young closed tool scores %.1f >= min_score", rej)
	}
	if len(later) != 1 || later[0].Score != ok {
		t.Errorf("the rejected shape executing later: %+v, want one finding scoring %.1f", later, ok)
	}
	for _, s := range []string{"json{customer_id:str/sql-injection}", "binary"} {
		a, _, _ := raw(record.StatusSuccess, s)
		b, _, _ := raw(record.StatusError, s)
		if a != b {
			t.Errorf("%s: rejected %.1f, executed %.1f: dangerous shapes are not discounted", s, b, a)
		}
	}
}
