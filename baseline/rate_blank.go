package baseline

import "math"

// BlankRate is a Rate that has counted no event, in 160 bytes instead of
// ~600: a denial key of an agent never denied, most of a denial
// detector's keys. Such a Rate learned only zeros, so its levels, peaks,
// profile means and ring are +0; what it still carries is its windows
// (Start, First, Seen, Windows, Pos, its quiet windows), the thresholds of its current window
// (armed from its own floor or a borrowed baseline) and the residual
// moments Res and MuSq of its scales, which learn the armed expectation
// mu² from every zero window and so stay equal bit for bit.
//
// From takes a Rate in this form only when Expand gives it back bit for
// bit; anything else (an event counted, a report, Res ≠ MuSq after a
// restore) is left to the full Rate.
type BlankRate struct {
	Start, First, ArmedAt int64
	Windows, Thr          uint32 // Next == Thr
	Seen                  [Slots]uint16
	Res                   [MaxScales]float32 // Sc[s].Res == Sc[s].MuSq
	Mu, M, KS, KA         [MaxScales]float32
	Crit                  [MaxScales]uint32
	Pos                   uint8
	Borrowed              bool
	Pending               uint16 // Rate.Quiet
}

// Quiet reports whether Roll(t) and then arming would leave the Rate of b
// unchanged: t is in its current window, which is armed.
func (b *BlankRate) Quiet(t, size int64) bool {
	return b.Start != 0 && b.First != 0 && t < b.Start+size && b.ArmedAt == b.Start
}

// From stores r in b and reports whether r is blank (b.Expand gives r
// back bit for bit); when it is not, b is unspecified.
func (b *BlankRate) From(r *Rate) bool {
	bits := math.Float32bits(r.Profile.Overall) | math.Float32bits(r.HoldL) | math.Float32bits(r.FireL)
	for i := range Slots {
		bits |= math.Float32bits(r.Profile.Mean[i]) | math.Float32bits(r.Profile.Peak[i])
	}
	var ring uint16
	for _, v := range r.Ring {
		ring |= v
	}
	if bits != 0 || ring != 0 || r.N != 0 || r.Next != r.Thr || r.Reported != 0 || r.HoldUntil != 0 || r.LastFire != 0 {
		return false
	}
	for s := range r.Sc {
		st := &r.Sc[s]
		if math.Float32bits(st.Mean)|math.Float32bits(st.Var)|math.Float32bits(st.Peak) != 0 ||
			math.Float32bits(st.Res) != math.Float32bits(st.MuSq) || st.Base != 0 {
			return false
		}
		b.Res[s], b.Mu[s], b.M[s], b.KS[s], b.KA[s], b.Crit[s] = st.Res, st.Mu, st.M, st.KS, st.KA, st.Crit
	}
	b.Start, b.First, b.ArmedAt = r.Start, r.First, r.ArmedAt
	b.Windows, b.Thr, b.Seen = r.Profile.Windows, r.Thr, r.Profile.Seen
	b.Pos, b.Borrowed, b.Pending = r.Pos, r.Borrowed, r.Quiet
	return true
}

// Expand writes the Rate b stands for into r (all of it).
func (b *BlankRate) Expand(r *Rate) {
	*r = Rate{
		Counter: Counter{Start: b.Start},
		Profile: Profile{Seen: b.Seen, Windows: b.Windows},
		Pos:     b.Pos, Quiet: b.Pending,
		First: b.First, ArmedAt: b.ArmedAt,
		Thr: b.Thr, Next: b.Thr,
		Borrowed: b.Borrowed,
	}
	for s := range r.Sc {
		r.Sc[s] = ScaleStats{Res: b.Res[s], MuSq: b.Res[s], Mu: b.Mu[s], M: b.M[s], KS: b.KS[s], KA: b.KA[s], Crit: b.Crit[s]}
	}
}
