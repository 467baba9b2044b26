package denials

import (
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

func sameFindings(t *testing.T, a, b []string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d findings vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("finding %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
}

const spikeAt = (48 + 15) * 3600 // day 3, 15:00

// anomalies: a denial spike, a new dangerous type, a new action and
// escalating production denials, all on day 3.
func anomalies(sec int, add func(call)) {
	switch {
	case sec >= spikeAt && sec < spikeAt+600 && sec%10 == 0:
		add(call{agent: "agent-a", tool: "db-query", status: record.StatusDenied, denied: []string{"data_access:write"}})
	case sec == 50*3600:
		add(call{agent: "agent-b", tool: "files", denied: []string{"code_execution:exec"}})
	case sec == 52*3600:
		add(call{agent: "agent-a", tool: "db-query", denied: []string{"data_access:delete"}})
	case sec >= 55*3600 && sec < 55*3600+8:
		add(call{agent: "agent-b", tool: "db-query", env: "production", status: record.StatusDenied})
	}
}

func TestCrashEquivalence(t *testing.T) {
	mk := func() *Detector { return newDetector(t, DefaultConfig(), baseline.DefaultConfig()) }
	for _, cut := range []int{40*3600 + 123, 55*3600 + 3, spikeAt + 95} {
		s := &detecttest.Splitter{T: t, Cut: base.Add(time.Duration(cut) * time.Second), A: mk(), New: func() detecttest.Detector { return mk() }}
		stream(s, 64, anomalies)
		if s.B == nil || len(s.OutA) == 0 {
			t.Fatalf("cut %d: vacuous (%d findings after the cut)", cut, len(s.OutA))
		}
		sameFindings(t, detecttest.FindingsJSON(t, s.OutA), detecttest.FindingsJSON(t, s.OutB))
		t.Logf("cut %d: %d findings compared", cut, len(s.OutA))
	}
}

func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, nil)
	good := detecttest.MustMarshal(t, d)
	rec := func(v uint64, st *StateV4) []byte { return detecttest.Sealed(v, st.put) }
	detecttest.RejectsCorrupt(t, d, good, rec(5, &StateV4{Tools: []ToolV4{{Tool: "x", Types: []uint64{1, 2}, Used: []uint64{3}}}}), detecttest.Corruptions(good, map[string][]byte{
		"version 2 (gob)": rec(2, &StateV4{}),
		"duplicate tool":  rec(5, &StateV4{Tools: []ToolV4{{Tool: "x"}, {Tool: "x"}}}),
		"ring position":   rec(5, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rate: baseline.Rate{Pos: 200}}}}),
		"quiet windows":   rec(5, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rate: baseline.Rate{Quiet: 3}}}}),
		"huge count":      encoding.Seal([]byte{5, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
	}))
	if ts := d.tools.Peek(baseline.Key{Tool: "db-query"}); ts == nil || len(ts.types) == 0 {
		t.Fatal("no learned types: the check above was vacuous")
	}
}

func spikes(fs []detect.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Detail == "spike" && f.AgentID == "agent-a" {
			n++
		}
	}
	return n
}

func TestSetParamsKeepsBaselines(t *testing.T) {
	big := func(sec int, add func(call)) { // 6 denials a minute for 10 minutes
		if sec >= spikeAt && sec < spikeAt+600 && sec%10 == 0 {
			add(call{agent: "agent-a", tool: "db-query", status: record.StatusDenied, denied: []string{"data_access:write"}})
		}
	}
	mild := func(sec int, add func(call)) { // 5 in 5 minutes: under min_count
		if sec >= spikeAt && sec < spikeAt+300 && sec%60 == 0 {
			add(call{agent: "agent-a", tool: "db-query", status: record.StatusDenied, denied: []string{"data_access:write"}})
		}
	}
	raised := DefaultConfig()
	raised.MinCount = 100000
	lowered := DefaultConfig()
	lowered.MinCount, lowered.PeakRatio, lowered.FalseAlarmRate = 3, 0, 0.01
	key := baseline.Key{Agent: "agent-a", Tool: "db-query"}
	tests := []struct {
		name   string
		inject func(sec int, add func(call))
		cfg    *Config
		want   bool
	}{
		{"big, defaults", big, nil, true},
		{"big, raised min_count", big, &raised, false},
		{"mild, defaults", mild, nil, false},
		{"mild, lowered thresholds", mild, &lowered, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			var s detect.Detector = d
			if tc.cfg != nil {
				at := base.Add(spikeAt*time.Second - 27*time.Minute - 55*time.Second) // mid-window
				p := detect.NewParams(*tc.cfg)
				done := false
				s = &detecttest.Hooked{Detector: d, Hook: func(ts time.Time) {
					if done || ts.Before(at) {
						return
					}
					done = true
					before := d.keys.Peek(key)
					prof, first := before.rate().Profile, before.rate().First
					tool := d.tools.Peek(baseline.Key{Tool: key.Tool})
					types := len(tool.types)
					d.SetParams(p)
					r := record.Record{Timestamp: ts, AgentID: key.Agent, Tool: record.Tool{Name: key.Tool}}
					d.Observe(&r, nil) // keys re-resolve lazily, on their next record
					after := d.keys.Peek(key)
					if after != before || after.rate().Profile != prof || after.rate().First != first || after.t.cfg != &p.Base {
						t.Fatal("reload lost the key's baseline or did not bind the new config")
					}
					if d.tools.Peek(baseline.Key{Tool: key.Tool}) != tool || len(tool.types) != types || types == 0 {
						t.Fatal("reload lost the tool's seen types")
					}
				}}
			}
			if got := spikes(stream(s, 64, tc.inject)); (got > 0) != tc.want {
				t.Fatalf("%d spike findings, want alert=%v", got, tc.want)
			}
		})
	}
}

func TestSetParamsSameConfigChangesNothing(t *testing.T) {
	want := detecttest.FindingsJSON(t, stream(newDetector(t, DefaultConfig(), baseline.DefaultConfig()), 64, anomalies))
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	reloads := []int{40*3600 + 123, 55*3600 + 3, spikeAt + 95, spikeAt + 400}
	got := detecttest.FindingsJSON(t, stream(&detecttest.Hooked{Detector: d, Hook: func(ts time.Time) {
		if len(reloads) > 0 && !ts.Before(base.Add(time.Duration(reloads[0])*time.Second)) {
			reloads = reloads[1:]
			d.SetParams(detect.NewParams(DefaultConfig()))
		}
	}}, 64, anomalies))
	if len(want) == 0 || len(reloads) != 0 {
		t.Fatalf("vacuous: %d findings, %d reloads left", len(want), len(reloads))
	}
	sameFindings(t, got, want)
}

func TestSetParamsWindowChangeResetsRateOnly(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, nil)
	key := baseline.Key{Agent: "agent-a", Tool: "db-query"}
	tool := d.tools.Peek(baseline.Key{Tool: "db-query"})
	since, types := tool.since, len(tool.types)
	cfg := DefaultConfig()
	cfg.Window = 10 * time.Minute
	d.SetParams(detect.NewParams(cfg))
	r := record.Record{Timestamp: base.Add(30*time.Hour - time.Second), AgentID: key.Agent, Tool: record.Tool{Name: key.Tool}}
	d.Observe(&r, nil)
	ks := d.keys.Peek(key)
	if ks.t.rp.Size != 600 || ks.rate().Windows != 0 || ks.rate().Start%600 != 0 {
		t.Fatalf("key rate not reset to 10m windows: %+v", ks.rate().Counter)
	}
	if tool.rate.Windows != 0 || tool.since != since || len(tool.types) != types || types == 0 {
		t.Fatalf("tool: windows %d since %d (want %d) types %d (want %d)", tool.rate.Windows, tool.since, since, len(tool.types), types)
	}
}
