package baseline

import (
	"math"
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// SpikeConfig holds the knobs of a multi-scale per-key rate baseline with
// a false-alarm budget; detectors embed it inline in their config section.
type SpikeConfig struct {
	// Window is the tumbling window counts are taken over (the first scale).
	Window time.Duration `yaml:"window"`
	// LongWindows are further scales: sliding sums of the last
	// LongWindows[i]/Window windows, judged at every window (so a moderate
	// rise sustained for tens of minutes adds up).
	LongWindows []time.Duration `yaml:"long_windows"`
	// FalseAlarmRate is the budget: the probability that one window of a
	// key behaving as its baseline says raises a finding, summed over the
	// scales (Bonferroni). Findings need p <= FalseAlarmRate, so every
	// finding scores at least score.FromP(FalseAlarmRate).
	FalseAlarmRate float64 `yaml:"false_alarm_rate"`
	// MinCount: never flag a scale's sum below this many events.
	MinCount int `yaml:"min_count"`
	// PeakRatio: a flagged sum also exceeds this many times the scale's
	// recent peak (the largest sum of that scale seen lately, at any hour),
	// so recurring bursts of an irregular agent are normal once seen.
	PeakRatio float64 `yaml:"peak_ratio"`
	// NeighbourWeight: the seasonal expectation of a window is at least this
	// share of the adjacent hour slots' means.
	NeighbourWeight float64 `yaml:"neighbour_weight"`
	// Warmup: no findings until a key has this much event-time history.
	Warmup time.Duration `yaml:"warmup"`
	// MinSlotWindows: an hour slot with fewer windows than this uses the
	// key's overall level as its seasonal expectation.
	MinSlotWindows int `yaml:"min_slot_windows"`
	// HalfLife of the slot means, the overall levels and the dispersions.
	HalfLife time.Duration `yaml:"half_life"`
	// PeakHalfLife of the scale peaks.
	PeakHalfLife time.Duration `yaml:"peak_half_life"`
	// Hold damps flapping: after a finding, a new crossing of the same key
	// within Hold is not reported unless it continues the episode (the
	// same or the next window) or is EscalateDecades more improbable.
	Hold time.Duration `yaml:"hold"`
	// BorrowToolBaseline lets a key still in warm-up use its tool's
	// (warm) tool-level baseline.
	BorrowToolBaseline bool `yaml:"borrow_tool_baseline"`
}

// SuspectP is the tail probability at which a long scale's sum is suspect
// and stops teaching the hour-slot means beyond that level (Rate.Roll): a
// 1% one-sided clip, the usual robust-estimation choice (about 2.3σ), well
// below any alert level, so a sustained rise cannot lift its own
// expectation while it builds up to one.
const SuspectP = 1e-2

// EscalateDecades is how much more improbable (decades of p, i.e. 20 score
// points) a crossing inside a hold must be to be reported.
const EscalateDecades = 2

// Validate checks ranges; paths are relative to the enclosing section.
func (c *SpikeConfig) Validate() validate.Errors {
	var es validate.Errors
	if c.Window < time.Second || c.Window > 24*time.Hour || (24*time.Hour)%c.Window != 0 {
		es.Addf("window", "must be between 1s and 24h and divide 24h evenly")
	}
	if len(c.LongWindows) > MaxScales-1 {
		es.Addf("long_windows", "at most %d long windows", MaxScales-1)
	}
	prev := c.Window
	for i, w := range c.LongWindows {
		p := "long_windows." + strconv.Itoa(i)
		switch {
		case c.Window < time.Second || (24*time.Hour)%c.Window != 0:
		case w%c.Window != 0 || w <= prev:
			es.Addf(p, "must be a multiple of window (%v), longer than the previous scale", c.Window)
		case w > RingLen*c.Window:
			es.Addf(p, "must be at most %d windows (%v)", RingLen, RingLen*c.Window)
		}
		prev = w
	}
	if !(c.FalseAlarmRate >= 1e-15 && c.FalseAlarmRate <= 1e-2) {
		es.Addf("false_alarm_rate", "must be between 1e-15 and 0.01 (probability per key and window)")
	}
	if c.MinCount < 1 || c.MinCount > 1<<30 {
		es.Addf("min_count", "must be between 1 and 1073741824")
	}
	if !(c.PeakRatio >= 0 && c.PeakRatio <= 1e6) {
		es.Addf("peak_ratio", "must be between 0 (off) and 1000000")
	}
	if !(c.NeighbourWeight >= 0 && c.NeighbourWeight <= 1) {
		es.Addf("neighbour_weight", "must be between 0 and 1")
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
	if c.Hold < 0 || c.Hold > 7*24*time.Hour {
		es.Addf("hold", "must be between 0s and 168h")
	}
	return es
}

// RateParams derives the Rate constants of c.
func (c *SpikeConfig) RateParams() RateParams {
	rp := NewRateParams(c.Window, c.HalfLife, c.PeakHalfLife)
	for _, w := range c.LongWindows {
		if rp.Scales < MaxScales {
			rp.N[rp.Scales] = int(w / c.Window)
			rp.Scales++
		}
	}
	rp.Neighbour, rp.MinSlotWindows = c.NeighbourWeight, c.MinSlotWindows
	rp.LearnLogP = math.Log(SuspectP)
	return rp
}

// Rule derives the spike rule of c.
func (c *SpikeConfig) Rule() SpikeRule {
	n := 1 + min(len(c.LongWindows), MaxScales-1)
	return SpikeRule{
		MinCount:  c.MinCount,
		PeakRatio: c.PeakRatio,
		LogP:      math.Log(c.FalseAlarmRate / float64(n)),
		Tests:     float64(n),
		Warmup:    int64(c.Warmup / time.Second),
		Hold:      int64(c.Hold / time.Second),
	}
}

// SpikeRule is the precomputed form of SpikeConfig.
type SpikeRule struct {
	MinCount  int
	PeakRatio float64
	LogP      float64 // ln of the per-scale level: false_alarm_rate / scales
	Tests     float64 // scales judged per window (Bonferroni factor)
	Warmup    int64   // seconds
	Hold      int64   // seconds
}
