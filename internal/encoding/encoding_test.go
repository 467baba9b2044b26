package encoding

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

type fields struct {
	b     byte
	ok    bool
	u16   uint16
	u32   uint32
	u64   uint64
	f32   float32
	f64   float64
	uv    uint64
	v     int64
	s     string
	blob  []byte
	t, t0 time.Time
}

var sample = fields{b: 0xfe, ok: true, u16: 0xbeef, u32: 0xdeadbeef, u64: 1<<63 + 9, f32: -1.5, f64: math.Pi,
	uv: 300, v: -70000, s: "agent-7/tool", blob: []byte{0, 1, 2}, t: time.Date(2026, 3, 23, 8, 0, 0, 123, time.UTC)}

func (f *fields) put(e *Encbuf) {
	e.PutByte(f.b)
	e.PutBool(f.ok)
	e.PutBE16(f.u16)
	e.PutBE32(f.u32)
	e.PutBE64(f.u64)
	e.PutBEFloat32(f.f32)
	e.PutBEFloat64(f.f64)
	e.PutUvarint(f.uv)
	e.PutVarint(f.v)
	e.PutUvarintStr(f.s)
	e.PutUvarintBytes(f.blob)
	e.PutTime(f.t)
	e.PutTime(f.t0)
}

func get(d *Decbuf) fields {
	return fields{b: d.Byte(), ok: d.Bool(), u16: d.BE16(), u32: d.BE32(), u64: d.BE64(), f32: d.BEFloat32(), f64: d.BEFloat64(),
		uv: d.Uvarint(), v: d.Varint(), s: d.UvarintStr(), blob: d.UvarintBytes(), t: d.Time(), t0: d.Time()}
}

func equal(a, b fields) bool {
	return a.b == b.b && a.ok == b.ok && a.u16 == b.u16 && a.u32 == b.u32 && a.u64 == b.u64 && a.f32 == b.f32 &&
		a.f64 == b.f64 && a.uv == b.uv && a.v == b.v && a.s == b.s && bytes.Equal(a.blob, b.blob) && a.t.Equal(b.t) && a.t0 == b.t0
}

// Every field reads back as written, big-endian where fixed-width, and
// every truncation is ErrTruncated.
func TestRoundTripAndTruncation(t *testing.T) {
	var e Encbuf
	sample.put(&e)
	b := e.Get()
	if !bytes.Equal(b[:9], []byte{0xfe, 1, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x80}) {
		t.Fatalf("layout % x: want big-endian fixed-width fields", b[:9])
	}
	d := NewDecbuf(b)
	if got := get(&d); d.Done() != nil || !equal(got, sample) || got.t.Location() != time.UTC {
		t.Fatalf("round trip %+v (%v), want %+v", got, d.Err(), sample)
	}
	for n := range len(b) {
		d := NewDecbuf(b[:n])
		get(&d)
		if err := d.Done(); !errors.Is(err, ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
		}
	}
	d = NewDecbuf(append(bytes.Clone(b), 7))
	get(&d)
	if err := d.Done(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "1 trailing bytes") {
		t.Fatalf("trailing byte: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		read func(d *Decbuf)
		want error
	}{
		"bool 2":           {[]byte{2}, func(d *Decbuf) { d.Bool() }, ErrInvalid},
		"uvarint overflow": {bytes.Repeat([]byte{0xff}, 11), func(d *Decbuf) { d.Uvarint() }, ErrInvalid},
		"varint overflow":  {bytes.Repeat([]byte{0xff}, 11), func(d *Decbuf) { d.Varint() }, ErrInvalid},
		"uvarint32":        {[]byte{0x80, 0x80, 0x80, 0x80, 0x10}, func(d *Decbuf) { d.Uvarint32() }, ErrInvalid},
		"time flag":        {[]byte{2}, func(d *Decbuf) { d.Time() }, ErrInvalid},
		"time year 10000":  {append([]byte{1}, append(varintBytes(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()), 0)...), func(d *Decbuf) { d.Time() }, ErrInvalid},
		"time nanos":       {[]byte{1, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, func(d *Decbuf) { d.Time() }, ErrInvalid},
		"zero time set":    {append([]byte{1}, append(varintBytes(time.Time{}.Unix()), 0)...), func(d *Decbuf) { d.Time() }, ErrInvalid},
		"long string":      {[]byte{5, 'a', 'b'}, func(d *Decbuf) { d.UvarintStr() }, ErrTruncated},
		// A count the bytes left cannot back is refused before anything
		// is allocated: 2^40 elements of 8 bytes in 3 bytes.
		"huge count": {[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 1, 2, 3}, func(d *Decbuf) {
			if n := d.Count(8); n != 0 {
				panic("count accepted")
			}
		}, ErrTruncated},
	} {
		d := NewDecbuf(tc.in)
		tc.read(&d)
		if err := d.Err(); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
		if d.Byte(); d.Err() == nil || d.Len() != 0 {
			t.Errorf("%s: the error did not stick", name)
		}
	}
	d := NewDecbuf([]byte{3, 1, 2, 3})
	if n := d.Count(1); n != 3 || d.Err() != nil {
		t.Fatalf("count 3 of 1-byte elements in 3 bytes: %d, %v", n, d.Err())
	}
}

func varintBytes(x int64) []byte {
	var e Encbuf
	e.PutVarint(x)
	return e.Get()
}

// Decoders dispatches on the version, checks the CRC and the length, and
// an older version's decoder upgrades to the current record.
func TestDecoders(t *testing.T) {
	type rec struct{ A, B uint64 } // version 2; version 1 had only A
	decs := Decoders[rec]{
		1: func(d *Decbuf) rec { return rec{A: d.Uvarint(), B: 7} },
		2: func(d *Decbuf) rec { return rec{A: d.Uvarint(), B: d.Uvarint()} },
	}
	enc := func(v uint64, xs ...uint64) []byte {
		var e Encbuf
		e.PutUvarint(v)
		for _, x := range xs {
			e.PutUvarint(x)
		}
		e.PutCRC32(0)
		return e.Get()
	}
	if got, v, err := decs.Decode("x", enc(2, 3, 4)); err != nil || v != 2 || got != (rec{3, 4}) {
		t.Fatalf("v2: %+v %d %v", got, v, err)
	}
	if got, v, err := decs.Decode("x", enc(1, 3)); err != nil || v != 1 || got != (rec{3, 7}) {
		t.Fatalf("v1 upgraded: %+v %d %v", got, v, err)
	}
	good := enc(2, 3, 4)
	for name, tc := range map[string]struct {
		in   []byte
		want error
	}{
		"version 3": {enc(3, 3, 4), ErrVersion},
		"checksum":  {append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), ErrChecksum},
		"short":     {good[:4], ErrTruncated},
		"trailing":  {enc(2, 3, 4, 5), ErrInvalid},
		"truncated": {enc(2, 3), ErrTruncated},
		"resealed":  {Seal(good[:len(good)-5]), ErrTruncated},
	} {
		if _, _, err := decs.Decode("x", tc.in); !errors.Is(err, tc.want) || !strings.HasPrefix(err.Error(), "x") {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	if vs := decs.Versions(); len(vs) != 2 || vs[0] != 1 || vs[1] != 2 {
		t.Errorf("versions %v", vs)
	}
}

// FuzzDecbuf reads arbitrary bytes with a sequence of reads chosen by the
// input itself: never a panic, an error that sticks, no count larger than
// the bytes left could back, and what decodes re-encodes to bytes that
// decode equally.
func FuzzDecbuf(f *testing.F) {
	var e Encbuf
	sample.put(&e)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, e.Get())
	f.Add([]byte{13, 13}, []byte{0xff, 0xff, 0xff, 0xff, 0x0f, 1})
	f.Fuzz(func(t *testing.T, ops, data []byte) {
		d := NewDecbuf(data)
		var out Encbuf
		for _, op := range ops {
			failed := d.Err() != nil
			switch op % 14 {
			case 0:
				out.PutByte(d.Byte())
			case 1:
				out.PutBool(d.Bool())
			case 2:
				out.PutBE16(d.BE16())
			case 3:
				out.PutBE32(d.BE32())
			case 4:
				out.PutBE64(d.BE64())
			case 5:
				out.PutBE32(math.Float32bits(d.BEFloat32()))
			case 6:
				out.PutBE64(math.Float64bits(d.BEFloat64()))
			case 7:
				out.PutUvarint(d.Uvarint())
			case 8:
				out.PutVarint(d.Varint())
			case 9:
				out.PutUvarintStr(d.UvarintStr())
			case 10:
				out.PutUvarintBytes(d.UvarintBytes())
			case 11:
				out.PutTime(d.Time())
			case 12:
				out.PutUvarint(uint64(d.Uvarint32()))
			case 13:
				left := d.Len()
				n := d.Count(4)
				if n*4 > left {
					t.Fatalf("count %d of 4-byte elements with %d bytes left", n, left)
				}
				out.PutUvarint(uint64(n))
			}
			if failed && (d.Err() == nil || d.Len() != 0) {
				t.Fatal("error did not stick")
			}
		}
		if d.Err() != nil {
			return
		}
		// Replay the same reads over the re-encoding: equal values.
		d2 := NewDecbuf(out.Get())
		var again Encbuf
		for _, op := range ops {
			switch op % 14 {
			case 0:
				again.PutByte(d2.Byte())
			case 1:
				again.PutBool(d2.Bool())
			case 2:
				again.PutBE16(d2.BE16())
			case 3:
				again.PutBE32(d2.BE32())
			case 4:
				again.PutBE64(d2.BE64())
			case 5:
				again.PutBE32(math.Float32bits(d2.BEFloat32()))
			case 6:
				again.PutBE64(math.Float64bits(d2.BEFloat64()))
			case 7:
				again.PutUvarint(d2.Uvarint())
			case 8:
				again.PutVarint(d2.Varint())
			case 9:
				again.PutUvarintStr(d2.UvarintStr())
			case 10:
				again.PutUvarintBytes(d2.UvarintBytes())
			case 11:
				again.PutTime(d2.Time())
			case 12:
				again.PutUvarint(uint64(d2.Uvarint32()))
			case 13:
				again.PutUvarint(d2.Uvarint()) // Count's bound depends on what follows
			}
		}
		if err := d2.Done(); err != nil || !bytes.Equal(again.Get(), out.Get()) {
			t.Fatalf("re-encoding does not round-trip: %v", err)
		}
	})
}
