package baseline

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

type capRow struct {
	k    Key
	seen int64
	v    [4]int
}

// A capture finished on another goroutine while the owner keeps changing,
// evicting and adding keys equals a stop-the-world copy (RangeSeen) at
// the capture point. Run with -race: Finish must never read an entry the
// owner writes.
func TestCaptureIsCopyOnWrite(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			s := NewStore[Key, [4]int](500, 30*time.Minute)
			t0 := time.Unix(1_000_000, 0)
			now := t0
			step := func() {
				now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
				k := Key{Agent: fmt.Sprint(rng.IntN(700)), Tool: "t"}
				switch rng.IntN(10) {
				case 0:
					if v := s.Peek(k); v != nil {
						v[1]++
					}
				case 1:
					s.Sweep(now.Add(-time.Duration(rng.IntN(20)) * time.Minute))
				case 2:
					s.Range(func(_ Key, v *[4]int) bool { v[2]++; return rng.IntN(50) != 0 })
				default:
					v, _ := s.Get(k, now, nil)
					v[0]++
					v[3] = rng.Int()
				}
			}
			for round := range 4 {
				for range 3000 {
					step()
				}
				var want []capRow
				s.RangeSeen(func(k Key, seen int64, v *[4]int) bool {
					want = append(want, capRow{k, seen, *v})
					return true
				})
				c := Capture(s, func(_ bool, k Key, seen int64, v *[4]int) capRow { return capRow{k, seen, *v} })
				done := make(chan []capRow)
				go func() { done <- c.Finish() }()
				for range 2000 {
					step()
				}
				got := <-done
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("round %d: capture of %d keys differs from the copy at the capture point (%d keys)", round, len(got), len(want))
				}
			}
		})
	}
}

// A capture started while the previous one was never finished drains it
// first; MarshalState-style use (Capture then Finish on the owner) works.
func TestCaptureOnOwner(t *testing.T) {
	s := NewStore[Key, [4]int](0, 0)
	for i := range 100 {
		v, _ := s.Get(Key{Tool: fmt.Sprint(i)}, time.Unix(int64(i), 0), nil)
		v[0] = i
	}
	cp := func(_ bool, k Key, _ int64, v *[4]int) int { return v[0] }
	Capture(s, cp) // abandoned
	s.Get(Key{Tool: "5"}, time.Unix(500, 0), nil)
	got := Capture(s, cp).Finish()
	if len(got) != 100 || got[0] != 5 || got[1] != 99 || got[99] != 0 {
		t.Fatalf("got %d keys, first %v", len(got), got[:3])
	}
}
