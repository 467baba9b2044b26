package distdetect

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/internal/validate"
	"github.com/toolwatch/toolwatch/record"
)

type cfg struct{ N int }

type val struct {
	Resolved[cfg]
	advanced int
	dist     baseline.Dist
}

func (v *val) Advance(g *baseline.Digester, t time.Time) { v.advanced++; v.dist.Advance(g, t) }

type entry struct {
	Agent, Tool string
	Seen        int64
	Dist        []byte
}

// codec writes version 2; version 1 (entries without Seen) is read and
// upgraded, as a real format change would ship.
var codec = Codec[val, entry]{
	Name:    "test state",
	Version: 2,
	Entry: func(a *Arena, agent, tool string, seen int64, v *val) (entry, error) {
		enc, err := a.Dist(&v.dist)
		return entry{agent, tool, seen, enc}, err
	},
	Key:     func(e entry) (string, string, int64) { return e.Agent, e.Tool, e.Seen },
	Restore: func(e *entry, v *val) error { return v.dist.UnmarshalState(e.Dist) },
	Put: func(enc *encoding.Encbuf, e *entry) {
		enc.PutUvarintStr(e.Agent)
		enc.PutUvarintStr(e.Tool)
		enc.PutVarint(e.Seen)
		enc.PutUvarintBytes(e.Dist)
	},
	Decoders: encoding.Decoders[Snapshot[entry]]{
		1: func(d *encoding.Decbuf) Snapshot[entry] {
			return ReadSnapshot(d, 3, func(d *encoding.Decbuf) entry {
				return entry{Agent: d.UvarintStr(), Tool: d.UvarintStr(), Seen: 42, Dist: d.UvarintBytes()} // upgrade: Seen unknown
			})
		},
		2: func(d *encoding.Decbuf) Snapshot[entry] {
			return ReadSnapshot(d, 4, func(d *encoding.Decbuf) entry {
				return entry{Agent: d.UvarintStr(), Tool: d.UvarintStr(), Seen: d.Varint(), Dist: d.UvarintBytes()}
			})
		},
	},
}

var t0 = time.Date(2026, 3, 23, 0, 0, 0, 0, time.UTC)

func newCore(maxKeys int) Core[cfg, val, *val] {
	b := baseline.DefaultConfig()
	b.MaxKeys, b.Epoch = maxKeys, time.Hour
	p := &detect.Params[cfg]{Base: cfg{1}, Rules: []detect.Rule[cfg]{{Agent: "b", Config: cfg{2}}}}
	return New[cfg, val](p, b)
}

func TestValidateAndJudgeOf(t *testing.T) {
	ok := Settings{MinSamples: 200, FalseAlarmRate: 1e-6, Floor: 400, FloorKey: "min_alert_ms", LevelShiftRatio: 2, MaxDriftPerDay: 2}
	for _, tc := range []struct {
		name string
		mod  func(*Settings)
		want string
	}{
		{"ok", func(*Settings) {}, ""},
		{"off", func(s *Settings) { s.LevelShiftRatio, s.MaxDriftPerDay = 0, 0 }, ""},
		{"rate zero", func(s *Settings) { s.FalseAlarmRate = 0 }, "false_alarm_rate"},
		{"rate high", func(s *Settings) { s.FalseAlarmRate = 0.5 }, "false_alarm_rate"},
		{"floor", func(s *Settings) { s.Floor = math.Inf(1) }, "min_alert_ms"},
		{"shift", func(s *Settings) { s.LevelShiftRatio = 1 }, "level_shift_ratio"},
		{"drift", func(s *Settings) { s.MaxDriftPerDay = 1 }, "max_drift_per_day"},
		{"samples", func(s *Settings) { s.MinSamples = 1 }, "min_samples"},
	} {
		s := ok
		tc.mod(&s)
		var es validate.Errors
		Validate(&es, s)
		got := ""
		if len(es) > 0 {
			got = es[0].Path
		}
		if len(es) > 1 || got != tc.want {
			t.Errorf("%s: errors %v, want one at %q", tc.name, es, tc.want)
		}
	}
	j := JudgeOf(ok)
	if math.Abs(j.Far-6) > 1e-12 || j.Floor != 400 || math.Abs(j.ShiftLn-math.Ln2) > 1e-12 || math.Abs(j.DriftLn-math.Ln2) > 1e-12 {
		t.Fatalf("judge %+v", j)
	}
	ok.LevelShiftRatio, ok.MaxDriftPerDay = 0, 0
	if j := JudgeOf(ok); j.ShiftLn != 0 || j.DriftLn != 0 {
		t.Fatalf("off: judge %+v", j)
	}
}

func TestJudgeForCachesByPointer(t *testing.T) {
	c := newCore(0)
	calls := 0
	conv := func(x *cfg) baseline.Judge { calls++; return baseline.Judge{Far: float64(x.N)} }
	a, b := &cfg{1}, &cfg{2}
	for _, x := range []*cfg{a, a, a, b, b, a} {
		if j := c.JudgeFor(x, conv); j.Far != float64(x.N) {
			t.Fatalf("judge for %d: %+v", x.N, j)
		}
	}
	if calls != 3 {
		t.Fatalf("converted %d times, want 3", calls)
	}
}

func TestLookupResolvesOncePerGeneration(t *testing.T) {
	c := newCore(0)
	ks, ts, cf := c.Lookup("b", "t", t0)
	if ks == nil || ts == nil || cf != ks.Cfg || ks.Cfg.N != 2 || ts.Cfg.N != 1 || !c.Gen.Current(ks.Gen) {
		t.Fatalf("key %+v tool %+v cfg %+v", ks, ts, cf)
	}
	old := ks.Cfg
	c.SetParams(detect.NewParams(cfg{3}))
	if ks.Cfg != old {
		t.Fatal("SetParams re-resolved eagerly")
	}
	if ks2, _, cf := c.Lookup("b", "t", t0); ks2 != ks || cf.N != 3 || !c.Gen.Current(ks.Gen) || ts.Cfg.N != 3 {
		t.Fatalf("after reload: key %+v tool %+v", ks, ts)
	}
	if live, _, _ := c.KeyStats(); live != 2 {
		t.Fatalf("live %d, want 2", live)
	}
}

func TestLookupAtCapEvicts(t *testing.T) {
	c := newCore(1)
	c.Lookup("a", "t", t0)
	if ks, ts, cf := c.Lookup("b", "t", t0.Add(time.Second)); ks == nil || ts == nil || cf != ks.Cfg || c.Keys.Peek(baseline.Key{Agent: "a", Tool: "t"}) != nil {
		t.Fatalf("key store full: key %v tool %v cfg %v", ks, ts, cf)
	}
	if ks, ts, _ := c.Lookup("b", "u", t0.Add(2*time.Second)); ks == nil || ts == nil || c.Tools.Peek("t") != nil {
		t.Fatalf("both full: %v %v", ks, ts)
	}
	if live, idle, capacity := c.KeyStats(); live != 2 || idle != 0 || capacity != 3 {
		t.Fatalf("live %d idle %d capacity %d, want 2/0/3", live, idle, capacity)
	}
	c.SetLimits(0, 0)
	c.Lookup("c", "v", t0)
	if live, _, _ := c.KeyStats(); live != 4 {
		t.Fatal("SetLimits did not lift the cap")
	}
}

func TestAdvancesLazilyOncePerEpoch(t *testing.T) {
	c := newCore(0)
	ks, ts, _ := c.Lookup("a", "t", t0)
	idle, _, _ := c.Lookup("b", "t", t0)
	for _, m := range []time.Duration{0, 10, 59, 60, 61, 130} {
		c.Tick(t0.Add(m*time.Minute), nil)
		c.Lookup("a", "t", t0.Add(m*time.Minute))
	}
	if ks.advanced != 3 || ts.advanced != 3 { // epochs 0, 1, 2
		t.Fatalf("advanced %d/%d times, want 3", ks.advanced, ts.advanced)
	}
	// A key not looked up is not touched by ticks, then catches up in one
	// step (rotation depends only on the epoch reached).
	if idle.advanced != 0 {
		t.Fatalf("idle key advanced %d times by ticks", idle.advanced)
	}
	if c.PeekTool("t"); ts.advanced != 3 {
		t.Fatal("PeekTool advanced an up-to-date key")
	}
	c.AdvanceAll()
	c.AdvanceAll()
	if idle.advanced != 1 || idle.Epoch != c.LastEpoch {
		t.Fatalf("idle key advanced %d times to epoch %d, want once to %d", idle.advanced, idle.Epoch, c.LastEpoch)
	}
}

func TestSaveRestore(t *testing.T) {
	c := newCore(0)
	for i, k := range [][2]string{{"b", "t"}, {"a", "u"}, {"a", "t"}} {
		ks, ts, _ := c.Lookup(k[0], k[1], t0.Add(time.Duration(i)*time.Second))
		ks.dist.Add(c.G, float64(i), t0)
		ts.dist.Add(c.G, float64(i), t0)
	}
	s, err := Capture(&c, &codec)()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range append(s.Keys.Entries, s.Tools.Entries...) {
		got = append(got, e.Agent+"/"+e.Tool)
	}
	if strings.Join(got, " ") != "a/t a/u b/t /t /u" {
		t.Fatalf("entries %v, want sorted by (agent, tool)", got)
	}
	r := newCore(0)
	if err := Restore(&r, &codec, s); err != nil {
		t.Fatal(err)
	}
	again, err := Capture(&r, &codec)()
	if err != nil {
		t.Fatal(err)
	}
	if again.LastEpoch != s.LastEpoch || len(again.Keys.Entries) != 3 || again.Keys.Entries[2].Seen != t0.Unix() ||
		string(again.Keys.Entries[1].Dist) != string(s.Keys.Entries[1].Dist) {
		t.Fatalf("restored %+v, want %+v", again, s)
	}

	dup := *s
	dup.Keys.Entries = append(dup.Keys.Entries[:3:3], dup.Keys.Entries[0])
	if err := Restore(&r, &codec, &dup); err == nil || err.Error() != `test state: duplicate key "a"/"t"` {
		t.Fatalf("duplicate key: %v", err)
	}
	if live, _, _ := r.KeyStats(); live != 5 {
		t.Fatalf("failed restore changed the stores: %d keys", live)
	}
}

func TestDecodeVersions(t *testing.T) {
	c := newCore(0)
	ks, _, _ := c.Lookup("a", "t", t0)
	ks.dist.Add(c.G, 3, t0)
	s, err := Capture(&c, &codec)()
	if err != nil {
		t.Fatal(err)
	}
	cur := codec.Encode(nil, s)
	got, err := codec.Decode(cur)
	if err != nil || got.Keys.Entries[0].Seen != t0.Unix() || !bytes.Equal(codec.Encode(nil, got), cur) {
		t.Fatalf("current version: %v %+v", err, got)
	}

	// A version 1 record (no Seen) decodes and is upgraded.
	v1 := encoding.Encbuf{}
	v1.PutUvarint(1)
	v1.PutVarint(s.LastEpoch)
	v1.PutUvarint(0)
	v1.PutUvarint(0)
	v1.PutUvarint(1)
	v1.PutUvarintStr("a")
	v1.PutUvarintStr("t")
	v1.PutUvarintBytes(s.Keys.Entries[0].Dist)
	v1.PutUvarint(0)
	v1.PutUvarint(0)
	v1.PutUvarint(0)
	v1.PutCRC32(0)
	up, err := codec.Decode(v1.Get())
	if err != nil {
		t.Fatal(err)
	}
	if e := up.Keys.Entries[0]; e.Agent != "a" || e.Tool != "t" || e.Seen != 42 || !bytes.Equal(e.Dist, s.Keys.Entries[0].Dist) {
		t.Fatalf("upgraded %+v", e)
	}

	body := cur[:len(cur)-4]
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"version 3": {encoding.Seal(append([]byte{3}, body[1:]...)), "test state: unsupported record version 3 (this build reads [1 2])"},
		"truncated": {encoding.Seal(body[:len(body)-1]), "test state version 2: record truncated"},
		"trailing":  {encoding.Seal(append(bytes.Clone(body), 0)), "test state version 2: record malformed: 1 trailing bytes"},
		"bit flip":  {append([]byte{cur[0] ^ 1}, cur[1:]...), "test state: record checksum mismatch"},
		"short":     {cur[:4], "test state: record truncated: 4 bytes"},
	} {
		if _, err := codec.Decode(tc.data); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// The score is the shared scale plus the record's risk prior.
func TestScorePrior(t *testing.T) {
	r := &record.Record{Tool: record.Tool{TrustLevel: "gold"}, Context: record.Context{Environment: "production", DataClassification: "internal"}}
	if got := Score(6, r); got != 40 {
		t.Fatalf("score at 1e-6 = %v, want 40", got)
	}
	r.Context.DataClassification = "restricted"
	if got := Score(6, r); got != 50 {
		t.Fatalf("restricted in production: %v, want 50", got)
	}
	r.Tool.TrustLevel = "unverified"
	if got := Score(9, r); got != 90 {
		t.Fatalf("unverified + restricted in production at 1e-9: %v, want 90", got)
	}
}
