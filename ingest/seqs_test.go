package ingest

import (
	"testing"
)

func TestSeqTracker(t *testing.T) {
	tr := newSeqTracker(3)
	for _, s := range []uint64{1, 3} {
		if !tr.done(s) {
			t.Errorf("seq %d under the restored floor not done", s)
		}
	}
	tr.mark(5) // 4 was lost in flight
	tr.mark(6)
	if tr.done(4) || !tr.done(5) || tr.floor != 3 || tr.gaps() != 2 {
		t.Fatalf("after 5,6: floor %d gaps %d done(4)=%v", tr.floor, tr.gaps(), tr.done(4))
	}
	tr.mark(4) // the redelivery fills the gap
	if tr.floor != 6 || tr.gaps() != 0 {
		t.Fatalf("after 4: floor %d gaps %d, want 6 0", tr.floor, tr.gaps())
	}
	tr.mark(9) // 7, 8 deleted by stream limits: the ack floor skips them
	tr.mark(11)
	tr.raise(8)
	if tr.floor != 9 || tr.gaps() != 1 || !tr.done(11) || tr.done(10) {
		t.Fatalf("after raise(8): floor %d gaps %d", tr.floor, tr.gaps())
	}
	tr.raise(2) // never lowers
	if tr.floor != 9 {
		t.Fatalf("raise lowered the floor to %d", tr.floor)
	}
}

// FuzzSeqTracker checks the tracker against a plain set: done(s) holds
// exactly for marked seqs and seqs <= the largest raise, and the floor is
// the largest f with every seq <= f done.
func FuzzSeqTracker(f *testing.F) {
	f.Add([]byte{1, 2, 3, 5, 4, 0x81, 9})
	f.Add([]byte{7, 0x83, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tr := newSeqTracker(0)
		ref := map[uint64]bool{}
		var raised uint64
		for _, op := range ops {
			s := uint64(op & 0x3f)
			if op&0x80 != 0 {
				tr.raise(s)
				raised = max(raised, s)
			} else {
				tr.mark(s)
				ref[s] = true
			}
		}
		want := func(s uint64) bool { return s <= raised || ref[s] || s == 0 }
		for s := uint64(0); s < 70; s++ {
			if tr.done(s) != want(s) {
				t.Fatalf("ops %v: done(%d) = %v, want %v", ops, s, tr.done(s), want(s))
			}
		}
		var floor uint64
		for want(floor + 1) {
			floor++
		}
		if tr.floor != floor {
			t.Fatalf("ops %v: floor %d, want %d", ops, tr.floor, floor)
		}
	})
}
