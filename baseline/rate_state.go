package baseline

import (
	"math"

	"github.com/toolwatch/toolwatch/internal/encoding"
)

// Snapshot records of the rate building blocks, written field by field
// (internal/encoding) inside the records of the detectors that hold them
// (frequency, denials). A layout change here is a record version change
// of every detector that embeds it.
//
//	Counter: varint Start, uvarint N
//	Profile: 24 × BE float32 Mean, 24 × BE float32 Peak, 24 × uvarint Seen,
//	         BE float32 Overall, uvarint Windows
//	TopK:    4 × (BE64 H, uvarint C)
//	Rate:    Counter, Profile, 72 × uvarint Ring, byte Pos,
//	         3 × scale (9 × BE float32 Mean Var Res MuSq Peak Mu M KS KA,
//	                    uvarint Base, uvarint Crit),
//	         varint First, varint ArmedAt, uvarint Thr Next Reported,
//	         bool Borrowed, varint HoldUntil, varint LastFire,
//	         BE float32 HoldL, BE float32 FireL, uvarint Quiet
//
// Quiet (the windows awaiting their closed-form decay, see Rate.Settle)
// is new in the detectors' records that read a Rate with GetState; their
// earlier versions read it with GetStateNoQuiet (0: their windows were
// stepped).

// PutState writes c.
func (c *Counter) PutState(e *encoding.Encbuf) {
	e.PutVarint(c.Start)
	e.PutUvarint(uint64(c.N))
}

// GetState reads a Counter written by PutState.
func (c *Counter) GetState(d *encoding.Decbuf) {
	c.Start, c.N = d.Varint(), d.Uvarint32()
}

// PutState writes p.
func (p *Profile) PutState(e *encoding.Encbuf) {
	for _, v := range p.Mean {
		e.PutBEFloat32(v)
	}
	for _, v := range p.Peak {
		e.PutBEFloat32(v)
	}
	for _, v := range p.Seen {
		e.PutUvarint(uint64(v))
	}
	e.PutBEFloat32(p.Overall)
	e.PutUvarint(uint64(p.Windows))
}

// GetState reads a Profile written by PutState.
func (p *Profile) GetState(d *encoding.Decbuf) {
	for i := range p.Mean {
		p.Mean[i] = d.BEFloat32()
	}
	for i := range p.Peak {
		p.Peak[i] = d.BEFloat32()
	}
	for i := range p.Seen {
		p.Seen[i] = getU16(d)
	}
	p.Overall = d.BEFloat32()
	p.Windows = d.Uvarint32()
}

func getU16(d *encoding.Decbuf) uint16 {
	x := d.Uvarint()
	if x > math.MaxUint16 {
		d.Fail("value %d exceeds 16 bits", x)
		return 0
	}
	return uint16(x)
}

// PutState writes m.
func (m *TopK) PutState(e *encoding.Encbuf) {
	for i := range m.H {
		e.PutBE64(m.H[i])
		e.PutUvarint(uint64(m.C[i]))
	}
}

// GetState reads a TopK written by PutState.
func (m *TopK) GetState(d *encoding.Decbuf) {
	for i := range m.H {
		m.H[i], m.C[i] = d.BE64(), d.Uvarint32()
	}
}

// PutState writes r.
func (r *Rate) PutState(e *encoding.Encbuf) {
	r.Counter.PutState(e)
	r.Profile.PutState(e)
	for _, v := range r.Ring {
		e.PutUvarint(uint64(v))
	}
	e.PutByte(r.Pos)
	for i := range r.Sc {
		s := &r.Sc[i]
		for _, v := range [...]float32{s.Mean, s.Var, s.Res, s.MuSq, s.Peak, s.Mu, s.M, s.KS, s.KA} {
			e.PutBEFloat32(v)
		}
		e.PutUvarint(uint64(s.Base))
		e.PutUvarint(uint64(s.Crit))
	}
	e.PutVarint(r.First)
	e.PutVarint(r.ArmedAt)
	e.PutUvarint(uint64(r.Thr))
	e.PutUvarint(uint64(r.Next))
	e.PutUvarint(uint64(r.Reported))
	e.PutBool(r.Borrowed)
	e.PutVarint(r.HoldUntil)
	e.PutVarint(r.LastFire)
	e.PutBEFloat32(r.HoldL)
	e.PutBEFloat32(r.FireL)
	e.PutUvarint(uint64(r.Quiet))
}

// GetState reads a Rate written by PutState; check it with Check.
func (r *Rate) GetState(d *encoding.Decbuf) {
	r.GetStateNoQuiet(d)
	r.Quiet = getU16(d)
}

// GetStateOf reads a Rate written by PutState when withQuiet, else one
// written before Quiet: a detector's record decoder passes whether its
// version carries Quiet.
func (r *Rate) GetStateOf(d *encoding.Decbuf, withQuiet bool) {
	if withQuiet {
		r.GetState(d)
	} else {
		r.GetStateNoQuiet(d)
	}
}

// GetStateNoQuiet reads a Rate written before Quiet (records of the
// detectors' earlier versions).
func (r *Rate) GetStateNoQuiet(d *encoding.Decbuf) {
	r.Counter.GetState(d)
	r.Profile.GetState(d)
	for i := range r.Ring {
		r.Ring[i] = getU16(d)
	}
	r.Pos = d.Byte()
	for i := range r.Sc {
		s := &r.Sc[i]
		for _, v := range [...]*float32{&s.Mean, &s.Var, &s.Res, &s.MuSq, &s.Peak, &s.Mu, &s.M, &s.KS, &s.KA} {
			*v = d.BEFloat32()
		}
		s.Base, s.Crit = d.Uvarint32(), d.Uvarint32()
	}
	r.First, r.ArmedAt = d.Varint(), d.Varint()
	r.Thr, r.Next, r.Reported = d.Uvarint32(), d.Uvarint32(), d.Uvarint32()
	r.Borrowed = d.Bool()
	r.HoldUntil, r.LastFire = d.Varint(), d.Varint()
	r.HoldL, r.FireL = d.BEFloat32(), d.BEFloat32()
}
