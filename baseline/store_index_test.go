package baseline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestStoreIndexCollisions runs the same Gets, Peeks, cap evictions,
// sweeps and a restore on a store whose key hash collides all the time
// (three values: most keys live in over) and on one with the seeded hash:
// every Get and Peek must find the same key's state, created at the same
// moments, and both stores must hold the same keys in the same order.
func TestStoreIndexCollisions(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	agents, tools := make([]string, 60), make([]string, 7)
	for i := range agents {
		agents[i] = fmt.Sprintf("agent-%d", i*7919)
	}
	for i := range tools {
		tools[i] = fmt.Sprintf("tool-%d", i)
	}
	type val struct{ id int }
	weak := func(s *Store[Key, val]) {
		s.hashOf = func(k Key) uint64 { return uint64(len(k.Agent)+len(k.Tool)) % 3 }
	}
	coll := NewStore[Key, val](200, time.Hour)
	weak(coll)
	plain := NewStore[Key, val](200, time.Hour)
	ids := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100000 {
		now = now.Add(time.Duration(rng.IntN(300)) * time.Millisecond)
		k := Key{Agent: agents[rng.IntN(len(agents))], Tool: tools[rng.IntN(len(tools))]}
		if rng.IntN(8) == 0 {
			a, b := coll.Peek(k), plain.Peek(k)
			if (a == nil) != (b == nil) || a != nil && a.id != b.id {
				t.Fatalf("peek %d of %v: %v with collisions, %v without", i, k, a, b)
			}
			continue
		}
		a, aNew := coll.Get(k, now, nil)
		b, bNew := plain.Get(k, now, nil)
		if aNew != bNew {
			t.Fatalf("get %d of %v: created %v with collisions, %v without", i, k, aNew, bNew)
		}
		if aNew {
			ids++
			a.id, b.id = ids, ids
		}
		if a.id != b.id {
			t.Fatalf("get %d of %v: state %d with collisions, %v without", i, k, a.id, b.id)
		}
		if i%4000 == 0 {
			if x, y := coll.Sweep(now.Add(40*time.Minute)), plain.Sweep(now.Add(40*time.Minute)); x != y {
				t.Fatalf("sweep evicted %d with collisions, %d without", x, y)
			}
		}
		if i == 60000 { // restore both from their own listing
			for _, s := range []**Store[Key, val]{&coll, &plain} {
				r := (*s).Empty()
				if s == &coll {
					weak(r)
				}
				(*s).RangeSeen(func(k Key, seen int64, v *val) bool {
					r.Put(k, seen, *v)
					return true
				})
				*s = r
			}
		}
	}
	if coll.Len() != plain.Len() || len(coll.over) == 0 {
		t.Fatalf("%d keys with collisions (%d in over), %d without", coll.Len(), len(coll.over), plain.Len())
	}
	type kv struct {
		k  Key
		id int
	}
	var x, y []kv
	coll.Range(func(k Key, v *val) bool { x = append(x, kv{k, v.id}); return true })
	plain.Range(func(k Key, v *val) bool { y = append(y, kv{k, v.id}); return true })
	if fmt.Sprint(x) != fmt.Sprint(y) {
		t.Fatalf("keys differ:\n%v\n%v", x, y)
	}
	for _, e := range x {
		if v := coll.Peek(e.k); v == nil || v.id != e.id {
			t.Fatalf("peek of listed key %v: %v", e.k, v)
		}
	}
}
