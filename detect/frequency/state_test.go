package frequency

import (
	"math"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// anomalies injects an x40 spike (agent-a) and a new agent's burst at day 3
// 14:00, and a same-input loop (agent-b/search) at day 3 10:00.
func anomalies(sec int, add func(call)) {
	const spike, loop = (48 + 14) * 3600, (48 + 10) * 3600
	if sec >= spike && sec < spike+600 {
		add(call{"agent-a", "db-query", hashes[(sec*7)%len(hashes)]})
		if sec%3 < 2 {
			add(call{"agent-new", "db-query", hashes[(sec*13)%len(hashes)]})
		}
	}
	if sec >= loop && sec < loop+120 {
		add(call{"agent-b", "search", "sha256:stuck"})
	}
}

func TestCrashEquivalence(t *testing.T) {
	cuts := []struct {
		name string
		at   int // seconds since base
	}{
		{"quiet, mid-window", 40*3600 + 123},
		{"inside the loop", (48+10)*3600 + 45},
		{"inside the spike, after its first report", (48+14)*3600 + 200},
	}
	mk := func() *Detector { return newDetector(t, DefaultConfig(), baseline.DefaultConfig()) }
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			s := &detecttest.Splitter{T: t, Cut: base.Add(time.Duration(c.at) * time.Second), A: mk(), New: func() detecttest.Detector { return mk() }}
			stream(s, 66, anomalies)
			if s.B == nil {
				t.Fatal("stream never reached the cut")
			}
			details := map[string]int{}
			for _, f := range s.OutA {
				details[f.Detail]++
			}
			if details["spike"] == 0 {
				t.Fatalf("no spike after the cut (%v): the comparison would be vacuous", details)
			}
			a, b := detecttest.FindingsJSON(t, s.OutA), detecttest.FindingsJSON(t, s.OutB)
			if len(a) != len(b) {
				t.Fatalf("original %d findings, restored %d", len(a), len(b))
			}
			for i := range a {
				if a[i] != b[i] {
					t.Fatalf("finding %d differs:\noriginal %s\nrestored %s", i, a[i], b[i])
				}
			}
			t.Logf("%d findings after the cut compared (%v)", len(a), details)
		})
	}
}

func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, nil)
	good := detecttest.MustMarshal(t, d)
	rec := func(v uint64, st *StateV4) []byte { return detecttest.Sealed(v, st.put) }
	detecttest.RejectsCorrupt(t, d, good, rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rise: RiseV4{L: 3, Thr: 9, Obs: 20, Exp: 4, N: 3},
		Task: TaskV5{Ring: [taskRing]uint32{7, 9}, N: 2, EwT: 1, EwN: 4, L: 2, Thr: 6, Factor: 2048, Prev: 3,
			Calls: [taskRing]uint8{3, 1}, CallsMean: 1.5, CallsPeak: 4, CallsThr: 30, CallsSeen: 20}}},
		Tools:  []ToolV3{{Tool: "x", Inst: [baseline.MaxScales]uint32{4, 9}, InstPeak: [baseline.MaxScales]float32{3.5, 12}}},
		Agents: []AgentV4{{Agent: "a", Total: 4, Obs: 5, Exp: 4, TaskObs: 2, TaskExp: 1.5, PrevTaskObs: 3, PrevTaskExp: 2}}}), detecttest.Corruptions(good, map[string][]byte{
		"version 2 (gob)":      rec(2, &StateV4{}),
		"duplicate key":        rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}, {Agent: "a", Tool: "x"}}}),
		"ring position":        rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rate: baseline.Rate{Pos: 200}}}}),
		"quiet windows":        rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rate: baseline.Rate{Quiet: 3}}}}),
		"rise statistic":       rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rise: RiseV4{L: float32(math.NaN())}}}}),
		"rise expected":        rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Rise: RiseV4{Exp: -1}}}}),
		"v4 read as v3":        rec(3, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"v5 read as v4":        rec(4, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"v6 read as v5":        rec(5, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"v7 read as v6":        rec(6, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"v8 read as v7":        rec(7, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"v9 read as v8":        rec(8, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x"}}}),
		"tool per-key peak":    rec(stateVersion, &StateV4{Tools: []ToolV3{{Tool: "x", InstPeak: [baseline.MaxScales]float32{float32(math.NaN())}}}}),
		"calls per task":       rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Task: TaskV5{CallsMean: float32(math.NaN())}}}}),
		"task statistic":       rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Task: TaskV5{L: float32(math.Inf(1))}}}}),
		"task rate":            rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Task: TaskV5{EwT: -1}}}}),
		"task factor":          rec(stateVersion, &StateV4{Keys: []KeyV4{{Agent: "a", Tool: "x", Task: TaskV5{Factor: riseFMax*riseFOne + 1}}}}),
		"agent tasks expected": rec(stateVersion, &StateV4{Agents: []AgentV4{{Agent: "a", TaskExp: float32(math.NaN())}}}),
		"huge count":           encoding.Seal([]byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
	}))
	if live, _, _ := d.KeyStats(); live == 0 {
		t.Fatal("no keys: the check above was vacuous")
	}
}

func spikes(fs []detect.Finding, agent string) int {
	n := 0
	for _, f := range fs {
		if f.Detail == "spike" && f.AgentID == agent {
			n++
		}
	}
	return n
}

func TestSetParamsKeepsBaselines(t *testing.T) {
	const spikeAt = (48 + 14) * 3600
	// x40 spike for agent-a: alerts under the defaults.
	big := func(sec int, add func(call)) {
		if sec >= spikeAt && sec < spikeAt+600 {
			add(call{"agent-a", "db-query", hashes[sec%len(hashes)]})
		}
	}
	// A mild one (one extra call every 20s, ~4x): silent under the defaults.
	mild := func(sec int, add func(call)) {
		if sec >= spikeAt && sec < spikeAt+300 && sec%20 == 0 {
			add(call{"agent-a", "db-query", hashes[sec%len(hashes)]})
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
		cfg    *Config // nil: no reload (control)
		want   bool
	}{
		{"big spike, defaults", big, nil, true},
		{"big spike, raised min_count", big, &raised, false},
		{"mild spike, defaults", mild, nil, false},
		{"mild spike, lowered thresholds", mild, &lowered, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
			var s detect.Detector = d
			if tc.cfg != nil {
				// Reload at day 3 13:30, half an hour before the spike, and
				// check that the key's learned state survived it.
				at := base.Add((48 + 13) * time.Hour).Add(32*time.Minute + 5*time.Second) // mid-window
				p := detect.NewParams(*tc.cfg)
				done := false
				s = detector(func(ts time.Time) {
					if done || ts.Before(at) {
						return
					}
					done = true
					before := d.keys.Peek(key)
					prof, rate := before.rate.Profile, before.rate
					d.SetParams(p)
					// The key re-resolves lazily, on its next record (or Tick).
					r := record.Record{Timestamp: ts, AgentID: key.Agent, Tool: record.Tool{Name: key.Tool}}
					d.Observe(&r, nil)
					after := d.keys.Peek(key)
					if after != before || after.rate.Profile != prof || after.rate.First != rate.First || after.t.cfg != &p.Base {
						t.Fatal("reload lost the key's baseline or did not bind the new config")
					}
				}, d)
			}
			got := spikes(stream(s, 63, tc.inject), "agent-a")
			if (got > 0) != tc.want {
				t.Fatalf("%d spike findings, want alert=%v", got, tc.want)
			}
			if ks := d.keys.Peek(key); ks == nil || ks.rate.Windows < 600 {
				t.Fatalf("key lost its history: %+v", ks)
			}
		})
	}
}

// detector wraps d with a hook called with every event time first.
func detector(hook func(time.Time), d *Detector) detect.Detector {
	return &detecttest.Hooked{Detector: d, Hook: hook}
}

func TestSetParamsWindowChangeResetsOnlyThatKey(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, nil)
	other := baseline.Key{Agent: "agent-b", Tool: "db-query"}
	changed := baseline.Key{Agent: "agent-a", Tool: "db-query"}
	settle(d)
	otherBefore := d.keys.Peek(other).rate.Profile
	p := detect.NewParams(DefaultConfig())
	w := DefaultConfig()
	w.Window = 10 * time.Minute
	p.Rules = []detect.Rule[Config]{{Agent: "agent-a", Tool: "db-query", Config: w}}
	d.SetParams(p)
	// Keys re-resolve lazily, on their next record (or Tick).
	last := base.Add(30*time.Hour - time.Second) // same window as the stream's end
	for _, k := range []baseline.Key{other, changed} {
		r := record.Record{Timestamp: last, AgentID: k.Agent, Tool: record.Tool{Name: k.Tool}}
		d.Observe(&r, nil)
	}
	if ks := d.keys.Peek(changed); ks.t.rp.Size != 600 || ks.rate.Windows != 0 || ks.rate.Start%600 != 0 || ks.rate.N != 1 {
		t.Fatalf("window change did not reset the key's rate to 10m windows: size %d %+v", ks.t.rp.Size, ks.rate.Counter)
	}
	if ks := d.keys.Peek(other); ks.rate.Profile != otherBefore || ks.t.cfg != &p.Base {
		t.Fatal("an unchanged key lost its baseline")
	}
}

func TestSetParamsKeepsAllocationFree(t *testing.T) {
	d := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	r := record.Record{Timestamp: base, AgentID: "a", Tool: record.Tool{Name: "x"}}
	d.Observe(&r, nil)
	d.SetParams(detect.NewParams(DefaultConfig()))
	i := 0
	var out []detect.Finding
	allocs := testing.AllocsPerRun(2000, func() {
		i++
		r.Timestamp = base.Add(time.Duration(i) * 7 * time.Second)
		out = d.Observe(&r, out[:0])
	})
	if allocs != 0 {
		t.Fatalf("allocs %v after SetParams", allocs)
	}
}

// A reload with an unchanged config is invisible: the same findings as
// without it, also when it lands inside a reported spike or loop window.
func TestSetParamsSameConfigChangesNothing(t *testing.T) {
	want := detecttest.FindingsJSON(t, stream(newDetector(t, DefaultConfig(), baseline.DefaultConfig()), 66, anomalies))
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	reloads := []int{40*3600 + 123, (48+10)*3600 + 45, (48+10)*3600 + 95, (48+14)*3600 + 200, (48+14)*3600 + 420}
	got := detecttest.FindingsJSON(t, stream(detector(func(ts time.Time) {
		if len(reloads) > 0 && !ts.Before(base.Add(time.Duration(reloads[0])*time.Second)) {
			reloads = reloads[1:]
			d.SetParams(detect.NewParams(DefaultConfig()))
		}
	}, d), 66, anomalies))
	if len(want) == 0 || len(reloads) != 0 {
		t.Fatalf("vacuous: %d findings, %d reloads left", len(want), len(reloads))
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings with reloads, %d without", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("finding %d differs:\nwith reloads %s\nwithout      %s", i, got[i], want[i])
		}
	}
}

// BenchmarkMarshalState: snapshot cost of 1000 warm keys (plus their
// tools); reports the encoded size.
func BenchmarkMarshalState(b *testing.B) {
	d, _, _ := warmDetector(1000, 10*time.Minute)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = d.MarshalState(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf))/1000, "bytes/key")
}

func BenchmarkUnmarshalState(b *testing.B) {
	d, _, _ := warmDetector(1000, 10*time.Minute)
	data, err := d.MarshalState(nil)
	if err != nil {
		b.Fatal(err)
	}
	r := New(detect.NewParams(DefaultConfig()), baseline.DefaultConfig())
	b.ReportAllocs()
	for b.Loop() {
		if err := r.UnmarshalState(data); err != nil {
			b.Fatal(err)
		}
	}
}
