package frequency

import (
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.frequency section of config.yaml.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// The calls-per-window spike knobs (window, min_count, spike_ratio,
	// peak_ratio, neighbour_weight, p_value, warmup, min_slot_windows,
	// half_life, peak_half_life, borrow_tool_baseline).
	baseline.SpikeConfig `yaml:",inline"`
	// LoopWindow is the window over which same-input calls are counted.
	LoopWindow time.Duration `yaml:"loop_window"`
	// LoopMinCalls: a loop is at least this many calls with one input_hash
	// in one loop window.
	LoopMinCalls int `yaml:"loop_min_calls"`
	// LoopRatio: ... and at least this many times the key's recent largest
	// same-input count per loop window.
	LoopRatio float64 `yaml:"loop_ratio"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled: true,
		SpikeConfig: baseline.SpikeConfig{
			Window:             5 * time.Minute,
			MinCount:           20,
			SpikeRatio:         5,
			PeakRatio:          2,
			NeighbourWeight:    0.5,
			PValue:             1e-6,
			Warmup:             24 * time.Hour,
			MinSlotWindows:     6,
			HalfLife:           72 * time.Hour,
			PeakHalfLife:       7 * 24 * time.Hour,
			BorrowToolBaseline: true,
		},
		LoopWindow:   time.Minute,
		LoopMinCalls: 30,
		LoopRatio:    5,
	}
}

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_count").
func (c *Config) Validate() validate.Errors {
	es := c.SpikeConfig.Validate()
	if c.LoopWindow < time.Second || c.LoopWindow > time.Hour {
		es.Addf("loop_window", "must be between 1s and 1h")
	}
	if c.LoopMinCalls < 2 || c.LoopMinCalls > 1<<30 {
		es.Addf("loop_min_calls", "must be between 2 and 1073741824")
	}
	if !(c.LoopRatio >= 1 && c.LoopRatio <= 1e6) {
		es.Addf("loop_ratio", "must be between 1 and 1000000")
	}
	return es
}
