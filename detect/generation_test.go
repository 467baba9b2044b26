package detect

import "testing"

func TestGeneration(t *testing.T) {
	var g Generation
	if g.Current(0) {
		t.Fatal("a new key (zero stamp) must be stale")
	}
	if g.SweepDue() {
		t.Fatal("no sweep is owed before any reload")
	}
	s := g.Stamp()
	if !g.Current(s) {
		t.Fatal("a key just stamped must be current")
	}
	g.Next()
	if g.Current(s) || !g.SweepDue() {
		t.Fatal("after Next the old stamp is stale and a sweep is owed")
	}
	s2 := g.Stamp()
	if s2 == s || s2 == 0 || !g.Current(s2) {
		t.Fatalf("stamps %d, %d", s, s2)
	}
	g.Swept()
	if g.SweepDue() {
		t.Fatal("Swept must clear the owed sweep")
	}
	g.Next()
	g.Next()
	if !g.SweepDue() || g.Current(s2) {
		t.Fatal("two reloads: stale and sweep owed")
	}
}
