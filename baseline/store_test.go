package baseline

import (
	"errors"
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
	if v, _ := s.Get(Key{Tool: "c"}, t0, nil); v != nil {
		t.Fatal("cap not enforced")
	}
	s.Sweep(t0.Add(time.Hour + 30*time.Second)) // evicts a
	// Copy into an empty store with the same limits, as a restore does.
	r := s.Empty()
	s.RangeSeen(func(k Key, seen int64, v *int) bool {
		r.Put(k, seen, *v)
		return true
	})
	r.SetCounters(s.Rejected(), s.Evicted())
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
	if r.Rejected() != 1 || r.Evicted() != 1 {
		t.Fatalf("counters %d/%d, want 1/1", r.Rejected(), r.Evicted())
	}
	// The restored idle clock drives eviction exactly like the original's.
	if n := r.Sweep(t0.Add(time.Hour + 59*time.Second)); n != 0 {
		t.Fatalf("evicted %d keys before their idle time", n)
	}
	if n := r.Sweep(t0.Add(time.Hour + 61*time.Second)); n != 1 {
		t.Fatalf("evicted %d keys, want 1", n)
	}
	// Put ignores the cap (a snapshot is restored whole); Get still enforces it.
	r.Put(Key{Tool: "x"}, 1, 1)
	r.Put(Key{Tool: "y"}, 1, 1)
	r.Put(Key{Tool: "z"}, 1, 1)
	if r.Len() != 3 {
		t.Fatalf("len %d after Put, want 3", r.Len())
	}
	if v, _ := r.Get(Key{Tool: "new"}, t0, nil); v != nil || r.Rejected() != 2 {
		t.Fatal("Get over the cap after Put was not rejected")
	}
	r.SetLimits(0, 0)
	if v, _ := r.Get(Key{Tool: "new"}, t0, nil); v == nil {
		t.Fatal("SetLimits(0) did not lift the cap")
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

func TestGobStateRoundTripAndCorruption(t *testing.T) {
	type dto struct {
		Version int
		Rates   []Rate
		Name    string
	}
	in := dto{Version: 1, Name: "x", Rates: []Rate{{Counter: Counter{Start: 300, N: 7}, Thr: 9}}}
	in.Rates[0].Profile.Mean[3] = 1.5
	enc, err := AppendGob([]byte("prefix"), in)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc[:6]) != "prefix" {
		t.Fatal("AppendGob did not append")
	}
	var out dto
	if err := DecodeGob(enc[6:], &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip %+v, want %+v", out, in)
	}
	body := enc[6:]
	for i := 0; i < len(body); i++ {
		bad := slices.Clone(body)
		bad[i] ^= 0x40
		if err := DecodeGob(bad, new(dto)); err == nil {
			t.Fatalf("flipped byte %d decoded without error", i)
		}
	}
	for _, n := range []int{0, 1, 4, len(body) - 1} {
		if err := DecodeGob(body[:n], new(dto)); err == nil {
			t.Fatalf("truncated to %d bytes decoded without error", n)
		}
	}
	if err := DecodeGob(append(slices.Clone(body[:len(body)-4]), 0, 0, 0, 0), new(dto)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad checksum: err %v, want ErrCorrupt", err)
	}
}
