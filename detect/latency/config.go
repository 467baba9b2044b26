package latency

import (
	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/distdetect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.latency section of config.yaml (and the body of
// an override rule for this detector).
type Config struct {
	Enabled bool `yaml:"enabled"`
	// MinSamples: calls a baseline needs before it is used. Until an
	// (agent, tool) key has this many, the tool-level baseline is borrowed;
	// until that has this many too, nothing alerts.
	MinSamples int `yaml:"min_samples"`
	// FalseAlarmRate: a call is a finding when its fitted tail probability
	// is at most this (see the package doc).
	FalseAlarmRate float64 `yaml:"false_alarm_rate"`
	// MinAlertMS: calls at or below this never raise a slow finding, so a
	// tool that answers in 2 ms does not alert at 20 ms.
	MinAlertMS float64 `yaml:"min_alert_ms"`
	// LevelShiftRatio: a sustained shift of the median by at least this
	// factor (up or down; reached at 15/16 of its log, baseline.Judge)
	// raises level_shift_up / level_shift_down; 0 off.
	LevelShiftRatio float64 `yaml:"level_shift_ratio"`
	// MaxDriftPerDay: the baseline median may rise at most this factor per
	// day before a drift finding; faster growth does not lift the
	// threshold. 0 off.
	MaxDriftPerDay float64 `yaml:"max_drift_per_day"`
	// RelearnSamples: after a tool.version change, calls of the new version
	// before its own baseline is used (instead of MinSamples).
	RelearnSamples int `yaml:"relearn_samples"`
	// RelearnFactor: until then the previous version's tail, widened by
	// this factor, applies.
	RelearnFactor float64 `yaml:"relearn_factor"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:         true,
		MinSamples:      200,
		FalseAlarmRate:  1e-6,
		MinAlertMS:      400,
		LevelShiftRatio: 2,
		MaxDriftPerDay:  2,
		RelearnSamples:  100,
		RelearnFactor:   3,
	}
}

func (c *Config) settings() distdetect.Settings {
	return distdetect.Settings{MinSamples: c.MinSamples, FalseAlarmRate: c.FalseAlarmRate, Floor: c.MinAlertMS,
		FloorKey: "min_alert_ms", LevelShiftRatio: c.LevelShiftRatio, MaxDriftPerDay: c.MaxDriftPerDay}
}

func judgeOf(c *Config) baseline.Judge { return distdetect.JudgeOf(c.settings()) }

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_samples").
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	distdetect.Validate(&es, c.settings())
	if c.RelearnSamples < 50 || c.RelearnSamples > 1000000 {
		es.Addf("relearn_samples", "must be between 50 and 1000000")
	}
	if !(c.RelearnFactor >= 1 && c.RelearnFactor <= 1000) {
		es.Addf("relearn_factor", "must be between 1 and 1000")
	}
	return es
}

// RemovedKeys names the replacement of keys earlier versions accepted.
func (Config) RemovedKeys() map[string]string {
	m := map[string]string{"min_baseline_ms": "removed: use min_alert_ms (8 × the old value keeps the old floor)"}
	for k, v := range distdetect.Removed {
		m[k] = v
	}
	return m
}
