package outputsize

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strconv"
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
	b.MaxKeys = 10
}

// spikes multiplies sizes ×40 for two minutes every 7 hours, so both
// halves contain findings.
func spikes(e time.Duration) float64 {
	if e%(7*time.Hour) < 2*time.Minute && e > 10*time.Hour {
		return 40
	}
	return 1
}

func TestCrashEquivalence(t *testing.T) {
	const half = 12000                        // 20 s apart: 66 h per half
	agentsB := []string{"agent-a", "agent-d"} // b, c go idle and are evicted
	orig := newDet(t, crashCfg)
	s := &stream{rng: rand.New(rand.NewPCG(81, 82)), step: 20 * time.Second}
	first := feed(orig, s, base, half, append(normalAgents, "agent-d"), normalTools, spikes)

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
	if a, b := fmtStats(orig), fmtStats(restored); a != b {
		t.Fatalf("key stats %s, restored %s", a, b)
	}

	sa := &stream{rng: rand.New(rand.NewPCG(91, 92)), step: s.step, i: s.i}
	sb := &stream{rng: rand.New(rand.NewPCG(91, 92)), step: s.step, i: s.i}
	gotA := feed(orig, sa, base, half, agentsB, normalTools, spikes)
	gotB := feed(restored, sb, base, half, agentsB, normalTools, spikes)
	if len(first) == 0 || len(gotA) == 0 {
		t.Fatalf("stream too quiet to compare: %d/%d findings", len(first), len(gotA))
	}
	if ja, jb := detecttest.EncodeFindings(t, gotA), detecttest.EncodeFindings(t, gotB); !bytes.Equal(ja, jb) {
		t.Fatalf("findings after restore differ:\n%s\n%s", ja, jb)
	}
	if !bytes.Equal(detecttest.MustMarshal(t, orig), detecttest.MustMarshal(t, restored)) {
		t.Fatal("final states differ")
	}
	_, rej, ev := orig.KeyStats()
	if rej == 0 || ev == 0 {
		t.Fatalf("stream did not exercise the cap and eviction: rejected=%d evicted=%d", rej, ev)
	}
	t.Logf("%d + %d findings, %d state bytes", len(first), len(gotA), len(snap))
}

func fmtStats(d *Detector) string {
	l, r, e := d.KeyStats()
	b, _ := json.Marshal([]any{l, r, e, d.core.LastEpoch})
	return string(b)
}

func TestUnmarshalCorruptKeepsState(t *testing.T) {
	d := newDet(t, nil)
	warm(t, d, 3000)
	good := detecttest.MustMarshal(t, d)

	other := newDet(t, nil)
	s := &stream{rng: rand.New(rand.NewPCG(5, 5))}
	feed(other, s, base, 500, []string{"x"}, normalTools, nil)
	before := detecttest.MustMarshal(t, other)

	okDist, _ := new(baseline.Dist).MarshalState(nil)
	type snap = distdetect.Snapshot[EntryState]
	craft := func(mod func(*snap)) []byte {
		st := snap{Keys: distdetect.Stores[EntryState]{Entries: []EntryState{{Agent: "a", Tool: "t", Dist: okDist}}}}
		mod(&st)
		return codec.Encode(nil, &st)
	}
	version := craft(func(*snap) {})
	version = encoding.Seal(append([]byte{StateVersion + 1}, version[1:len(version)-4]...))
	cases := detecttest.Corruptions(good, map[string][]byte{
		"version":    version,
		"bad dist":   craft(func(s *snap) { s.Keys.Entries[0].Dist = []byte{okDist[0], 7} }),
		"dup key":    craft(func(s *snap) { s.Keys.Entries = append(s.Keys.Entries, s.Keys.Entries[0]) }),
		"tool agent": craft(func(s *snap) { s.Tools.Entries = []EntryState{{Agent: "a", Tool: "t", Dist: okDist}} }),
		"trailing":   encoding.Seal(append(craft(func(*snap) {}), 0)),
		"huge count": encoding.Seal([]byte{StateVersion, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
	})
	detecttest.RejectsCorrupt(t, other, before, craft(func(*snap) {}), cases)
}

func TestSetParamsKeepsBaselines(t *testing.T) {
	c := DefaultConfig()
	d := New(detect.NewParams(c), baseline.DefaultConfig())
	s := warm(t, d, 9000)
	ts := base.Add(time.Duration(s.i) * time.Second)
	// A narrow key whose fitted thresholds lie below its egregious bound (10×
	// p99), so the false-alarm rate alone decides.
	k := baseline.Key{Agent: "agent-b", Tool: "customer-lookup"}
	thrAt := func(far float64) float64 {
		c2 := c
		c2.FalseAlarmRate = far
		j := judgeOf(&c2)
		return d.core.Keys.Peek(k).dist.Judge(d.core.G, 1, &j, 0).Threshold()
	}
	t6 := thrAt(1e-6)
	big := int64(1.2 * t6) // alerts at 1e-6, not at 1e-12
	mid := int64(0.8 * t6) // does not at 1e-6, does at 1e-4
	if thrAt(1e-12) <= float64(big) || thrAt(1e-4) >= float64(mid) {
		t.Fatalf("premise: thresholds %v (1e-12) %v (1e-6) %v (1e-4)", thrAt(1e-12), t6, thrAt(1e-4))
	}
	if out := d.Observe(rec(ts, k.Agent, k.Tool, big), nil); len(out) != 1 {
		t.Fatalf("1.2× the threshold did not alert under the default config")
	}
	if out := d.Observe(rec(ts, k.Agent, k.Tool, mid), nil); len(out) != 0 {
		t.Fatalf("0.8× the threshold alerted under the default config")
	}

	check := func(step string, want baseline.Quantiles) baseline.Quantiles {
		t.Helper()
		q := d.core.Keys.Peek(k).dist.Quantiles(d.core.G)
		if q != want {
			t.Fatalf("%s changed the baseline: %+v -> %+v", step, want, q)
		}
		return q
	}
	q1 := d.core.Keys.Peek(k).dist.Quantiles(d.core.G)
	live, _, _ := d.KeyStats()

	raised := c
	raised.FalseAlarmRate = 1e-12
	d.SetParams(detect.NewParams(raised))
	check("lowering false_alarm_rate to 1e-12", q1)
	if l, _, _ := d.KeyStats(); l != live {
		t.Fatalf("reload dropped keys: %d -> %d", live, l)
	}
	if out := d.Observe(rec(ts, k.Agent, k.Tool, big), nil); len(out) != 0 {
		t.Fatalf("1.2× the threshold still alerts at 1e-12: %+v", out[0].Details)
	}
	if ks := d.core.Keys.Peek(k); ks.Cfg.FalseAlarmRate != 1e-12 || !d.core.Gen.Current(ks.Gen) {
		t.Fatalf("key config not re-resolved: %+v gen %d/%d", ks.Cfg, ks.Gen, d.core.Gen.Stamp())
	}
	if q := d.core.Keys.Peek(k).dist.Quantiles(d.core.G); q.Count != q1.Count+1 {
		t.Fatalf("count %v after one more record, want %v", q.Count, q1.Count+1)
	}

	lowered := c
	lowered.FalseAlarmRate = 1e-4
	q2 := d.core.Keys.Peek(k).dist.Quantiles(d.core.G)
	d.SetParams(detect.NewParams(lowered))
	check("raising false_alarm_rate to 1e-4", q2)
	out := d.Observe(rec(ts, k.Agent, k.Tool, mid), nil)
	if len(out) != 1 || out[0].Details["threshold"].(float64) >= float64(mid) {
		t.Fatalf("0.8× the default threshold does not alert at 1e-4: %+v", out)
	}

	// An override added by reload applies to its key only.
	off := lowered
	off.Enabled = false
	d.SetParams(&detect.Params[Config]{Base: lowered, Rules: []detect.Rule[Config]{{Agent: "agent-b", Config: off}}})
	if out := d.Observe(rec(ts, k.Agent, k.Tool, big*10), nil); len(out) != 0 {
		t.Fatal("key disabled by a reloaded override still alerts")
	}
	if out := d.Observe(rec(ts, "agent-a", k.Tool, big*10), nil); len(out) != 1 {
		t.Fatal("other key stopped alerting after reload")
	}
}

func TestSetParamsNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	warm(t, d, 9000)
	d.SetParams(detect.NewParams(DefaultConfig()))
	r := rec(base.Add(9001*time.Second), "agent-a", "file-reader", 1500)
	d.Observe(r, nil) // re-resolves once
	if a := detecttest.ObserveAllocs(1000, d, []*record.Record{r}, 0); a != 0 {
		t.Fatalf("Observe after SetParams allocates %.2f per record", a)
	}
}

// BenchmarkState marshals and restores 10,000 warmed keys (100 tools).
func BenchmarkState(b *testing.B) {
	d := newDet(b, nil)
	for k := range 10000 {
		ag, tl := "agent-"+strconv.Itoa(k), "tool-"+strconv.Itoa(k%100)
		for i := range 64 {
			d.Observe(rec(base.Add(time.Duration(i)*time.Second), ag, tl, int64(100+i*k%977)), nil)
		}
	}
	var buf []byte
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			buf, _ = d.MarshalState(buf[:0])
		}
		b.ReportMetric(float64(len(buf))/10100, "bytes/key")
	})
	b.Run("unmarshal", func(b *testing.B) {
		r := newDet(b, nil)
		for b.Loop() {
			if err := r.UnmarshalState(buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestRestoredObserveNoAllocs(t *testing.T) {
	d := newDet(t, nil)
	s := warm(t, d, 9000)
	r := newDet(t, nil)
	if err := r.UnmarshalState(detecttest.MustMarshal(t, d)); err != nil {
		t.Fatal(err)
	}
	rs := make([]*record.Record, 1024)
	for i := range rs {
		tl := normalTools[i%3]
		rs[i] = rec(base.Add(time.Duration(9000+i)*time.Second), normalAgents[(i/3)%3], tl.name, s.lognormal(tl.median, tl.sigma))
	}
	for _, x := range rs[:9] { // first record per key re-resolves its config
		r.Observe(x, nil)
	}
	if a := detecttest.ObserveAllocs(3000, r, rs, 9); a != 0 {
		t.Fatalf("Observe on restored keys allocates %.2f per record", a)
	}
}

func TestSetLimits(t *testing.T) {
	d := newDet(t, func(_ *Config, b *baseline.Config) { b.MaxKeys = 1; b.IdleTTL = time.Hour })
	d.Observe(rec(base, "a1", "t", 100), nil)
	d.Observe(rec(base, "a2", "t", 100), nil)
	if live, _, capacity := d.KeyStats(); live != 2 || capacity != 1 {
		t.Fatalf("live=%d capacity evictions=%d, want 2/1", live, capacity)
	}
	d.SetLimits(10, 10*time.Hour)
	d.Observe(rec(base, "a1", "t", 100), nil)
	d.Tick(base.Add(2*time.Hour), nil)
	if live, idle, capacity := d.KeyStats(); live != 3 || capacity != 1 || idle != 0 {
		t.Fatalf("after SetLimits live=%d capacity=%d idle=%d, want 3/1/0", live, capacity, idle)
	}
}
