package egress

import (
	"math"
	"time"

	"github.com/toolwatch/toolwatch/detect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.egress section of config.yaml. Durations are
// event time. The per-tool knobs (warm-up, vocabulary, openness) may be
// overridden per tool; the task and triage bounds are detector-wide and
// always come from the base section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// WarmupCalls and WarmupAge: a tool's destinations are learned
	// silently until it has had WarmupCalls calls carrying destinations and
	// WarmupAge has passed since its first (both must hold).
	WarmupCalls int           `yaml:"warmup_calls"`
	WarmupAge   time.Duration `yaml:"warmup_age"`
	// MaxDestinations caps the exact destination set of a tool; beyond it
	// destinations are counted with HyperLogLog and the tool is open.
	MaxDestinations int `yaml:"max_destinations"`
	// OpenDistinct: a tool with this many distinct exact destinations is
	// open (learns new ones without alerting).
	OpenDistinct int `yaml:"open_distinct"`
	// OpenNewRate: a Good–Turing new-destination rate (destinations seen
	// once / destination uses) at or above this makes the tool open.
	OpenNewRate float64 `yaml:"open_new_rate"`
	// TaskIdleTTL forgets a task's provenance (destinations its tool
	// outputs mentioned, confidential reads) this long after its last call.
	TaskIdleTTL time.Duration `yaml:"task_idle_ttl"`
	// MaxTasks caps the tasks remembered (least recently active evicted).
	MaxTasks int `yaml:"max_tasks"`
	// MaxTaskDestinations caps the output destinations remembered per task
	// (the oldest are overwritten).
	MaxTaskDestinations int `yaml:"max_task_destinations"`
	// MaxPending caps the destinations awaiting triage, and separately the
	// rejected ones. A flagged destination beyond it still alerts and is
	// still kept out of the vocabulary, but is not listed.
	MaxPending int `yaml:"max_pending"`
	// MinScore: findings scoring below it are not emitted (and their
	// destination is learned).
	MinScore float64 `yaml:"min_score"`
	// LearnProvenance weighs the provenance term by how often the tool's
	// learned new destinations came from the same output tool, judges a
	// destination no output named on the new destinations no output
	// explained, and weighs a confidential read before a new destination
	// at a known domain by how often the tool's learned ones at known
	// domains followed one (package doc); off, provenance is a fixed 2
	// decades and a confidential read 1.
	LearnProvenance bool `yaml:"learn_provenance"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:             true,
		WarmupCalls:         200,
		WarmupAge:           24 * time.Hour,
		MaxDestinations:     4096,
		OpenDistinct:        2000,
		OpenNewRate:         0.2,
		TaskIdleTTL:         2 * time.Hour,
		MaxTasks:            100_000,
		MaxTaskDestinations: 64,
		MaxPending:          10_000,
		MinScore:            40,
		LearnProvenance:     true,
	}
}

// On implements detect.Section.
func (c *Config) On() bool { return c.Enabled }

// Validate implements detect.Section; paths are relative to the section.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.WarmupCalls < 1 || c.WarmupCalls > 10_000_000 {
		es.Addf("warmup_calls", "must be between 1 and 10000000")
	}
	if c.WarmupAge < 0 || c.WarmupAge > 90*24*time.Hour {
		es.Addf("warmup_age", "must be between 0s and 2160h")
	}
	if c.MaxDestinations < 1 || c.MaxDestinations > 1<<20 {
		es.Addf("max_destinations", "must be between 1 and 1048576")
	}
	if c.OpenDistinct < 2 {
		es.Addf("open_distinct", "must be >= 2")
	} else if c.MaxDestinations >= 1 && c.OpenDistinct > c.MaxDestinations {
		es.Addf("open_distinct", "must be <= max_destinations (%d)", c.MaxDestinations)
	}
	if !(c.OpenNewRate > 0 && c.OpenNewRate <= 1) {
		es.Addf("open_new_rate", "must be > 0 and <= 1")
	}
	if c.TaskIdleTTL < time.Minute || c.TaskIdleTTL > 30*24*time.Hour {
		es.Addf("task_idle_ttl", "must be between 1m and 720h")
	}
	if c.MaxTasks < 1 || c.MaxTasks > 10_000_000 {
		es.Addf("max_tasks", "must be between 1 and 10000000")
	}
	if c.MaxTaskDestinations < 1 || c.MaxTaskDestinations > 1024 {
		es.Addf("max_task_destinations", "must be between 1 and 1024")
	}
	if c.MaxPending < 1 || c.MaxPending > 1_000_000 {
		es.Addf("max_pending", "must be between 1 and 1000000")
	}
	if math.IsNaN(c.MinScore) || c.MinScore < 0 || c.MinScore > 100 {
		es.Addf("min_score", "must be between 0 and 100")
	}
	return es
}

var _ detect.Section = (*Config)(nil)
