package ingest

import "slices"

// seqTracker remembers which stream sequences were processed (applied,
// counted late, or dead-lettered), so a redelivery is acked without being
// applied twice. A single "highest applied" mark is not enough: after a
// reconnect the server may redeliver an older, never-processed record
// (lost in flight) after newer ones were applied, and that record must
// still be applied. So the tracker keeps a floor (every seq <= floor is
// done) plus the done seqs above it; the floor advances over contiguous
// seqs and, for gaps that never fill (records deleted by stream limits or
// not matching the consumer's filter), to the consumer's ack floor, which
// only covers acked — hence processed — records, or by skip, for runs of
// seqs the server is known never to deliver.
type seqTracker struct {
	floor uint64
	above map[uint64]struct{}
	// skipped are runs of seqs above the floor that will never be
	// delivered (see skip); only while a gap is below them.
	skipped []seqRange
}

// seqRange is the closed interval [lo, hi].
type seqRange struct{ lo, hi uint64 }

func newSeqTracker(floor uint64) *seqTracker {
	return &seqTracker{floor: floor, above: map[uint64]struct{}{}}
}

// done reports whether seq was processed.
func (t *seqTracker) done(seq uint64) bool {
	if seq <= t.floor {
		return true
	}
	if _, ok := t.above[seq]; ok {
		return true
	}
	for _, r := range t.skipped {
		if r.lo <= seq && seq <= r.hi {
			return true
		}
	}
	return false
}

// skip records that the seqs lo..hi will never be delivered (not on the
// consumer's subject, or deleted), so the floor may pass them.
func (t *seqTracker) skip(lo, hi uint64) {
	switch {
	case hi < lo || hi <= t.floor:
	case lo <= t.floor+1:
		t.floor = hi
		t.prune()
		t.advance()
	default:
		t.skipped = append(t.skipped, seqRange{lo, hi})
	}
}

// mark records seq as processed.
func (t *seqTracker) mark(seq uint64) {
	switch {
	case seq <= t.floor:
	case seq == t.floor+1:
		t.floor = seq
		t.advance()
	default:
		t.above[seq] = struct{}{}
	}
}

// raise moves the floor up to f (never down).
func (t *seqTracker) raise(f uint64) {
	if f <= t.floor {
		return
	}
	t.floor = f
	t.prune()
	t.advance()
}

// prune drops what the floor covers.
func (t *seqTracker) prune() {
	for s := range t.above {
		if s <= t.floor {
			delete(t.above, s)
		}
	}
	t.skipped = slices.DeleteFunc(t.skipped, func(r seqRange) bool { return r.hi <= t.floor })
}

func (t *seqTracker) advance() {
	for len(t.above) > 0 || len(t.skipped) > 0 {
		if _, ok := t.above[t.floor+1]; ok {
			delete(t.above, t.floor+1)
			t.floor++
			continue
		}
		i := slices.IndexFunc(t.skipped, func(r seqRange) bool { return r.lo <= t.floor+1 })
		if i < 0 {
			return
		}
		t.floor = max(t.floor, t.skipped[i].hi)
		t.skipped = slices.Delete(t.skipped, i, i+1)
		t.prune()
	}
}

// gaps is the number of done seqs above the floor.
func (t *seqTracker) gaps() int { return len(t.above) }
