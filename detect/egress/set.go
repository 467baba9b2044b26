package egress

// destSet is an open-addressing (linear probing) set of 64-bit destination
// hashes with flags: 16 bytes a slot, at most half full, grown by
// doubling. Hash 0 marks an empty slot (callers map 0 to 1). Lookups do
// not allocate. (The same layout as detect/inputs' shape set.)
type destSet struct {
	slots []slot
	n     int
}

type slot struct {
	h     uint64
	flags uint8
}

const (
	flagCoarse uint8 = 1 << iota // a domain, not an exact destination
	flagRepeat                   // used more than once (Good–Turing singletons lack it)
)

func (s *destSet) find(h uint64) *slot {
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
func (s *destSet) insert(h uint64) *slot {
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

func (s *destSet) grow() {
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
