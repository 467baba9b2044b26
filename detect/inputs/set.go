package inputs

// shapeSet is an open-addressing (linear probing) set of 64-bit shape
// hashes with a little metadata per shape: 16 bytes a slot, the table kept
// at most half full, grown by doubling, never shrunk. Hash 0 marks an empty
// slot (callers map a zero hash to 1). Lookups do not allocate.
type shapeSet struct {
	slots []slot
	n     int
}

type slot struct {
	h      uint64
	window uint32 // DistinctWindow index in which the shape was last counted
	flags  uint8
}

const (
	flagInjection uint8 = 1 << iota
	flagRepeat          // seen more than once (Good–Turing singletons lack it)
)

func (s *shapeSet) find(h uint64) *slot {
	if len(s.slots) == 0 {
		return nil
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.h == h {
			return sl
		}
		if sl.h == 0 {
			return nil
		}
	}
}

// insert adds h, which must not be present, and returns its slot.
func (s *shapeSet) insert(h uint64) *slot {
	if (s.n+1)*2 > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for s.slots[i].h != 0 {
		i = (i + 1) & mask
	}
	s.slots[i].h = h
	s.n++
	return &s.slots[i]
}

func (s *shapeSet) grow() {
	old := s.slots
	s.slots = make([]slot, max(8, 2*len(old)))
	mask := uint64(len(s.slots) - 1)
	for _, o := range old {
		if o.h == 0 {
			continue
		}
		i := o.h & mask
		for s.slots[i].h != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = o
	}
}
