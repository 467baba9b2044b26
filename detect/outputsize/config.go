package outputsize

import (
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
	// P99Ratio: an output alerts when it exceeds P99Ratio × baseline p99
	// (and the other two bounds below).
	P99Ratio float64 `yaml:"p99_ratio"`
	// P999Ratio: ... and P999Ratio × baseline p99.9, which only binds for
	// tools with tails heavier than log-normal σ≈1.8.
	P999Ratio float64 `yaml:"p999_ratio"`
	// MinBaselineBytes floors the baseline p99 used for the threshold and
	// the score, so a tool that usually returns 200 B does not alert on 2 KB.
	MinBaselineBytes float64 `yaml:"min_baseline_bytes"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:          true,
		MinSamples:       200,
		P99Ratio:         8,
		P999Ratio:        2,
		MinBaselineBytes: 1024,
	}
}

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_samples").
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	distdetect.Validate(&es, c.MinSamples, c.P99Ratio, c.P999Ratio, c.MinBaselineBytes, "min_baseline_bytes")
	return es
}
