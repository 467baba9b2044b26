package denials

import (
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/detect/internal/ratedetect"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.denial_spike section of config.yaml.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// The denials-per-window spike knobs (window, long_windows,
	// false_alarm_rate, min_count, peak_ratio, neighbour_weight, warmup,
	// min_slot_windows, half_life, peak_half_life, hold,
	// borrow_tool_baseline).
	baseline.SpikeConfig `yaml:",inline"`
	// TypeWarmup: permission types denied during a tool's first TypeWarmup
	// of event time are learned silently; afterwards a new type alerts.
	TypeWarmup time.Duration `yaml:"type_warmup"`
	// MaxTypesPerTool and MaxActionsPerTool cap the remembered denied
	// types and "type:action" pairs per tool; beyond the cap new ones are
	// counted (Overflow) and not alerted.
	MaxTypesPerTool   int `yaml:"max_types_per_tool"`
	MaxActionsPerTool int `yaml:"max_actions_per_tool"`
	// DangerousDecades is the risk prior (decades of p, 10 score points
	// each) added to a first-seen denied type listed in DangerousTypes.
	DangerousDecades float64  `yaml:"dangerous_decades"`
	DangerousTypes   []string `yaml:"dangerous_types"`
	// RetryWindow: a denied call repeated verbatim by its key (same trace,
	// input hash and denied permissions) within RetryWindow of its first
	// try counts as one denial (0: every try counts).
	RetryWindow time.Duration `yaml:"retry_window"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:           true,
		SpikeConfig:       ratedetect.DefaultSpike(time.Hour, 6*time.Hour),
		TypeWarmup:        24 * time.Hour,
		MaxTypesPerTool:   32,
		MaxActionsPerTool: 256,
		DangerousDecades:  2,
		DangerousTypes:    []string{"code_execution", "network", "filesystem"},
		RetryWindow:       10 * time.Minute,
	}
}

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_count").
func (c *Config) Validate() validate.Errors {
	es := c.SpikeConfig.Validate()
	if c.TypeWarmup < 0 || c.TypeWarmup > 30*24*time.Hour {
		es.Addf("type_warmup", "must be between 0s and 720h")
	}
	if c.MaxTypesPerTool < 1 || c.MaxTypesPerTool > 4096 {
		es.Addf("max_types_per_tool", "must be between 1 and 4096")
	}
	if c.MaxActionsPerTool < 1 || c.MaxActionsPerTool > 65536 {
		es.Addf("max_actions_per_tool", "must be between 1 and 65536")
	}
	if !(c.DangerousDecades >= 0 && c.DangerousDecades <= 10) {
		es.Addf("dangerous_decades", "must be between 0 and 10")
	}
	if c.RetryWindow < 0 || c.RetryWindow > 24*time.Hour {
		es.Addf("retry_window", "must be between 0s and 24h")
	}
	for i, s := range c.DangerousTypes {
		if s == "" {
			es.Addf("dangerous_types."+strconv.Itoa(i), "must not be empty")
		}
	}
	return es
}

// RemovedKeys names the replacement of keys earlier versions accepted.
func (Config) RemovedKeys() map[string]string {
	const noRule = "removed: there is no production rule any more: denials are judged against the key's own baseline"
	return map[string]string{
		"spike_ratio":             "removed: a spike is now judged by its probability: use false_alarm_rate",
		"p_value":                 "removed: replaced by false_alarm_rate (per key and window, all scales together)",
		"new_type_score":          "removed: first-seen types score by an odds bound (at least 40); see dangerous_decades",
		"dangerous_type_score":    "removed: replaced by dangerous_decades",
		"new_action_score":        "removed: new actions score by an odds bound and are reported from 40",
		"production_environments": noRule,
		"production_score":        noRule,
	}
}
