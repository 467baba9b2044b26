package inputs

import (
	"bytes"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/detect/detecttest"
	"github.com/toolwatch/toolwatch/detect/internal/hashset"
	"github.com/toolwatch/toolwatch/internal/encoding"
	"github.com/toolwatch/toolwatch/record"
)

// mixedParams: testConfig, with "wide" capped at 16 shapes so it overflows
// into its HyperLogLog sketches.
func mixedParams() *detect.Params[Config] {
	p := detect.NewParams(testConfig())
	w := testConfig()
	w.MaxShapes = 16
	p.Rules = []detect.Rule[Config]{{Tool: "wide", Config: w}}
	return p
}

func newMixed() *Detector {
	return New(mixedParams(), baseline.Config{MaxKeys: 100, IdleTTL: 24 * time.Hour})
}

// feed replays records [from, to) of a mixed stream: a closed db tool, an
// open search tool, an overflowing wide tool, records without a shape, and
// anomalies late in the stream (new shape, injection, binary, repeated
// injection). Tick every 60 records.
func feed(d detect.Detector, from, to int) []detect.Finding {
	var out []detect.Finding
	for i := from; i < to; i++ {
		var r *record.Record
		switch i % 4 {
		case 0:
			s := dbShapes[i%len(dbShapes)]
			switch i {
			case 5000:
				s = "json{id:num,debug:bool}"
			case 5200, 6400:
				s = "json{query:str/sql-injection}"
			case 5600:
				s = "binary"
			}
			r = rec(i, "db-query", fmt.Sprintf("agent-%d", i%3), s)
		case 1:
			s := "json{q:str}"
			if i%20 == 1 {
				s = fmt.Sprintf("json{q:str,facet%d:str}", i/20)
			}
			r = rec(i, "search", "agent-a", s)
		case 2:
			s := fmt.Sprintf("json{f%d:num}", (i/4)%40)
			if i == 5802 {
				s = "text/sql-injection"
			}
			r = rec(i, "wide", "agent-b", s)
		default:
			r = rec(i, "db-query", "agent-a", "")
		}
		out = d.Observe(r, out)
		if i%60 == 59 {
			out = d.Tick(base.Add(time.Duration(i)*time.Second), out)
		}
	}
	return out
}

func TestCrashEquivalence(t *testing.T) {
	const end = 16500 // past two distinct windows (1h) and the hold of 5200's extension (3h)
	for _, cut := range []int{1013, 3599, 5201, 5803} {
		a := newMixed()
		feed(a, 0, cut)
		data, err := a.MarshalState(nil)
		if err != nil {
			t.Fatal(err)
		}
		b := newMixed()
		if err := b.UnmarshalState(data); err != nil {
			t.Fatal(err)
		}
		if again, _ := b.MarshalState(nil); !bytes.Equal(again, data) {
			t.Fatalf("cut %d: restored state marshals differently", cut)
		}
		if n, _ := b.Held(); (n == 1) != (cut >= 5201) || n > 1 {
			t.Fatalf("cut %d: %d findings held (db-query's debug:bool is held from 5200 for 3h)", cut, n)
		}
		if tl := b.store.Peek(baseline.Key{Tool: "wide"}); tl == nil || tl.overflow == 0 {
			t.Fatalf("cut %d: wide tool did not overflow: sketches untested", cut)
		}
		fa, fb := detecttest.FindingsJSON(t, feed(a, cut, end)), detecttest.FindingsJSON(t, feed(b, cut, end))
		if len(fa) == 0 {
			t.Fatalf("cut %d: no findings after the cut: vacuous", cut)
		}
		if len(fa) != len(fb) {
			t.Fatalf("cut %d: original %d findings, restored %d", cut, len(fa), len(fb))
		}
		for i := range fa {
			if fa[i] != fb[i] {
				t.Fatalf("cut %d: finding %d differs:\noriginal %s\nrestored %s", cut, i, fa[i], fb[i])
			}
		}
		if a.ShapeStats() != b.ShapeStats() {
			t.Fatalf("cut %d: stats %+v vs %+v", cut, a.ShapeStats(), b.ShapeStats())
		}
		t.Logf("cut %d: %d findings compared", cut, len(fa))
	}
}

func TestUnmarshalStateErrorKeepsState(t *testing.T) {
	d := newMixed()
	feed(d, 0, 2000)
	good := detecttest.MustMarshal(t, d)
	rec := func(v uint64, st *StateV4) []byte { return detecttest.Sealed(v, st.put) }
	v3 := func(st *StateV3) []byte { return detecttest.Sealed(3, st.put) }
	v2 := func(st *StateV2) []byte { return detecttest.Sealed(2, st.put) }
	hll, _ := new(baseline.HLL).MarshalState(nil)
	ok := ToolV4{ToolV3: ToolV3{ToolV2: ToolV2{Tool: "x", Shapes: []ShapeV2{{H: 7}}, OverAll: hll, OverCur: hll}, RefOpen: 0.25},
		Fields: []FieldV4{{H: 9, Window: 1}}}
	dupField, zeroField := ok, ok
	dupField.Fields = []FieldV4{{H: 9}, {H: 9}}
	zeroField.Fields = []FieldV4{{H: 0}}
	dup := ok
	dup.Shapes = []ShapeV2{{H: 7}, {H: 7}}
	badHLL := ok
	badHLL.OverAll = []byte{1, 12, 1, 0, 0, 9}
	badRing := ok
	badRing.RecentPos = ringSize
	negOpen, nanOpen, bigOpen := ok, ok, ok
	negOpen.RefOpen, nanOpen.RefOpen, bigOpen.RefOpen = -1, math.NaN(), 1.5
	dupV2 := dup.ToolV3.ToolV2
	detecttest.RejectsCorrupt(t, d, good, rec(4, &StateV4{Tools: []ToolV4{ok}}), detecttest.Corruptions(good, map[string][]byte{
		"version 1 (gob)":            rec(1, &StateV4{Tools: []ToolV4{ok}}),
		"duplicate shape":            rec(4, &StateV4{Tools: []ToolV4{dup}}),
		"duplicate shape, version 2": v2(&StateV2{Tools: []ToolV2{dupV2}}),
		"bad sketch":                 rec(4, &StateV4{Tools: []ToolV4{badHLL}}),
		"bad ring position":          rec(4, &StateV4{Tools: []ToolV4{badRing}}),
		"negative reference open":    rec(4, &StateV4{Tools: []ToolV4{negOpen}}),
		"NaN reference openness":     rec(4, &StateV4{Tools: []ToolV4{nanOpen}}),
		"reference openness > 1":     rec(4, &StateV4{Tools: []ToolV4{bigOpen}}),
		"version 3 as version 2":     detecttest.Sealed(2, (&StateV3{Tools: []ToolV3{ok.ToolV3}}).put),
		"version 4 as version 3":     rec(3, &StateV4{Tools: []ToolV4{ok}}),
		"version 4 as version 2":     rec(2, &StateV4{Tools: []ToolV4{ok}}),
		"duplicate shape, version 3": v3(&StateV3{Tools: []ToolV3{dup.ToolV3}}),
		"duplicate field pair":       rec(4, &StateV4{Tools: []ToolV4{dupField}}),
		"zero field pair":            rec(4, &StateV4{Tools: []ToolV4{zeroField}}),
		"huge count":                 encoding.Seal([]byte{4, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}),
	}))
	if d.store.Len() != 3 {
		t.Fatalf("%d tools: the check above was vacuous", d.store.Len())
	}
}

func TestSetParams(t *testing.T) {
	slow := testConfig() // warm only after 5000 records
	slow.WarmupRecords = 5000
	raised := testConfig()
	raised.MinScore = 100
	tests := []struct {
		name      string
		from, to  Config
		wantAlert bool
	}{
		{"defaults alert", testConfig(), testConfig(), true},
		{"raised min_score silences", testConfig(), raised, false},
		{"in warm-up: silent", slow, slow, false},
		{"lowered warmup_records alerts", slow, testConfig(), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDet(tc.from)
			stream(d, 0, 1200, "db-query", "agent-a", dbShapes)
			tl := d.store.Peek(baseline.Key{Tool: "db-query"})
			before := *tl
			p := detect.NewParams(tc.to)
			d.SetParams(p)
			d.Tick(base.Add(1200*time.Second), nil) // re-resolves every tool
			if d.store.Peek(baseline.Key{Tool: "db-query"}) != tl || tl.cfg != &p.Base {
				t.Fatal("reload replaced the tool or did not bind the new config")
			}
			if tl.set.Len() != before.set.Len() || firstSlot(&tl.set) == nil || firstSlot(&tl.set) != firstSlot(&before.set) || tl.records != before.records || tl.first != before.first || tl.recent != before.recent {
				t.Fatal("reload lost the tool's vocabulary or counters")
			}
			fs := d.Observe(rec(1201, "db-query", "agent-a", "json{extra:str,id:num,more:str,other:str}"), nil)
			if (len(fs) > 0) != tc.wantAlert {
				t.Fatalf("%d findings for a new shape, want alert=%v", len(fs), tc.wantAlert)
			}
		})
	}
}

func TestSetParamsKeepsAllocationFree(t *testing.T) {
	d := newDet(testConfig())
	stream(d, 0, 200, "db-query", "agent-a", dbShapes)
	d.SetParams(detect.NewParams(testConfig()))
	r := rec(200, "db-query", "agent-a", dbShapes[0])
	i := 200
	allocs := testing.AllocsPerRun(1000, func() {
		i++
		r.Timestamp = base.Add(time.Duration(i) * time.Second)
		d.Observe(r, nil)
	})
	if allocs != 0 {
		t.Fatalf("allocs %v per known-shape record after SetParams", allocs)
	}
}

// firstSlot is the address of s's first member: equal for two sets that
// share a table.
func firstSlot(s *hashset.Set) *hashset.Slot {
	for sl := range s.All() {
		return sl
	}
	return nil
}
