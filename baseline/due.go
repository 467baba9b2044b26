package baseline

// Due is an index of keys with something due at a point (an event time,
// or any other monotone count such as an agent's active windows), so a
// tick visits only those keys instead of all.
// It is a binary min-heap of (point, key); entries are never removed
// early: the owner keeps the due time in its key state and ignores popped
// entries that no longer match it (the key was evicted, or rescheduled).
// Pushing does not allocate once the heap has grown to its working size.
type Due[K any] struct {
	h []dueEntry[K]
}

type dueEntry[K any] struct {
	at  int64
	key K
}

// Len is the number of scheduled entries, stale ones included.
func (d *Due[K]) Len() int { return len(d.h) }

// Push schedules key at event time at (unix seconds).
func (d *Due[K]) Push(at int64, key K) {
	d.h = append(d.h, dueEntry[K]{at, key})
	i := len(d.h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if d.h[p].at <= d.h[i].at {
			break
		}
		d.h[p], d.h[i] = d.h[i], d.h[p]
		i = p
	}
}

// Pop removes and returns the earliest entry due at or before t; ok is
// false when none is.
func (d *Due[K]) Pop(t int64) (at int64, key K, ok bool) {
	if len(d.h) == 0 || d.h[0].at > t {
		return 0, key, false
	}
	e := d.h[0]
	n := len(d.h) - 1
	d.h[0] = d.h[n]
	d.h[n] = dueEntry[K]{}
	d.h = d.h[:n]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < n && d.h[l].at < d.h[m].at {
			m = l
		}
		if r := l + 1; r < n && d.h[r].at < d.h[m].at {
			m = r
		}
		if m == i {
			break
		}
		d.h[i], d.h[m] = d.h[m], d.h[i]
		i = m
	}
	return e.at, e.key, true
}

// Reset empties the index.
func (d *Due[K]) Reset() { d.h = d.h[:0] }
