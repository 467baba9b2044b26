package inputs

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/score"
	"github.com/toolwatch/toolwatch/record"
)

// traffic is a synthetic stream on event time: a record every step in
// [from, to) after base, agents and shapes in turn (shape i%len, agent
// i/len(shapes)%len, so every agent sends every shape), one task per 10
// records, a Tick every tick of event time.
type traffic struct {
	tool     string
	agents   []string
	shapes   func(i int) string
	from, to time.Duration
	step     time.Duration
}

func (tr traffic) run(d *Detector, out []detect.Finding) []detect.Finding {
	const tick = time.Minute
	next := tr.from.Truncate(tick) + tick
	for i, at := 0, tr.from; at < tr.to; i, at = i+1, at+tr.step {
		for ; next <= at; next += tick {
			out = d.Tick(base.Add(next), out)
		}
		r := rec(0, tr.tool, tr.agents[i%len(tr.agents)], tr.shapes(i))
		r.Timestamp = base.Add(at)
		r.SpanID = fmt.Sprintf("span-%s-%d", tr.tool, at)
		r.Context.TaskID = fmt.Sprintf("task-%s-%d", tr.agents[i%len(tr.agents)], at/(10*tr.step))
		out = d.Observe(r, out)
	}
	return out
}

func cycle(shapes ...string) func(int) string {
	return func(i int) string { return shapes[i/3%len(shapes)] }
}

var fleet = []string{"agent-a", "agent-b", "agent-c"}

// probe is one record at base+at.
func probe(d *Detector, at time.Duration, tool, agent, s string) []detect.Finding {
	r := rec(0, tool, agent, s)
	r.Timestamp = base.Add(at)
	r.SpanID = "probe-" + s
	return d.Observe(r, nil)
}

func kinds(fs []detect.Finding) (shapes map[string]int, openings []detect.Finding) {
	shapes = map[string]int{}
	for _, f := range fs {
		if f.Details["kind"] == kindOpening {
			openings = append(openings, f)
		} else {
			shapes[f.AgentID]++
		}
	}
	return shapes, openings
}

// A closed tool flooded for two hours with 5,000 distinct harmless shapes
// from one agent: one vocabulary_opening finding, no finding per flood
// shape after it, the reference keeps its three shapes and its closed
// openness, a new shape from another agent during and after the opening
// still scores at least warning, and the flood's shapes age out of the
// vocabulary and score as novel when replayed the next day.
func TestFloodOpensVocabularyReferenceHolds(t *testing.T) {
	d := newDet(testConfig())
	const day = 24 * time.Hour
	normal := func(from, to time.Duration) traffic {
		return traffic{tool: "db-query", agents: fleet, shapes: cycle(dbShapes...), from: from, to: to, step: 20 * time.Second}
	}
	if fs := normal(0, day).run(d, nil); len(fs) != 0 {
		t.Fatalf("a day of a closed vocabulary raised %d findings, first %+v", len(fs), fs[0])
	}
	tl := d.store.Peek(baseline.Key{Tool: "db-query"})
	if tl.refLen != 3 || !tl.refClosed() {
		t.Fatalf("after a day: reference %d shapes, openness %v (%d windows); want 3, closed", tl.refLen, tl.refOpen, tl.refWindows)
	}
	refOpen := tl.refOpen

	// The flood, interleaved with the fleet's normal traffic.
	flood := traffic{tool: "db-query", agents: []string{"agent-f"}, from: day, to: day + 2*time.Hour, step: 1440 * time.Millisecond,
		shapes: func(i int) string { return fmt.Sprintf("json{id:num,x%d:str}", i) }}
	var fs []detect.Finding
	for at := day; at < day+2*time.Hour; at += 10 * time.Minute {
		f, n := flood, normal(at, at+10*time.Minute)
		f.from, f.to = at, at+10*time.Minute
		fs = f.run(d, fs)
		fs = n.run(d, fs)
	}
	perAgent, openings := kinds(fs)
	if len(openings) != 1 {
		t.Fatalf("%d vocabulary_opening findings, want 1 (per agent %v)", len(openings), perAgent)
	}
	op := openings[0]
	if op.Detail != kindOpening || op.AgentID != "agent-f" || op.Score < 60 || op.Details["reference_shapes"] != uint32(3) ||
		op.Details["new_shapes"].(int) < testConfig().OpeningNewShapes || op.Expected != 3 {
		t.Errorf("opening finding %+v", op)
	}
	// Before the opening only the flood's first shapes were judged (the
	// first at full weight, then the vocabulary looked open).
	if perAgent["agent-f"] > 2 || len(perAgent) > 1 {
		t.Errorf("per-shape findings during the flood: %v", perAgent)
	}
	if tl.refLen != 3 || tl.refOpen != refOpen || tl.flood == nil {
		t.Errorf("during the opening: reference %d shapes, openness %v (was %v), opening %v", tl.refLen, tl.refOpen, refOpen, tl.flood)
	}
	if o, _ := tl.openness(); o != 1 {
		t.Errorf("short-term openness %v after the flood, want 1 (attributed to the flood)", o)
	}
	if b, _ := d.Inspect("", "db-query"); b.Parts[0].Values["opening"] != true || b.Parts[0].Values["reference_shapes"] != uint32(3) ||
		b.Parts[0].Values["quarantined_shapes"] == uint32(0) {
		t.Errorf("Inspect during the opening: %v", b.Parts[0].Values)
	}

	end := day + 2*time.Hour
	tests := []struct {
		name    string
		at      time.Duration // event time of the probe
		agent   string
		shape   string
		judged  any // details.judged_by
		opening bool
		ext     bool // an extension of json{id:num} (one new plain field): 2 decades lower, still emitted
	}{
		{"right after the flood, another agent", end + time.Minute, "agent-b", "json{id:num,rack:str,region:str,zone:str}", "reference", true, false},
		// The flood's agent paused for more than novelty_window_records
		// records: its next new shape (the "real one" after a flood) is judged.
		{"the flood's agent after a pause", end + 30*time.Minute, "agent-f", "json{id:num,role:str,team:str,unit:str}", "reference", true, false},
		{"next day, after the opening", end + day, "agent-c", "json{id:num,since:str,tz:str,until:str}", nil, false, false},
		// Aged out of the quarantine: new again, and extensions.
		{"flood shape replayed next day", end + day + 2*time.Hour, "agent-f", "json{id:num,x17:str}", nil, false, true},
		{"another flood shape, another agent", end + day + 4*time.Hour, "agent-a", "json{id:num,x4000:str}", nil, false, true},
	}
	at := end
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := normal(at, tt.at).run(d, nil)
			// The flood's first shape (an extension judged before the
			// opening) comes out when its hold ends.
			fs = slices.DeleteFunc(fs, func(f detect.Finding) bool {
				return f.AgentID == "agent-f" && f.Details["held_for"] != nil && f.EventTime.Before(base.Add(day+time.Minute))
			})
			if len(fs) != 0 {
				t.Fatalf("normal traffic before the probe raised %+v", fs)
			}
			at = tt.at + 20*time.Second
			if (tl.flood != nil) != tt.opening {
				t.Fatalf("opening under way: %v, want %v", tl.flood != nil, tt.opening)
			}
			// What the flooded vocabulary alone would give it (the behaviour before the reference).
			short, _ := tl.decades(base.Add(tt.at).UnixNano(), "", false)
			fs = probe(d, tt.at, "db-query", tt.agent, tt.shape)
			if tt.ext {
				// An info extension is held for extension_hold: the
				// fleet's traffic meanwhile does not send its field.
				if len(fs) != 0 {
					t.Fatalf("extension emitted before its hold: %+v", fs)
				}
				at = tt.at + testConfig().ExtensionHold + 2*time.Minute
				fs = normal(tt.at+20*time.Second, at).run(d, nil)
			}
			f := one(t, fs)
			lo := 60.0
			if tt.ext {
				lo = 40
			}
			if ext, _ := f.Details["extension"].(bool); f.Score < lo || ext != tt.ext || f.Details["judged_by"] != tt.judged || f.Details["first_seen"] != true {
				t.Fatalf("score %v judged_by %v: %+v", f.Score, f.Details["judged_by"], f.Details)
			}
			if tt.opening && score.FromDecades(short) >= 40 {
				t.Errorf("judged by the flooded vocabulary it scores %.1f: the case does not show the reference's effect", score.FromDecades(short))
			}
			t.Logf("score %.1f (the flooded vocabulary alone: %.1f)", f.Score, score.FromDecades(short))
		})
	}
	// The flood aged out of the vocabulary; the reference kept its own.
	// (Clean windows since moved its openness a little: the probes' new shapes.)
	if tl.floodShapes != 0 || tl.set.Len() != 8 || tl.refLen != 3 || !tl.refClosed() {
		t.Errorf("a day after: %d quarantined, %d shapes, reference %d (openness %v, was %v)",
			tl.floodShapes, tl.set.Len(), tl.refLen, tl.refOpen, refOpen)
	}
	for _, s := range []string{"json{id:num,x17:str}", "json{id:num,x4000:str}"} {
		if sl := tl.set.Find(baseline.Hash64(s)); sl == nil || sl.Flags&flagRef != 0 {
			t.Errorf("replayed flood shape %s: %+v, want known outside the reference", s, sl)
		}
	}
}

// Without the reference the same flood leaves the tool open: this is the
// behaviour the reference replaces (the opening is what changes it).
func TestFloodWithoutReferenceWouldSilence(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 1200, "db-query", "agent-a", dbShapes) // 20 minutes: no window has closed, no reference
	tl := d.store.Peek(baseline.Key{Tool: "db-query"})
	var fs []detect.Finding
	for i := 1200; i < 1400; i++ {
		fs = d.Observe(rec(i, "db-query", "agent-f", fmt.Sprintf("json{y%d:num}", i)), fs)
	}
	if tl.refWindows != 0 || tl.flood != nil {
		t.Fatalf("reference %d windows, opening %v: want no reference yet", tl.refWindows, tl.flood)
	}
	if f := probe(d, 1400*time.Second, "db-query", "agent-b", "json{id:num,region:str}"); len(f) != 0 {
		t.Fatalf("new shape after a flood with no reference: %+v, want none (open vocabulary)", f)
	}
}

// Tools whose vocabulary legitimately changes, over a week on event time.
func TestReferenceOverAWeek(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		name string
		cfg  func(*Config)
		tr   []traffic
		// Checks at the end.
		wantShape  map[string]int // per-agent findings of kind shape
		maxShape   int            // instead: at most this many, none outside the flood's agents
		wantOpen   int            // vocabulary_opening findings
		refOpen    bool           // reference open at the end
		inRef      string         // a shape that must be in the reference
		wantRefLen uint32
	}{
		{
			name: "open search tool from many agents stays silent",
			tr: []traffic{{tool: "web-search", agents: []string{"a1", "a2", "a3", "a4", "a5"}, from: 0, to: 7 * day, step: 30 * time.Second,
				shapes: func(i int) string {
					if i%20 == 7 {
						return fmt.Sprintf("json{q:str,facet%d:str}", i)
					}
					return "json{q:str}"
				}}},
			wantShape: map[string]int{}, refOpen: true, inRef: "json{q:str}",
		},
		{
			name: "search tool flooded by one agent stays silent",
			tr: []traffic{
				{tool: "web-search", agents: fleet, from: 0, to: 3 * day, step: 30 * time.Second,
					shapes: func(i int) string {
						if i%20 == 7 {
							return fmt.Sprintf("json{q:str,facet%d:str}", i)
						}
						return "json{q:str}"
					}},
				{tool: "web-search", agents: []string{"agent-f"}, from: 3 * day, to: 3*day + time.Hour, step: time.Second,
					shapes: func(i int) string { return fmt.Sprintf("json{q:str,junk%d:str}", i) }},
			},
			wantShape: map[string]int{}, refOpen: true,
		},
		{
			name: "new shape used by the fleet over days joins the reference",
			tr: []traffic{
				{tool: "crm", agents: fleet, from: 0, to: day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
				{tool: "crm", agents: fleet, from: day, to: 4 * day, step: 20 * time.Second,
					shapes: cycle("json{customer_id:str}", "json{email:str}", "json{customer_id:str,expand:bool}")},
			},
			// Its first sighting is an info extension, held; the fleet's other
			// agents send it within the hold (a rollout): dropped, then routine.
			wantShape: map[string]int{}, inRef: "json{customer_id:str,expand:bool}", wantRefLen: 3,
		},
		{
			name: "a single agent's repeated flood never joins the reference",
			tr: []traffic{
				{tool: "crm", agents: fleet, from: 0, to: 4 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
				{tool: "crm", agents: []string{"agent-f"}, from: 4 * day, to: 4*day + time.Hour, step: time.Second,
					shapes: func(i int) string { return fmt.Sprintf("json{customer_id:str,f%d:num}", i%500) }},
				{tool: "crm", agents: fleet, from: 4*day + time.Hour, to: 5 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
				{tool: "crm", agents: []string{"agent-f"}, from: 5 * day, to: 5*day + time.Hour, step: time.Second,
					shapes: func(i int) string { return fmt.Sprintf("json{customer_id:str,f%d:num}", i%500) }},
				{tool: "crm", agents: fleet, from: 5*day + time.Hour, to: 7 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
			},
			wantShape: map[string]int{"agent-f": 2}, wantOpen: 2, wantRefLen: 2,
		},
		{
			// One new shape every 10 minutes (every 30th record) keeps the
			// vocabulary open by its novelty rate but never brings 16 in 50
			// records; 16 in a day's window is an opening too.
			name: "slow flood from one agent opens by the window's count",
			cfg:  func(c *Config) { c.DistinctWindow, c.StableAfter = 24*time.Hour, 24*time.Hour },
			tr: []traffic{
				{tool: "crm", agents: fleet, from: 0, to: 2 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
				{tool: "crm", agents: []string{"agent-f"}, from: 2*day + 5*time.Second, to: 3 * day, step: 10 * time.Minute,
					shapes: func(i int) string { return fmt.Sprintf("json{customer_id:str,s%d:num}", i) }},
				{tool: "crm", agents: fleet, from: 2 * day, to: 4 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
			},
			wantShape: map[string]int{"agent-f": 1}, wantOpen: 1, wantRefLen: 2,
		},
		{
			// A poisoned client on five agents, interleaved: the opening's
			// agent and each one joining cost one judged shape at most.
			name: "flood from five agents",
			tr: []traffic{
				{tool: "crm", agents: fleet, from: 0, to: 2 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
				{tool: "crm", agents: []string{"agent-f1", "agent-f2", "agent-f3", "agent-f4", "agent-f5"}, from: 2 * day, to: 2*day + time.Hour, step: time.Second,
					shapes: func(i int) string { return fmt.Sprintf("json{customer_id:str,p%d:num}", i) }},
				{tool: "crm", agents: fleet, from: 2*day + time.Hour, to: 3 * day, step: 20 * time.Second, shapes: cycle("json{customer_id:str}", "json{email:str}")},
			},
			maxShape: 6, wantOpen: 1, wantRefLen: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			d := newDet(c)
			var fs []detect.Finding
			for _, tr := range tt.tr {
				fs = tr.run(d, fs)
			}
			perAgent, openings := kinds(fs)
			if tt.maxShape > 0 {
				var n int
				for a, c := range perAgent {
					if a[:6] != "agent-" || a[6] != 'f' {
						t.Errorf("%d findings for %s, outside the flood", c, a)
					}
					n += c
				}
				if n > tt.maxShape {
					t.Errorf("%d per-shape findings, want at most %d: %v", n, tt.maxShape, perAgent)
				}
				tt.wantShape = perAgent
			}
			if fmt.Sprint(perAgent) != fmt.Sprint(tt.wantShape) || len(openings) != tt.wantOpen {
				t.Errorf("shape findings per agent %v, %d openings; want %v, %d", perAgent, len(openings), tt.wantShape, tt.wantOpen)
				for _, f := range fs {
					t.Logf("%s %s %.1f %s", f.EventTime.Sub(base), f.AgentID, f.Score, f.Detail)
				}
			}
			tl := d.store.Peek(baseline.Key{Tool: tt.tr[0].tool})
			if tl.refClosed() == tt.refOpen || tl.refWindows == 0 {
				t.Errorf("reference openness %v over %d windows, want open=%v", tl.refOpen, tl.refWindows, tt.refOpen)
			}
			if tt.inRef != "" {
				if sl := tl.set.Find(baseline.Hash64(tt.inRef)); sl == nil || sl.Flags&flagRef == 0 {
					t.Errorf("%s not in the reference: %+v", tt.inRef, sl)
				}
			}
			if tt.wantRefLen != 0 && tl.refLen != tt.wantRefLen {
				t.Errorf("reference holds %d shapes, want %d", tl.refLen, tt.wantRefLen)
			}
		})
	}
}

// floodRecords is a day of a closed db-query tool (fleet, every 20 s),
// then an hour's flood of 3,600 shapes from agent-f, then six more hours
// of the fleet with new shapes from agent-b (during the opening), agent-c
// (after it) and a flood shape replayed by agent-f.
func floodRecords() []*record.Record {
	const day = 24 * time.Hour
	var rs []*record.Record
	add := func(at time.Duration, agent, s string) {
		r := rec(0, "db-query", agent, s)
		r.Timestamp = base.Add(at)
		r.SpanID = fmt.Sprintf("span-%d", len(rs))
		rs = append(rs, r)
	}
	for at, i := time.Duration(0), 0; at < day+9*time.Hour+10*time.Minute; at, i = at+20*time.Second, i+1 {
		add(at, fleet[i%3], dbShapes[i/3%3])
		if at >= day && at < day+time.Hour {
			for j := range 20 {
				add(at+time.Duration(j)*time.Second, "agent-f", fmt.Sprintf("json{id:num,x%d:str}", i*20+j))
			}
		}
		switch at {
		case day + 70*time.Minute:
			add(at+time.Second, "agent-b", "json{id:num,region:str}")
		case day + 5*time.Hour:
			add(at+time.Second, "agent-c", "json{id:num,since:str}")
		case day + 6*time.Hour:
			add(at+time.Second, "agent-f", fmt.Sprintf("json{id:num,x%d:str}", 4320*20+5))
		}
	}
	return rs
}

func feedRecords(d *Detector, rs []*record.Record) []detect.Finding {
	var out []detect.Finding
	for i, r := range rs {
		out = d.Observe(r, out)
		if i+1 == len(rs) || rs[i+1].Timestamp.Truncate(time.Minute) != r.Timestamp.Truncate(time.Minute) {
			out = d.Tick(r.Timestamp, out)
		}
	}
	return out
}

// A snapshot taken before, during or after an opening restores to a
// detector that goes on exactly like the original.
func TestCrashEquivalenceOpening(t *testing.T) {
	rs := floodRecords()
	at := func(d time.Duration) int {
		for i, r := range rs {
			if !r.Timestamp.Before(base.Add(d)) {
				return i
			}
		}
		t.Fatalf("no record at %v", d)
		return 0
	}
	const day = 24 * time.Hour
	for _, tc := range []struct {
		cut         time.Duration
		opening     bool // under way at the cut
		quarantined bool
	}{{day + 10*time.Second, false, false}, {day + 30*time.Minute, true, true}, {day + 90*time.Minute, true, true}, {day + 150*time.Minute, false, false}} {
		t.Run(tc.cut.String(), func(t *testing.T) {
			a, b := newDet(testConfig()), newDet(testConfig())
			n := at(tc.cut)
			feedRecords(a, rs[:n])
			if tl := a.store.Peek(baseline.Key{Tool: "db-query"}); (tl.flood != nil) != tc.opening || (tl.floodShapes != 0) != tc.quarantined {
				t.Fatalf("at the cut: opening %v, %d quarantined; want opening %v, quarantined %v", tl.flood, tl.floodShapes, tc.opening, tc.quarantined)
			}
			detecttest.Restore(t, b, detecttest.MustMarshal(t, a))
			fa, fb := detecttest.FindingsJSON(t, feedRecords(a, rs[n:])), detecttest.FindingsJSON(t, feedRecords(b, rs[n:]))
			if len(fa) == 0 || fmt.Sprint(fa) != fmt.Sprint(fb) {
				t.Fatalf("after the cut: original %d findings, restored %d:\n%v\n%v", len(fa), len(fb), fa, fb)
			}
			ta, tb := a.store.Peek(baseline.Key{Tool: "db-query"}), b.store.Peek(baseline.Key{Tool: "db-query"})
			if ta.refLen != 3 || tb.refLen != 3 || ta.floodShapes != tb.floodShapes || ta.refOpen != tb.refOpen {
				t.Fatalf("end: reference %d/%d, quarantined %d/%d, openness %v/%v", ta.refLen, tb.refLen, ta.floodShapes, tb.floodShapes, ta.refOpen, tb.refOpen)
			}
		})
	}
	// The stream raises what the flood test asserts: one opening, the
	// three probes.
	fs := feedRecords(newDet(testConfig()), rs)
	perAgent, openings := kinds(fs)
	if len(openings) != 1 || perAgent["agent-b"] != 1 || perAgent["agent-c"] != 1 || perAgent["agent-f"] < 1 || perAgent["agent-f"] > 2 {
		t.Fatalf("findings per agent %v, %d openings", perAgent, len(openings))
	}
}

// BenchmarkObserveFlood measures a flood record (a first-seen shape from
// the agent of an opening, learned quarantined) at a tool whose set fills
// to max_shapes and then overflows into its sketches.
func BenchmarkObserveFlood(b *testing.B) {
	d := newDet(testConfig())
	const day = 24 * time.Hour
	traffic{tool: "db-query", agents: fleet, shapes: cycle(dbShapes...), from: 0, to: day, step: 20 * time.Second}.run(d, nil)
	recs := make([]*record.Record, 1<<16)
	for i := range recs {
		recs[i] = rec(0, "db-query", "agent-f", fmt.Sprintf("json{id:num,x%d:str}", i))
	}
	out := make([]detect.Finding, 0, 4)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := recs[i%len(recs)]
		r.Timestamp = base.Add(day + time.Duration(i)*time.Millisecond)
		out = d.Observe(r, out[:0])
	}
	if tl := d.store.Peek(baseline.Key{Tool: "db-query"}); tl.flood == nil {
		b.Fatal("no opening")
	}
}

// An opening at a young reference, where one new shape judged against it
// scores below min_score, is still emitted, at min_score.
func TestOpeningNeverBelowMinScore(t *testing.T) {
	d := newDet(testConfig())
	traffic{tool: "db-query", agents: fleet, shapes: cycle(dbShapes...), from: 0, to: time.Hour, step: 10 * time.Second}.run(d, nil)
	probe(d, 59*time.Minute+5*time.Second, "db-query", "agent-b", "json{id:num,late:bool}") // a new shape just before the window ends
	fs := traffic{tool: "db-query", agents: []string{"agent-f"}, from: time.Hour + time.Minute, to: time.Hour + 2*time.Minute, step: time.Second,
		shapes: func(i int) string { return fmt.Sprintf("json{z%d:num}", i) }}.run(d, nil)
	_, openings := kinds(fs)
	tl := d.store.Peek(baseline.Key{Tool: "db-query"})
	if len(openings) != 1 || tl.refWindows != 1 {
		t.Fatalf("%d openings, reference of %d windows", len(openings), tl.refWindows)
	}
	op := openings[0]
	raw := score.FromDecades(-op.Details["log10_p"].(float64) + score.Prior("", "", "production"))
	if raw >= testConfig().MinScore || op.Score != testConfig().MinScore {
		t.Fatalf("opening scores %v (judged against the reference: %.1f); want min_score %v for a reference scoring below it",
			op.Score, raw, testConfig().MinScore)
	}
	t.Logf("judged against the reference %.1f, emitted at %v", raw, op.Score)
}
