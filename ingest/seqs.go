package ingest

// seqTracker remembers which stream sequences were processed (applied,
// counted late, or dead-lettered), so a redelivery is acked without being
// applied twice. A single "highest applied" mark is not enough: after a
// reconnect the server may redeliver an older, never-processed record
// (lost in flight) after newer ones were applied, and that record must
// still be applied. So the tracker keeps a floor (every seq <= floor is
// done) plus the done seqs above it; the floor advances over contiguous
// seqs and, for gaps that never fill (records deleted by stream limits or
// not matching the consumer's filter), to the consumer's ack floor, which
// only covers acked — hence processed — records.
type seqTracker struct {
	floor uint64
	above map[uint64]struct{}
}

func newSeqTracker(floor uint64) *seqTracker {
	return &seqTracker{floor: floor, above: map[uint64]struct{}{}}
}

// done reports whether seq was processed.
func (t *seqTracker) done(seq uint64) bool {
	if seq <= t.floor {
		return true
	}
	_, ok := t.above[seq]
	return ok
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
	for s := range t.above {
		if s <= f {
			delete(t.above, s)
		}
	}
	t.advance()
}

func (t *seqTracker) advance() {
	for len(t.above) > 0 {
		if _, ok := t.above[t.floor+1]; !ok {
			return
		}
		delete(t.above, t.floor+1)
		t.floor++
	}
}

// gaps is the number of done seqs above the floor.
func (t *seqTracker) gaps() int { return len(t.above) }
