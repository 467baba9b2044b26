package detect

import (
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// TimeConfig is the `time` section: how event time is handled (docs/design.md §4).
type TimeConfig struct {
	// AllowedLateness: records up to this much older than the newest event
	// time seen are still applied; older ones are counted as late.
	AllowedLateness time.Duration `yaml:"allowed_lateness"`
	// MaxClockSkew: records stamped further than this in the future of the
	// wall clock are invalid.
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// TickInterval: event-time granularity at which detectors are ticked
	// (windows closed, idle keys evicted, alerts resolved).
	TickInterval time.Duration `yaml:"tick_interval"`
	// IdleAdvance: the live daemon advances event time on the wall clock
	// only when the consumer is caught up and no record arrived for this long.
	IdleAdvance time.Duration `yaml:"idle_advance"`
}

// DefaultTimeConfig returns the documented defaults.
func DefaultTimeConfig() TimeConfig {
	return TimeConfig{
		AllowedLateness: 30 * time.Second,
		MaxClockSkew:    5 * time.Minute,
		TickInterval:    10 * time.Second,
		IdleAdvance:     5 * time.Second,
	}
}

// Validate checks ranges.
func (c *TimeConfig) Validate() validate.Errors {
	var es validate.Errors
	if c.AllowedLateness < 0 || c.AllowedLateness > 24*time.Hour {
		es.Addf("allowed_lateness", "must be between 0s and 24h")
	}
	if c.MaxClockSkew < time.Second || c.MaxClockSkew > 7*24*time.Hour {
		es.Addf("max_clock_skew", "must be between 1s and 168h")
	}
	if c.TickInterval < time.Second || c.TickInterval > time.Hour {
		es.Addf("tick_interval", "must be between 1s and 1h")
	}
	if c.IdleAdvance < 100*time.Millisecond || c.IdleAdvance > time.Hour {
		es.Addf("idle_advance", "must be between 100ms and 1h")
	}
	return es
}
