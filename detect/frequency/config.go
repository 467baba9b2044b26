package frequency

import (
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.frequency section of config.yaml.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// The calls-per-window spike knobs (window, long_windows,
	// false_alarm_rate, min_count, peak_ratio, neighbour_weight, warmup,
	// min_slot_windows, half_life, peak_half_life, hold,
	// borrow_tool_baseline).
	baseline.SpikeConfig `yaml:",inline"`
	// LoopWindow is the window over which same-input calls are counted.
	LoopWindow time.Duration `yaml:"loop_window"`
	// LoopMinCalls: a loop is at least this many calls with one input_hash
	// in one loop window (and improbable at false_alarm_rate, see the
	// package doc). Repeats below it are the loop test's: spikes and rises
	// count them only once the input repeats in three loop windows running
	// (package doc, "Repeats").
	LoopMinCalls int `yaml:"loop_min_calls"`
	// DropMinWindows: a key is judged for drops once it was called in this
	// many of its agent's active windows; 0 disables drop findings.
	DropMinWindows int `yaml:"drop_min_windows"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:        true,
		SpikeConfig:    ratedetect.DefaultSpike(time.Hour),
		LoopWindow:     time.Minute,
		LoopMinCalls:   30,
		DropMinWindows: 24,
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
	if c.DropMinWindows < 0 || c.DropMinWindows > 1<<30 {
		es.Addf("drop_min_windows", "must be between 0 (off) and 1073741824")
	}
	return es
}

// RemovedKeys names the replacement of keys earlier versions accepted.
func (Config) RemovedKeys() map[string]string {
	return map[string]string{
		"spike_ratio": "removed: a spike is now judged by its probability: use false_alarm_rate",
		"p_value":     "removed: replaced by false_alarm_rate (per key and window, all scales together)",
		"loop_ratio":  "removed: loops are judged by their probability: use false_alarm_rate and loop_min_calls",
	}
}
