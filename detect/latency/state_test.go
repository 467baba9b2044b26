package latency

import (
	"bytes"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// crashCfg: short epochs and idle TTL and a key cap, so the stream crosses
// epoch rotations, evictions and rejections on both sides of the cut.
func crashCfg(_ *Config, b *baseline.Config) {
	b.Epoch = 12 * time.Hour
	b.IdleTTL = 90 * time.Minute
	b.MaxKeys = 12
}

// crashStream: one call per 20 s; ×40 latency for two minutes every 7
// hours; customer-lookup rolls out 2.0.0 (×1.5) at 30 h and back at 90 h;
// web-search moves to 3.0.0 (×2) at 64 h, so its relearn period spans the
// cut at 66.7 h.
func crashStream(d *Detector, seed uint64, i int, agents []string) *stream {
	s := newStream(d, seed)
	s.i, s.step, s.agents = i, 20*time.Second, agents
	s.tools = append([]toolSpec{}, normalTools...)
	s.drift = func(e time.Duration) float64 {
		if e%(7*time.Hour) < 2*time.Minute && e > 10*time.Hour {
			return 40
		}
		return 1
	}
	s.version = func(agent, tool string, e time.Duration) (string, float64) {
		switch {
		case tool == "customer-lookup" && e >= 30*time.Hour && e < 90*time.Hour && (agent == "agent-a" || e >= 31*time.Hour):
			return "2.0.0", 1.5
		case tool == "web-search" && e >= 64*time.Hour:
			return "3.0.0", 2
		}
		return "1.0.0", 1
	}
	return s
}

func TestCrashEquivalence(t *testing.T) {
	const half = 12000
	orig := newDet(t, crashCfg)
	s := crashStream(orig, 81, 0, append(normalAgents, "agent-d"))
	s.run(half)

	snap, err := orig.MarshalState([]byte("hdr"))
	if err != nil {
		t.Fatal(err)
	}
	restored := newDet(t, crashCfg)
	if err := restored.UnmarshalState(snap[3:]); err != nil {
		t.Fatal(err)
	}
	if again := detecttest.MustMarshal(t, restored); !bytes.Equal(again, snap[3:]) {
		t.Fatal("restored detector re-encodes differently")
	}
	relearning := false
	restored.core.Keys.Range(func(k baseline.Key, st *state) bool {
		if sl := st.at(st.active); sl.version == "3.0.0" && sl.relearn {
			relearning = true
		}
		return true
	})
	if !relearning {
		t.Fatal("cut is not inside a relearn period (test premise)")
	}

	agentsB := []string{"agent-a", "agent-d", "agent-e"} // e evicts b/c keys at the cap; the rest of b, c go idle
	sa := crashStream(orig, 91, s.i, agentsB)
	sb := crashStream(restored, 91, s.i, agentsB)
	sa.run(half)
	sb.run(half)
	if len(s.found) == 0 || len(sa.found) == 0 {
		t.Fatalf("stream too quiet to compare: %d/%d findings", len(s.found), len(sa.found))
	}
	if ja, jb := detecttest.EncodeFindings(t, sa.found), detecttest.EncodeFindings(t, sb.found); !bytes.Equal(ja, jb) {
		t.Fatalf("findings after restore differ:\n%s\n%s", ja, jb)
	}
	if !bytes.Equal(detecttest.MustMarshal(t, orig), detecttest.MustMarshal(t, restored)) {
		t.Fatal("final states differ")
	}
	_, idle, capacity := orig.KeyStats()
	if idle == 0 || capacity == 0 {
		t.Fatalf("stream did not exercise the cap and eviction: idle=%d capacity=%d", idle, capacity)
	}
	t.Logf("%d + %d findings, %d state bytes", len(s.found), len(sa.found), len(snap))
}

func TestUnmarshalCorruptKeepsState(t *testing.T) {
	d := newDet(t, nil)
	warm(t, d, 3000)
	good := detecttest.MustMarshal(t, d)

	other := newDet(t, nil)
	s := newStream(other, 5)
	s.agents = []string{"x"}
	s.run(500)
	before := detecttest.MustMarshal(t, other)

	okDist, _ := new(baseline.Dist).MarshalState(nil)
	type snap = distdetect.Snapshot[EntryState]
	craft := func(mod func(*snap)) []byte {
		st := snap{Keys: distdetect.Stores[EntryState]{Entries: []EntryState{{Agent: "a", Tool: "t",
			Slots: [2]SlotState{{Version: "1", Used: true, Dist: okDist}, {Dist: okDist}}}}}}
		mod(&st)
		return codec.Encode(nil, &st)
	}
	version := craft(func(*snap) {})
	version = encoding.Seal(append([]byte{1}, version[1:len(version)-4]...)) // the gob era
	cases := detecttest.Corruptions(good, map[string][]byte{
		"version":     version,
		"bad dist":    craft(func(s *snap) { s.Keys.Entries[0].Slots[1].Dist = []byte{okDist[0], 7} }),
		"active":      craft(func(s *snap) { s.Keys.Entries[0].Active = 2 }),
		"unused slot": craft(func(s *snap) { s.Keys.Entries[0].Slots[1].Version = "2" }),
		"dup key":     craft(func(s *snap) { s.Keys.Entries = append(s.Keys.Entries, s.Keys.Entries[0]) }),
		"tool agent":  craft(func(s *snap) { s.Tools.Entries = s.Keys.Entries }),
		"trailing":    encoding.Seal(append(craft(func(*snap) {}), 0)),
		"huge count":  encoding.Seal([]byte{StateVersion, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
	})
	detecttest.RejectsCorrupt(t, other, before, craft(func(*snap) {}), cases)
}

func TestSetParamsKeepsBaselines(t *testing.T) {
	c := DefaultConfig()
	d := New(detect.NewParams(c), baseline.DefaultConfig())
	s := warm(t, d, 9000)
	ts := s.now()
	// A narrow key whose fitted thresholds lie below its egregious bound (10×
	// p99), so the false-alarm rate alone decides.
	k := baseline.Key{Agent: "agent-a", Tool: "customer-lookup"}
	dist := func() *baseline.Dist { st := d.core.Keys.Peek(k); return &st.at(st.active).dist }
	thrAt := func(far float64) float64 {
		c2 := c
		c2.FalseAlarmRate = far
		j := judgeOf(&c2)
		return dist().Judge(d.core.G, 1, &j, 0).Threshold()
	}
	t6 := thrAt(1e-6)
	slow, mid := 1.2*t6, 0.8*t6 // slow alerts at 1e-6, not at 1e-12; mid only at 1e-4
	if thrAt(1e-12) <= slow || thrAt(1e-4) >= mid {
		t.Fatalf("premise: thresholds %v (1e-12) %v (1e-6) %v (1e-4)", thrAt(1e-12), t6, thrAt(1e-4))
	}
	if out := d.Observe(rec(ts, k.Agent, k.Tool, "1.0.0", slow), nil); len(out) != 1 {
		t.Fatal("1.2× the threshold did not alert under the default config")
	}
	if out := d.Observe(rec(ts, k.Agent, k.Tool, "1.0.0", mid), nil); len(out) != 0 {
		t.Fatal("0.8× the threshold alerted under the default config")
	}
	check := func(step string, want baseline.Quantiles) {
		t.Helper()
		if q := dist().Quantiles(d.core.G); q != want {
			t.Fatalf("%s changed the baseline: %+v -> %+v", step, want, q)
		}
	}
	live, _, _ := d.KeyStats()

	q1 := dist().Quantiles(d.core.G)
	raised := c
	raised.FalseAlarmRate = 1e-12
	d.SetParams(detect.NewParams(raised))
	check("lowering false_alarm_rate to 1e-12", q1)
	if out := d.Observe(rec(ts, k.Agent, k.Tool, "1.0.0", slow), nil); len(out) != 0 {
		t.Fatalf("1.2× the threshold still alerts at 1e-12: %+v", out[0].Details)
	}
	if st := d.core.Keys.Peek(k); st.Cfg.FalseAlarmRate != 1e-12 || !d.core.Gen.Current(st.Gen) || st.at(st.active).version != "1.0.0" {
		t.Fatalf("key not re-resolved or slot lost: cfg %+v gen %d/%d", st.Cfg, st.Gen, d.core.Gen.Stamp())
	}
	if q := dist().Quantiles(d.core.G); q.Count != q1.Count+1 {
		t.Fatalf("count %v after one more call, want %v", q.Count, q1.Count+1)
	}
	if l, _, _ := d.KeyStats(); l != live {
		t.Fatalf("reload dropped keys: %d -> %d", live, l)
	}

	lowered := c
	lowered.FalseAlarmRate = 1e-4
	q2 := dist().Quantiles(d.core.G)
	d.SetParams(detect.NewParams(lowered))
	check("raising false_alarm_rate to 1e-4", q2)
	out := d.Observe(rec(ts, k.Agent, k.Tool, "1.0.0", mid), nil)
	if len(out) != 1 || out[0].Details["threshold"].(float64) >= float64(mid) {
		t.Fatalf("0.8× the default threshold does not alert at 1e-4: %+v", out)
	}

	// A reloaded override for one tool leaves the others alerting.
	off := lowered
	off.Enabled = false
	d.SetParams(&detect.Params[Config]{Base: lowered, Rules: []detect.Rule[Config]{{Tool: k.Tool, Config: off}}})
	if out := d.Observe(rec(ts, k.Agent, k.Tool, "1.0.0", slow*10), nil); len(out) != 0 {
		t.Fatal("tool disabled by a reloaded override still alerts")
	}
	if out := d.Observe(rec(ts, k.Agent, "db-query", "1.0.0", 600000), nil); len(out) != 1 {
		t.Fatal("other tool stopped alerting after reload")
	}
}

func TestSetParamsNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	d.SetParams(detect.NewParams(DefaultConfig()))
	r := rec(s.now(), "agent-a", "web-search", "1.0.0", 700)
	d.Observe(r, nil) // re-resolves once
	if a := detecttest.ObserveAllocs(1000, d, []*record.Record{r}, 0); a != 0 {
		t.Fatalf("Observe after SetParams allocates %.2f per record", a)
	}
}

func TestRestoredObserveNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	r := newDet(t, nil)
	if err := r.UnmarshalState(detecttest.MustMarshal(t, d)); err != nil {
		t.Fatal(err)
	}
	rs := records(1024, s.now(), 77)
	for _, x := range rs[:64] { // first record per key re-resolves its config
		r.Observe(x, nil)
	}
	if a := detecttest.ObserveAllocs(3000, r, rs, 0); a != 0 {
		t.Fatalf("Observe on restored keys allocates %.2f per record", a)
	}
}
