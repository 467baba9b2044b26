package inputs

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// ringSize is how many recent first-seen shapes a tool remembers for its
// novelty rate; OpenNewPer1000 must be countable within it.
const ringSize = 32

// Config is the detectors.input_novelty section of config.yaml. All
// durations are event time.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// WarmupRecords and WarmupAge: a tool's first-seen shapes are learned
	// silently until it has had at least WarmupRecords records with a shape
	// and WarmupAge has passed since its first one (both must hold).
	WarmupRecords int           `yaml:"warmup_records"`
	WarmupAge     time.Duration `yaml:"warmup_age"`
	// MaxShapes caps the exact set of known shapes per tool. Shapes that do
	// not fit are counted (overflow) and estimated with HyperLogLog; they
	// are treated as new each time, which keeps such a tool open.
	MaxShapes int `yaml:"max_shapes"`
	// NoveltyWindowRecords is the recent-novelty window in records: the
	// novelty rate is the number of shapes first seen among the tool's last
	// NoveltyWindowRecords records, per 1000 records. It must not exceed
	// WarmupRecords, so learning in the first records ages out of the
	// window before alerts can fire.
	NoveltyWindowRecords int `yaml:"novelty_window_records"`
	// OpenNewPer1000: a novelty rate at or above this makes the vocabulary
	// open (no findings for plain new shapes).
	OpenNewPer1000 float64 `yaml:"open_new_per_1000"`
	// OpenDistinct: this many distinct shapes in use in the current or the
	// previous DistinctWindow also makes the vocabulary open.
	OpenDistinct int `yaml:"open_distinct"`
	// DistinctWindow is the event-time window over which shapes in use are
	// counted.
	DistinctWindow time.Duration `yaml:"distinct_window"`
	// StableAfter: a vocabulary with no new shape for this long counts as
	// fully stable (raises the score of a new shape).
	StableAfter time.Duration `yaml:"stable_after"`
	// AlwaysAlertInjection raises a finding for every record whose shape
	// carries class sql-injection: also during warm-up and when the shape is
	// already known (the alert manager folds repeats within its cooldown).
	AlwaysAlertInjection bool `yaml:"always_alert_injection"`
	// MinScore: findings scoring below it are not emitted.
	MinScore float64 `yaml:"min_score"`
	// MaxDetailBytes truncates the shape used as the alert Detail (part of
	// the fingerprint).
	MaxDetailBytes int `yaml:"max_detail_bytes"`
	// ReferenceMinWindows: a shape joins the tool's long-term reference
	// once it has been used in this many distinct DistinctWindows, none of
	// them while the vocabulary was opening abnormally.
	ReferenceMinWindows int `yaml:"reference_min_windows"`
	// ReferenceMaxShapes caps the reference; once full it admits nothing
	// and nothing displaces its shapes. Reference shapes are members of
	// the vocabulary's set, so max_shapes bounds it too.
	ReferenceMaxShapes int `yaml:"reference_max_shapes"`
	// ReferenceWindows is the memory of the reference openness, in
	// DistinctWindows (exponential moving average of each clean window's
	// openness).
	ReferenceWindows int `yaml:"reference_windows"`
	// OpeningNewShapes: this many first-seen shapes among the last
	// NoveltyWindowRecords records, or in one DistinctWindow, at a tool
	// whose reference is closed is an abnormal opening: one
	// vocabulary_opening finding, the flood's shapes quarantined, and until
	// the vocabulary closes again new shapes are judged against the
	// reference.
	OpeningNewShapes int `yaml:"opening_new_shapes"`
	// ExtensionHold: an extension finding (a known shape plus one or two
	// new plain fields) scoring info waits this long in event time, and is
	// dropped if two other agents or tasks send a new field meanwhile (a
	// tool release's rollout); one other by then keeps it waiting up to
	// twice as long in all; 0 emits it at once.
	ExtensionHold time.Duration `yaml:"extension_hold"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:              true,
		WarmupRecords:        500,
		WarmupAge:            24 * time.Hour,
		MaxShapes:            1024,
		NoveltyWindowRecords: 200,
		OpenNewPer1000:       10,
		OpenDistinct:         16,
		DistinctWindow:       24 * time.Hour,
		StableAfter:          24 * time.Hour,
		AlwaysAlertInjection: true,
		MinScore:             40,
		MaxDetailBytes:       128,
		ReferenceMinWindows:  2,
		ReferenceMaxShapes:   256,
		ReferenceWindows:     7,
		OpeningNewShapes:     16,
		ExtensionHold:        3 * time.Hour,
	}
}

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "max_shapes").
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.WarmupRecords < 1 || c.WarmupRecords > 10_000_000 {
		es.Addf("warmup_records", "must be between 1 and 10000000")
	}
	if c.WarmupAge < 0 || c.WarmupAge > 90*24*time.Hour {
		es.Addf("warmup_age", "must be between 0s and 2160h")
	}
	if c.MaxShapes < 1 || c.MaxShapes > 1<<20 {
		es.Addf("max_shapes", "must be between 1 and 1048576")
	}
	if c.NoveltyWindowRecords < 10 {
		es.Addf("novelty_window_records", "must be >= 10")
	} else if c.NoveltyWindowRecords > c.WarmupRecords && c.WarmupRecords >= 1 {
		es.Addf("novelty_window_records", "must be <= warmup_records (%d)", c.WarmupRecords)
	}
	if !(c.OpenNewPer1000 > 0) || math.IsInf(c.OpenNewPer1000, 0) {
		es.Addf("open_new_per_1000", "must be > 0")
	} else if c.NoveltyWindowRecords >= 10 && c.OpenNewPer1000*float64(c.NoveltyWindowRecords)/1000 > ringSize {
		es.Addf("open_new_per_1000", "must be at most %d new shapes per novelty_window_records (%d), i.e. <= %g",
			ringSize, c.NoveltyWindowRecords, float64(ringSize)*1000/float64(c.NoveltyWindowRecords))
	}
	if c.OpenDistinct < 2 {
		es.Addf("open_distinct", "must be >= 2")
	} else if c.MaxShapes >= 1 && c.OpenDistinct > c.MaxShapes {
		es.Addf("open_distinct", "must be <= max_shapes (%d)", c.MaxShapes)
	}
	if c.DistinctWindow < time.Minute || c.DistinctWindow > 90*24*time.Hour {
		es.Addf("distinct_window", "must be between 1m and 2160h")
	}
	if c.StableAfter < time.Second || c.StableAfter > 365*24*time.Hour {
		es.Addf("stable_after", "must be between 1s and 8760h")
	}
	if math.IsNaN(c.MinScore) || c.MinScore < 0 || c.MinScore > 100 {
		es.Addf("min_score", "must be between 0 and 100")
	}
	if c.MaxDetailBytes < 16 || c.MaxDetailBytes > 256 {
		es.Addf("max_detail_bytes", "must be between 16 and 256")
	}
	if c.ReferenceMinWindows < 2 || c.ReferenceMinWindows > maxUses {
		es.Addf("reference_min_windows", "must be between 2 and %d", maxUses)
	}
	if c.ReferenceMaxShapes < 1 || c.ReferenceMaxShapes > 1<<20 {
		es.Addf("reference_max_shapes", "must be between 1 and 1048576")
	}
	if c.ReferenceWindows < 1 || c.ReferenceWindows > 1000 {
		es.Addf("reference_windows", "must be between 1 and 1000")
	}
	if c.OpeningNewShapes < 2 || c.OpeningNewShapes > ringSize {
		es.Addf("opening_new_shapes", "must be between 2 and %d", ringSize)
	} else if c.NoveltyWindowRecords >= 10 && c.OpeningNewShapes > c.NoveltyWindowRecords {
		es.Addf("opening_new_shapes", "must be <= novelty_window_records (%d)", c.NoveltyWindowRecords)
	} else if open := c.OpenNewPer1000 * float64(c.NoveltyWindowRecords) / 1000; c.OpenNewPer1000 > 0 && open <= ringSize && float64(c.OpeningNewShapes) < open {
		// An opening must leave the vocabulary open, or it would end at once and restart.
		es.Addf("opening_new_shapes", "must be >= the new shapes that make the vocabulary open (open_new_per_1000 × novelty_window_records / 1000 = %g)", open)
	}
	if c.ExtensionHold < 0 || c.ExtensionHold > 24*time.Hour {
		es.Addf("extension_hold", "must be between 0s and 24h")
	}
	return es
}
