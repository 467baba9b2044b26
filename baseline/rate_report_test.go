package baseline

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/record"
)

func TestWindowName(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Minute, "5m"}, {time.Hour, "1h"}, {2 * time.Hour, "2h"},
		{90 * time.Minute, "90m"}, {30 * time.Second, "30s"}, {90 * time.Second, "90s"},
	} {
		if got := WindowName(tc.d); got != tc.want {
			t.Errorf("WindowName(%v) = %q, want %q", tc.d, got, tc.want)
		}
	}
}

// rateAt returns a Rate whose current window starts at start, with history
// since first and slot means/peaks mean, peak seen n times in start's slot.
func rateAt(first, start int64, mean, peak float32, n uint16) Rate {
	var r Rate
	r.First, r.Start = first, start
	s := HourSlot(start)
	r.Mean[s], r.Peak[s], r.Seen[s] = mean, peak, n
	return r
}

func TestArmSpike(t *testing.T) {
	rule := SpikeRule{MinCount: 1, Ratio: 3, LogP: math.Log(1e-4), Warmup: 86400, MinSlotWindows: 2}
	start := day0 + 2*86400 + 10*3600
	warm := rateAt(day0, start, 10, 12, 5)
	young := rateAt(start-3600, start, 2, 2, 5) // too little history
	tool := rateAt(day0, start, 40, 40, 5)
	var agents Profile
	agents.Mean[10] = 4
	var fewAgents Profile
	fewAgents.Mean[10] = 0.5
	for _, tc := range []struct {
		name         string
		r            Rate
		borrow       *Rate
		per          *Profile
		exp          float64
		borrowed     bool
		disarmed     bool
		wantThrFromE float64 // expectation the threshold is derived from
	}{
		{"own warm", warm, &tool, &agents, 10, false, false, 10},
		{"cold, no borrow", young, nil, nil, 2, false, true, 0},
		{"cold, borrow cold", young, &young, nil, 2, false, true, 0},
		{"cold, borrow total", young, &tool, nil, 40, true, false, 40},
		{"cold, borrow per agent", young, &tool, &agents, 10, true, false, 10},
		{"cold, borrow per agent below 1", young, &tool, &fewAgents, 40, true, false, 40},
	} {
		r := tc.r
		r.ArmSpike(&rule, tc.borrow, tc.per)
		if r.NeedsArm() || r.Borrowed != tc.borrowed || float64(r.Exp) != tc.exp {
			t.Errorf("%s: armed=%v borrowed=%v exp=%v", tc.name, !r.NeedsArm(), r.Borrowed, r.Exp)
		}
		want := uint32(0)
		if !tc.disarmed {
			want = rule.Threshold(tc.wantThrFromE, 0) // PeakRatio 0: peaks do not count
		}
		if r.Thr != want || r.Next != want || r.Reported != 0 {
			t.Errorf("%s: thr %d next %d reported %d, want thr %d", tc.name, r.Thr, r.Next, r.Reported, want)
		}
	}
}

func TestRearmSpikeKeepsEscalation(t *testing.T) {
	rule := SpikeRule{MinCount: 1, Ratio: 3, LogP: math.Log(1e-4), Warmup: 86400, MinSlotWindows: 2}
	start := day0 + 2*86400
	for _, tc := range []struct {
		name                   string
		mean                   float32
		wantReported, wantNext uint32
	}{
		// Threshold 30 (mean 10) is below the reported 50: the window stays
		// reported, next report at the old next level.
		{"lower threshold", 10, 50, 100},
		// Threshold 300 is above 50: a fresh window as far as reports go.
		{"higher threshold", 100, 0, 300},
	} {
		r := rateAt(day0, start, tc.mean, tc.mean, 5)
		r.Arm(20, 5, false)
		r.N, r.Reported, r.Next = 50, 50, 100
		r.RearmSpike(&rule, nil, nil)
		if r.Thr != rule.Threshold(float64(tc.mean), float64(tc.mean)) || r.Reported != tc.wantReported || r.Next != tc.wantNext {
			t.Errorf("%s: thr %d reported %d next %d", tc.name, r.Thr, r.Reported, r.Next)
		}
	}
}

func TestSpikeAndCloseFinding(t *testing.T) {
	c := SpikeConfig{Window: 5 * time.Minute, HalfLife: 7 * 24 * time.Hour, PeakHalfLife: 7 * 24 * time.Hour, NeighbourWeight: 0.5}
	rep := c.Report("frequency", "calls", "%s called %d times in %s by %s; expected about %.3g for this hour")
	if rep.Unit != "calls/5m" || rep.Window != "5m" || rep.Size != 300 || rep.Neighbour != 0.5 {
		t.Fatalf("report %+v", rep)
	}
	start := day0 + 14*3600
	r := rateAt(day0-86400, start, 4, 9, 24)
	r.Arm(22, 4.2, true)
	r.N = 21
	if !r.Hit() {
		t.Fatal("no hit at the threshold")
	}
	rec := record.Record{Timestamp: time.Unix(start+42, 0).UTC(), AgentID: "agent-a", Tool: record.Tool{Name: "search", Version: "1"}, TraceID: "tr"}
	f := r.SpikeFinding(&rec, &rep)
	if f.Pattern != "frequency" || f.Detail != "spike" || f.Observed != 22 || f.Unit != "calls/5m" || f.TraceID != "tr" || !f.EventTime.Equal(rec.Timestamp) {
		t.Errorf("spike finding %+v", f)
	}
	if want := "search called 22 times in 5m by agent-a; expected about 4.2 for this hour"; f.Summary != want {
		t.Errorf("summary %q, want %q", f.Summary, want)
	}
	if f.Score != Score(22, float64(float32(4.2))) {
		t.Errorf("score %v", f.Score)
	}
	for k, want := range map[string]any{"expected": 4.2, "threshold": uint32(22), "hour_slot": 14, "slot_peak": 9.0,
		"slot_windows": 24, "windows": uint32(0), "baseline": "tool", "window_start": "2026-03-23T14:00:00Z"} {
		if f.Details[k] != want {
			t.Errorf("detail %s = %#v, want %#v", k, f.Details[k], want)
		}
	}
	r.N = 30
	cl, ok := r.Roll(start+300+5, &RateParams{Size: 300, Alpha: 0.1, PeakDecay: 1, OverallAlpha: 0.1, MaxCatchUp: 10})
	if !ok || !r.Unreported(cl) {
		t.Fatalf("closed %v %+v, unreported %v", ok, cl, r.Unreported(cl))
	}
	g := r.CloseFinding("agent-a", "search", cl, &rep)
	if r.Reported != 0 {
		t.Error("close finding left the report level set")
	}
	if g.Observed != 30 || g.AgentID != "agent-a" || g.Tool != "search" || g.TraceID != "" || !g.EventTime.Equal(time.Unix(start+300, 0)) {
		t.Errorf("close finding %+v", g)
	}
	if want := "search called 30 times in 5m by agent-a; expected about 4.2 for this hour"; g.Summary != want {
		t.Errorf("close summary %q", g.Summary)
	}
	if g.Details["window_final"] != true || g.Details["baseline"] != "tool" || g.Details["hour_slot"] != 14 {
		t.Errorf("close details %v", g.Details)
	}
}

func TestSnapshotFraming(t *testing.T) {
	type st struct {
		Version int
		X       []int
	}
	b, err := AppendSnapshot([]byte("prefix"), "test state", &st{Version: 3, X: []int{1, 2}})
	if err != nil || !strings.HasPrefix(string(b), "prefix") {
		t.Fatalf("append: %v", err)
	}
	var got st
	if err := DecodeSnapshot(b[len("prefix"):], "test state", &got, &got.Version, 3); err != nil || len(got.X) != 2 {
		t.Fatalf("decode: %v %+v", err, got)
	}
	var v2 st
	err = DecodeSnapshot(b[len("prefix"):], "test state", &v2, &v2.Version, 2)
	if err == nil || err.Error() != "test state: version 3, want 2" {
		t.Errorf("version mismatch: %v", err)
	}
	var bad st
	err = DecodeSnapshot(b[:len(b)-1], "test state", &bad, &bad.Version, 3)
	if !errors.Is(err, ErrCorrupt) || !strings.HasPrefix(err.Error(), "test state: ") {
		t.Errorf("corrupt: %v", err)
	}
	if _, err := AppendSnapshot(nil, "test state", func() {}); err == nil || !strings.HasPrefix(err.Error(), "test state: ") {
		t.Errorf("unencodable: %v", err)
	}
}
