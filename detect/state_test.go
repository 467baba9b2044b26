package detect

import (
	"testing"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
)

func TestStoreStats(t *testing.T) {
	a := baseline.NewStore[string, int](2, time.Minute)
	b := baseline.NewStore[string, int](10, time.Minute)
	t0 := time.Unix(1000, 0)
	for i, k := range []string{"x", "y", "z"} { // the third evicts one at the cap
		a.Get(k, t0.Add(time.Duration(i)*time.Second), nil)
	}
	b.Get("old", t0, nil)
	b.Sweep(t0.Add(time.Hour)) // idle
	b.Get("new", t0.Add(time.Hour), nil)
	live, idle, capacity := StoreStats(a, b)
	if live != 3 || idle != 1 || capacity != 1 {
		t.Fatalf("live %d idle %d capacity %d, want 3 1 1", live, idle, capacity)
	}
	if l, i, c := StoreStats(); l != 0 || i != 0 || c != 0 {
		t.Fatal("no stores: zeros")
	}
}
