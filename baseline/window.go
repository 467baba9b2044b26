package baseline

// Event-time rate primitives: a tumbling window counter, an hour-of-day
// profile of per-window counts, a Poisson upper-tail test and a 4-slot
// heavy-hitter table (the multi-scale Rate built on them is in rate.go). All are fixed-size values (no pointers, no slices), so
// they allocate nothing after their owner is created and cost a known number
// of bytes per key.

import (
	"math"
	"time"
)

// Counter counts events of the current tumbling window [Start, Start+size),
// aligned to multiples of size since the Unix epoch. Start 0 means unused
// (an event at 1970-01-01T00:00Z cannot be told apart; it does not occur).
type Counter struct {
	Start int64  // unix seconds
	N     uint32 // events in the window
}

// Closed describes a window that Roll closed.
type Closed struct {
	Start int64  // start of the closed window (unix seconds)
	N     uint32 // its count
	// Gap is how many whole empty windows lie between the closed window and
	// the new current one; the caller feeds them to its baseline as zeros.
	Gap int64
}

// AlignDown returns the start of the size-second window containing t.
func AlignDown(t, size int64) int64 {
	q := t / size
	if t%size < 0 {
		q--
	}
	return q * size
}

// Roll moves the counter to the window containing t (unix seconds). When t
// is past the current window it returns the closed window and ok; the new
// window starts empty. A t before the current window (a late record within
// the allowed lateness) does not move the counter: the caller counts it in
// the current window. An unused counter starts at t's window and reports
// nothing.
func (c *Counter) Roll(t, size int64) (cl Closed, ok bool) {
	if c.Start == 0 {
		c.Start = AlignDown(t, size)
		return Closed{}, false
	}
	if t < c.Start+size {
		return Closed{}, false
	}
	ns := AlignDown(t, size)
	cl = Closed{Start: c.Start, N: c.N, Gap: (ns-c.Start)/size - 1}
	c.Start, c.N = ns, 0
	return cl, true
}

// Slots is the number of hour-of-day slots of a Profile.
const Slots = 24

// HourSlot is the UTC hour of day of t (unix seconds).
func HourSlot(t int64) int {
	return int((t - AlignDown(t, 86400)) / 3600)
}

// RateParams are the derived constants of a Profile and of a Rate's time
// scales; compute them once per configuration, never per record.
type RateParams struct {
	Size      int64   // window length in seconds
	Alpha     float64 // EWMA weight of one window in its slot (floor; see Update)
	PeakDecay float64 // factor applied to a slot's peak per window update
	// OverallAlpha is the EWMA weight of one window in the overall level
	// and in every scale's moments.
	OverallAlpha float64
	// MaxCatchUp bounds how many empty windows are replayed after a gap;
	// older ones have decayed away anyway.
	MaxCatchUp int64
	// Scales is the number of time scales a Rate judges (1..MaxScales);
	// N[s] is the length of scale s in windows (N[0] = 1, the window itself).
	Scales int
	N      [MaxScales]int
	// WinPeakDecay is the factor applied to a scale's peak per window.
	WinPeakDecay float64
	// Neighbour and MinSlotWindows shape the seasonal expectation (see
	// Rate.seasonal).
	Neighbour      float64
	MinSlotWindows int
	// LearnLogP (< 0; 0 = off) is the ln tail probability at which a long
	// scale's sum becomes suspect: a window that makes it suspect teaches
	// the hour-slot means only up to that pace (see Rate.Roll, SuspectP).
	LearnLogP float64
	// PerHour is the number of windows per hour when Size divides an hour
	// (0 otherwise): lets the seasonal walk step an hour at a time without
	// dividing.
	PerHour int
	// Closed-form decay of quiet windows (Rate.Settle): slot means, the
	// overall weight (overall level and scales), slot and scale peaks.
	slot, overall     decayRun
	slotPeak, winPeak powTable
}

// NewRateParams derives the constants for windows of size whose slot means
// halve their memory in halfLife and whose slot peaks halve in peakHalfLife
// (both event time). A slot receives windowsPerHour updates per day. The
// Rate scales are the window alone; see SpikeConfig.RateParams for more.
func NewRateParams(size, halfLife, peakHalfLife time.Duration) RateParams {
	sz := int64(size / time.Second)
	if sz < 1 {
		sz = 1
	}
	perDay := float64(time.Hour/time.Second) / float64(sz) // updates of one slot per day
	if perDay < 1 {
		perDay = 1
	}
	days := func(d time.Duration) float64 { return d.Hours() / 24 }
	perHour := 0
	if sz < 3600 && 3600%sz == 0 {
		perHour = int(3600 / sz)
	}
	rp := RateParams{
		PerHour:      perHour,
		Size:         sz,
		Alpha:        1 - math.Pow(0.5, 1/math.Max(days(halfLife)*perDay, 1)),
		PeakDecay:    math.Pow(0.5, 1/math.Max(days(peakHalfLife)*perDay, 1)),
		OverallAlpha: 1 - math.Pow(0.5, float64(sz)/math.Max(halfLife.Seconds(), float64(sz))),
		MaxCatchUp:   7 * 86400 / sz,
		Scales:       1,
		N:            [MaxScales]int{1},
		WinPeakDecay: math.Pow(0.5, float64(sz)/math.Max(peakHalfLife.Seconds(), float64(sz))),
	}
	rp.slot = newDecayRun(rp.Alpha, math.MaxUint16)
	rp.overall = newDecayRun(rp.OverallAlpha, math.MaxUint32)
	rp.slotPeak, rp.winPeak = newPowTable(rp.PeakDecay), newPowTable(rp.WinPeakDecay)
	return rp
}

// Profile is an hour-of-day seasonal baseline of per-window counts: per UTC
// hour slot a mean (EWMA, a plain running mean for the first 1/Alpha
// windows), a decaying peak (the largest window seen recently, so recurring
// bursts such as a nightly batch are known), and how many windows the slot
// has seen. Plus an overall EWMA level. 24*10+8 = 248 bytes.
type Profile struct {
	Mean    [Slots]float32
	Peak    [Slots]float32
	Seen    [Slots]uint16 // windows seen per slot, saturating
	Overall float32
	Windows uint32 // windows seen in total, saturating
}

// Update adds one closed window with count x to slot.
func (p *Profile) Update(slot int, x float64, rp *RateParams) {
	if p.Seen[slot] < math.MaxUint16 {
		p.Seen[slot]++
	}
	// Builtin max: math.Max's semantics, inlined (closeEmpty calls this
	// per skipped window).
	a := max(rp.Alpha, 1/float64(p.Seen[slot]))
	p.Mean[slot] += float32(a * (x - float64(p.Mean[slot])))
	pk := float64(p.Peak[slot]) * rp.PeakDecay
	p.Peak[slot] = float32(max(pk, x))
	if p.Windows < math.MaxUint32 {
		p.Windows++
	}
	oa := max(rp.OverallAlpha, 1/float64(p.Windows))
	p.Overall += float32(oa * (x - float64(p.Overall)))
}

// UpdateGap feeds the closed window cl (with its count replaced by x, e.g.
// clamped) and then cl.Gap empty windows, at most rp.MaxCatchUp of them.
func (p *Profile) UpdateGap(cl Closed, x float64, rp *RateParams) {
	p.Update(HourSlot(cl.Start), x, rp)
	g := cl.Gap
	from := cl.Start + rp.Size
	if g > rp.MaxCatchUp {
		from += (g - rp.MaxCatchUp) * rp.Size
		g = rp.MaxCatchUp
	}
	for i := int64(0); i < g; i++ {
		p.Update(HourSlot(from+i*rp.Size), 0, rp)
	}
}

// Expect returns the expected count and the recent peak for a window in
// slot. The expectation is the slot mean, but at least neighbour times the
// adjacent slots' means, and the peak is the largest of the three slots'
// peaks: a daily pattern shifted by a few minutes (a ramp at 07:55 instead
// of 08:05, a batch straddling the hour) does not look new. n is the number
// of windows the slot itself has seen.
func (p *Profile) Expect(slot int, neighbour float64) (mean, peak float64, n int) {
	prev, next := (slot+Slots-1)%Slots, (slot+1)%Slots
	mean = math.Max(float64(p.Mean[slot]), neighbour*math.Max(float64(p.Mean[prev]), float64(p.Mean[next])))
	peak = math.Max(float64(p.Peak[slot]), math.Max(float64(p.Peak[prev]), float64(p.Peak[next])))
	return mean, peak, int(p.Seen[slot])
}

// PoissonLogSF returns ln P(X >= k) for X ~ Poisson(lambda). For k <= lambda
// it returns 0 (the upper tail is not small there and callers only test
// excesses). lambda <= 0 gives 0 for k <= 0 and -Inf otherwise.
func PoissonLogSF(k int, lambda float64) float64 {
	if k <= 0 {
		return 0
	}
	if lambda <= 0 {
		return math.Inf(-1)
	}
	if float64(k) <= lambda {
		return 0
	}
	// P(X>=k) = pmf(k) * (1 + lambda/(k+1) + lambda^2/((k+1)(k+2)) + ...);
	// the ratio of terms is < lambda/(k+1) < 1, so the series converges.
	lg, _ := math.Lgamma(float64(k) + 1)
	logPmf := -lambda + float64(k)*math.Log(lambda) - lg
	sum, term := 1.0, 1.0
	for i := 1; i < 100000; i++ {
		term *= lambda / float64(k+i)
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return logPmf + math.Log(sum)
}

// PoissonCritical returns the smallest count k with ln P(X >= k) <= logP for
// X ~ Poisson(lambda): counts at or above it are significant at level
// exp(logP). logP must be < 0. For lambda <= 1000 a search from the
// Cornish–Fisher estimate on an O(1) upper bound of the tail (the result is
// the exact critical count or slightly above: conservative); that estimate
// above.
func PoissonCritical(lambda, logP float64) int {
	if lambda <= 0 {
		return 1
	}
	guess := cfGuess(lambda, lambda, 1/math.Sqrt(lambda), logP)
	if lambda > 1000 {
		return guess
	}
	return critical(func(k int) float64 { return poissonLogSFBound(k, lambda) }, int(lambda), guess, logP)
}

// poissonLogSFBound is an O(1) upper bound of PoissonLogSF: pmf(k) times
// the geometric series of ratio lambda/(k+1), the largest later term ratio.
func poissonLogSFBound(k int, lambda float64) float64 {
	if k <= 0 || float64(k) <= lambda {
		return 0
	}
	ratio := lambda / float64(k+1)
	return min(0, -lambda+float64(k)*math.Log(lambda)-lgammaInt(k)-math.Log1p(-ratio))
}

// TopK is a Misra–Gries heavy-hitter table with 4 slots over 64-bit hashes:
// any item with more than n/5 of n additions is guaranteed a slot, and a
// slot's count underestimates its item's true count by at most n/5. 48 bytes.
type TopK struct {
	H [4]uint64 // 0 is an empty slot
	C [4]uint32
}

// Add counts one occurrence of h and returns its estimated count (0 when
// the table had no room and decremented every slot instead).
func (m *TopK) Add(h uint64) uint32 {
	if h == 0 {
		h = 1
	}
	free := -1
	for i := range m.H {
		if m.H[i] == h {
			m.C[i]++
			return m.C[i]
		}
		if m.C[i] == 0 && free < 0 {
			free = i
		}
	}
	if free >= 0 {
		m.H[free], m.C[free] = h, 1
		return 1
	}
	for i := range m.C {
		m.C[i]--
		if m.C[i] == 0 {
			m.H[i] = 0
		}
	}
	return 0
}

// Max returns the largest slot count.
func (m *TopK) Max() uint32 {
	var x uint32
	for _, c := range m.C {
		x = max(x, c)
	}
	return x
}

// Top returns the hash of the largest slot and its count (0, 0 when empty).
func (m *TopK) Top() (h uint64, c uint32) {
	for i, x := range m.C {
		if x > c {
			h, c = m.H[i], x
		}
	}
	return h, c
}

// Reset empties the table.
func (m *TopK) Reset() { *m = TopK{} }

// HashString is 64-bit FNV-1a over s; it does not allocate.
func HashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
