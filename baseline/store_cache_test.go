package baseline

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestStoreCacheMatchesMap runs the same Gets, cap evictions and sweeps on
// a store with the entry cache and one without (the map alone), with keys
// built from a few shared strings (interned: cache hits) and fresh copies
// of them (other addresses: misses): every Get must return the same key's
// state, created at the same moments.
func TestStoreCacheMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	agents, tools := make([]string, 40), make([]string, 12)
	for i := range agents {
		agents[i] = fmt.Sprintf("agent-%02d", i)
	}
	for i := range tools {
		tools[i] = fmt.Sprintf("tool-%d", i)
	}
	type val struct{ id int }
	cached := NewStore[Key, val](150, time.Hour)
	plain := NewStore[Key, val](150, time.Hour)
	plain.slotOf = nil
	if cached.slotOf == nil {
		t.Fatal("a Key store has no cache")
	}
	ids := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 200000 {
		now = now.Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		k := Key{Agent: agents[rng.IntN(len(agents))], Tool: tools[rng.IntN(len(tools))]}
		if rng.IntN(4) == 0 { // same bytes, another address
			k.Agent = string([]byte(k.Agent))
		}
		a, aNew := cached.Get(k, now, nil)
		b, bNew := plain.Get(k, now, nil)
		if aNew != bNew {
			t.Fatalf("get %d of %v: created %v with the cache, %v without", i, k, aNew, bNew)
		}
		if aNew {
			ids++
			a.id, b.id = ids, ids
		}
		if a.id != b.id {
			t.Fatalf("get %d of %v: state %d with the cache, %d without", i, k, a.id, b.id)
		}
		if i%5000 == 0 {
			if x, y := cached.Sweep(now.Add(30*time.Minute)), plain.Sweep(now.Add(30*time.Minute)); x != y {
				t.Fatalf("sweep evicted %d with the cache, %d without", x, y)
			}
		}
	}
	if cached.Len() != plain.Len() {
		t.Fatalf("%d keys with the cache, %d without", cached.Len(), plain.Len())
	}
}
