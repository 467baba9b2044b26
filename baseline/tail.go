package baseline

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Tail model of a Dist: peaks over threshold (SPOT, Siffer et al., KDD
// 2017) on log values y = ln(1+x), on top of the t-digest body.
//
// The body's p99 is the POT threshold u (ζ = 0.01 of the mass lies above
// it; p99 rather than SPOT's p98 because log tails of light-tailed tools
// are Gaussian, and an exponential fitted further out extrapolates less
// conservatively). The last tailRing observations above u at the time they were seen
// are kept as float32 log values; excesses e = y − ln u over the current u
// are fitted with a generalized Pareto distribution by probability-weighted
// moments (Hosking & Wallis 1987), so
//
//	P(Y ≥ y) = ζ · (1 + ξ·e/σ)^(−1/ξ)      (ζ · exp(−e/σ) for ξ = 0)
//
// Conservatism, all documented in the detectors' package docs:
//   - ξ is shrunk by n/(n+32) and clamped to [0, 0.5]: a log tail is never
//     given a finite end point (ξ < 0 would put p = 0 at a finite value,
//     and a Gaussian log tail fitted that way underestimates p well before
//     it), and no legitimate log tail is heavier than ξ = 0.5;
//   - σ is inflated by 1 + 1/√n for the sampling error of n excesses;
//   - with fewer than tailMinFit usable excesses (a young key) the fallback
//     is an exponential log tail (a Pareto tail in raw values) through the
//     body's p90 and p99: σ = (ln p99 − ln p90)/ln 10 (for log-normal data
//     this slope is 1.3× the true local one at p99, so it errs wide), and
//     at least a log-normal's of the body's robust scale s, 0.454·s (a
//     young digest's p90 and p99 may nearly coincide).
//
// The fit is refreshed lazily: when the body's quantiles were recomputed,
// or after tailRefit new exceedances, never per record.
const (
	tailRing   = 32
	tailMinFit = 16
	tailRefit  = 8
	tailZeta   = 0.01
	// tailMinSigma keeps a near-constant tool from getting a zero-width tail.
	tailMinSigma = 0.1
	// fallbackBody is (z(0.99) − z(0.90))/ln 10: the fallback slope of a
	// log-normal body per unit of its log scale.
	fallbackBody = (2.3263 - 1.2816) / math.Ln10
	// absorbEvery: a winsorized value (see learnTail) enters the ring at
	// most this often, so a recurring legitimate tail is learned over hours
	// while one attack burst adds a single point.
	absorbEvery = int64(time.Hour)
)

// LogValue maps a raw value (ms, bytes) to the log scale the tail and level
// models work on: ln(1 + max(x, 0)).
func LogValue(x float64) float64 { return math.Log1p(max(x, 0)) }

// TailFit is a fitted (or fallback) tail: P(Y ≥ y) for log values y.
type TailFit struct {
	LnU      float64 // POT threshold u (log value)
	Zeta     float64 // mass above u
	Sigma    float64 // GPD scale of the log excesses (inflated)
	Xi       float64 // GPD shape, in [0, 0.5]
	N        int     // excesses fitted (0: fallback)
	LnP50    float64 // log median of the body (level-shift reference)
	Scale    float64 // robust log scale of the body, (ln p90 − ln p10)/2.563
	Fallback bool
	Valid    bool // false: no quantiles yet
}

// Decades returns −log10 P(Y ≥ y) under f; 0 at or below u (where the
// body, not the tail, describes the data: such values are never findings).
func (f *TailFit) Decades(y float64) float64 {
	if !f.Valid || !(y > f.LnU) {
		return 0
	}
	e := (y - f.LnU) / f.Sigma
	l := -math.Log10(f.Zeta)
	if f.Xi < 1e-9 {
		return l + e/math.Ln10
	}
	return l + math.Log10(1+f.Xi*e)/f.Xi
}

// Quantile returns the log value at which −log10 P(Y ≥ y) = l (l ≥
// −log10 ζ), the inverse of Decades.
func (f *TailFit) Quantile(l float64) float64 {
	if !f.Valid {
		return math.Inf(1)
	}
	r := l + math.Log10(f.Zeta) // decades beyond u
	if r <= 0 {
		return f.LnU
	}
	if f.Xi < 1e-9 {
		return f.LnU + f.Sigma*r*math.Ln10
	}
	return f.LnU + f.Sigma*(math.Pow(10, f.Xi*r)-1)/f.Xi
}

// tailState is the per-Dist tail and level memory. The ring and the level
// memory are allocated when first written (the first exceedance; the
// first value learned once the Dist judges on its own): a young key's
// Dist, most keys of a large fleet, has neither, and nil reads as empty.
type tailState struct {
	fit      storedFit          // with fitN, fitFallback and fitValid below
	lv       *level             // nil: all zero
	absorbAt int64              // event time (ns) a winsorized value last entered the ring
	ring     *[tailRing]float32 // log values of recent exceedances; nil while n == 0
	gen      uint32             // fits so far (drift anchors follow fits)
	// anchorGen and anchorSet are the level memory's (level doc), kept in
	// this struct's padding so that level stays in the 224-byte size class.
	anchorGen   uint32
	n, pos      uint8 // ring fill and next write position
	newSince    uint8 // exceedances since the last fit
	fitStale    bool  // quantiles changed since the last fit
	fitN        uint8 // at most tailRing
	fitFallback bool
	fitValid    bool
	anchorSet   bool
}

// storedFit is the float part of a TailFit as a Dist keeps it (its small
// fields are tailState's, in one word with the ring's): Zeta is always
// tailZeta for a valid fit, 0 otherwise.
type storedFit struct {
	LnU, Sigma, Xi, LnP50, Scale float64
}

// setFit stores f.
func (t *tailState) setFit(f TailFit) {
	t.fit = storedFit{LnU: f.LnU, Sigma: f.Sigma, Xi: f.Xi, LnP50: f.LnP50, Scale: f.Scale}
	t.fitN, t.fitFallback, t.fitValid = uint8(f.N), f.Fallback, f.Valid
}

// storedFit returns the fit setFit stored.
func (t *tailState) storedFit() TailFit {
	f := &t.fit
	z := 0.0
	if t.fitValid {
		z = tailZeta
	}
	return TailFit{LnU: f.LnU, Zeta: z, Sigma: f.Sigma, Xi: f.Xi, N: int(t.fitN), LnP50: f.LnP50, Scale: f.Scale, Fallback: t.fitFallback, Valid: t.fitValid}
}

// rings returns the filled part of the ring.
func (t *tailState) rings() []float32 {
	if t.ring == nil {
		return nil
	}
	return t.ring[:t.n]
}

// level returns the level memory, allocating it on first use.
func (t *tailState) level() *level {
	if t.lv == nil {
		t.lv = new(level)
	}
	return t.lv
}

// zeroLevel is what a nil level memory reads as.
var zeroLevel level

// Tail returns d's tail fit, refitting it if the body's quantiles changed
// or enough new exceedances arrived since the last fit.
func (d *Dist) Tail(g *Digester) TailFit {
	var f TailFit
	d.tailTo(g, &f)
	return f
}

// tailTo is Tail writing the fit to f (zero on entry).
func (d *Dist) tailTo(g *Digester, f *TailFit) {
	if d.distMem == nil {
		return
	}
	t := &d.tail
	if t.fitValid && !t.fitStale && t.newSince < tailRefit && !d.needsRefresh() {
		*f = t.storedFit()
		return
	}
	q := d.Quantiles(g)
	if q.Folded == 0 {
		return
	}
	t.fitStale, t.newSince = false, 0
	t.gen++
	*f = fitTail(q, t.rings())
	f.LnP50 = LogValue(q.P50)
	f.Scale = max((LogValue(q.P90)-LogValue(q.P10))/2.563, 0.05)
	t.setFit(*f)
}

// fitTail fits the GPD to the ring's excesses over the body's p98, or
// returns the fallback.
func fitTail(q Quantiles, ring []float32) TailFit {
	lnU := LogValue(q.P99)
	var ex [tailRing]float64
	n := 0
	for _, v := range ring {
		if e := math.Abs(float64(v)) - lnU; e > 0 { // a far entry is stored negated
			// insertion sort: ≤ 32 values, once per refit
			i := n
			for i > 0 && ex[i-1] > e {
				ex[i] = ex[i-1]
				i--
			}
			ex[i] = e
			n++
		}
	}
	if n < tailMinFit {
		// A young digest's p90 and p99 rest on a few values each and may
		// nearly coincide (a σ 0.8 key of 300 values fell back to σ 0.1
		// and called 3.4× its p99 7 decades improbable): the slope is at
		// least a log-normal body's of the Dist's robust scale between
		// them, (z99 − z90)·s/ln 10.
		body := fallbackBody * (LogValue(q.P90) - LogValue(q.P10)) / 2.563
		s := max((lnU-LogValue(q.P90))/math.Ln10, body, tailMinSigma)
		return TailFit{LnU: lnU, Zeta: tailZeta, Sigma: s, Fallback: true, Valid: true}
	}
	// Probability-weighted moments: a0 = mean, a1 = mean of x_(i)·(n−i)/(n−1)
	// (ascending, 1-based); ξ = 2 − a0/(a0 − 2a1), σ = 2·a0·a1/(a0 − 2a1).
	var a0, a1 float64
	for i, e := range ex[:n] {
		a0 += e
		a1 += e * float64(n-1-i) / float64(n-1)
	}
	a0 /= float64(n)
	a1 /= float64(n)
	xi, sigma := 0.0, a0
	if den := a0 - 2*a1; den > 0 {
		xi = 2 - a0/den
		sigma = 2 * a0 * a1 / den
	}
	// Shrink ξ toward 0 (a Pareto tail in raw values) by n/(n+tailRing):
	// PWM shape estimates from 16–32 excesses are noisy, and a spurious
	// ξ > 0 would silence the key far out.
	xi = min(max(xi*float64(n)/float64(n+tailRing), 0), 0.5)
	if xi == 0 {
		sigma = a0 // the exponential MLE
	}
	sigma = max(sigma*(1+1/math.Sqrt(float64(n))), tailMinSigma)
	return TailFit{LnU: lnU, Zeta: tailZeta, Sigma: sigma, Xi: xi, N: n, Valid: true}
}

// learnTail records log value y at event time t in the ring if it exceeds
// u of d's fit f. Entries are winsorized at u + σ·ln(tailRing), about the
// largest excess a ring of tailRing exponential excesses holds, and a
// winsorized entry (every anomaly is one) or a value beyond the egregious
// bound (far) enters at most once per absorbEvery. So one far value or one
// burst moves the fit by one point (σ by about a tenth), while a tail that
// keeps producing such values opens up over hours to days. A far entry is
// stored negated, so the egregious rule can count them.
func (d *Dist) learnTail(f *TailFit, y float64, t time.Time, far bool) {
	if !f.Valid || !(y > f.LnU) {
		return
	}
	ts := &d.tail
	if lim := f.LnU + f.Sigma*math.Log(tailRing); y > lim || far {
		now := t.UnixNano()
		if ts.absorbAt != 0 && now-ts.absorbAt < absorbEvery {
			return
		}
		ts.absorbAt = now
		y = min(y, lim)
	}
	v := float32(y) // y > u ≥ 0
	if far {
		v = -v
	}
	if ts.ring == nil {
		ts.ring = new([tailRing]float32)
	}
	ts.ring[ts.pos] = v
	ts.pos = (ts.pos + 1) % tailRing
	if ts.n < tailRing {
		ts.n++
	}
	ts.newSince++
}

const (
	tailFlagStale    = 1
	tailFlagValid    = 2
	tailFlagFallback = 4
	tailFlagAnchor   = 8
)

func (t *tailState) marshal(b []byte) []byte {
	var flags byte
	if t.fitStale {
		flags |= tailFlagStale
	}
	if t.fitValid {
		flags |= tailFlagValid
	}
	if t.fitFallback {
		flags |= tailFlagFallback
	}
	l := t.lv
	if l == nil {
		l = &zeroLevel
	}
	if t.anchorSet {
		flags |= tailFlagAnchor
	}
	b = append(b, t.n, t.pos, t.newSince, flags)
	b = binary.AppendVarint(b, t.absorbAt)
	f := t.storedFit()
	for _, v := range [...]float64{f.LnU, f.Zeta, f.Sigma, f.Xi, f.LnP50, f.Scale} {
		b = distAppendF64(b, v)
	}
	b = binary.AppendUvarint(b, uint64(f.N))
	for _, v := range t.rings() {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	b = binary.AppendVarint(b, l.last)
	for _, v := range [...]float64{l.sw, l.sw2, l.swd, l.lw, l.lm, l.lv, l.anchor, l.anchorU, l.anchorS, l.peakUp, l.peakDown, l.epUp, l.epDown, l.gap} {
		b = distAppendF64(b, v)
	}
	for _, v := range [...]int64{l.anchorT, l.shiftAt, l.driftAt} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.AppendUvarint(b, uint64(t.gen))
	b = binary.AppendUvarint(b, uint64(t.anchorGen))
	n := 0
	for n < levelInputs && l.inputs[n] != 0 {
		n++
	}
	b = append(b, byte(n))
	for _, v := range l.inputs[:n] {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(l.rr))
	b = binary.BigEndian.AppendUint32(b, math.Float32bits(l.rd))
	var hourly byte
	if l.hourly {
		hourly = 1
	}
	b = append(b, hourly)
	b = l.rh.marshal(b)
	b = append(b, l.spFlags)
	for _, v := range [...]float32{l.sp.su, l.sp.sd, l.sp.dk, l.sp.dw} {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	for i := range l.stepN {
		b = binary.BigEndian.AppendUint16(b, l.stepN[i])
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(l.stepS[i]))
	}
	b = l.rh.marshalEarly(b)
	b = binary.AppendVarint(b, l.bu.last)
	for _, v := range [...]float32{l.bu.k, l.bu.kd, l.bu.w, l.bu.peak, l.bu.epMax} {
		b = binary.BigEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

func (t *tailState) unmarshal(r *distReader, version byte) error {
	t.n, t.pos, t.newSince = r.byte(), r.byte(), r.byte()
	flags := r.byte()
	if r.err != nil {
		return r.err
	}
	if t.n > tailRing || t.pos >= tailRing || (t.n < tailRing && t.pos != t.n) || flags&^15 != 0 {
		return fmt.Errorf("ring %d/%d, flags %#x: %w", t.n, t.pos, flags, errDistState)
	}
	var l level
	t.fitStale, t.anchorSet = flags&tailFlagStale != 0, flags&tailFlagAnchor != 0
	t.absorbAt = r.varint()
	f := &t.fit
	t.fitValid, t.fitFallback = flags&tailFlagValid != 0, flags&tailFlagFallback != 0
	var zeta float64
	f.LnU, zeta, f.Sigma, f.Xi, f.LnP50, f.Scale = r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
	n := r.uvarint()
	if n > tailRing {
		return fmt.Errorf("fit of %d excesses: %w", n, errDistState)
	}
	t.fitN = uint8(n)
	t.ring = nil
	if t.n > 0 {
		t.ring = new([tailRing]float32)
	}
	for i := range t.n {
		if len(r.b) < 4 {
			r.fail(errDistTruncated)
			break
		}
		t.ring[i] = math.Float32frombits(binary.BigEndian.Uint32(r.b))
		r.b = r.b[4:]
		if v := float64(t.ring[i]); math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("ring value: %w", errDistState)
		}
	}
	l.last = r.varint()
	l.sw, l.sw2, l.swd, l.lw, l.lm, l.lv = r.f64(), r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
	l.anchor, l.anchorU, l.anchorS = r.f64(), r.f64(), r.f64()
	l.peakUp, l.peakDown, l.epUp, l.epDown, l.gap = r.f64(), r.f64(), r.f64(), r.f64(), r.f64()
	l.anchorT, l.shiftAt, l.driftAt = r.varint(), r.varint(), r.varint()
	gen, agen := r.uvarint(), r.uvarint()
	if gen > math.MaxUint32 || agen > math.MaxUint32 {
		return fmt.Errorf("fit generation: %w", errDistState)
	}
	t.gen, t.anchorGen = uint32(gen), uint32(agen)
	if version >= 5 { // version 5: the level test's recent inputs
		n := r.byte()
		if r.err == nil && (n > levelInputs || len(r.b) < 8*int(n)) {
			return fmt.Errorf("%d level inputs: %w", n, errDistState)
		}
		for i := range int(n) {
			l.inputs[i] = binary.BigEndian.Uint64(r.b)
			r.b = r.b[8:]
			if l.inputs[i] == 0 {
				return fmt.Errorf("level input: %w", errDistState)
			}
		}
	}
	if version >= 6 { // version 6: the key's rhythm share and a tool's rhythm
		l.rr, l.rd = r.f32(), r.f32()
		switch r.byte() {
		case 0:
		case 1:
			l.hourly = true
		default:
			return fmt.Errorf("hourly flag: %w", errDistState)
		}
		if rr, rd := float64(l.rr), float64(l.rd); r.err == nil && (!(rr >= 0) || math.IsInf(rr, 0) || math.IsNaN(rd) || math.IsInf(rd, 0)) {
			return fmt.Errorf("rhythm share: %w", errDistState)
		}
		rh, err := unmarshalRhythm(r)
		if err != nil {
			return err
		}
		l.rh = rh
	}
	if version >= 7 { // version 7: spread and density (judge_spread.go)
		l.spFlags = r.byte()
		if r.err != nil {
			return r.err
		}
		flags := byte(spBeyond | spSpread | spDensity)
		if version >= 10 {
			flags |= spBurst | spBurstEp
		}
		if l.spFlags&^flags != 0 || len(r.b) < 16 {
			return fmt.Errorf("spread flags %#x: %w", l.spFlags, errDistState)
		}
		for _, p := range [...]*float32{&l.sp.su, &l.sp.sd, &l.sp.dk, &l.sp.dw} {
			*p = math.Float32frombits(binary.BigEndian.Uint32(r.b))
			r.b = r.b[4:]
			if v := float64(*p); !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("spread memory: %w", errDistState)
			}
		}
	}
	if version >= 9 { // version 9: the step test's runs (judge.go)
		if len(r.b) < 12 {
			return fmt.Errorf("step runs: %w", errDistTruncated)
		}
		for i := range l.stepN {
			l.stepN[i] = binary.BigEndian.Uint16(r.b)
			l.stepS[i] = math.Float32frombits(binary.BigEndian.Uint32(r.b[2:]))
			r.b = r.b[6:]
			if v := float64(l.stepS[i]); !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("step run: %w", errDistState)
			}
		}
	}
	if version >= 9 && l.rh != nil { // version 9: a tool's first value's time and early hourly levels
		if err := unmarshalEarly(l.rh, r); err != nil {
			return err
		}
	} else if l.rh != nil {
		l.rh.first = 1 // unknown: not young
	}
	if version >= 10 { // version 10: tail bursts (judge_spread.go)
		l.bu.last = r.varint()
		if r.err != nil {
			return r.err
		}
		if len(r.b) < 20 {
			return fmt.Errorf("burst memory: %w", errDistTruncated)
		}
		for _, p := range [...]*float32{&l.bu.k, &l.bu.kd, &l.bu.w, &l.bu.peak, &l.bu.epMax} {
			*p = math.Float32frombits(binary.BigEndian.Uint32(r.b))
			r.b = r.b[4:]
			if v := float64(*p); !(v >= 0) || math.IsInf(v, 0) {
				return fmt.Errorf("burst memory: %w", errDistState)
			}
		}
	}
	t.lv = nil
	if !l.zero() {
		t.lv = &l
	}
	if r.err != nil {
		return r.err
	}
	if t.fitValid && !(f.Sigma > 0 && zeta == tailZeta && f.Xi >= 0 && f.Xi <= 0.5) {
		return fmt.Errorf("fit: %w", errDistState)
	}
	return nil
}

// TailRingLen is for tests.
func (d *Dist) TailRingLen() int {
	if d.distMem == nil {
		return 0
	}
	return int(d.tail.n)
}

// TailRing is for tests (an entry beyond the egregious bound is negated).
func (d *Dist) TailRing() []float32 {
	if d.distMem == nil {
		return nil
	}
	return d.tail.rings()
}

// Egregious bound. The fitted tail is deliberately wide (ξ up to 0.5, σ
// inflated), and on a wide key even an honest model finds a call 65× its
// p99 only 5–7 decades improbable (log-normal σ = 1.5: z ≈ 5), so how
// severe a far value scored depended on the noise of a 32-point fit (30 s
// against a ~460 ms p99 scored 99 in one run, 64 in another). A value is
// therefore egregious, and scores at least EgregiousDecades (critical at
// the default bands) whatever its fitted p, when the key has learned at
// least 1,600 values (a tail history of 16 exceedances at ζ = 1%, what a
// fit needs) and the value's log excess e = y − ln u over the body's p99
// is at least each of
//
//   - ln 10: an order of magnitude beyond p99;
//   - ln u − ln p50: the value is as far beyond p99 as p99 is beyond the
//     median (x ≥ p99²/p50), for a log-normal body z ≥ 2·2.326 = 4.65
//     above the median (p ≈ 1.7·10⁻⁶), whatever the key's width;
//   - the light-tail check (lightBound): the body's log-normal puts the
//     value beyond the judge's false-alarm rate (4.75σ above the median
//     at 10⁻⁶, σ the narrower of the body's log scales);
//   - 1.5 · R, with R the second largest log excess over u in the tail
//     ring (the last 32 exceedances): what the key has shown more than
//     once. The second largest, not the largest, because a key's largest
//     value in days is itself one lucky draw far in its tail;
//
// and, unless the fitted tail itself puts the value at p ≤ 10⁻⁴, it is
// also 1.5 times as far beyond u (in log) as the largest value the key
// learned in its two epochs. That is what keeps heavy tails silent: a SQL
// tool with legitimate 20–50 s queries at p99 0.8 s (a Pareto tail,
// α ≈ 1) fits σ ≈ 1.2–1.6 and puts 50 s at p ≈ 10⁻³, and its epochs hold
// such queries; a log-normal σ 1.5 key fits σ ≈ 0.6 and puts 30 s at
// 10⁻⁴·⁵–10⁻⁶; a file reader that returned 8 MB files at p99 500 KB puts
// 100 MB at 10⁻⁴, but 100 MB is far beyond 1.5× the 8 MB in log. A value
// must also be beyond the bound of its tool's baseline (all agents) when
// the tool has one (Verdict.Pool): a key is not egregious where its tool
// shows such values.
//
// Values beyond the bound enter the tail ring (at most one an hour, see
// learnTail) marked as far. A key whose ring holds egregiousAbsorbed (3)
// far entries has produced such values again and again, hours apart: it
// is absorbing a recurring far tail, so the rule is suspended and the
// fitted tail alone judges, opening up over hours to days as before; the
// rule returns when the far entries have left the ring. An attack is
// critical for its first two far values an hour or more apart (a burst
// within the hour adds one entry).
//
// Young Dists. A tool or key with fewer than 1,600 values (a young tool of
// a fleet, an autoscaled agent's tool) has too few exceedances for a fit,
// and its fallback tail puts a call 14× a log-normal σ 1 p99 at only
// p ≈ 10⁻⁴·⁵. From egregiousYoungCount (300) values the rule applies to it
// too, with the same conditions except that the fallback's p never
// replaces the learned-maximum test, and the reach over the maximum grows
// as the history shrinks, so the rule's false-alarm rate on the worst
// case, a pure Pareto tail above p99 (scale-free in log: the maximum of n
// values lies near u·(ζn)^(1/α)), stays what it is at 1,600 values. For a
// Pareto tail of any α, a value r times as far beyond u (log) as the
// maximum of n values has probability about ζ·(ζn)^(−r); so
//
//	r(n) = 1.5 · ln(16) / ln(ζn)     (1.5 at n = 1,600, 2 at 800, 3 at 400, 3.8 at 300)
//
// keeps ζ·(ζn)^(−r(n)) = ζ·16^(−1.5) ≈ 1.6·10⁻⁴. That reach is for a
// maximum that is evidence of a heavy tail. Where the body's log-normal
// explains the maximum (lightMax: n·P(Y ≥ max) ≥ 1 %), it is no such
// evidence and the reach is the mature 1.5; the light-tail check then
// carries the load, so for young Dists its z is corrected for the
// sampling error of the digest's median and scale (lightBound). The
// fleet's held-out miss was such a key: 630 calls, median 191 ms, p99
// 2.07 s, a z 3.8 maximum of 8.7 s (n·P ≈ 3 %), and a 28 s call 1.8× as
// far beyond p99 as that maximum against r(630) = 2.26. Its width condition
// ln u − ln p50 takes the body's robust scale instead, 2.326·s (s from
// p10–p90), when that is less: a young digest's p99 rests on a handful of
// values (a σ 1 tool's digest of 446 put it at 2.6 s where its calls'
// was 2.2 s, moving p99²/p50 from 24 s to 31 s, past a 28 s call), while
// a heavy tail, whose p99 lies beyond what the body's scale implies, is
// held by the learned-maximum reach as before. Log-normal bodies, whose
// maximum lies much closer to u, clear it easily: 28 s against a 2 s p99
// (σ 1) is typically 2–4× beyond the maximum of 300–850 values. (Measured
// on Pareto tails, the young rule is egregious on fresh values no more
// often than the mature rule: baseline/tail_young_test.go.)
//
// The bound is a rule, not a probability, and changes only the severity
// and the reporting of far values: values below ten times p99 are judged
// by the fitted tail alone. It is checked only for values at least ten
// times u (one compare per value otherwise).
const (
	// EgregiousDecades is the least −log10 p an egregious value is given.
	EgregiousDecades = 10
	egregiousMinLn   = math.Ln10
	// egregiousMinCount: values from which the rule applies as for a
	// fitted tail (a fit's p ≤ 10⁻⁴ replaces the learned-maximum test).
	egregiousMinCount = tailMinFit / tailZeta
	// egregiousYoungCount: values a Dist must hold before the rule
	// applies at all (three exceedances expected; reach 3.8 over the
	// maximum, see egregiousMaxReach).
	egregiousYoungCount = 3 / tailZeta
	// egregiousMinDecades: the fitted tail's own −log10 p from which the
	// learned maximum is not consulted.
	egregiousMinDecades = 4
	egregiousReach      = 1.5
	// egregiousAbsorbed far ring entries (values beyond the bound, at
	// least an hour apart) suspend the rule.
	egregiousAbsorbed = 3
)

// egregiousMaxReach is how many times as far beyond u (log) as the
// learned maximum a value of a Dist of n values must lie: egregiousReach
// from egregiousMinCount, and below it ln(16)/ln(ζn) times that (the young
// rule above: the same Pareto false-alarm rate) unless light, the learned
// maximum being one the body's log-normal explains (lightMax): then
// egregiousReach too. Called only for a value at least ten times u.
func egregiousMaxReach(n float64, light bool) float64 {
	if n >= egregiousMinCount || light {
		return egregiousReach
	}
	return egregiousReach * math.Log(egregiousMinCount*tailZeta) / math.Log(n*tailZeta)
}

// egregiousBound returns the log excess over u beyond which a value is
// beyond the egregious bound under fit f, and whether the rule is
// suspended (the ring holds egregiousAbsorbed far entries).
func (d *Dist) egregiousBound(f *TailFit, young bool) (bound float64, suspended bool) {
	r1, r2 := math.Inf(-1), math.Inf(-1) // largest and second largest ring value
	far := 0
	for _, v := range d.tail.rings() {
		y := float64(v)
		if y < 0 {
			y = -y
			far++
		}
		if y > r1 {
			r1, r2 = y, r1
		} else if y > r2 {
			r2 = y
		}
	}
	w := f.LnU - f.LnP50
	if young {
		// A young digest's p99 rests on a handful of values: the body's
		// width at p99 from its robust scale (p10–p90) when that is less.
		w = min(w, 2.3263*f.Scale)
	}
	return max(egregiousMinLn, w, egregiousReach*(r2-f.LnU)), far >= egregiousAbsorbed
}

// lightBound returns the log excess over u that a value must reach under
// the light-tail check: a log-normal through the body's median, of the
// narrower of its robust scale (p10–p90) and its upper half's (p50–p90),
// must put the value beyond the judge's false-alarm rate 10^−far:
// x ≥ p50·exp(z·s), z the normal quantile of 10^−far (4.75 at far 6).
//
// The rule exists because the exponential fit overstates how often a
// Gaussian (light) log tail reaches far values. Where the log-normal of
// the body itself puts the value within the false-alarm rate there is
// nothing to correct, and a tail no lighter than that log-normal makes
// the value more probable still, so the value is not egregious under any
// shape the judge admits. The narrower scale keeps that argument honest:
// a lower mode (error outputs, cache hits) widens p10–p90 and a wide
// upper body p50–p90, neither of which makes the tail above p99 wider.
// Without the check the width condition x ≥ p99²/p50 (z ≥ 4.65 on a
// log-normal, p ≈ 1.7·10⁻⁶) raised ordinary draws of wide log-normal
// tools to critical more often than the info band's false-alarm rate
// (BENCHMARKS.md, "Heavy tails without egregious criticals"). Called
// only for a value at least ten times u.
func (f *TailFit) lightBound(far, lnP90, n float64) float64 {
	if !(far > 0) {
		return math.Inf(-1)
	}
	z := math.Sqrt2 * math.Erfcinv(2*math.Pow(10, -far))
	// A young digest's median and scale are estimates: a threshold
	// m̂ + z·ŝ whose error is normal of variance v (in σ²) is exceeded as
	// often as z/√(1+v) by the honest one, so z is raised by √(1+v),
	// v = (π/2 + z²·lightScaleVar)/n (the sample median's variance, and
	// the narrower scale's). Mature Dists pass n = +Inf: their rule is
	// also held by the fit or the 1.5 reach, and measured within budget.
	z *= math.Sqrt(1 + (math.Pi/2+z*z*lightScaleVar)/n)
	return f.LnP50 + z*f.lightScale(lnP90) - f.LnU
}

// lightScaleVar is n·Var(ŝ/σ) of the narrower body scale: 0.79 for
// (p90 − p10)/2.563 and 1.86 for (p90 − p50)/1.2816 on a normal sample;
// the larger, for the minimum of the two, and rounded up for the
// t-digest's own quantile error.
const lightScaleVar = 2

// lightScale is the narrower of the body's robust log scales (lightBound).
func (f *TailFit) lightScale(lnP90 float64) float64 {
	return min(f.Scale, max((lnP90-f.LnP50)/1.2816, 0.05))
}

// lightMax reports whether the body's log-normal (through the median, of
// the robust scale p10–p90, the less noisy of the two: lightBound's
// narrower one, a minimum of two estimates, runs low on a young digest
// and called a z 4 maximum unexplained on 5 of 16 σ 1 keys of 630 values) explains
// the learned maximum lnMax (log) of n values: it reaches that far with
// probability at least egregiousLightMax, n·P(Y ≥ lnMax) ≥ 1 %. Then the maximum is no
// evidence of a tail heavier than the body's, and a young Dist's reach
// over it is the mature one (egregiousMaxReach). A young log-normal key
// whose largest call is a lucky z 3.8 (fleet held-out seed 2930725630:
// 8.7 s on a 191 ms median, s 0.98, 630 calls: n·p ≈ 3 %) otherwise
// needed a 2.26 reach, and its 28 s call (z 5.1) had only 1.8. A Pareto
// tail's maximum lies beyond what the body explains on most keys, and
// where it does not the order of magnitude beyond p99 and the
// light-tail check still bound it (baseline/tail_young_test.go).
func (f *TailFit) lightMax(lnMax, lnP90, n float64) bool {
	z := (lnMax - f.LnP50) / f.Scale
	return n*0.5*math.Erfc(z/math.Sqrt2) >= egregiousLightMax
}

// egregiousLightMax: the least probability of the learned maximum under
// the body's log-normal for which it is not evidence of a heavier tail.
const egregiousLightMax = 0.01
