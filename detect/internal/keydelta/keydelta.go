// Package keydelta frames the delta and order records of a detector whose
// snapshot record is its global state plus one (agent, tool) key store
// (detect.DeltaCapturer): the delta is the detector's own record holding
// only the keys changed since the previous capture, with the tombstones
// of the keys evicted since and each changed key's recency position; the
// order record is the positions of a base's keys. The detector's record
// (and each future version of it) is carried unchanged.
//
//	delta: uvarint Version, bytes state (the detector's record),
//	       uvarint count, tombstones (str Agent, str Tool),
//	       uvarint count, positions (varint each, one per key in state),
//	       bytes Extra (detector-specific, e.g. the ticks since the
//	       previous capture), BE32 CRC-32C
//	order: uvarint Version, uvarint count, varint first position,
//	       uvarint decreases, BE32 CRC-32C
package keydelta

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/encoding"
)

// Version is the delta and order record version.
const Version = 1

// Delta is a decoded delta record.
type Delta struct {
	State []byte // the detector's record of the changed keys
	Tombs []baseline.Key
	Seqs  []int64
	Extra []byte // what else the detector needs to apply the delta
}

// Encode appends the delta record to b.
func Encode(b []byte, d *Delta) []byte {
	return encoding.AppendRecord(b, Version, len(d.State)+len(d.Tombs)*32+len(d.Seqs)*4+len(d.Extra)+8, func(e *encoding.Encbuf) {
		e.PutUvarintBytes(d.State)
		PutTombs(e, d.Tombs)
		e.PutUvarint(uint64(len(d.Seqs)))
		for _, q := range d.Seqs {
			e.PutVarint(q)
		}
		e.PutUvarintBytes(d.Extra)
	})
}

var deltaDecoders = encoding.Decoders[Delta]{Version: func(d *encoding.Decbuf) Delta {
	out := Delta{State: d.UvarintBytes()}
	out.Tombs = Tombs(d)
	n := d.Count(1)
	out.Seqs = make([]int64, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		out.Seqs = append(out.Seqs, d.Varint())
	}
	out.Extra = d.UvarintBytes()
	return out
}}

// Decode reads a delta record; what names it in errors.
func Decode(what string, data []byte) (*Delta, error) {
	d, _, err := deltaDecoders.Decode(what+" delta", data)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// EncodeOrder appends the order record of positions seqs (strictly
// descending, as baseline.StoreCapture.FinishSeq returns them) to b.
func EncodeOrder(b []byte, seqs []int64) []byte {
	return encoding.AppendRecord(b, Version, 2*len(seqs)+10, func(e *encoding.Encbuf) {
		PutPositions(e, seqs)
	})
}

var orderDecoders = encoding.Decoders[[]int64]{Version: Positions}

// PutTombs writes tombstones: uvarint count, then str Agent, str Tool each.
func PutTombs(e *encoding.Encbuf, tombs []baseline.Key) {
	e.PutUvarint(uint64(len(tombs)))
	for _, k := range tombs {
		e.PutUvarintStr(k.Agent)
		e.PutUvarintStr(k.Tool)
	}
}

// Tombs reads what PutTombs wrote.
func Tombs(d *encoding.Decbuf) []baseline.Key {
	n := d.Count(2)
	tombs := make([]baseline.Key, 0, n)
	for i := 0; i < n && d.Err() == nil; i++ {
		tombs = append(tombs, baseline.Key{Agent: d.UvarintStr(), Tool: d.UvarintStr()})
	}
	return tombs
}

// PutPositions writes recency positions seqs (strictly descending): uvarint
// count, varint first position, then each decrease as a uvarint.
func PutPositions(e *encoding.Encbuf, seqs []int64) {
	e.PutUvarint(uint64(len(seqs)))
	for i, q := range seqs {
		if i == 0 {
			e.PutVarint(q)
		} else {
			e.PutUvarint(uint64(seqs[i-1] - q))
		}
	}
}

// Positions reads what PutPositions wrote; a decrease of 0 (or one that
// overflows) fails d.
func Positions(d *encoding.Decbuf) []int64 {
	n := d.Count(1)
	seqs := make([]int64, 0, n)
	for j := 0; j < n && d.Err() == nil; j++ {
		if j == 0 {
			seqs = append(seqs, d.Varint())
			continue
		}
		dec := d.Uvarint()
		if dec == 0 || dec > 1<<62 {
			d.Fail("order: position decrease %d", dec)
		}
		seqs = append(seqs, seqs[j-1]-int64(dec))
	}
	return seqs
}

// DecodeOrder reads an order record.
func DecodeOrder(what string, data []byte) ([]int64, error) {
	seqs, _, err := orderDecoders.Decode(what+" order", data)
	return seqs, err
}
