package baseline

// PeekSeen is Peek that also returns k's last-seen event time (unix
// seconds), for read-only inspection.
func (s *Store[K, V]) PeekSeen(k K) (v *V, lastSeen int64) {
	if e, ok := s.entries[k]; ok {
		if s.capt != nil {
			s.touch(e)
		}
		return &e.val, e.lastSeen
	}
	return nil, 0
}
