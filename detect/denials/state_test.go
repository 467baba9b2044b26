package denials

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/alert"
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/record"
)

// splitter stands in for the detector of a stream: at the first record or
// tick at or after cut it snapshots the detector into a fresh one (a
// simulated crash and restart) and from then on feeds both, collecting the
// findings of each.
type splitter struct {
	t          testing.TB
	cut        time.Time
	a, b       *Detector
	mk         func() *Detector
	outA, outB []alert.Finding
}

func (s *splitter) Pattern() string { return s.a.Pattern() }

func (s *splitter) maybeCut(ts time.Time) {
	if s.b != nil || ts.Before(s.cut) {
		return
	}
	data, err := s.a.MarshalState(nil)
	if err != nil {
		s.t.Fatalf("marshal: %v", err)
	}
	s.b = s.mk()
	if err := s.b.UnmarshalState(data); err != nil {
		s.t.Fatalf("unmarshal: %v", err)
	}
	if again, _ := s.b.MarshalState(nil); !bytes.Equal(data, again) {
		s.t.Fatal("restored state marshals differently")
	}
}

func (s *splitter) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	s.maybeCut(r.Timestamp)
	if s.b == nil {
		return s.a.Observe(r, out)
	}
	s.outA = s.a.Observe(r, s.outA)
	s.outB = s.b.Observe(r, s.outB)
	return out
}

func (s *splitter) Tick(wm time.Time, out []alert.Finding) []alert.Finding {
	s.maybeCut(wm)
	if s.b == nil {
		return s.a.Tick(wm, out)
	}
	s.outA = s.a.Tick(wm, s.outA)
	s.outB = s.b.Tick(wm, s.outB)
	return out
}

// hooked wraps a detector with a hook called with every event time first.
type hooked struct {
	*Detector
	hook func(time.Time)
}

func (h *hooked) Observe(r *record.Record, out []alert.Finding) []alert.Finding {
	h.hook(r.Timestamp)
	return h.Detector.Observe(r, out)
}

func (h *hooked) Tick(wm time.Time, out []alert.Finding) []alert.Finding {
	h.hook(wm)
	return h.Detector.Tick(wm, out)
}

func findingsJSON(t testing.TB, fs []alert.Finding) []string {
	t.Helper()
	out := make([]string, len(fs))
	for i := range fs {
		b, err := json.Marshal(&fs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

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
		s := &splitter{t: t, cut: base.Add(time.Duration(cut) * time.Second), a: mk(), mk: mk}
		stream(s, 64, anomalies)
		if s.b == nil || len(s.outA) == 0 {
			t.Fatalf("cut %d: vacuous (%d findings after the cut)", cut, len(s.outA))
		}
		sameFindings(t, findingsJSON(t, s.outA), findingsJSON(t, s.outB))
		t.Logf("cut %d: %d findings compared", cut, len(s.outA))
	}
}

func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	stream(d, 30, nil)
	good, err := d.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	badVersion, _ := baseline.AppendGob(nil, &StateV1{Version: 2})
	dup, _ := baseline.AppendGob(nil, &StateV1{Version: 1, Tools: []ToolV1{{Tool: "x"}, {Tool: "x"}}})
	flipped := bytes.Clone(good)
	flipped[len(flipped)/3] ^= 0x10
	for name, data := range map[string][]byte{
		"empty": nil, "truncated": good[:len(good)/2], "one byte short": good[:len(good)-1],
		"flipped bit": flipped, "garbage": []byte("garbage garbage"), "version 2": badVersion, "duplicate tool": dup,
	} {
		if err := d.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		}
		if got, _ := d.MarshalState(nil); !bytes.Equal(got, good) {
			t.Fatalf("%s: state changed by a failed restore", name)
		}
	}
	if ts := d.tools.Peek(baseline.Key{Tool: "db-query"}); ts == nil || len(ts.types) == 0 {
		t.Fatal("no learned types: the check above was vacuous")
	}
}

func spikes(fs []alert.Finding) int {
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
	lowered.MinCount, lowered.SpikeRatio, lowered.PeakRatio, lowered.PValue = 3, 1.5, 0, 0.05
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
				s = &hooked{Detector: d, hook: func(ts time.Time) {
					if done || ts.Before(at) {
						return
					}
					done = true
					before := d.keys.Peek(key)
					prof, first := before.rate.Profile, before.rate.First
					tool := d.tools.Peek(baseline.Key{Tool: key.Tool})
					types := len(tool.types)
					d.SetParams(p)
					r := record.Record{Timestamp: ts, AgentID: key.Agent, Tool: record.Tool{Name: key.Tool}}
					d.Observe(&r, nil) // keys re-resolve lazily, on their next record
					after := d.keys.Peek(key)
					if after != before || after.rate.Profile != prof || after.rate.First != first || after.t.cfg != &p.Base {
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
	want := findingsJSON(t, stream(newDetector(t, DefaultConfig(), baseline.DefaultConfig()), 64, anomalies))
	d := newDetector(t, DefaultConfig(), baseline.DefaultConfig())
	reloads := []int{40*3600 + 123, 55*3600 + 3, spikeAt + 95, spikeAt + 400}
	got := findingsJSON(t, stream(&hooked{Detector: d, hook: func(ts time.Time) {
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
	if ks.t.rp.Size != 600 || ks.rate.Windows != 0 || ks.rate.Start%600 != 0 {
		t.Fatalf("key rate not reset to 10m windows: %+v", ks.rate.Counter)
	}
	if tool.rate.Windows != 0 || tool.since != since || len(tool.types) != types || types == 0 {
		t.Fatalf("tool: windows %d since %d (want %d) types %d (want %d)", tool.rate.Windows, tool.since, since, len(tool.types), types)
	}
}
