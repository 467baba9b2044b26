package baseline

import (
	"testing"
	"time"
)

func TestPeekSeen(t *testing.T) {
	s := NewStore[string, int](10, time.Hour)
	t0 := time.Unix(1000, 0)
	v, _ := s.Get("a", t0, nil)
	*v = 7
	s.Get("a", t0.Add(5*time.Second), nil)
	for _, c := range []struct {
		key  string
		val  int
		seen int64
		ok   bool
	}{{"a", 7, 1005, true}, {"b", 0, 0, false}} {
		p, seen := s.PeekSeen(c.key)
		if (p != nil) != c.ok || seen != c.seen || (p != nil && *p != c.val) {
			t.Errorf("PeekSeen(%q) = %v, %d; want ok %v, %d, %d", c.key, p, seen, c.ok, c.val, c.seen)
		}
	}
	if s.Len() != 1 {
		t.Errorf("PeekSeen created a key: %d keys", s.Len())
	}
}
