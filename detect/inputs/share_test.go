package inputs

import (
	"slices"
	"testing"
)

// sharePair exports a's tool sketches into b's view.
func sharePair(t *testing.T, a, b *Detector) {
	t.Helper()
	others := map[string][][]byte{}
	a.ToolSketches(func(tool string, sk []byte) { others[tool] = append(others[tool], sk) })
	if err := b.SetSharedTools(others); err != nil {
		t.Fatal(err)
	}
}

// TestSharedShapesNotNovel: two partitions of one closed tool; a shape
// only partition A's agents send is novel on partition B until the
// partitions share, and then known (learned as a repeat); a shape neither
// saw still alerts, and sql-injection alerts whatever A knows.
func TestSharedShapesNotNovel(t *testing.T) {
	const extra = "json{id:num,rack:str,region:str,zone:str}"
	for _, tc := range []struct {
		name  string
		share bool
		want  int // findings for extra on B
	}{
		{"isolated", false, 1},
		{"shared", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newDet(testConfig()), newDet(testConfig())
			if fs := stream(a, 0, 1200, "db-query", "agent-a", append(slices.Clone(dbShapes), extra, "json{query:str/sql-injection}")); len(fs) == 0 {
				t.Fatal("A: the injection shape did not alert")
			}
			if fs := stream(b, 0, 1200, "db-query", "agent-b", dbShapes); len(fs) != 0 {
				t.Fatalf("B learning: %+v", fs)
			}
			if tc.share {
				sharePair(t, a, b)
			}
			if fs := b.Observe(rec(1200, "db-query", "agent-b", extra), nil); len(fs) != tc.want {
				t.Fatalf("A's shape on B: %d findings, want %d: %+v", len(fs), tc.want, fs)
			}
			if fs := b.Observe(rec(1201, "db-query", "agent-b", extra), nil); len(fs) != 0 {
				t.Fatalf("second use alerted: %+v", fs)
			}
			if tc.share {
				// The adopted shape left the vocabulary stable: a shape
				// no partition saw is still judged at full weight.
				one(t, b.Observe(rec(1202, "db-query", "agent-b", "json{id:str,table:str}"), nil))
			}
			if f := one(t, b.Observe(rec(1203, "db-query", "agent-c", "json{query:str/sql-injection}"), nil)); f.Score < 80 {
				t.Fatalf("injection after sharing scored %v", f.Score)
			}
		})
	}
}

func TestShapeSketchRoundTrip(t *testing.T) {
	a := newDet(testConfig())
	stream(a, 0, 300, "db-query", "agent-a", dbShapes)
	var got []uint64
	a.ToolSketches(func(tool string, sk []byte) {
		if err := DecodeShapeSketch(sk, func(h uint64) { got = append(got, h) }); err != nil {
			t.Fatal(err)
		}
	})
	if len(got) != len(dbShapes) || !slices.IsSorted(got) {
		t.Fatalf("decoded %v", got)
	}
	for _, bad := range [][]byte{nil, {2, 0}, {1, 5, 1}, {1, 2, 1, 0}, {1, 1, 1, 0}} {
		if err := DecodeShapeSketch(bad, func(uint64) {}); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
}

// FuzzShapeSketch: any payload decodes or is refused; installed, it never
// breaks the detector.
func FuzzShapeSketch(f *testing.F) {
	a := newDet(testConfig())
	stream(a, 0, 200, "db-query", "agent-a", dbShapes)
	a.ToolSketches(func(_ string, sk []byte) { f.Add(sk) })
	f.Fuzz(func(t *testing.T, b []byte) {
		n := 0
		if err := DecodeShapeSketch(b, func(uint64) { n++ }); err != nil {
			return
		}
		d := newDet(testConfig())
		if err := d.SetSharedTools(map[string][][]byte{"db-query": {b}}); err != nil {
			t.Fatal(err)
		}
		stream(d, 0, 200, "db-query", "agent-b", dbShapes)
	})
}
