package baseline

// PeekSeen is Peek that also returns k's last-seen event time (unix
// seconds), for read-only inspection.
func (s *Store[K, V]) PeekSeen(k K) (v *V, lastSeen int64) {
	if e, _, _ := s.find(k); e != nil {
		if s.capt != nil {
			s.touch(e)
		}
		return &e.val, e.lastSeen
	}
	return nil, 0
}

// PeekRef is Peek through ref (GetRef's): while ref holds k's live entry
// in s the map is not consulted; otherwise Peek runs (ref is left as it
// is). The result and the store's state are exactly Peek's.
func (s *Store[K, V]) PeekRef(k K, ref *Ref[K, V]) *V {
	if e := ref.e; e != nil && ref.s == s && e.key == k && e.snap.Load() != dead {
		if s.capt != nil {
			s.touch(e)
		}
		e.mod = s.epoch
		return &e.val
	}
	return s.Peek(k)
}
