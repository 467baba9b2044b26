package baseline

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestStoreRangeSeenPutCounters(t *testing.T) {
	s := NewStore[Key, int](2, time.Hour)
	t0 := time.Unix(1_000_000, 0)
	a, _ := s.Get(Key{Tool: "a"}, t0, nil)
	*a = 1
	b, _ := s.Get(Key{Tool: "b"}, t0.Add(time.Minute), nil)
	*b = 2
	s.Sweep(t0.Add(time.Hour + 30*time.Second)) // evicts a
	// Copy into an empty store with the same limits, as a restore does.
	r := s.Empty()
	s.RangeSeen(func(k Key, seen int64, v *int) bool {
		r.Put(k, seen, *v)
		return true
	})
	idle, capacity := s.Evictions()
	r.SetCounters(idle, capacity)
	type row struct {
		k    Key
		seen int64
		v    int
	}
	dump := func(st *Store[Key, int]) []row {
		var out []row
		st.RangeSeen(func(k Key, seen int64, v *int) bool {
			out = append(out, row{k, seen, *v})
			return true
		})
		slices.SortFunc(out, func(x, y row) int { return cmpStr(x.k.Tool, y.k.Tool) })
		return out
	}
	want := []row{{Key{Tool: "b"}, t0.Unix() + 60, 2}}
	if got := dump(r); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	if i, c := r.Evictions(); i != 1 || c != 0 {
		t.Fatalf("counters idle %d capacity %d, want 1/0", i, c)
	}
	// The restored idle clock drives eviction exactly like the original's.
	if n := r.Sweep(t0.Add(time.Hour + 59*time.Second)); n != 0 {
		t.Fatalf("evicted %d keys before their idle time", n)
	}
	if n := r.Sweep(t0.Add(time.Hour + 61*time.Second)); n != 1 {
		t.Fatalf("evicted %d keys, want 1", n)
	}
	// Put ignores the cap (a snapshot is restored whole); the next new key
	// evicts the least recently seen keys down to the cap.
	r.Put(Key{Tool: "x"}, 3, 1)
	r.Put(Key{Tool: "y"}, 1, 1)
	r.Put(Key{Tool: "z"}, 2, 1)
	if r.Len() != 3 {
		t.Fatalf("len %d after Put, want 3", r.Len())
	}
	if v, created := r.Get(Key{Tool: "new"}, t0, nil); v == nil || !created {
		t.Fatal("Get over the cap after Put did not create the key")
	}
	if r.Len() != 2 || r.Peek(Key{Tool: "x"}) == nil || r.Peek(Key{Tool: "new"}) == nil {
		t.Fatalf("after Get over the cap: %+v, want x and new", dump(r))
	}
	if _, c := r.Evictions(); c != 2 {
		t.Fatalf("capacity evictions %d, want 2 (z, then y)", c)
	}
	r.SetLimits(0, 0)
	for i := range 5 {
		r.Get(Key{Tool: fmt.Sprint(i)}, t0, nil)
	}
	if r.Len() != 7 {
		t.Fatalf("SetLimits(0) did not lift the cap: %d keys", r.Len())
	}
}

func TestStoreEvictsLeastRecentlySeen(t *testing.T) {
	s := NewStore[string, int](3, 0)
	t0 := time.Unix(1_000_000, 0)
	for i, k := range []string{"a", "b", "c"} {
		s.Get(k, t0.Add(time.Duration(i)*time.Second), nil)
	}
	s.Get("a", t0.Add(10*time.Second), nil) // a is now the most recent
	s.Get("b", t0.Add(time.Second), nil)    // not newer: b is not refreshed
	v, created := s.Get("d", t0.Add(11*time.Second), func(v *int) { *v = 7 })
	if !created || *v != 7 {
		t.Fatalf("new key at the cap: created %v value %d", created, *v)
	}
	var keys []string
	s.Range(func(k string, _ *int) bool { keys = append(keys, k); return true })
	if want := []string{"d", "a", "c"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v (b evicted as least recently seen)", keys, want)
	}
	if i, c := s.Evictions(); i != 0 || c != 1 {
		t.Fatalf("evictions idle %d capacity %d, want 0/1", i, c)
	}
	// A reused entry starts from the zero value.
	if v, _ := s.Get("e", t0.Add(12*time.Second), nil); *v != 0 {
		t.Fatalf("new key after eviction holds %d, want 0", *v)
	}
}

// TestStoreSweepMatchesFullScan drives a store with keys seen out of order
// (up to a lateness) and checks every Sweep against a full scan.
func TestStoreSweepMatchesFullScan(t *testing.T) {
	for _, lateness := range []int64{0, 5, 30, 600} {
		t.Run(fmt.Sprint(lateness), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(lateness)))
			const idle = 300
			s := NewStore[int, struct{}](0, idle*time.Second)
			ref := map[int]int64{}
			now := int64(1_000_000)
			for step := 0; step < 20000; step++ {
				now += rng.Int64N(3)
				ts := now - rng.Int64N(lateness+1)
				k := rng.IntN(500)
				if rng.IntN(4) == 0 {
					k = 1000 + step // a key seen once
				}
				s.Get(k, time.Unix(ts, 0), nil)
				if ref[k] < ts {
					ref[k] = ts
				}
				if step%50 == 0 {
					wm := now - lateness
					want := 0
					for k, seen := range ref {
						if seen < wm-idle {
							delete(ref, k)
							want++
						}
					}
					if got := s.Sweep(time.Unix(wm, 0)); got != want || s.Len() != len(ref) {
						t.Fatalf("step %d: swept %d (live %d), full scan %d (live %d)", step, got, s.Len(), want, len(ref))
					}
				}
			}
		})
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BenchmarkStoreGet is the per-record path: an existing key seen again.
func BenchmarkStoreGet(b *testing.B) {
	for _, n := range []int{1000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewStore[Key, [64]byte](0, time.Hour)
			keys := make([]Key, n)
			t0 := time.Unix(1_000_000, 0)
			for i := range keys {
				keys[i] = Key{Agent: fmt.Sprintf("agent-%d", i), Tool: "tool"}
				s.Get(keys[i], t0, nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Get(keys[i%n], t0.Add(time.Duration(i/n+1)*time.Second), nil)
			}
		})
	}
}

// BenchmarkStoreSweep is one tick's sweep of a store where nothing is due.
func BenchmarkStoreSweep(b *testing.B) {
	for _, n := range []int{1000, 1000000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := NewStore[int, struct{}](0, time.Hour)
			t0 := time.Unix(1_000_000, 0)
			for i := range n {
				s.Get(i, t0.Add(time.Duration(i%60)*time.Second), nil)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				s.Sweep(t0.Add(10 * time.Minute))
			}
		})
	}
}

func TestDuePopsInTimeOrder(t *testing.T) {
	var d Due[int]
	rng := rand.New(rand.NewPCG(3, 4))
	var want []int64
	for i := range 500 {
		at := rng.Int64N(100)
		d.Push(at, i)
		want = append(want, at)
	}
	slices.Sort(want)
	if _, _, ok := d.Pop(-1); ok {
		t.Fatal("popped an entry not yet due")
	}
	var got []int64
	for {
		at, _, ok := d.Pop(49)
		if !ok {
			break
		}
		got = append(got, at)
	}
	for {
		at, _, ok := d.Pop(1 << 62)
		if !ok {
			break
		}
		got = append(got, at)
	}
	if !slices.Equal(got, want) || d.Len() != 0 {
		t.Fatalf("popped %d entries out of order", len(got))
	}
}

// At the cap the evicted key's value is recycled for the new key (keeping
// its buffer); idle evictions leave nothing behind.
func TestStoreRecyclesAtCap(t *testing.T) {
	type val struct {
		n   int
		buf []byte
	}
	s := NewStore[string, val](1, time.Minute)
	s.SetRecycle(func(v *val) { *v = val{buf: v.buf[:0]} })
	t0 := time.Unix(1_000_000, 0)
	a, _ := s.Get("a", t0, nil)
	a.n, a.buf = 1, make([]byte, 3, 64)
	b, created := s.Get("b", t0.Add(time.Second), nil)
	if !created || b.n != 0 || len(b.buf) != 0 || cap(b.buf) != 64 {
		t.Fatalf("recycled value %+v (cap %d)", *b, cap(b.buf))
	}
	if s.Sweep(t0.Add(time.Hour)) != 1 || s.free != nil {
		t.Fatal("an idle eviction kept its entry")
	}
	if c, _ := s.Get("c", t0.Add(time.Hour), nil); c.buf != nil || s.Empty().recycle == nil {
		t.Fatal("new key after an idle sweep is not zero, or Empty lost the recycler")
	}
}

// A store restored from a snapshot written in key order (before recency
// order) is sorted on its first eviction, then sweeps exactly.
func TestStoreRestoredOutOfOrder(t *testing.T) {
	s := NewStore[int, struct{}](0, time.Hour)
	seen := map[int]int64{}
	rng := rand.New(rand.NewPCG(8, 9))
	for k := range 1000 {
		seen[k] = 1_000_000 + rng.Int64N(86400)
		s.Put(k, seen[k], struct{}{})
	}
	for _, now := range []int64{1_000_000 + 20000, 1_000_000 + 50000, 1_000_000 + 90000} {
		want := 0
		for k, v := range seen {
			if v < now-3600 {
				delete(seen, k)
				want++
			}
		}
		if got := s.Sweep(time.Unix(now, 0)); got != want || s.Len() != len(seen) {
			t.Fatalf("at %d: swept %d (live %d), want %d (live %d)", now, got, s.Len(), want, len(seen))
		}
	}
	if s.slack != 0 {
		t.Fatalf("slack %d after sorting", s.slack)
	}
}

// Get's memo of the last entry never outlives the entry: a key evicted at
// the cap or for idleness, or replaced by Put, is new on its next Get, and
// the zero key never finds an evicted entry.
func TestStoreLastEntryMemo(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := NewStore[Key, int](1, time.Minute)
	a, b := Key{Agent: "a", Tool: "t"}, Key{Agent: "b", Tool: "t"}
	v, created := s.Get(a, t0, nil)
	*v = 7
	if v2, c2 := s.Get(a, t0, nil); !created || c2 || *v2 != 7 {
		t.Fatalf("repeat Get: created %v %v, value %d", created, c2, *v2)
	}
	s.Get(b, t0, nil) // evicts a at the cap
	if v, created := s.Get(a, t0, nil); !created || *v != 0 {
		t.Fatalf("a after eviction at the cap: created %v, value %d", created, *v)
	}
	s.Sweep(t0.Add(time.Hour)) // a idle
	if _, created := s.Get(Key{}, t0.Add(time.Hour), nil); !created {
		t.Fatal("zero key found an evicted entry")
	}
	s2 := NewStore[string, int](0, 0)
	v, _ = s2.Get("k", t0, nil)
	*v = 3
	s2.Put("k", t0.Unix(), 5)
	if v, created := s2.Get("k", t0, nil); created || *v != 5 {
		t.Fatalf("after Put: created %v, value %d", created, *v)
	}
}

// GetRef gives what Get gives (PeekRef what Peek gives, also through
// stale refs) and leaves the store as Get leaves it,
// through idle and capacity evictions (refs to evicted, reused and
// recycled entries), re-created keys and a restore into a new store
// (refs into the old one refused).
func TestGetRefMatchesGet(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	type val struct{ n, id int }
	plain := NewStore[Key, val](8, 10*time.Minute)
	viaRef := NewStore[Key, val](8, 10*time.Minute)
	refs := map[Key]*Ref[Key, val]{}
	t0 := time.Unix(1_700_000_000, 0)
	ids := 0
	dump := func(s *Store[Key, val]) []string {
		var out []string
		s.RangeSeen(func(k Key, seen int64, v *val) bool {
			out = append(out, fmt.Sprintf("%s/%d/%+v", k.Agent, seen, *v))
			return true
		})
		return out
	}
	for i := range 5000 {
		now := t0.Add(time.Duration(i) * 7 * time.Second)
		k := Key{Agent: fmt.Sprintf("a%d", rng.IntN(14))}
		if k.Agent == "a13" {
			k = Key{} // an evicted entry's key is zeroed
		}
		init := func(v *val) { ids++; v.id = ids }
		id0 := ids
		pv, pc := plain.Get(k, now, init)
		ids = id0 // the same ids on both sides
		ref := refs[k]
		if ref == nil {
			ref = new(Ref[Key, val])
			refs[k] = ref
		}
		rv, rc := viaRef.GetRef(k, ref, now, init)
		if pc != rc || *pv != *rv {
			t.Fatalf("step %d key %s: Get %+v %v, GetRef %+v %v", i, k.Agent, *pv, pc, *rv, rc)
		}
		pv.n++
		rv.n++
		// PeekRef through a possibly stale ref of another key is Peek.
		k2 := Key{Agent: fmt.Sprintf("a%d", rng.IntN(14))}
		if r2 := refs[k2]; r2 != nil {
			pp, rp := plain.Peek(k2), viaRef.PeekRef(k2, r2)
			if (pp == nil) != (rp == nil) || (pp != nil && *pp != *rp) {
				t.Fatalf("step %d key %s: Peek %v, PeekRef %v", i, k2.Agent, pp, rp)
			}
		}
		switch rng.IntN(50) {
		case 0:
			now = now.Add(time.Duration(rng.IntN(20)) * time.Minute)
			if a, b := plain.Sweep(now), viaRef.Sweep(now); a != b {
				t.Fatalf("step %d: sweeps evicted %d and %d", i, a, b)
			}
		case 1: // restore both into new stores: old refs must not be used
			for _, s := range []**Store[Key, val]{&plain, &viaRef} {
				r := (*s).Empty()
				(*s).RangeSeen(func(k Key, seen int64, v *val) bool {
					r.Put(k, seen, *v)
					return true
				})
				*s = r
			}
		}
		if a, b := dump(plain), dump(viaRef); !slices.Equal(a, b) {
			t.Fatalf("step %d: stores differ:\nGet    %v\nGetRef %v", i, a, b)
		}
	}
}
