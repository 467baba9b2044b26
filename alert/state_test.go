package alert

import (
	"bytes"
	"math"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// lifecycle is a sequence that exercises fire, fold, escalate, re-emit
// with repeats, Tick resolves, an Add-driven resolve and a new episode,
// below-band and rejected findings, across three fingerprints, with
// details of every kind detectors use.
func lifecycle() []step {
	rich := fnd(0, 50)
	rich.Details = map[string]any{
		"samples": 100, "u32": uint32(7), "u64": uint64(1<<63 + 5), "f32": float32(0.1), "f": 2.5e-7,
		"nan": math.NaN(), "list": []string{"a", "b"}, "empty": []string{}, "nested": map[string]any{"x": 1, "y": "z"},
		"flag": true, "none": nil, "str": "<&>",
	}
	nan := fnd(2*m1, 0)
	nan.Score = math.NaN()
	return []step{
		add(rich),
		add(fnd(1*m1, 55)),
		add(fnd(2*m1, 45)),
		add(nan),
		add(withAgent(fnd(3*m1, 70), "agent-2")),
		add(fnd(4*m1, 10)),
		add(fnd(5*m1, 65)), // escalates to warning
		add(fnd(10*m1, 62)),
		tick(12 * m1),
		add(fnd(21*m1, 61)), // re-emit with repeats
		add(withDetail(fnd(22*m1, 90), "p50")),
		add(withDetail(fnd(23*m1, 85), "p50")),
		tick(40 * m1), // resolves agent-2
		add(fnd(45*m1, 50)),
		tick(60 * m1),
		add(fnd(80*m1, 50)), // resolves the old episode, starts a new one
		add(fnd(81*m1, 52)),
		tick(200 * m1),
	}
}

func runSteps(m *Manager, steps []step, out []byte) []byte {
	var alerts []Alert
	for _, s := range steps {
		if s.tick {
			alerts = m.Tick(base.Add(s.at), alerts[:0])
		} else {
			alerts = m.Add(s.f, alerts[:0])
		}
		for i := range alerts {
			out = MarshalJSONLine(&alerts[i], out)
		}
	}
	return out
}

func TestManagerCrashEquivalence(t *testing.T) {
	steps := lifecycle()
	ref := NewManager(testConfig())
	want := runSteps(ref, steps, nil)
	if bytes.Count(want, []byte("\n")) < 8 || !bytes.Contains(want, []byte(`"repeats":`)) || !bytes.Contains(want, []byte(`"resolved"`)) {
		t.Fatalf("sequence too weak:\n%s", want)
	}
	wantCounters := ref.Counters(nil)
	for cut := 0; cut <= len(steps); cut++ {
		a := NewManager(testConfig())
		got := runSteps(a, steps[:cut], nil)
		data, err := a.MarshalState([]byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != 'x' {
			t.Fatal("MarshalState did not append")
		}
		b := NewManager(testConfig())
		if err := b.UnmarshalState(data[1:]); err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if again, _ := b.MarshalState(nil); !bytes.Equal(again, data[1:]) {
			t.Fatalf("cut %d: restored state marshals differently", cut)
		}
		if fa, fb := a.FiringAlerts(nil), b.FiringAlerts(nil); len(fa) != len(fb) {
			t.Fatalf("cut %d: %d firing vs %d", cut, len(fa), len(fb))
		} else {
			for i := range fa {
				if x, y := MarshalJSONLine(&fa[i], nil), MarshalJSONLine(&fb[i], nil); !bytes.Equal(x, y) {
					t.Fatalf("cut %d: firing alert differs:\n%s%s", cut, x, y)
				}
			}
		}
		got = runSteps(b, steps[cut:], got)
		if !bytes.Equal(got, want) {
			t.Fatalf("cut %d: alerts differ:\ngot:\n%s\nwant:\n%s", cut, got, want)
		}
		gc := b.Counters(nil)
		if len(gc) != len(wantCounters) {
			t.Fatalf("cut %d: counters %+v, want %+v", cut, gc, wantCounters)
		}
		for i := range gc {
			if gc[i] != wantCounters[i] {
				t.Fatalf("cut %d: counter %+v, want %+v", cut, gc[i], wantCounters[i])
			}
		}
	}
}

func TestManagerUnmarshalErrorKeepsState(t *testing.T) {
	m := NewManager(testConfig())
	runSteps(m, lifecycle()[:11], nil)
	good, err := m.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.Firing() == 0 {
		t.Fatal("nothing firing: vacuous")
	}
	rec := func(v uint64, st *ManagerStateV2) []byte {
		e := encoding.Encbuf{}
		e.PutUvarint(v)
		st.put(&e)
		e.PutCRC32(0)
		return e.Get()
	}
	if err := NewManager(testConfig()).UnmarshalState(rec(2, &ManagerStateV2{Entries: []EntryV2{{Key: [8]byte{1}, Rank: rankInfo, Last: AlertV2{Details: []byte("{}")}}}})); err != nil {
		t.Fatalf("well-formed crafted record rejected: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 4
	bad := map[string][]byte{
		"empty": nil, "truncated": good[:len(good)/2], "one byte short": good[:len(good)-1], "flipped bit": flipped,
		"garbage":         []byte("definitely not a record"),
		"version 1 (gob)": rec(1, &ManagerStateV2{}),
		"duplicate":       rec(2, &ManagerStateV2{Entries: []EntryV2{{Key: [8]byte{1}, Rank: rankInfo}, {Key: [8]byte{1}, Rank: rankInfo}}}),
		"bad rank":        rec(2, &ManagerStateV2{Entries: []EntryV2{{Key: [8]byte{1}, Rank: 9}}}),
		"bad details":     rec(2, &ManagerStateV2{Entries: []EntryV2{{Key: [8]byte{1}, Rank: rankInfo, Last: AlertV2{Details: []byte("{")}}}}),
		"empty details":   rec(2, &ManagerStateV2{Entries: []EntryV2{{Key: [8]byte{1}, Rank: rankInfo, Last: AlertV2{Details: []byte{}}}}}),
		"bad severity":    rec(2, &ManagerStateV2{Counters: []Counter{{Pattern: "x", Severity: "loud"}}}),
		"huge count":      encoding.Seal([]byte{2, 0xff, 0xff, 0xff, 0xff, 0x0f}),
		"zeroed checksum": append(bytes.Clone(good[:len(good)-4]), 0, 0, 0, 0),
	}
	junk := append(bytes.Clone(good[:len(good)-4]), "junk"...)
	bad["trailing bytes"] = encoding.Seal(junk)
	for name, data := range bad {
		if err := m.UnmarshalState(data); err == nil {
			t.Errorf("%s: no error", name)
		}
		if got, _ := m.MarshalState(nil); !bytes.Equal(got, good) {
			t.Fatalf("%s: state changed by a failed restore", name)
		}
	}
}

// A restore keeps the Manager's configuration: the snapshot holds state,
// the config comes from config.yaml.
func TestManagerUnmarshalKeepsConfig(t *testing.T) {
	a := NewManager(testConfig())
	a.Add(fnd(0, 65), nil)
	data, err := a.MarshalState(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ResolveAfter = 5 * time.Minute
	b := NewManager(cfg)
	if err := b.UnmarshalState(data); err != nil {
		t.Fatal(err)
	}
	if b.Config().ResolveAfter != 5*time.Minute || b.Firing() != 1 {
		t.Fatal("restore changed the config or lost the alert")
	}
	if got := b.Tick(base.Add(5*time.Minute), nil); len(got) != 1 || got[0].Status != StatusResolved {
		t.Fatalf("restored alert not resolved under the new resolve_after: %+v", got)
	}
}
