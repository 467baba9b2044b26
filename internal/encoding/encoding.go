// Package encoding writes and reads the explicit binary records of the
// daemon's snapshots (see docs/design.md §10), in the style of Prometheus
// tsdb/encoding: an Encbuf appends fields one by one, a Decbuf reads them
// back with a sticky error. Every fixed-width number is big-endian; counts
// and small integers are (u)varints; strings and byte blobs carry a
// uvarint length.
//
// A Decbuf never panics and never allocates more than its input can back:
// every length is checked against the bytes left before anything is sliced
// or allocated (Count), so corrupt input yields an error, not a crash or a
// huge allocation.
//
// Sections are versioned and checksummed: a record starts with its uvarint
// version and ends with the CRC-32C (Castagnoli) of everything before it
// (PutCRC32), and Decoders.Decode verifies the checksum and dispatches to
// the decoder of that version (an older version's decoder reads its own
// record and upgrades it to the current one). The checksum makes a flipped
// bit an error instead of a silently different baseline.
package encoding

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"slices"
	"time"
)

// Errors of a Decbuf; test with errors.Is.
var (
	ErrTruncated = errors.New("record truncated")
	ErrInvalid   = errors.New("record malformed")
	ErrVersion   = errors.New("unsupported record version")
	ErrChecksum  = errors.New("record checksum mismatch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Encbuf appends fields to B.
type Encbuf struct{ B []byte }

// Get returns the encoded bytes.
func (e *Encbuf) Get() []byte { return e.B }

// Len is the number of bytes written.
func (e *Encbuf) Len() int { return len(e.B) }

// PutByte writes c.
func (e *Encbuf) PutByte(c byte) { e.B = append(e.B, c) }

// PutBool writes 1 or 0.
func (e *Encbuf) PutBool(v bool) {
	if v {
		e.B = append(e.B, 1)
	} else {
		e.B = append(e.B, 0)
	}
}

// PutBE16 and the other PutBE* write fixed-width big-endian values
// (floats as their IEEE 754 bits); PutUvarint and PutVarint write
// encoding/binary varints.
func (e *Encbuf) PutBE16(x uint16)       { e.B = binary.BigEndian.AppendUint16(e.B, x) }
func (e *Encbuf) PutBE32(x uint32)       { e.B = binary.BigEndian.AppendUint32(e.B, x) }
func (e *Encbuf) PutBE64(x uint64)       { e.B = binary.BigEndian.AppendUint64(e.B, x) }
func (e *Encbuf) PutBEFloat32(f float32) { e.PutBE32(math.Float32bits(f)) }
func (e *Encbuf) PutBEFloat64(f float64) { e.PutBE64(math.Float64bits(f)) }
func (e *Encbuf) PutUvarint(x uint64)    { e.B = binary.AppendUvarint(e.B, x) }
func (e *Encbuf) PutVarint(x int64)      { e.B = binary.AppendVarint(e.B, x) }

// PutUvarintStr writes a uvarint length and the bytes of s.
func (e *Encbuf) PutUvarintStr(s string) {
	e.PutUvarint(uint64(len(s)))
	e.B = append(e.B, s...)
}

// PutUvarintBytes writes a uvarint length and b.
func (e *Encbuf) PutUvarintBytes(b []byte) {
	e.PutUvarint(uint64(len(b)))
	e.B = append(e.B, b...)
}

// PutCRC32 appends the CRC-32C of the bytes written since offset start.
func (e *Encbuf) PutCRC32(start int) {
	e.PutBE32(crc32.Checksum(e.B[start:], castagnoli))
}

// Seal returns body followed by its CRC-32C: a section Decode accepts
// (tests and fuzzers craft records with it).
func Seal(body []byte) []byte {
	e := Encbuf{B: append(body[:len(body):len(body)], make([]byte, 0, 4)...)}
	e.PutCRC32(0)
	return e.B
}

// PutTime writes t as varint unix seconds and uvarint nanoseconds; the
// zero time.Time is the single byte 0 followed by nothing else, any other
// time a leading 1. Decoded times are UTC instants within years
// 0001..9999 (the monotonic reading and the zone are not kept).
func (e *Encbuf) PutTime(t time.Time) {
	if t.IsZero() {
		e.PutByte(0)
		return
	}
	e.PutByte(1)
	e.PutVarint(t.Unix())
	e.PutUvarint(uint64(t.Nanosecond()))
}

var (
	minSec = time.Time{}.Unix()                                      // 0001-01-01
	maxSec = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix() // 9999-12-31
)

// Decbuf reads fields from B. The first error sticks in E: later reads
// return zero values, so a decoder checks Err once at the end.
type Decbuf struct {
	B []byte
	E error
}

// NewDecbuf returns a Decbuf over b.
func NewDecbuf(b []byte) Decbuf { return Decbuf{B: b} }

// Err is the first error met.
func (d *Decbuf) Err() error { return d.E }

// Len is the number of bytes left.
func (d *Decbuf) Len() int { return len(d.B) }

// Fail records err (wrapped as ErrInvalid) unless an error is already
// recorded; decoders use it for values that parse but cannot be right.
func (d *Decbuf) Fail(format string, args ...any) {
	if d.E == nil {
		d.E = fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	d.B = nil
}

func (d *Decbuf) truncated(what string) {
	if d.E == nil {
		d.E = fmt.Errorf("%w: %s", ErrTruncated, what)
	}
	d.B = nil
}

// Done returns the first error, or an error when bytes are left over.
func (d *Decbuf) Done() error {
	if d.E == nil && len(d.B) != 0 {
		d.E = fmt.Errorf("%w: %d trailing bytes", ErrInvalid, len(d.B))
	}
	return d.E
}

// Byte reads one byte.
func (d *Decbuf) Byte() byte {
	if len(d.B) < 1 {
		d.truncated("byte")
		return 0
	}
	c := d.B[0]
	d.B = d.B[1:]
	return c
}

// Bool reads a byte that must be 0 or 1.
func (d *Decbuf) Bool() bool {
	switch c := d.Byte(); c {
	case 0:
		return false
	case 1:
		return true
	default:
		d.Fail("bool byte %d", c)
		return false
	}
}

func (d *Decbuf) fixed(n int) []byte {
	if len(d.B) < n {
		d.truncated(fmt.Sprintf("%d-byte field", n))
		return nil
	}
	p := d.B[:n]
	d.B = d.B[n:]
	return p
}

// BE16 and the other BE* read what the PutBE* of the same name wrote.
func (d *Decbuf) BE16() uint16 {
	if p := d.fixed(2); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

// BE32 reads a big-endian uint32.
func (d *Decbuf) BE32() uint32 {
	if p := d.fixed(4); p != nil {
		return binary.BigEndian.Uint32(p)
	}
	return 0
}

// BE64 reads a big-endian uint64.
func (d *Decbuf) BE64() uint64 {
	if p := d.fixed(8); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

// BEFloat32 reads a float32 written by PutBEFloat32.
func (d *Decbuf) BEFloat32() float32 { return math.Float32frombits(d.BE32()) }

// BEFloat64 reads a float64 written by PutBEFloat64.
func (d *Decbuf) BEFloat64() float64 { return math.Float64frombits(d.BE64()) }

// Uvarint reads a uvarint; one longer than 64 bits is ErrInvalid.
func (d *Decbuf) Uvarint() uint64 {
	if d.E != nil {
		return 0
	}
	x, n := binary.Uvarint(d.B)
	if n <= 0 {
		if n == 0 {
			d.truncated("uvarint")
		} else {
			d.Fail("uvarint overflows 64 bits")
		}
		return 0
	}
	d.B = d.B[n:]
	return x
}

// Varint reads a varint; one longer than 64 bits is ErrInvalid.
func (d *Decbuf) Varint() int64 {
	if d.E != nil {
		return 0
	}
	x, n := binary.Varint(d.B)
	if n <= 0 {
		if n == 0 {
			d.truncated("varint")
		} else {
			d.Fail("varint overflows 64 bits")
		}
		return 0
	}
	d.B = d.B[n:]
	return x
}

// Uvarint32 reads a uvarint that must fit in a uint32.
func (d *Decbuf) Uvarint32() uint32 {
	x := d.Uvarint()
	if x > math.MaxUint32 {
		d.Fail("value %d exceeds 32 bits", x)
		return 0
	}
	return uint32(x)
}

// Int reads a varint that must fit in an int.
func (d *Decbuf) Int() int {
	x := d.Varint()
	if x < math.MinInt || x > math.MaxInt {
		d.Fail("value %d exceeds int", x)
		return 0
	}
	return int(x)
}

// UvarintBytes reads a uvarint length and that many bytes. The result
// aliases the input.
func (d *Decbuf) UvarintBytes() []byte {
	n := d.Uvarint()
	if d.E != nil {
		return nil
	}
	if n > uint64(len(d.B)) {
		d.truncated(fmt.Sprintf("%d-byte field, %d left", n, len(d.B)))
		return nil
	}
	p := d.B[:n:n]
	d.B = d.B[n:]
	return p
}

// UvarintStr reads a string written by PutUvarintStr.
func (d *Decbuf) UvarintStr() string { return string(d.UvarintBytes()) }

// Time reads a time written by PutTime (UTC; the zero time stays zero).
func (d *Decbuf) Time() time.Time {
	switch d.Byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.Fail("time flag")
		return time.Time{}
	}
	sec, nsec := d.Varint(), d.Uvarint()
	if d.E != nil {
		return time.Time{}
	}
	if nsec >= 1e9 || sec < minSec || sec > maxSec {
		d.Fail("time %d.%d outside years 1..9999", sec, nsec)
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if t.IsZero() {
		d.Fail("zero time with the non-zero flag")
	}
	return t
}

// Count reads a uvarint element count of a list whose elements take at
// least minSize bytes each, and fails when the bytes left cannot hold that
// many: callers may then allocate count elements safely.
func (d *Decbuf) Count(minSize int) int {
	n := d.Uvarint()
	if d.E != nil {
		return 0
	}
	if n > uint64(len(d.B)/max(minSize, 1)) {
		d.truncated(fmt.Sprintf("%d elements of at least %d bytes, %d bytes left", n, minSize, len(d.B)))
		return 0
	}
	return int(n)
}

// Decoders maps each record version a build reads to its decoder. The
// decoder of the current version returns the record; an older version's
// decoder reads its own record and upgrades it, so a format change ships
// with the migration from the version before it (see internal/encoding/
// enctest for the test every section runs over its golden files).
type Decoders[T any] map[uint64]func(d *Decbuf) T

// Versions is the sorted list of the versions m reads.
func (m Decoders[T]) Versions() []uint64 {
	vs := make([]uint64, 0, len(m))
	for v := range m {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

// Decode checks data's trailing CRC-32C, reads its leading uvarint
// version, decodes the rest with the decoder of that version and requires
// every byte to be used. Errors are prefixed with what (e.g. "latency
// state").
func (m Decoders[T]) Decode(what string, data []byte) (T, uint64, error) {
	var st T
	if len(data) < 5 {
		return st, 0, fmt.Errorf("%s: %w: %d bytes", what, ErrTruncated, len(data))
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(data[len(data)-4:]) {
		return st, 0, fmt.Errorf("%s: %w", what, ErrChecksum)
	}
	d := NewDecbuf(body)
	v := d.Uvarint()
	if err := d.Err(); err != nil {
		return st, 0, fmt.Errorf("%s: version: %w", what, err)
	}
	dec, ok := m[v]
	if !ok {
		return st, v, fmt.Errorf("%s: %w %d (this build reads %v)", what, ErrVersion, v, m.Versions())
	}
	st = dec(&d)
	if err := d.Done(); err != nil {
		return st, v, fmt.Errorf("%s version %d: %w", what, v, err)
	}
	return st, v, nil
}
