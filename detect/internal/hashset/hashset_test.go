package hashset

import (
	"slices"
	"testing"
	"unsafe"
)

// spread makes test hashes that collide in the low bits as real ones do.
func spread(i uint64) uint64 { return i * 0x9e3779b97f4a7c15 }

func TestSlotIs16Bytes(t *testing.T) {
	if n := unsafe.Sizeof(Slot{}); n != 16 {
		t.Fatalf("slot is %d bytes, want 16", n)
	}
}

func TestGrowthKeepsMembersAndMetadata(t *testing.T) {
	var s Set
	for h := uint64(1); h <= 1000; h++ {
		if s.Find(spread(h)) != nil {
			t.Fatalf("found %d before insert", h)
		}
		sl := s.Insert(spread(h))
		sl.Window, sl.Flags = uint32(h), uint8(h)
	}
	for h := uint64(1); h <= 1000; h++ {
		sl := s.Find(spread(h))
		if sl == nil || sl.H != spread(h) || sl.Window != uint32(h) || sl.Flags != uint8(h) {
			t.Fatalf("lost %d after growth: %+v", h, sl)
		}
	}
	if s.Len() != 1000 || len(s.slots) != 2048 {
		t.Fatalf("len %d slots %d, want 1000 in 2048", s.Len(), len(s.slots))
	}
}

func TestAdd(t *testing.T) {
	tests := []struct {
		name string
		h    uint64
		ok   bool
	}{
		{"new", 7, true},
		{"zero is the empty marker", 0, false},
		{"duplicate", 42, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Set
			s.Insert(42).Flags = 3
			sl := s.Add(tt.h)
			if (sl != nil) != tt.ok {
				t.Fatalf("Add(%d) = %v, want ok=%v", tt.h, sl, tt.ok)
			}
			if s.Find(42).Flags != 3 {
				t.Fatal("Add touched an existing member")
			}
			if want := 1 + map[bool]int{true: 1}[tt.ok]; s.Len() != want {
				t.Fatalf("len %d, want %d", s.Len(), want)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	var s Set
	for h := uint64(1); h <= 100; h++ {
		s.Insert(spread(h)).Window = uint32(h)
	}
	before := s
	if s.Delete(spread(1000)) {
		t.Fatal("deleted a non-member")
	}
	for h := uint64(1); h <= 100; h += 2 {
		if !s.Delete(spread(h)) {
			t.Fatalf("Delete(%d) found nothing", h)
		}
	}
	for h := uint64(1); h <= 100; h++ {
		sl := s.Find(spread(h))
		if (sl != nil) != (h%2 == 0) || (sl != nil && sl.Window != uint32(h)) {
			t.Fatalf("after deletes, member %d: %+v", h, sl)
		}
		if before.Find(spread(h)) == nil {
			t.Fatalf("a copy taken before Delete lost %d", h)
		}
	}
	if s.Len() != 50 || before.Len() != 100 {
		t.Fatalf("len %d (copy %d), want 50 (100)", s.Len(), before.Len())
	}
}

func TestAllAndCollect(t *testing.T) {
	var s Set
	var want []uint64
	for h := uint64(1); h <= 20; h++ {
		s.Insert(spread(h))
		want = append(want, spread(h))
	}
	slices.Sort(want)
	var got []uint64
	for sl := range s.All() {
		got = append(got, sl.H)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("All yielded %v, want %v", got, want)
	}
	col := Collect(&s, func(sl Slot) uint64 { return sl.H })
	slices.Sort(col)
	if !slices.Equal(col, want) || cap(col) != 20 {
		t.Fatalf("Collect gave %v (cap %d), want %v", col, cap(col), want)
	}
	n := 0
	for range s.All() {
		n++
		break
	}
	if n != 1 {
		t.Fatal("All did not stop when the loop broke")
	}
	var empty Set
	if len(Collect(&empty, func(sl Slot) Slot { return sl })) != 0 || empty.Find(1) != nil {
		t.Fatal("empty set is not empty")
	}
}

func TestFindDoesNotAllocate(t *testing.T) {
	var s Set
	for h := uint64(1); h <= 1000; h++ {
		s.Insert(spread(h))
	}
	var hit int
	if a := testing.AllocsPerRun(100, func() {
		if s.Find(spread(500)) != nil && s.Find(spread(5000)) == nil {
			hit++
		}
	}); a != 0 {
		t.Fatalf("Find allocates %v times", a)
	}
	if hit == 0 {
		t.Fatal("Find missed a member")
	}
}

func BenchmarkFind(b *testing.B) {
	var s Set
	for h := uint64(1); h <= 4096; h++ {
		s.Insert(spread(h))
	}
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		s.Find(spread(i&8191 + 1))
	}
}

// DeleteFunc removes the members its predicate picks, keeps the others'
// metadata, shrinks the table and leaves earlier copies intact.
func TestDeleteFunc(t *testing.T) {
	var s Set
	for h := uint64(1); h <= 1000; h++ {
		s.Insert(spread(h)).Window = uint32(h)
	}
	before := s
	n := s.DeleteFunc(func(sl *Slot) bool { return sl.Window > 10 })
	if n != 990 || s.Len() != 10 || len(s.slots) != 32 {
		t.Fatalf("removed %d, len %d, %d slots; want 990, 10 in 32", n, s.Len(), len(s.slots))
	}
	for h := uint64(1); h <= 1000; h++ {
		sl := s.Find(spread(h))
		if (sl != nil) != (h <= 10) || sl != nil && sl.Window != uint32(h) {
			t.Fatalf("member %d after DeleteFunc: %+v", h, sl)
		}
		if before.Find(spread(h)) == nil {
			t.Fatalf("the copy made before lost %d", h)
		}
	}
	if n := s.DeleteFunc(func(*Slot) bool { return false }); n != 0 || s.Len() != 10 {
		t.Fatalf("a no-op sweep removed %d", n)
	}
}
