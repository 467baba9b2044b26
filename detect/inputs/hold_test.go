package inputs

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/record"
)

var crmShapes = []string{"json{customer_id:str}", "json{customer_id:str,fields:arr[str]}", "json{email:str}"}

// use is one record at second i after base of agent in task with shape s.
type use struct {
	i     int
	agent string
	task  string
	shape string
}

func (u use) record(tool string) *record.Record {
	r := rec(u.i, tool, u.agent, u.shape)
	r.Context.TaskID = u.task
	return r
}

// warmCRM is a closed, stable crm tool: 20,000 records of its three
// shapes, one a second.
func warmCRM(t *testing.T, c Config) *Detector {
	t.Helper()
	d := newDet(c)
	if fs := stream(d, 0, 20000, "crm", "agent-a", crmShapes); len(fs) != 0 {
		t.Fatalf("learning raised %+v", fs[0])
	}
	return d
}

// replayUses feeds uses in order, the fleet's known traffic (one record a
// second from agent-a, task-1) between them, until second end, ticking
// every tick seconds, and returns the findings.
func replayUses(d *Detector, tool string, uses []use, end, tick int) []detect.Finding {
	var out []detect.Finding
	next := 0
	for i := 20000; i < end; i++ {
		for ; next < len(uses) && uses[next].i == i; next++ {
			out = d.Observe(uses[next].record(tool), out)
		}
		out = d.Observe(rec(i, tool, "agent-a", crmShapes[i%len(crmShapes)]), out)
		if (i+1)%tick == 0 {
			out = d.Tick(base.Add(time.Duration(i)*time.Second), out)
		}
	}
	return out
}

const (
	ext = "json{customer_id:str,include_history:bool}"
	// ext2: a release adding two optional arguments at once.
	ext2 = "json{customer_id:str,history_days:num,include_history:bool}"
)

// holdS is the default extension_hold in seconds; a hold whose field one
// other user sent by then lasts up to holdSpan of them.
var holdS = int(DefaultConfig().ExtensionHold / time.Second)

// holdCases: a release reaches several agents or tasks within minutes to
// hours; an argument only one task of one agent sends is emitted after the
// hold.
var holdCases = []struct {
	name string
	uses []use
	want time.Duration // the first use's info finding emitted after this hold; 0 none
}{
	{"release across 5 agents in 3 minutes", []use{
		{20010, "agent-r1", "t1", ext},
		{20050, "agent-r2", "t2", ext},
		{20090, "agent-r3", "t3", "json{customer_id:str,fields:arr[str],include_history:bool}"},
		{20130, "agent-r4", "t4", ext},
		{20190, "agent-r5", "t5", ext},
	}, 0},
	{"two-field release over 45 minutes to 5 agents", []use{
		{20010, "agent-r1", "t1", ext2},
		{20010 + 600, "agent-r2", "t2", ext},
		{20010 + 1500, "agent-r3", "t3", "json{customer_id:str,history_days:num}"},
		{20010 + 2100, "agent-r4", "t4", ext2},
		{20010 + 2700, "agent-r5", "t5", "json{customer_id:str,fields:arr[str],history_days:num,include_history:bool}"},
	}, 0},
	{"release to two other agents, combined with an optional field", []use{
		{20010, "agent-r1", "t1", ext},
		{20300, "agent-r2", "t2", "json{customer_id:str,fields:arr[str],include_history:bool}"},
		{20500, "agent-r3", "t3", "json{customer_id:str,fields:arr[str],include_history:bool}"},
	}, 0},
	{"slow rollout: second other user after the hold", []use{
		{20010, "agent-r1", "t1", ext},
		{20010 + holdS - 60, "agent-r2", "t2", ext},
		{20010 + holdS + 5400, "agent-r3", "t3", ext},
	}, 0},
	{"one agent's other tasks", []use{
		{20010, "agent-r1", "t1", ext},
		{20100, "agent-r1", "t2", ext},
		{20200, "agent-r1", "t3", ext},
	}, 0},
	{"single agent, one task, repeated", []use{
		{20010, "agent-x", "t1", ext},
		{20020, "agent-x", "t1", ext},
		{20300, "agent-x", "t1", "json{customer_id:str,fields:arr[str],include_history:bool}"},
	}, 3 * time.Hour},
	{"single agent, two new fields", []use{
		{20010, "agent-x", "t1", ext2},
		{20020, "agent-x", "t1", ext},
	}, 3 * time.Hour},
	{"one other agent only", []use{
		{20010, "agent-x", "t1", ext},
		{20200, "agent-y", "t9", ext},
	}, 6 * time.Hour},
	{"other agents after the hold", []use{
		{20010, "agent-x", "t1", ext},
		{20010 + holdS + 1, "agent-y", "t2", ext},
		{20010 + holdS + 2, "agent-z", "t3", ext},
	}, 3 * time.Hour},
	{"second other agent after the longest hold", []use{
		{20010, "agent-x", "t1", ext},
		{20200, "agent-y", "t2", ext},
		{20010 + holdSpan*holdS + 1, "agent-z", "t3", ext},
	}, 6 * time.Hour},
}

// holdEnd is a second past every case's longest hold.
var holdEnd = 20010 + holdSpan*holdS + 600

func TestExtensionHold(t *testing.T) {
	for _, tt := range holdCases {
		t.Run(tt.name, func(t *testing.T) {
			d := warmCRM(t, testConfig())
			fs := replayUses(d, "crm", tt.uses, holdEnd, 60)
			pending, rollouts := d.Held()
			if pending != 0 || d.store.Peek(baseline.Key{Tool: "crm"}).held != 0 {
				t.Fatalf("%d findings still held after the hold (the tool counts %d)", pending, d.store.Peek(baseline.Key{Tool: "crm"}).held)
			}
			if tt.want == 0 {
				if len(fs) != 0 || rollouts != 1 {
					t.Fatalf("a rollout raised %d findings (%d rollouts), first %+v", len(fs), rollouts, fs)
				}
				return
			}
			f := one(t, fs)
			first := tt.uses[0]
			if f.AgentID != first.agent || f.TaskID != first.task || f.Detail != first.shape || !f.EventTime.Equal(base.Add(time.Duration(first.i)*time.Second)) {
				t.Errorf("emitted %s %s %s at %v, want the first use's identity and event time", f.AgentID, f.TaskID, f.Detail, f.EventTime)
			}
			if f.Score < 40 || f.Score >= 60 || f.Details["extension"] != true || f.Details["held_for"] != tt.want.String() {
				t.Errorf("score %v details %v, want an info extension held for %v", f.Score, f.Details, tt.want)
			}
		})
	}
}

// A release's second field often first shows in a later shape, next to
// the first one (json{customer_id,history_days,include_history} while only
// json{customer_id,fields,include_history} is known): with the first
// field still held, it is an extension of json{customer_id:str} by the
// release's two fields, held too (an hour later: it scores info, not
// below min_score as right after the first). Without other users both
// are emitted.
func TestReleaseSecondFieldLater(t *testing.T) {
	withFields := "json{customer_id:str,fields:arr[str],include_history:bool}"
	tests := []struct {
		name     string
		uses     []use
		findings int
		rollouts uint64
	}{
		{"rolled out to three agents", []use{
			{20010, "agent-r1", "t1", withFields},
			{20010 + 3600, "agent-r1", "t1", ext2},
			{20010 + 3700, "agent-r2", "t2", ext2},
			{20010 + 4000, "agent-r3", "t3", ext},
		}, 0, 2},
		{"one agent, one task", []use{
			{20010, "agent-x", "t1", withFields},
			{20010 + 3600, "agent-x", "t1", ext2},
		}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := warmCRM(t, testConfig())
			fs := replayUses(d, "crm", tt.uses, holdEnd, 60)
			pending, rollouts := d.Held()
			if len(fs) != tt.findings || pending != 0 || rollouts != tt.rollouts {
				t.Fatalf("%d findings, %d held, %d rollouts; want %d, 0, %d: %+v", len(fs), pending, rollouts, tt.findings, tt.rollouts, fs)
			}
			for _, f := range fs {
				if f.Score >= 60 || f.Details["extension"] != true || f.Details["held_for"] != "3h0m0s" {
					t.Errorf("%s: score %v details %v, want an info extension held 3h", f.Detail, f.Score, f.Details)
				}
			}
		})
	}
}

// Nothing is emitted before the hold ends, whatever the ticks.
func TestExtensionHeldUntilDue(t *testing.T) {
	d := warmCRM(t, testConfig())
	if fs := d.Observe(use{20000, "agent-x", "t1", ext}.record("crm"), nil); len(fs) != 0 {
		t.Fatalf("emitted at once: %+v", fs)
	}
	due := base.Add(20000*time.Second + DefaultConfig().ExtensionHold)
	if fs := d.Tick(due, nil); len(fs) != 0 {
		t.Fatalf("emitted at the end of its hold: records stamped then may still come")
	}
	one(t, d.Tick(due.Add(time.Nanosecond), nil))
	if fs := d.Tick(due.Add(time.Hour), nil); len(fs) != 0 {
		t.Fatalf("emitted twice")
	}
}

// Destinations and warning+ extensions are never held; extension_hold 0
// emits at once.
func TestExtensionNotHeld(t *testing.T) {
	mail := []string{"json{body:str,subject:str,to:str}", "json{body:str,subject:str,to:str,urgent:bool}"}
	tests := []struct {
		name  string
		tool  string
		known []string
		shape string
		hold  time.Duration
		min   float64
	}{
		{"bcc added to send_email", "send_email", mail, "json{bcc:str,body:str,subject:str,to:str}", 3 * time.Hour, 60},
		{"webhook_url added to send_email", "send_email", mail, "json{body:str,subject:str,to:str,webhook_url:str}", 3 * time.Hour, 60},
		{"two new fields, one an export", "crm", crmShapes, "json{customer_id:str,export_all:bool,limit:num}", 3 * time.Hour, 60},
		{"two new fields, one a destination", "crm", crmShapes, "json{customer_id:str,include_history:bool,notify_email:str}", 3 * time.Hour, 60},
		{"callback_url added", "crm", crmShapes, "json{callback_url:str,customer_id:str}", 3 * time.Hour, 60},
		{"three new fields", "crm", crmShapes, "json{customer_id:str,history_days:num,include_history:bool,verbose:bool}", 3 * time.Hour, 60},
		{"hold off", "crm", crmShapes, ext, 0, 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testConfig()
			c.ExtensionHold = tt.hold
			d := newDet(c)
			stream(d, 0, 20000, tt.tool, "agent-a", tt.known)
			f := one(t, d.Observe(rec(20000, tt.tool, "agent-b", tt.shape), nil))
			if n, _ := d.Held(); f.Score < tt.min || n != 0 || f.Details["held_for"] != nil {
				t.Errorf("score %v, %d held, details %v; want >= %v at once", f.Score, n, f.Details, tt.min)
			}
		})
	}
}

// At maxHeld pending holds a new info extension is emitted at once.
func TestExtensionHoldCap(t *testing.T) {
	d := warmCRM(t, testConfig())
	stream(d, 0, 20000, "crm2", "agent-a", crmShapes)
	d.Observe(use{20000, "agent-x", "t1", ext}.record("crm2"), nil)
	if n, _ := d.Held(); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
	for len(d.held) < maxHeld { // other tools' holds, as far as the cap is concerned
		hd := d.held[0]
		hd.f.Tool = fmt.Sprintf("tool-%d", len(d.held))
		d.held = append(d.held, hd)
	}
	f := one(t, d.Observe(use{20001, "agent-x", "t1", ext}.record("crm"), nil))
	if f.Details["extension"] != true || f.Details["held_for"] != nil || f.Score >= 60 {
		t.Errorf("at the cap: score %v details %v, want the info extension emitted at once", f.Score, f.Details)
	}
	if fs := d.Tick(base.Add(time.Hour*24), nil); len(fs) != maxHeld {
		t.Errorf("the held findings: %d emitted, want %d", len(fs), maxHeld)
	}
}

// A snapshot taken while a finding is held restores it: emitted once, as
// the uninterrupted detector emits it; so is a rollout's drop.
func TestExtensionHoldSnapshot(t *testing.T) {
	for _, tt := range holdCases {
		t.Run(tt.name, func(t *testing.T) {
			end := holdEnd
			a := warmCRM(t, testConfig())
			cut := tt.uses[0].i + 30 // after the first use: held
			pre := replayUses(a, "crm", tt.uses, cut, 60)
			if n, _ := a.Held(); len(pre) != 0 || n != 1 {
				t.Fatalf("before the cut: %d findings, %d held; want 0, 1", len(pre), n)
			}
			b := newDet(testConfig())
			detecttest.Restore(t, b, detecttest.MustMarshal(t, a))
			if ha, hb := a.store.Peek(baseline.Key{Tool: "crm"}).held, b.store.Peek(baseline.Key{Tool: "crm"}).held; ha != 1 || hb != 1 {
				t.Fatalf("the tool counts %d held findings, restored %d; want 1", ha, hb)
			}
			rest := slices.DeleteFunc(slices.Clone(tt.uses), func(u use) bool { return u.i < cut })
			run := func(d *Detector) []detect.Finding {
				var out []detect.Finding
				next := 0
				for i := cut; i < end; i++ {
					for ; next < len(rest) && rest[next].i == i; next++ {
						out = d.Observe(rest[next].record("crm"), out)
					}
					out = d.Observe(rec(i, "crm", "agent-a", crmShapes[i%len(crmShapes)]), out)
					if (i+1)%60 == 0 {
						out = d.Tick(base.Add(time.Duration(i)*time.Second), out)
					}
				}
				return d.Tick(base.Add(time.Duration(end+3600)*time.Second), out)
			}
			fa, fb := detecttest.FindingsJSON(t, run(a)), detecttest.FindingsJSON(t, run(b))
			if want := map[bool]int{true: 1, false: 0}[tt.want != 0]; len(fb) != want {
				t.Fatalf("restored: %d findings, want %d", len(fb), want)
			}
			if !slices.Equal(fa, fb) {
				t.Fatalf("restored emits\n%v\nthe original\n%v", fb, fa)
			}
			if !slices.Equal(detecttest.MustMarshal(t, a), detecttest.MustMarshal(t, b)) {
				t.Fatalf("states differ at the end")
			}
		})
	}
}

// Ticks every second or every ten minutes emit the same findings: a hold
// ends by event time, and uses after its end do not count.
func TestExtensionHoldTickCadence(t *testing.T) {
	for _, tt := range holdCases {
		t.Run(tt.name, func(t *testing.T) {
			var got [2][]string
			for k, tick := range []int{1, 600} {
				d := warmCRM(t, testConfig())
				fs := replayUses(d, "crm", tt.uses, holdEnd, tick)
				got[k] = detecttest.FindingsJSON(t, d.Tick(base.Add(24*time.Hour), fs))
			}
			if !slices.Equal(got[0], got[1]) {
				t.Fatalf("eager ticks\n%v\nlazy ticks\n%v", got[0], got[1])
			}
		})
	}
}

// A known shape's record while findings are held does not allocate.
func TestKnownShapeWithHoldDoesNotAllocate(t *testing.T) {
	d := warmCRM(t, testConfig())
	d.Observe(use{20000, "agent-x", "t1", ext}.record("crm"), nil)
	if n, _ := d.Held(); n != 1 {
		t.Fatalf("%d held, want 1", n)
	}
	known, carrier := rec(20001, "crm", "agent-a", crmShapes[0]), use{20001, "agent-x", "t1", ext}.record("crm")
	var out []detect.Finding
	for _, r := range []*record.Record{known, carrier} {
		if n := testing.AllocsPerRun(100, func() { out = d.Observe(r, out[:0]) }); n != 0 {
			t.Errorf("%s: %v allocations per record", r.Invocation.InputShape, n)
		}
	}
}

// BenchmarkObserveKnownShapeHeld: the known-shape path while extensions
// are held (a release's hold now lasts hours): one at the record's tool,
// or maxHeld at other tools or at the record's tool.
func BenchmarkObserveKnownShapeHeld(b *testing.B) {
	for _, bc := range []struct {
		name  string
		n     int
		other bool
	}{{"1 here", 1, false}, {"64 other tools", maxHeld, true}, {"64 here", maxHeld, false}} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDet(testConfig())
			stream(d, 0, 20000, "crm", "agent-a", crmShapes)
			d.Observe(use{20000, "agent-x", "t1", ext}.record("crm"), nil)
			for len(d.held) < bc.n {
				hd := d.held[0]
				if bc.other {
					hd.f.Tool = fmt.Sprintf("tool-%d", len(d.held))
				}
				d.held = append(d.held, hd)
			}
			if bc.other {
				d.held[0].f.Tool = "tool-0"
			}
			tl := d.store.Peek(baseline.Key{Tool: "crm"})
			tl.held = 0
			for _, hd := range d.held {
				if hd.f.Tool == "crm" {
					tl.held++
				}
			}
			r := rec(20001, "crm", "agent-a", crmShapes[0])
			out := make([]detect.Finding, 0, 4)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.Timestamp = base.Add(20001*time.Second + time.Duration(i)*time.Microsecond)
				if out = d.Observe(r, out[:0]); len(out) != 0 {
					b.Fatal("finding on known path")
				}
			}
		})
	}
}
