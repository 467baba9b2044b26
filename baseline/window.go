package baseline

// Event-time rate primitives: a tumbling window counter, an hour-of-day
// profile of per-window counts, a Poisson upper-tail test and a 4-slot
// heavy-hitter table. All are fixed-size values (no pointers, no slices), so
// they allocate nothing after their owner is created and cost a known number
// of bytes per key.

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
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

// RateParams are the derived constants of a Profile; compute them once per
// configuration, never per record.
type RateParams struct {
	Size      int64   // window length in seconds
	Alpha     float64 // EWMA weight of one window in its slot (floor; see Update)
	PeakDecay float64 // factor applied to a slot's peak per window update
	// OverallAlpha is the EWMA weight of one window in the overall level.
	OverallAlpha float64
	// MaxCatchUp bounds how many empty windows are replayed after a gap;
	// older ones have decayed away anyway.
	MaxCatchUp int64
}

// NewRateParams derives the constants for windows of size whose slot means
// halve their memory in halfLife and whose slot peaks halve in peakHalfLife
// (both event time). A slot receives windowsPerHour updates per day.
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
	return RateParams{
		Size:         sz,
		Alpha:        1 - math.Pow(0.5, 1/math.Max(days(halfLife)*perDay, 1)),
		PeakDecay:    math.Pow(0.5, 1/math.Max(days(peakHalfLife)*perDay, 1)),
		OverallAlpha: 1 - math.Pow(0.5, float64(sz)/math.Max(halfLife.Seconds(), float64(sz))),
		MaxCatchUp:   7 * 86400 / sz,
	}
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
	a := math.Max(rp.Alpha, 1/float64(p.Seen[slot]))
	p.Mean[slot] += float32(a * (x - float64(p.Mean[slot])))
	pk := float64(p.Peak[slot]) * rp.PeakDecay
	p.Peak[slot] = float32(math.Max(pk, x))
	if p.Windows < math.MaxUint32 {
		p.Windows++
	}
	oa := math.Max(rp.OverallAlpha, 1/float64(p.Windows))
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
	if g > zeroRun {
		p.zeros(from, g, rp)
		return
	}
	for i := int64(0); i < g; i++ {
		p.Update(HourSlot(from+i*rp.Size), 0, rp)
	}
}

// runningMeanSteps is how many of m updates of a level seen n times still
// use the running-mean weight 1/(n+j) > alpha, without passing limit.
func runningMeanSteps(n, m int64, alpha float64, limit int64) int64 {
	last := int64(math.Ceil(1/alpha)) - 1 // largest count with 1/count > alpha
	if 1/float64(last+1) > alpha {
		last++
	}
	return max(0, min(m, last-n, limit-n))
}

// zeroRun: gaps up to this many windows are fed window by window; longer
// ones (a key that was quiet for hours, whose windows close lazily on its
// next event) in closed form, so catching up costs O(hours), not
// O(windows).
const zeroRun = 32

// zeros feeds g empty windows starting at from, as g Update(slot, 0) calls
// in time order would: per slot the mean and peak decay by the per-window
// factors, the overall level by its own. While a level's weight is still
// the running-mean 1/n (a young profile), k zeros scale it by n/(n+k);
// after that by (1-α)^k. Both differ from the stepwise float32 products
// only by rounding.
func (p *Profile) zeros(from, g int64, rp *RateParams) {
	var n [Slots]int64
	for w, left := from, g; left > 0; {
		next := AlignDown(w, 3600) + 3600 // windows starting in w's hour
		k := min(left, (next-w+rp.Size-1)/rp.Size)
		n[HourSlot(w)] += k
		w += k * rp.Size
		left -= k
	}
	for s, m := range n {
		if m == 0 {
			continue
		}
		p.Peak[s] = float32(float64(p.Peak[s]) * math.Pow(rp.PeakDecay, float64(m)))
		if k := runningMeanSteps(int64(p.Seen[s]), m, rp.Alpha, math.MaxUint16); k > 0 {
			n0 := float64(p.Seen[s])
			p.Seen[s] += uint16(k)
			p.Mean[s] = float32(float64(p.Mean[s]) * n0 / (n0 + float64(k)))
			m -= k
		}
		if m == 0 {
			continue
		}
		a := rp.Alpha
		if p.Seen[s] == math.MaxUint16 { // saturated: Update's 1/n stays
			a = math.Max(a, 1/float64(p.Seen[s]))
		}
		p.Seen[s] = uint16(min(int64(p.Seen[s])+m, math.MaxUint16))
		p.Mean[s] = float32(float64(p.Mean[s]) * math.Pow(1-a, float64(m)))
	}
	m := g
	if k := runningMeanSteps(int64(p.Windows), m, rp.OverallAlpha, math.MaxUint32); k > 0 {
		n0 := float64(p.Windows)
		p.Windows += uint32(k)
		p.Overall = float32(float64(p.Overall) * n0 / (n0 + float64(k)))
		m -= k
	}
	if m > 0 {
		oa := rp.OverallAlpha
		if p.Windows == math.MaxUint32 {
			oa = math.Max(oa, 1/float64(p.Windows))
		}
		p.Windows = uint32(min(int64(p.Windows)+m, math.MaxUint32))
		p.Overall = float32(float64(p.Overall) * math.Pow(1-oa, float64(m)))
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
// exp(logP). logP must be < 0. Exact (binary search on PoissonLogSF) for
// lambda <= 1000, Cornish–Fisher approximation above.
func PoissonCritical(lambda, logP float64) int {
	if lambda <= 0 {
		return 1
	}
	if lambda > 1000 {
		z := math.Sqrt2 * math.Erfcinv(2*math.Exp(logP))
		return int(math.Ceil(lambda + z*math.Sqrt(lambda) + (z*z-1)/6))
	}
	lo := int(lambda) // PoissonLogSF(lo) may be 0 > logP
	hi, step := lo+1, 1
	for PoissonLogSF(hi, lambda) > logP {
		lo = hi
		step *= 2
		hi += step
	}
	for hi-lo > 1 { // invariant: SF(lo) > logP >= SF(hi)
		mid := lo + (hi-lo)/2
		if PoissonLogSF(mid, lambda) > logP {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
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

// SpikeConfig holds the knobs of a seasonal per-window rate baseline with a
// spike threshold; detectors embed it inline in their config section.
type SpikeConfig struct {
	// Window is the tumbling window the count is taken over.
	Window time.Duration `yaml:"window"`
	// MinCount: never flag a window with fewer events than this.
	MinCount int `yaml:"min_count"`
	// SpikeRatio: a spike is at least this many times the expected count.
	SpikeRatio float64 `yaml:"spike_ratio"`
	// PeakRatio: a spike also exceeds this many times the largest window
	// seen recently in the same (or an adjacent) hour slot, so recurring
	// bursts such as a nightly batch are not spikes.
	PeakRatio float64 `yaml:"peak_ratio"`
	// NeighbourWeight: the expectation is at least this share of the
	// adjacent hour slots' means (tolerates schedules shifted by minutes).
	NeighbourWeight float64 `yaml:"neighbour_weight"`
	// PValue: a spike must also be this improbable under Poisson(expected).
	PValue float64 `yaml:"p_value"`
	// Warmup: no spike findings until a key has this much event-time history.
	Warmup time.Duration `yaml:"warmup"`
	// MinSlotWindows: ... and its hour slot has seen this many windows.
	MinSlotWindows int `yaml:"min_slot_windows"`
	// HalfLife of the slot means and the overall level (event time).
	HalfLife time.Duration `yaml:"half_life"`
	// PeakHalfLife of the slot peaks.
	PeakHalfLife time.Duration `yaml:"peak_half_life"`
	// BorrowToolBaseline lets a key still in warm-up use its tool's
	// (warm) tool-level baseline.
	BorrowToolBaseline bool `yaml:"borrow_tool_baseline"`
}

// Validate checks ranges; paths are relative to the enclosing section.
func (c *SpikeConfig) Validate() validate.Errors {
	var es validate.Errors
	if c.Window < time.Second || c.Window > 24*time.Hour || (24*time.Hour)%c.Window != 0 {
		es.Addf("window", "must be between 1s and 24h and divide 24h evenly")
	}
	if c.MinCount < 1 || c.MinCount > 1<<30 {
		es.Addf("min_count", "must be between 1 and 1073741824")
	}
	if !(c.SpikeRatio >= 1.5 && c.SpikeRatio <= 1e6) {
		es.Addf("spike_ratio", "must be between 1.5 and 1000000")
	}
	if !(c.PeakRatio >= 0 && c.PeakRatio <= 1e6) {
		es.Addf("peak_ratio", "must be between 0 (off) and 1000000")
	}
	if !(c.NeighbourWeight >= 0 && c.NeighbourWeight <= 1) {
		es.Addf("neighbour_weight", "must be between 0 and 1")
	}
	if !(c.PValue > 0 && c.PValue <= 0.05) {
		es.Addf("p_value", "must be in (0, 0.05]")
	}
	if c.Warmup < 0 || c.Warmup > 30*24*time.Hour {
		es.Addf("warmup", "must be between 0s and 720h")
	}
	if c.MinSlotWindows < 0 || c.MinSlotWindows > 10000 {
		es.Addf("min_slot_windows", "must be between 0 and 10000")
	}
	if c.HalfLife < time.Hour || c.HalfLife > 365*24*time.Hour {
		es.Addf("half_life", "must be between 1h and 8760h")
	}
	if c.PeakHalfLife < time.Hour || c.PeakHalfLife > 365*24*time.Hour {
		es.Addf("peak_half_life", "must be between 1h and 8760h")
	}
	return es
}

// RateParams derives the Profile constants of c.
func (c *SpikeConfig) RateParams() RateParams {
	return NewRateParams(c.Window, c.HalfLife, c.PeakHalfLife)
}

// Rule derives the spike rule of c.
func (c *SpikeConfig) Rule() SpikeRule {
	return SpikeRule{
		MinCount:       float64(c.MinCount),
		Ratio:          c.SpikeRatio,
		PeakRatio:      c.PeakRatio,
		Neighbour:      c.NeighbourWeight,
		LogP:           math.Log(c.PValue),
		Warmup:         int64(c.Warmup / time.Second),
		MinSlotWindows: c.MinSlotWindows,
	}
}

// SpikeRule is the precomputed form of SpikeConfig.
type SpikeRule struct {
	MinCount, Ratio, PeakRatio, Neighbour, LogP float64
	Warmup                                      int64 // seconds
	MinSlotWindows                              int
}

// Threshold is the smallest window count that is a spike against expected
// count exp and recent slot peak: max(min_count, ratio*exp,
// peak_ratio*peak, Poisson critical value of exp).
func (s *SpikeRule) Threshold(exp, peak float64) uint32 {
	t := max(s.MinCount, math.Ceil(s.Ratio*exp), math.Ceil(s.PeakRatio*peak), float64(PoissonCritical(exp, s.LogP)))
	if t >= math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(t)
}

// Rate is one key's seasonal rate baseline plus the spike threshold armed
// for its current window. About 300 bytes.
type Rate struct {
	Counter
	Profile
	First    int64   // start of the key's first window (unix seconds)
	ArmedAt  int64   // window start the threshold was armed for
	Thr      uint32  // spike threshold of the current window; 0: disarmed
	Next     uint32  // next count at which Hit reports (escalation doubles it)
	Reported uint32  // count last reported by Hit in this window; 0: none
	Exp      float32 // expectation behind Thr
	Borrowed bool    // Thr came from another key's baseline
}

// Roll moves r to the window containing t. A closed window feeds the
// profile, winsorised at its own armed threshold: a spike enters the
// baseline as if it had been exactly at the threshold, so a burst raises
// the normal level by at most one threshold's worth per window instead of
// becoming the new normal, while a pattern that recurs (a new daily job)
// is still learned over a few days. Windows judged against a borrowed
// baseline enter unclamped: the key's own level is unknown yet.
func (r *Rate) Roll(t int64, rp *RateParams) (Closed, bool) {
	cl, ok := r.Counter.Roll(t, rp.Size)
	if r.First == 0 {
		r.First = r.Start
	}
	if !ok {
		return cl, false
	}
	x := float64(cl.N)
	if r.Thr > 0 && !r.Borrowed && cl.N > r.Thr {
		x = float64(r.Thr)
	}
	r.Profile.UpdateGap(cl, x, rp)
	return cl, true
}

// Unreported reports whether the closed window cl was a reported spike
// that grew after its last report: the caller then reports its final count.
// Valid right after Roll closed cl, before Arm.
func (r *Rate) Unreported(cl Closed) bool {
	return r.Reported > 0 && cl.N > r.Reported
}

// NeedsArm reports whether the current window has no threshold yet.
func (r *Rate) NeedsArm() bool { return r.ArmedAt != r.Start }

// Own returns r's own expectation and peak for its current window and
// whether r is warm for it under s (enough history overall and in the slot).
func (r *Rate) Own(s *SpikeRule) (exp, peak float64, warm bool) {
	exp, peak, n := r.Profile.Expect(HourSlot(r.Start), s.Neighbour)
	return exp, peak, r.Start-r.First >= s.Warmup && n >= s.MinSlotWindows
}

// Arm sets the current window's threshold (0 disarms).
func (r *Rate) Arm(thr uint32, exp float64, borrowed bool) {
	r.ArmedAt, r.Thr, r.Next, r.Exp, r.Borrowed, r.Reported = r.Start, thr, thr, float32(exp), borrowed, 0
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

// Score maps observed/expected to 0..100: 40 + 20*log10(observed /
// max(expected, 1)), clamped. Ratio 10 scores 60, 100 scores 80, 1000 scores
// 100; monotone in the ratio.
func Score(observed, expected float64) float64 {
	ratio := observed / math.Max(expected, 1)
	if ratio <= 0 {
		return 0
	}
	return math.Min(100, math.Max(0, 40+20*math.Log10(ratio)))
}
