package snapshot

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// Incremental snapshots. A chain is a base (a snapshot, format v2) and
// the deltas written after it, each holding only what changed since the
// previous link: the delta records of the sections that take them (the
// keys changed or created since, tombstones of the keys evicted) and the
// other sections whole. Restoring applies the deltas in order onto the
// base; each names its base and its predecessor by ID, so a missing,
// corrupt or foreign delta stops the chain there and the daemon resumes
// from the last good link's sequence (the stream replays the rest).
//
// Delta format v1, all integers big-endian:
//
//	off  size
//	0    6    magic "TWDELT"
//	6    2    format version (1)
//	8    8    total length in bytes, checksum included
//	16   12   created_at (as in a snapshot)
//	28   8    last_applied_seq uint64
//	36   12   watermark
//	48   8    base ID (see ID)
//	56   8    previous link's ID (the base's for the first delta)
//	64   4    index uint32: 1 for the first delta after the base
//	68   2+n  toolwatch version: uint16 length, bytes
//	     4    section count uint32
//	     ...  per section, in strictly ascending name order:
//	          uint16 name length, name, byte kind (0 whole, 1 delta
//	          record), uint64 data length, data
//	end  32   SHA-256 of every byte before it
const DeltaFormatVersion = 1

const (
	deltaMagic  = "TWDELT"
	kindWhole   = 0
	kindChanges = 1
)

// Delta is one link after the base of a chain.
type Delta struct {
	// LastAppliedSeq: every stream sequence <= it is reflected.
	LastAppliedSeq uint64
	Watermark      time.Time
	CreatedAt      time.Time
	Version        string
	// BaseID, PrevID and Index place the delta in its chain (filled in by
	// Manager.SaveDelta).
	BaseID, PrevID uint64
	Index          uint32
	// Whole are sections written whole (replacing the previous link's),
	// Changes delta records applied to it. A name is in one of them.
	Whole, Changes map[string][]byte
}

// ID identifies an encoded snapshot or delta: the first 8 bytes of its
// SHA-256 (its last 32 bytes). 0 for data too short to be either.
func ID(data []byte) uint64 {
	if len(data) < sumSize {
		return 0
	}
	return binary.BigEndian.Uint64(data[len(data)-sumSize:])
}

// EncodeDelta returns d in delta format v1.
func EncodeDelta(d *Delta) ([]byte, error) {
	if len(d.Version) > maxVersion {
		return nil, fmt.Errorf("encode delta: version string longer than %d bytes: %w", maxVersion, errInvalidSnap)
	}
	names := make([]string, 0, len(d.Whole)+len(d.Changes))
	size := fixedHeader + 12 + 8 + 12 + 8 + 8 + 4 + 2 + len(d.Version) + 4 + sumSize
	for _, m := range []map[string][]byte{d.Whole, d.Changes} {
		for name, data := range m {
			if !validName(name) {
				return nil, fmt.Errorf("encode delta: section name %q: must be 1..%d printable ASCII bytes: %w", name, maxName, errInvalidSnap)
			}
			names = append(names, name)
			size += 2 + len(name) + 1 + 8 + len(data)
		}
	}
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			return nil, fmt.Errorf("encode delta: section %q both whole and changed: %w", names[i], errInvalidSnap)
		}
	}
	b, err := appendHeader(make([]byte, 0, size), "delta", deltaMagic, DeltaFormatVersion, size, d.CreatedAt, d.LastAppliedSeq, d.Watermark)
	if err != nil {
		return nil, err
	}
	b = binary.BigEndian.AppendUint64(b, d.BaseID)
	b = binary.BigEndian.AppendUint64(b, d.PrevID)
	b = binary.BigEndian.AppendUint32(b, d.Index)
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.Version)))
	b = append(b, d.Version...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(names)))
	for _, name := range names {
		kind, data := byte(kindWhole), d.Whole[name]
		if c, ok := d.Changes[name]; ok {
			kind, data = kindChanges, c
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
		b = append(b, name...)
		b = append(b, kind)
		b = binary.BigEndian.AppendUint64(b, uint64(len(data)))
		b = append(b, data...)
	}
	return appendSum(b), nil
}

// DecodeDelta parses and verifies a delta. Errors wrap ErrBadMagic,
// ErrVersion, ErrTruncated, ErrChecksum or ErrMalformed. The returned
// sections alias b.
func DecodeDelta(b []byte) (*Delta, error) {
	v, err := containerVersion(b, deltaMagic)
	if err != nil {
		return nil, err
	}
	if v != DeltaFormatVersion {
		return nil, fmt.Errorf("%w %d of a delta (this build reads %d)", ErrVersion, v, DeltaFormatVersion)
	}
	body, err := containerBody(b)
	if err != nil {
		return nil, err
	}
	r := reader{b: body, off: fixedHeader}
	d := &Delta{}
	d.CreatedAt, d.LastAppliedSeq, d.Watermark = r.header()
	d.BaseID, d.PrevID, d.Index = r.u64(), r.u64(), r.u32()
	d.Version = string(r.bytes(uint64(r.u16())))
	if len(d.Version) > maxVersion {
		r.fail("version string too long")
	}
	if r.err == nil && d.Index == 0 {
		r.fail("delta index 0")
	}
	n := r.u32()
	if r.err == nil && uint64(n) > uint64(len(body)-r.off)/12 { // 12: smallest section
		r.fail("section count exceeds the data")
	}
	if r.err == nil {
		d.Whole, d.Changes = make(map[string][]byte), make(map[string][]byte)
	}
	prev := ""
	for i := uint32(0); i < n && r.err == nil; i++ {
		name := string(r.bytes(uint64(r.u16())))
		kind := r.bytes(1)
		data := r.bytes(r.u64())
		if r.err != nil {
			break
		}
		switch {
		case !validName(name):
			r.fail(fmt.Sprintf("section %d: bad name %q", i, name))
		case i > 0 && name <= prev:
			r.fail(fmt.Sprintf("section %q: names not strictly ascending", name))
		case kind[0] == kindWhole:
			d.Whole[name] = data
		case kind[0] == kindChanges:
			d.Changes[name] = data
		default:
			r.fail(fmt.Sprintf("section %q: kind %d", name, kind[0]))
		}
		prev = name
	}
	if r.err == nil && r.off != len(body) {
		r.fail(fmt.Sprintf("%d bytes after the last section", len(body)-r.off))
	}
	if r.err != nil {
		return nil, r.err
	}
	return d, nil
}
