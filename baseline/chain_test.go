package baseline

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// A full capture followed by delta captures, taken while the owner keeps
// changing, evicting (at the cap and idle) and re-creating keys, merges
// (Chain) into exactly the stop-the-world copy at each delta's point, in
// the same order. Run with -race.
func TestDeltaChainEqualsFullCapture(t *testing.T) {
	for _, tc := range []struct {
		name      string
		seed      uint64
		cap       int
		keys      int
		perRound  int
		sweepRate int // one op in sweepRate sweeps
	}{
		{"few changes", 1, 0, 300, 20, 0},
		{"cap evictions and re-created keys", 2, 200, 400, 500, 0},
		{"idle evictions", 3, 0, 500, 800, 20},
		{"everything changes", 4, 300, 300, 5000, 50},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tc.seed, 7))
			s := NewStore[Key, [4]int](tc.cap, 10*time.Minute)
			now := time.Unix(1_000_000, 0)
			step := func() {
				now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
				k := Key{Agent: fmt.Sprint(rng.IntN(tc.keys)), Tool: "t"}
				switch r := rng.IntN(100); {
				case tc.sweepRate > 0 && r < 100/tc.sweepRate:
					s.Sweep(now.Add(-time.Duration(rng.IntN(15)) * time.Minute))
				case r < 10:
					if v := s.Peek(k); v != nil {
						v[1]++
					}
				case r < 15: // a late record: accessed, not moved
					v, _ := s.Get(k, now.Add(-time.Hour), nil)
					v[2]++
				default:
					v, _ := s.Get(k, now, nil)
					v[0]++
					v[3] = rng.Int()
				}
			}
			cp := func(_ bool, k Key, seen int64, v *[4]int) capRow { return capRow{k, seen, *v} }
			want := func() []capRow {
				var w []capRow // not RangeSeen: that counts as an access
				for e := s.head; e != nil; e = e.next {
					w = append(w, capRow{e.key, e.lastSeen, e.val})
				}
				return w
			}
			for range 2000 {
				step()
			}
			if _, ok := CaptureDelta(s, cp); ok {
				t.Fatal("delta capture of a store never captured")
			}
			full := want()
			es, seqs := Capture(s, cp).FinishSeq()
			if !reflect.DeepEqual(es, full) {
				t.Fatal("full capture differs from the copy")
			}
			ch, err := NewChain(es, seqs, func(r *capRow) Key { return r.k })
			if err != nil {
				t.Fatal(err)
			}
			for round := range 8 {
				for range tc.perRound {
					step()
				}
				w := want()
				c, ok := CaptureDelta(s, cp)
				if !ok {
					t.Fatal("no delta capture")
				}
				done := make(chan struct{})
				var des []capRow
				var dseqs []int64
				go func() { des, dseqs = c.FinishSeq(); close(done) }()
				for range tc.perRound / 2 {
					step()
				}
				<-done
				if err := ch.Apply(c.Tombstones(), des, dseqs); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				got, _, err := ch.Result()
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if !reflect.DeepEqual(got, w) {
					t.Fatalf("round %d: chain of %d keys (delta %d keys, %d tombstones) differs from the copy (%d keys)", round, len(got), len(des), len(c.Tombstones()), len(w))
				}
				if tc.perRound <= 20 && len(des) > 3*tc.perRound {
					t.Fatalf("round %d: delta holds %d keys after %d accesses", round, len(des), tc.perRound)
				}
			}
		})
	}
}

// A tombstone for a key the chain does not hold, or a delta that puts two
// keys at one position, is an error, not a silently different state.
func TestChainRejectsInconsistentDelta(t *testing.T) {
	key := func(r *capRow) Key { return r.k }
	a, b := capRow{k: Key{Tool: "a"}}, capRow{k: Key{Tool: "b"}}
	ch, err := NewChain([]capRow{a, b}, []int64{5, 3}, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Apply([]Key{{Tool: "zz"}}, nil, nil); err == nil {
		t.Error("tombstone for an unknown key accepted")
	}
	ch, _ = NewChain([]capRow{a, b}, []int64{5, 3}, key)
	if err := ch.Apply(nil, []capRow{{k: Key{Tool: "c"}}}, []int64{5}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ch.Result(); err == nil {
		t.Error("two keys at one position accepted")
	}
	if _, err := NewChain([]capRow{a, b}, []int64{3, 5}, key); err == nil {
		t.Error("ascending positions accepted")
	}
}

// Listing the keys (RangeKeys) is not an access: the next delta holds
// none of them, while Range (which hands out values) counts as one.
func TestRangeKeysIsNoAccess(t *testing.T) {
	s := NewStore[Key, [4]int](0, 0)
	for i := range 50 {
		s.Get(Key{Tool: fmt.Sprint(i)}, time.Unix(int64(i), 0), nil)
	}
	cp := func(_ bool, k Key, _ int64, v *[4]int) Key { return k }
	Capture(s, cp).Finish()
	n := 0
	s.RangeKeys(func(Key) bool { n++; return true })
	c, _ := CaptureDelta(s, cp)
	if got := c.Finish(); n != 50 || len(got) != 0 {
		t.Fatalf("listed %d keys; the delta after it holds %d", n, len(got))
	}
	s.Range(func(Key, *[4]int) bool { return true })
	c, _ = CaptureDelta(s, cp)
	if got := c.Finish(); len(got) != 50 {
		t.Fatalf("the delta after Range holds %d keys, want 50", len(got))
	}
}
