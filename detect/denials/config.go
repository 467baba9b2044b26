package denials

import (
	"strconv"
	"time"

	"github.com/toolwatch/toolwatch/baseline"
	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the detectors.denial_spike section of config.yaml.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// The denials-per-window spike knobs (window, min_count, spike_ratio,
	// peak_ratio, neighbour_weight, p_value, warmup, min_slot_windows,
	// half_life, peak_half_life, borrow_tool_baseline).
	baseline.SpikeConfig `yaml:",inline"`
	// TypeWarmup: permission types denied during a tool's first TypeWarmup
	// of event time are learned silently; afterwards a new type alerts.
	TypeWarmup time.Duration `yaml:"type_warmup"`
	// MaxTypesPerTool and MaxActionsPerTool cap the remembered denied
	// types and "type:action" pairs per tool; beyond the cap new ones are
	// counted (Overflow) and not alerted.
	MaxTypesPerTool   int `yaml:"max_types_per_tool"`
	MaxActionsPerTool int `yaml:"max_actions_per_tool"`
	// NewTypeScore scores a first-seen denied type; DangerousTypeScore one
	// listed in DangerousTypes.
	NewTypeScore       float64  `yaml:"new_type_score"`
	DangerousTypeScore float64  `yaml:"dangerous_type_score"`
	DangerousTypes     []string `yaml:"dangerous_types"`
	// NewActionScore scores a first-seen action of an already denied type
	// (0: do not report).
	NewActionScore float64 `yaml:"new_action_score"`
	// ProductionEnvironments: any denial with one of these
	// context.environment values is reported with at least ProductionScore.
	ProductionEnvironments []string `yaml:"production_environments"`
	ProductionScore        float64  `yaml:"production_score"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled: true,
		SpikeConfig: baseline.SpikeConfig{
			Window:             5 * time.Minute,
			MinCount:           10,
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
		TypeWarmup:             24 * time.Hour,
		MaxTypesPerTool:        32,
		MaxActionsPerTool:      256,
		NewTypeScore:           65,
		DangerousTypeScore:     85,
		DangerousTypes:         []string{"code_execution", "network", "filesystem"},
		NewActionScore:         45,
		ProductionEnvironments: []string{"production"},
		ProductionScore:        40,
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
	score := func(path string, v, lo float64) {
		if !(v >= lo && v <= 100) {
			es.Addf(path, "must be between %g and 100", lo)
		}
	}
	score("new_type_score", c.NewTypeScore, 1)
	score("dangerous_type_score", c.DangerousTypeScore, 1)
	score("new_action_score", c.NewActionScore, 0)
	score("production_score", c.ProductionScore, 1)
	for i, s := range c.DangerousTypes {
		if s == "" {
			es.Addf("dangerous_types."+strconv.Itoa(i), "must not be empty")
		}
	}
	for i, s := range c.ProductionEnvironments {
		if s == "" {
			es.Addf("production_environments."+strconv.Itoa(i), "must not be empty")
		}
	}
	return es
}
