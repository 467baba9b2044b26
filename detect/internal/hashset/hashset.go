// Package hashset is the open-addressing set of 64-bit hashes that the
// input_novelty and egress detectors keep their vocabularies in (argument
// shapes, destinations), with a few bytes of metadata per hash.
//
// It is hand-written rather than a map[uint64]T because it sits on the
// per-record path: keys are already hashes, so a lookup hashes nothing and
// never allocates, and Find returns a pointer into the table, so a caller
// reads and updates a member's flags with one probe (a map hands back a
// copy and needs a second lookup to store it). Memory is exactly 16 bytes
// a slot. Slots are linearly probed; the table is kept at most half full,
// grown by doubling; only Delete and DeleteFunc rebuild it, to fit. Hash 0 marks an empty slot, so
// callers map a zero hash to 1 before use.
package hashset

import "iter"

// Set is a set of non-zero 64-bit hashes. The zero value is empty and
// ready to use. A copy shares the table with its original.
type Set struct {
	slots []Slot
	n     int
}

// Slot is one member and its metadata; the meaning of Window and Flags is
// the caller's. The pointer Find and Insert return stays valid until the
// next Insert or Delete.
type Slot struct {
	H      uint64
	Window uint32
	Flags  uint8
}

// Len is the number of members.
func (s *Set) Len() int { return s.n }

// Find returns h's slot, or nil when h is not a member.
func (s *Set) Find(h uint64) *Slot {
	if len(s.slots) == 0 {
		return nil
	}
	mask := uint64(len(s.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.H == h {
			return sl
		}
		if sl.H == 0 {
			return nil
		}
	}
}

// Insert adds h, which must be non-zero and not a member, and returns its
// zeroed slot.
func (s *Set) Insert(h uint64) *Slot {
	if (s.n+1)*2 > len(s.slots) {
		s.grow()
	}
	mask := uint64(len(s.slots) - 1)
	i := h & mask
	for s.slots[i].H != 0 {
		i = (i + 1) & mask
	}
	s.slots[i].H = h
	s.n++
	return &s.slots[i]
}

// Add is Insert for decoders of untrusted input: it returns nil, adding
// nothing, when h is zero or already a member.
func (s *Set) Add(h uint64) *Slot {
	if h == 0 || s.Find(h) != nil {
		return nil
	}
	return s.Insert(h)
}

// Delete removes h, reporting whether it was a member. It rebuilds the
// table into a new one (deletions are rare: a destination an operator
// rejects), so copies made before keep their members.
func (s *Set) Delete(h uint64) bool {
	if s.Find(h) == nil {
		return false
	}
	old := s.slots
	*s = Set{}
	for _, o := range old {
		if o.H != 0 && o.H != h {
			*s.Insert(o.H) = o
		}
	}
	return true
}

// DeleteFunc removes every member for which del returns true and reports
// how many it removed. Like Delete it rebuilds the table (once), so copies
// made before keep their members; it is meant for occasional sweeps.
func (s *Set) DeleteFunc(del func(*Slot) bool) int {
	old, n := s.slots, s.n
	*s = Set{}
	for i := range old {
		if o := &old[i]; o.H != 0 && !del(o) {
			*s.Insert(o.H) = *o
		}
	}
	return n - s.n
}

// All yields the members' slots in table order (not sorted).
func (s *Set) All() iter.Seq[*Slot] {
	return func(yield func(*Slot) bool) {
		for i := range s.slots {
			if s.slots[i].H != 0 && !yield(&s.slots[i]) {
				return
			}
		}
	}
}

// Collect converts every member with f, in table order, into a new slice
// (a snapshot's capture copies the set this way; its encoder sorts).
func Collect[T any](s *Set, f func(Slot) T) []T {
	out := make([]T, 0, s.n)
	for _, sl := range s.slots {
		if sl.H != 0 {
			out = append(out, f(sl))
		}
	}
	return out
}

func (s *Set) grow() {
	old := s.slots
	s.slots = make([]Slot, max(8, 2*len(old)))
	mask := uint64(len(s.slots) - 1)
	for _, o := range old {
		if o.H == 0 {
			continue
		}
		i := o.H & mask
		for s.slots[i].H != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = o
	}
}
