package outputsize

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.output_size section of config.yaml (and the body
// of an override rule for this detector).
type Config struct {
	Enabled bool `yaml:"enabled"`
	// MinSamples: outputs a baseline needs before it is used. Until an
	// (agent, tool) key has this many, the tool-level baseline is borrowed;
	// until that has this many too, nothing alerts.
	MinSamples int `yaml:"min_samples"`
	// FalseAlarmRate: an output is a finding when its fitted tail
	// probability is at most this (see the package doc).
	FalseAlarmRate float64 `yaml:"false_alarm_rate"`
	// MinAlertBytes: outputs at or below this never raise a large-output
	// finding, so a tool that usually returns 200 B does not alert on 2 KB.
	MinAlertBytes float64 `yaml:"min_alert_bytes"`
	// LevelShiftRatio: a sustained shift of the median by at least this
	// factor (up or down; reached at 15/16 of its log, baseline.Judge)
	// raises level_shift_up / level_shift_down; 0 off.
	LevelShiftRatio float64 `yaml:"level_shift_ratio"`
	// MaxDriftPerDay: the baseline median may rise at most this factor per
	// day before a drift finding; faster growth does not lift the
	// threshold. 0 off.
	MaxDriftPerDay float64 `yaml:"max_drift_per_day"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:         true,
		MinSamples:      200,
		FalseAlarmRate:  1e-6,
		MinAlertBytes:   8192,
		LevelShiftRatio: 2,
		MaxDriftPerDay:  2,
	}
}

func (c *Config) settings() distdetect.Settings {
	return distdetect.Settings{MinSamples: c.MinSamples, FalseAlarmRate: c.FalseAlarmRate, Floor: c.MinAlertBytes,
		FloorKey: "min_alert_bytes", LevelShiftRatio: c.LevelShiftRatio, MaxDriftPerDay: c.MaxDriftPerDay}
}

func judgeOf(c *Config) baseline.Judge { return distdetect.JudgeOf(c.settings()) }

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_samples").
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	distdetect.Validate(&es, c.settings())
	return es
}

// RemovedKeys names the replacement of keys earlier versions accepted.
func (Config) RemovedKeys() map[string]string {
	m := map[string]string{"min_baseline_bytes": "removed: use min_alert_bytes (8 × the old value keeps the old floor)"}
	for k, v := range distdetect.Removed {
		m[k] = v
	}
	return m
}
