package baseline

import (
	"fmt"
	"math"
)

// MaxScales is the number of time scales a Rate judges at most: its window
// and up to two sliding long windows.
const MaxScales = 3

// RingLen is how many closed windows a Rate remembers; a long window spans
// at most this many windows.
const RingLen = 72

// maxDispersion caps an estimated dispersion k (variance mu + k·mu²).
const maxDispersion = 1000

// ScaleStats is one time scale of a Rate: what it learned about the sums
// S of its last N windows (EWMA over every closed window) and what the
// current window was armed with.
type ScaleStats struct {
	// Learned. Mean and Var: level and variance of S (overall model).
	// Res and MuSq: EWMAs of (S−mu)²−S and mu² against the seasonal
	// expectation mu (residual dispersion of the seasonal model). Peak:
	// a slow decaying maximum of S (see close).
	Mean, Var, Res, MuSq, Peak float32
	// Armed for the current window: the seasonal and overall expectations
	// and dispersions judged against, the sum of the scale's closed windows
	// (Base) and the critical sum (Crit; 0 disarmed).
	Mu, M, KS, KA float32
	Base, Crit    uint32
}

// kRes is the residual dispersion of the seasonal model.
func (s *ScaleStats) kRes() float64 {
	if s.MuSq <= 0 {
		return 0
	}
	return min(maxDispersion, max(0, float64(s.Res/s.MuSq)))
}

// kAll is the dispersion of the overall model.
func (s *ScaleStats) kAll() float64 {
	if s.Mean <= 0 {
		return 0
	}
	m := float64(s.Mean)
	return min(maxDispersion, max(0, (float64(s.Var)-m)/(m*m)))
}

// Rate is one key's multi-scale rate baseline with the thresholds armed
// for its current window. See the package frequency doc for the model.
// About 560 bytes, no pointers.
type Rate struct {
	Counter
	Profile
	Ring [RingLen]uint16 // closed window counts; Ring[Pos-1] is the newest
	Pos  uint8
	// Quiet is the number of newest closed windows (ending at Start) that
	// are quiet (see Roll) and counted in the ring and Windows but not yet
	// in the levels: Settle decays them in closed form.
	Quiet uint16
	Sc    [MaxScales]ScaleStats

	First    int64  // start of the key's first window (unix seconds)
	ArmedAt  int64  // window start the thresholds were armed for
	Thr      uint32 // count of the current window that crosses some scale; 0: disarmed
	Next     uint32 // next count at which Hit reports (escalation doubles it)
	Reported uint32 // count last reported by Hit in this window; 0: none
	Borrowed bool   // thresholds came from another key's baseline

	// Damping (SpikeConfig.Hold): the hold ends at HoldUntil; LastFire is
	// the window start of the last reported crossing and HoldL its decades.
	HoldUntil, LastFire int64
	HoldL, FireL        float32 // FireL: decades of the last report
}

// Check reports a decoded Rate that would index out of range or carry
// non-finite levels (a corrupt snapshot).
func (r *Rate) Check() error {
	if int(r.Pos) >= RingLen {
		return fmt.Errorf("rate ring position %d out of range", r.Pos)
	}
	if r.Quiet > 0 && (uint32(r.Quiet) > r.Windows || r.Start == 0) {
		return fmt.Errorf("rate quiet windows %d exceed its %d windows", r.Quiet, r.Windows)
	}
	for i := range r.Sc {
		st := &r.Sc[i]
		for _, v := range [...]float32{st.Mean, st.Var, st.Res, st.MuSq, st.Peak, st.Mu, st.M, st.KS, st.KA} {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("rate scale %d: non-finite level", i)
			}
		}
	}
	return nil
}

// ringSum is the sum of the newest n closed windows.
func (r *Rate) ringSum(n int) uint32 {
	var s uint32
	p := int(r.Pos)
	for i := 0; i < n; i++ {
		p--
		if p < 0 {
			p = RingLen - 1
		}
		s += uint32(r.Ring[p])
	}
	return s
}

// slotExps computes the seasonal expectations of one window's hour slots
// (see seasonalAll) from r's state at that moment, each slot's shrunk mean
// at most once.
type slotExps struct {
	r         *Rate
	rp        *RateParams
	o, k, ko  float64 // overall level; weight of its prior (slotPrior events); k·o
	have, shr uint32  // bit s: exp[s], sh[s] computed
	exp, sh   [Slots]float64
}

// reset starts over from r's current state.
func (e *slotExps) reset() {
	e.o = float64(e.r.Sc[0].Mean)
	e.k = slotPrior / max(e.o, 1e-3)
	e.ko = e.k * e.o
	e.have, e.shr = 0, 0
}

// at is the seasonal expectation of one window in slot: the slot mean, at
// least Neighbour times the adjacent slots' means; the overall level when
// the slot has seen fewer than MinSlotWindows windows. Slot means are
// shrunk toward the overall level by slotPrior events' worth of
// pseudo-windows, so a sparse key's slots (a handful of events each) do not
// invent a daily pattern while a busy key's slots stand on their own.
func (e *slotExps) at(slot int) float64 {
	if e.have&(1<<slot) != 0 {
		return e.exp[slot]
	}
	v := e.o
	if int(e.r.Profile.Seen[slot]) >= e.rp.MinSlotWindows {
		prev, next := slot-1, slot+1
		if prev < 0 {
			prev = Slots - 1
		}
		if next == Slots {
			next = 0
		}
		v = max(e.shrunk(slot), e.rp.Neighbour*max(e.shrunk(prev), e.shrunk(next)))
	}
	e.exp[slot] = v
	e.have |= 1 << slot
	return v
}

// shrunk is slot s's mean shrunk toward the overall level.
func (e *slotExps) shrunk(s int) float64 {
	if e.shr&(1<<s) == 0 {
		n := float64(e.r.Profile.Seen[s])
		e.sh[s] = (n*float64(e.r.Profile.Mean[s]) + e.ko) / (n + e.k)
		e.shr |= 1 << s
	}
	return e.sh[s]
}

// slotPrior is the strength, in events, of the overall level as the prior
// of a slot mean.
const slotPrior = 10

// hourPos is the number of windows of t's hour from the window starting
// at t back to the hour's start (1 for windows of an hour or more).
func hourPos(t int64, rp *RateParams) int {
	if rp.Size >= 3600 {
		return 1
	}
	return int((t-AlignDown(t, 3600))/rp.Size) + 1
}

// seasonalAll sets mu[s] to the seasonal expectation of the sum of the
// rp.N[s] windows ending with the one starting at start, for every scale:
// the sum of the windows' slot expectations (e, reset here), an hour's
// windows at a time, newest first. k is hourPos(start, rp). The scales
// share one walk back over the hours: a shorter scale's walk is a prefix
// of a longer one's, up to its last (shorter) segment, so each sum is
// formed in the same order as a walk of its own.
func (r *Rate) seasonalAll(start int64, k int, rp *RateParams, e *slotExps, mu *[MaxScales]float64) {
	e.reset()
	var rem [MaxScales]int
	left := 0
	for s := 0; s < rp.Scales; s++ {
		mu[s], rem[s] = 0, rp.N[s]
		if rem[s] > 0 {
			left++
		}
	}
	t, slot := start, HourSlot(start)
	for left > 0 {
		v := e.at(slot)
		for s := 0; s < rp.Scales; s++ {
			if rem[s] == 0 {
				continue
			}
			ks := min(k, rem[s])
			mu[s] += float64(ks) * v
			if rem[s] -= ks; rem[s] == 0 {
				left--
			}
		}
		if rp.PerHour > 0 { // the previous hour, whole
			if k, slot = rp.PerHour, slot-1; slot < 0 {
				slot = Slots - 1
			}
			continue
		}
		t -= int64(k) * rp.Size
		k, slot = hourPos(t, rp), HourSlot(t)
	}
}

// Roll moves r to the window containing t. Closed windows (and the empty
// windows of a gap, at most MaxCatchUp) feed the baseline; quiet ones
// (see quietNext) only once settled. A window that was
// armed from r's own baseline enters winsorised at its base-scale critical
// count, so a burst raises the normal level by at most one threshold's worth
// per window, while a pattern that recurs is still learned.
//
// The hour-slot means learn a further winsorised count: when the window
// brings a long scale's sum to p <= exp(LearnLogP) under the seasonal model
// it was armed with (suspect, SuspectP), it teaches the slot at most the
// pace of that scale's suspect sum (its critical count at SuspectP divided
// by the scale's windows). A sustained moderate rise therefore cannot
// raise its own expectation while it is being judged (forty minutes of
// ×5 would otherwise lift the slot it runs in, and the threshold with it,
// by half), while a lasting change is still learned, at the suspect pace
// per window. The ring, the scale moments and peaks keep the base-scale
// winsorised count, so a bursty key's dispersion and peaks are learned as
// before.
func (r *Rate) Roll(t int64, rp *RateParams) (Closed, bool) {
	cl, ok := r.Counter.Roll(t, rp.Size)
	if r.First == 0 {
		r.First = r.Start
	}
	if !ok {
		return cl, false
	}
	x := cl.N
	own := r.ArmedAt == cl.Start && !r.Borrowed
	if x == 0 && !own && r.quietNext(rp) {
		r.addQuiet(cl.Start, 1, rp)
	} else {
		r.settleTo(cl.Start, rp)
		if own && r.Sc[0].Crit > 0 && x > r.Sc[0].Crit {
			x = r.Sc[0].Crit
		}
		xl := x
		if own && rp.LearnLogP < 0 {
			xl = r.learnCap(x, rp)
		}
		r.close(cl.Start, x, xl, own, rp)
	}
	g, from := cl.Gap, cl.Start+rp.Size
	if g > rp.MaxCatchUp {
		from += (g - rp.MaxCatchUp) * rp.Size
		g = rp.MaxCatchUp
		r.settleTo(cl.Start+rp.Size, rp) // a quiet run is contiguous
	}
	r.closeEmpty(from, g, rp)
	return cl, true
}

// Quiet windows. An empty window closed when every scale's sum (its own
// included) is 0 and every scale's long window is filled is quiet: its
// levels would only decay. Such windows are counted at once (ring, Windows, Quiet) and their
// decay is applied later, all at once, by Settle: before any other window
// is closed, when r is armed or lends its baseline, or when Quiet would
// overflow. Eager ticks closing windows one by one and a lazy roll
// closing a gap at once therefore settle the same run at the same moment,
// with the same result, bit for bit.
//
// Settle applies a run in closed form, an hour slot at a time (a run of
// k windows costs O(k/windows per hour), not O(k)): with weights a_j =
// max(alpha, 1/j) the levels decay by D = Π(1−a_j) (j/(j+k) while 1/j
// dominates, then a power of 1−alpha from RateParams' tables); a scale's
// Var becomes D·(Var + Mean²·(1−D)) (the second moment decays by D), its
// Res and MuSq learn the squared seasonal expectation of the segment's
// middle window (so Res−MuSq decays exactly), peaks decay by their
// factor's power. Up to rounding this is what stepping the windows gives,
// but for the seasonal expectation, held for an hour's windows instead of
// following the decay within it.

// quietNext reports whether the empty window r is about to close (not
// armed from r's own baseline) is quiet.
func (r *Rate) quietNext(rp *RateParams) bool {
	n := rp.N[rp.Scales-1]
	return int64(r.Windows)+1 >= int64(n) && r.ringSum(n-1) == 0
}

// addQuiet counts the n quiet windows starting at from.
func (r *Rate) addQuiet(from, n int64, rp *RateParams) {
	for n > 0 {
		if r.Quiet == math.MaxUint16 {
			r.settleTo(from, rp)
		}
		k := min(n, int64(math.MaxUint16-r.Quiet))
		r.Quiet += uint16(k)
		r.Windows = uint32(min(int64(r.Windows)+k, math.MaxUint32))
		r.zeroRing(k)
		from += k * rp.Size
		n -= k
	}
}

// zeroRing closes g empty windows in the ring: its next min(g, RingLen)
// entries are zeroed (in at most two runs: the ring wraps), then the
// position moves on by g.
func (r *Rate) zeroRing(g int64) {
	n, p := int(min(g, RingLen)), int(r.Pos)
	first := min(n, RingLen-p)
	clear(r.Ring[p : p+first])
	clear(r.Ring[:n-first])
	r.Pos = uint8((int64(p) + g) % RingLen)
}

// Settle applies the decay of r's quiet windows (see quietNext).
func (r *Rate) Settle(rp *RateParams) { r.settleTo(r.Start, rp) }

// settleTo applies the decay of the quiet windows, the newest of which
// ends at end.
func (r *Rate) settleTo(end int64, rp *RateParams) {
	q := int64(r.Quiet)
	if q == 0 {
		return
	}
	r.Quiet = 0
	p := &r.Profile
	w := int64(p.Windows) - q // windows before the run
	t := end - q*rp.Size
	e := slotExps{r: r, rp: rp}
	var mu [MaxScales]float64
	// A blank rate's expectations are +0 (see blank): no walk needed.
	var zero [MaxScales]uint32
	blank := r.blank(rp, &zero)
	// decay applies k windows of slot to every level but Res and MuSq
	// and returns the factor of the overall weight.
	decay := func(slot int, k int64) float64 {
		s0 := int64(p.Seen[slot])
		p.Seen[slot] = uint16(min(s0+k, math.MaxUint16))
		p.Mean[slot] = float32(float64(p.Mean[slot]) * rp.slot.decay(s0, k))
		p.Peak[slot] = float32(max(float64(p.Peak[slot])*rp.slotPeak.pow(k), 0))
		d := rp.overall.decay(w, k)
		w += k
		p.Overall = float32(float64(p.Overall) * d)
		wp := rp.winPeak.pow(k)
		for s := 0; s < rp.Scales; s++ {
			st := &r.Sc[s]
			m := float64(st.Mean)
			st.Mean = float32(m * d)
			st.Var = float32(d * (float64(st.Var) + m*m*(1-d)))
			st.Peak = float32(float64(st.Peak) * wp)
		}
		return d
	}
	for t < end {
		n := int64(1) // windows of this hour slot
		if rp.PerHour > 0 {
			n = min((end-t)/rp.Size, int64(rp.PerHour-hourPos(t, rp)+1))
		}
		// The segment's expectation is its middle window's, from the
		// levels decayed up to it.
		slot, h := HourSlot(t), (n-1)/2
		d := decay(slot, h)
		if mid := t + h*rp.Size; !blank {
			r.seasonalAll(mid, hourPos(mid, rp), rp, &e, &mu)
		}
		d *= decay(slot, n-h)
		for s := 0; s < rp.Scales; s++ {
			st := &r.Sc[s]
			learnt := mu[s] * mu[s] * (1 - d) // (0−mu)²−0 and mu², learned
			st.Res = float32(float64(st.Res)*d + learnt)
			st.MuSq = float32(float64(st.MuSq)*d + learnt)
		}
		t += n * rp.Size
	}
}

// learnCap is the count the hour-slot means learn from a window of count x
// armed from r's own baseline (see Roll). It costs an NB tail per long
// scale once per window, not per event.
func (r *Rate) learnCap(x uint32, rp *RateParams) uint32 {
	for i := 1; i < rp.Scales; i++ {
		st := &r.Sc[i]
		if st.Crit == 0 {
			continue
		}
		mu, k := float64(st.Mu), float64(st.KS)
		if NBLogSF(int(st.Base+x), mu, k) > rp.LearnLogP {
			continue
		}
		c := int64(math.Ceil(float64(NBCritical(mu, k, rp.LearnLogP)) / float64(rp.N[i])))
		if c < int64(x) {
			x = uint32(c)
		}
	}
	return x
}

// close feeds one closed window with count x (xl for the hour-slot means).
// armed says the scales' Mu still hold the seasonal expectations computed
// for it.
func (r *Rate) close(start int64, x, xl uint32, armed bool, rp *RateParams) {
	var mu [MaxScales]float64
	if armed {
		for s := 0; s < rp.Scales; s++ {
			mu[s] = float64(r.Sc[s].Mu)
		}
	} else {
		e := slotExps{r: r, rp: rp}
		r.seasonalAll(start, hourPos(start, rp), rp, &e, &mu)
	}
	r.Profile.Update(HourSlot(start), float64(xl), rp)
	r.Ring[r.Pos] = uint16(min(x, math.MaxUint16))
	r.Pos = uint8((int(r.Pos) + 1) % RingLen)
	a := max(rp.OverallAlpha, 1/float64(r.Windows))
	for s := 0; s < rp.Scales; s++ {
		st := &r.Sc[s]
		n := rp.N[s]
		if int(r.Windows) < n {
			continue // the long window is not filled yet
		}
		sum := float64(r.ringSum(n))
		if armed && st.Crit > 0 {
			sum = min(sum, float64(st.Crit)) // winsorised per scale
		}
		st.learn(sum, mu[s], a, n, rp)
	}
}

// closeEmpty feeds the g empty windows starting at from, from+Size, ...
// exactly as g Rolls closing one empty window each would: the windows
// before the first quiet one (see quietNext) as close(start, 0, 0, false,
// rp) would (the same floating-point operations in the same order), the
// rest as a quiet run. The stepped windows cost a fraction of close's:
// the scales' ring sums run (the window leaving a sum is subtracted)
// instead of being re-added per window, one walk over the hour slots
// serves every scale's seasonal expectation, and a Rate that has learned
// only zeros (a denial key never denied) just counts the windows.
func (r *Rate) closeEmpty(from, g int64, rp *RateParams) {
	if g <= 0 {
		return
	}
	var sums [MaxScales]uint32
	for s := 0; s < rp.Scales; s++ {
		sums[s] = r.ringSum(rp.N[s])
	}
	// The windows until the first quiet one step; the rest are quiet (the
	// sums stay 0).
	nq := int64(rp.N[rp.Scales-1])
	step := min(g, max(0, nq-1-int64(ringZeros(r, int(nq))), nq-1-int64(r.Windows)))
	if r.blank(rp, &sums) {
		r.countEmpty(from, step, rp)
	} else {
		r.closeEmptyStep(from, step, rp, &sums)
	}
	r.addQuiet(from+step*rp.Size, g-step, rp)
}

// ringZeros is the number (at most n) of r's newest closed windows that
// were empty.
func ringZeros(r *Rate, n int) int {
	p := int(r.Pos)
	for i := 0; i < n; i++ {
		if p--; p < 0 {
			p = RingLen - 1
		}
		if r.Ring[p] != 0 {
			return i
		}
	}
	return n
}

// closeEmptyStep closes the g empty windows starting at from one by one
// (closeEmpty's stepped windows; sums are the scales' ring sums).
func (r *Rate) closeEmptyStep(from, g int64, rp *RateParams, sums *[MaxScales]uint32) {
	if g <= 0 {
		return
	}
	r.settleTo(from, rp) // none: a quiet window leaves no sum to step
	if rp.PerHour > 0 {
		r.closeEmptyHourly(from, g, rp, sums)
		return
	}
	var mu [MaxScales]float64
	e := slotExps{r: r, rp: rp}
	k := hourPos(from, rp)
	for i := int64(0); i < g; i++ {
		start := from + i*rp.Size
		if rp.PerHour == 0 {
			k = hourPos(start, rp)
		} else if i > 0 {
			k = k%rp.PerHour + 1
		}
		r.seasonalAll(start, k, rp, &e, &mu)
		r.Profile.Update(HourSlot(start), 0, rp)
		for s := 0; s < rp.Scales; s++ {
			sums[s] -= uint32(r.Ring[(int(r.Pos)+RingLen-rp.N[s])%RingLen])
		}
		r.Ring[r.Pos] = 0
		r.Pos = uint8((int(r.Pos) + 1) % RingLen)
		a := max(rp.OverallAlpha, 1/float64(r.Windows))
		for s := 0; s < rp.Scales; s++ {
			if n := rp.N[s]; int(r.Windows) >= n {
				r.Sc[s].learn(float64(sums[s]), mu[s], a, n, rp)
			}
		}
	}
}

// closeEmptyHourly is closeEmpty for windows that divide an hour, in one
// loop: per window the seasonal walk (seasonalAll) with the shrunk slot
// means slid along the hours instead of memoised, then Profile.Update and
// the scales' learn, inlined. Same operations, same order.
func (r *Rate) closeEmptyHourly(from, g int64, rp *RateParams, sums *[MaxScales]uint32) {
	p := &r.Profile
	per, nb, minSeen := rp.PerHour, rp.Neighbour, rp.MinSlotWindows
	k0, slot0 := hourPos(from, rp), HourSlot(from)
	for i := int64(0); i < g; i++ {
		if i > 0 {
			if k0++; k0 > per {
				if k0, slot0 = 1, slot0+1; slot0 == Slots {
					slot0 = 0
				}
			}
		}
		// Seasonal expectations (seasonalAll).
		o := float64(r.Sc[0].Mean)
		kp := slotPrior / max(o, 1e-3)
		ko := kp * o
		shrunk := func(s int) float64 {
			n := float64(p.Seen[s])
			return (n*float64(p.Mean[s]) + ko) / (n + kp)
		}
		var mu [MaxScales]float64
		rem := rp.N
		left := 0
		for s := 0; s < rp.Scales; s++ {
			if rem[s] > 0 {
				left++
			}
		}
		h, k := slot0, k0
		up := h + 1
		if up == Slots {
			up = 0
		}
		shUp, shH := shrunk(up), shrunk(h)
		for left > 0 {
			dn := h - 1
			if dn < 0 {
				dn = Slots - 1
			}
			shDn := shrunk(dn)
			v := o
			if int(p.Seen[h]) >= minSeen {
				v = max(shH, nb*max(shDn, shUp))
			}
			for s := 0; s < rp.Scales; s++ {
				if rem[s] == 0 {
					continue
				}
				ks := min(k, rem[s])
				mu[s] += float64(ks) * v
				if rem[s] -= ks; rem[s] == 0 {
					left--
				}
			}
			k, h, shUp, shH = per, dn, shH, shDn
		}
		// Profile.Update(slot0, 0, rp).
		if p.Seen[slot0] < math.MaxUint16 {
			p.Seen[slot0]++
		}
		as := max(rp.Alpha, 1/float64(p.Seen[slot0]))
		p.Mean[slot0] += float32(as * (0 - float64(p.Mean[slot0])))
		p.Peak[slot0] = float32(max(float64(p.Peak[slot0])*rp.PeakDecay, 0))
		if p.Windows < math.MaxUint32 {
			p.Windows++
		}
		a := max(rp.OverallAlpha, 1/float64(p.Windows)) // also the scales' weight (close)
		p.Overall += float32(a * (0 - float64(p.Overall)))
		// The ring and the scales.
		for s := 0; s < rp.Scales; s++ {
			sums[s] -= uint32(r.Ring[(int(r.Pos)+RingLen-rp.N[s])%RingLen])
		}
		r.Ring[r.Pos] = 0
		r.Pos = uint8((int(r.Pos) + 1) % RingLen)
		for s := 0; s < rp.Scales; s++ {
			if n := rp.N[s]; int(p.Windows) >= n {
				r.Sc[s].learn(float64(sums[s]), mu[s], a, n, rp)
			}
		}
	}
}

// blank reports whether closing empty windows leaves every learned level
// of r but the scales' Res and MuSq at +0: those levels are +0 (bit for
// bit), the scales' sums (sums) are 0 and rp's rates and factors are
// finite and non-negative, so every update adds (+0)·a to +0 and every
// seasonal expectation is +0 (countEmpty does the rest). A denial key of
// an agent never denied, armed from a floored expectation, has Res and
// MuSq > 0 and is blank in this sense.
func (r *Rate) blank(rp *RateParams, sums *[MaxScales]uint32) bool {
	ok := func(x float64) bool { return x >= 0 && x <= math.MaxFloat64 }
	if !ok(rp.Alpha) || !ok(rp.PeakDecay) || !ok(rp.WinPeakDecay) || !ok(rp.Neighbour) ||
		!ok(rp.OverallAlpha) || rp.OverallAlpha > 1 {
		return false
	}
	bits := math.Float32bits(r.Profile.Overall)
	for s := 0; s < rp.Scales; s++ {
		st := &r.Sc[s]
		if sums[s] != 0 {
			return false
		}
		bits |= math.Float32bits(st.Mean) | math.Float32bits(st.Var) | math.Float32bits(st.Peak)
	}
	for i := range Slots {
		bits |= math.Float32bits(r.Profile.Mean[i]) | math.Float32bits(r.Profile.Peak[i])
	}
	return bits == 0
}

// countEmpty is closeEmpty for a blank Rate: the windows are counted
// (Profile.Update's counters, the ring), every other level stays +0, and
// each scale whose long window is filled learns Res and MuSq from the
// window with learn's operations (sum and mu +0, so its residual
// (0−0)²−0 and mu² are +0): they decay, or stay +0.
func (r *Rate) countEmpty(from, g int64, rp *RateParams) {
	if g <= 0 {
		return
	}
	residual := false
	for s := 0; s < rp.Scales; s++ {
		residual = residual || math.Float32bits(r.Sc[s].Res)|math.Float32bits(r.Sc[s].MuSq) != 0
	}
	for i := int64(0); i < g; i++ {
		if slot := HourSlot(from + i*rp.Size); r.Profile.Seen[slot] < math.MaxUint16 {
			r.Profile.Seen[slot]++
		}
		if r.Profile.Windows < math.MaxUint32 {
			r.Profile.Windows++
		}
		if !residual {
			continue
		}
		a := max(rp.OverallAlpha, 1/float64(r.Profile.Windows))
		for s := 0; s < rp.Scales; s++ {
			if st := &r.Sc[s]; int(r.Profile.Windows) >= rp.N[s] {
				var zero float64 // sum, mu, their residual and mu²: +0
				st.Res += float32(a * (zero - float64(st.Res)))
				st.MuSq += float32(a * (zero - float64(st.MuSq)))
			}
		}
	}
	r.zeroRing(g)
}

// learn feeds a scale the sum of its newest n windows, with seasonal
// expectation mu and EWMA weight a.
func (st *ScaleStats) learn(sum, mu, a float64, n int, rp *RateParams) {
	d := sum - float64(st.Mean)
	st.Mean += float32(a * d)
	st.Var = float32((1 - a) * (float64(st.Var) + a*d*d))
	e := (sum-mu)*(sum-mu) - sum
	st.Res += float32(a * (e - float64(st.Res)))
	st.MuSq += float32(a * (mu*mu - float64(st.MuSq)))
	// The peak decays, and rises only 1/(N+1) of the way to a larger sum
	// per window: a burst that recurs is learned in a few occurrences,
	// while the ramp of the current episode cannot chase its own threshold
	// away.
	pk := float64(st.Peak) * rp.WinPeakDecay
	if sum > pk {
		pk += (sum - pk) / float64(n+1)
	}
	st.Peak = float32(pk)
}

// NeedsArm reports whether the current window has no thresholds yet.
func (r *Rate) NeedsArm() bool { return r.ArmedAt != r.Start }

// Warm reports whether r has warmup of history under s.
func (r *Rate) Warm(s *SpikeRule) bool { return r.First != 0 && r.Start-r.First >= s.Warmup }

// Arm sets the current window's thresholds from src's baseline (r's own
// when src is r) with its levels divided by div (>= 1; e.g. the tool's
// active agents per window), or disarms the window when src is nil. Per
// scale the critical sum is the largest of
//
//	NB critical count at level exp(s.LogP) of the seasonal model
//	NB critical count of the overall model
//	floor(peak_ratio × recent peak) + 1,  min_count
//
// and the window's threshold is the smallest count that brings some
// scale's sum (its closed windows plus this one) to its critical sum.
// Expectations are floored at half an event per scale over the history
// (n·0.5/(windows+1)), so a key that never had an event is not infinitely
// surprised by one. Dispersions are moment estimates, capped so that
// k·mean <= peak − 1: the tail is not extrapolated heavier than the
// largest sum the key has shown; on a long scale also k·mean <= the
// window's variance/mean − 1 (a 6h sum has a dozen independent samples in
// three days, the 5m window hundreds).
func (r *Rate) Arm(s *SpikeRule, rp *RateParams, src *Rate, div float64) {
	r.arm(s, rp, src, div, nil)
}

// arm is Arm with, for a borrowed baseline, peaks: per scale the recent
// largest sum of one key of src's (nil: none), which the peak guard takes
// when larger than src's peak divided by div.
func (r *Rate) arm(s *SpikeRule, rp *RateParams, src *Rate, div float64, peaks *[MaxScales]float32) {
	r.Settle(rp)
	if src != nil && src.Quiet > 0 { // another key's: arming only reads it
		settled := *src
		settled.Settle(rp)
		src = &settled
	}
	r.ArmedAt, r.Thr, r.Next, r.Reported = r.Start, 0, 0, 0
	r.Borrowed = src != r
	if src == nil {
		// Base still holds the scales' closed windows: the key's sums are
		// read from it (Sums) while disarmed too.
		for i := range r.Sc {
			r.Sc[i].Crit = 0
			if i < rp.Scales {
				r.Sc[i].Base = r.ringSum(rp.N[i] - 1)
			}
		}
		return
	}
	div = math.Max(div, 1)
	thr := uint32(math.MaxUint32)
	// ex0: the window's excess variance per event (index of dispersion − 1),
	// capped by its peak as below.
	s0 := &src.Sc[0]
	// peak is a scale's largest sum one key is known to reach: src's peak
	// per div, or for a borrowed baseline the largest of one of its keys'
	// when that is larger.
	peak := func(i int) float64 {
		pk := float64(src.Sc[i].Peak) / div
		if peaks != nil && src != r {
			pk = math.Max(pk, float64(peaks[i]))
		}
		return pk
	}
	ex0 := math.Max(peak(0)-1, 0)
	if s0.Mean > 0 {
		ex0 = math.Min(ex0, math.Max(0, float64(s0.Var/s0.Mean)-1))
	}
	var seas [MaxScales]float64
	e := slotExps{r: src, rp: rp}
	src.seasonalAll(r.Start, hourPos(r.Start, rp), rp, &e, &seas)
	for i := 0; i < rp.Scales; i++ {
		st, ss := &r.Sc[i], &src.Sc[i]
		n := rp.N[i]
		st.Base = r.ringSum(n - 1)
		floor := float64(n) * 0.5 / float64(src.Windows+1)
		mu := math.Max(seas[i]/div, floor)
		m := math.Max(float64(ss.Mean)/div, floor)
		// k·mean is the excess of the variance over Poisson per event; it
		// cannot be known beyond the largest sum seen (a sparse key's one
		// pair of events in a window must not make it heavy-tailed).
		pk := peak(i)
		ex := math.Max(pk-1, 0)
		if i > 0 {
			// A long scale has few independent sums to learn from; its
			// excess is at most the window's, which is well sampled.
			ex = math.Min(ex, ex0)
		}
		// A borrowed total of div agents' counts has 1/div of one agent's
		// dispersion (var = m + k·m² summed over div independent agents
		// gives k/div): the key is one agent, so it gets div times the
		// total's, still capped by the peak as above.
		ks, ka := math.Min(ss.kRes()*div, ex/mu), math.Min(ss.kAll()*div, ex/m)
		st.Mu, st.M, st.KS, st.KA = float32(mu), float32(m), float32(ks), float32(ka)
		c := critMax(max(s.MinCount, int(math.Min(math.Floor(s.PeakRatio*pk), 1<<30))+1),
			mu, ks, m, ka, s.LogP)
		st.Crit = uint32(min(c, 1<<30))
		thr = min(thr, uint32(max(int64(st.Crit)-int64(st.Base), 1)))
	}
	r.Thr, r.Next = thr, thr
}

// Hit counts one event and reports whether the window just reached its
// next report level: the armed threshold first, then each doubling of the
// count, so a 5000-event burst reports about log2(5000/threshold) times.
func (r *Rate) Hit() bool {
	r.N++
	if r.Thr == 0 || r.N < r.Next {
		return false
	}
	r.Reported = r.N
	if r.N > math.MaxUint32/2 {
		r.Next = math.MaxUint32
	} else {
		r.Next = 2 * r.N
	}
	return true
}

// RateVerdict is how a crossing is judged: the scale whose sum is most
// improbable, that sum, its expectation and L = −log10 of its tail
// probability multiplied by the number of scales (Bonferroni).
type RateVerdict struct {
	Scale    int
	Sum      uint32
	Expected float64
	Decades  float64
}

// Judge returns the verdict on the current window's count. p of a scale is
// the larger (less extreme) of its two models' tails; only scales at or
// above their critical sum, whose current window runs at least at the pace
// of that sum (count >= critical/N), are considered, so Decades >= −log10 of the
// false-alarm rate whenever Hit reported. A scale skipped for its pace moves
// Hit's next report to the pace count.
func (r *Rate) Judge(rp *RateParams, s *SpikeRule) RateVerdict {
	v := RateVerdict{Scale: -1}
	for i := 0; i < rp.Scales; i++ {
		st := &r.Sc[i]
		sum := st.Base + r.N
		if st.Crit == 0 || sum < st.Crit {
			continue
		}
		if n := rp.N[i]; n > 1 && float64(r.N)*float64(n) < float64(st.Crit) {
			// The current window runs below the crossing pace: the sum is
			// carried by earlier windows (an episode already judged). Hit
			// reports next where the pace is met rather than at the
			// doubled count, which a sustained moderate rise may never
			// reach within the window.
			if pace := (st.Crit + uint32(n) - 1) / uint32(n); pace < r.Next {
				r.Next = max(pace, r.N+1)
			}
			continue
		}
		lp := math.Max(NBLogSF(int(sum), float64(st.Mu), float64(st.KS)), NBLogSF(int(sum), float64(st.M), float64(st.KA)))
		l := -lp/math.Ln10 - math.Log10(s.Tests)
		if v.Scale < 0 || l > v.Decades {
			v = RateVerdict{Scale: i, Sum: sum, Expected: math.Max(float64(st.Mu), float64(st.M)), Decades: l}
		}
	}
	return v
}

// Fire applies the damping rule (SpikeConfig.Hold) to a crossing of the
// current window judged at l decades and reports whether to emit it. A
// crossing continues its episode when the last reported one was in this or
// the previous window; a new crossing inside the hold is swallowed (and
// extends the hold: recurring bursts stay quiet) unless it is
// EscalateDecades more improbable than the episode's strongest. Within one
// window only a report a decade stronger than the last is emitted.
func (r *Rate) Fire(l float64, size int64, s *SpikeRule) bool {
	if r.LastFire == r.Start && l < float64(r.FireL)+1 {
		return false // this window was reported; only a decade more is news
	}
	cont := r.LastFire != 0 && (r.LastFire == r.Start || r.LastFire == r.Start-size)
	if r.Start < r.HoldUntil && !cont && l < float64(r.HoldL)+EscalateDecades {
		r.HoldUntil = r.Start + s.Hold
		return false
	}
	if r.Start >= r.HoldUntil {
		r.HoldL = 0
	}
	r.HoldUntil, r.LastFire, r.FireL = r.Start+s.Hold, r.Start, float32(l)
	r.HoldL = float32(math.Max(float64(r.HoldL), l))
	return true
}
