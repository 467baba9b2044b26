package outputsize

import (
	"math"

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
	if c.MinSamples < 50 || c.MinSamples > 1000000 {
		es.Addf("min_samples", "must be between 50 and 1000000")
	}
	if !(c.P99Ratio >= 1.5 && c.P99Ratio <= 1e6) {
		es.Addf("p99_ratio", "must be between 1.5 and 1e6")
	}
	if !(c.P999Ratio >= 1 && c.P999Ratio <= 1e6) {
		es.Addf("p999_ratio", "must be between 1 and 1e6")
	}
	if !(c.MinBaselineBytes >= 0) || math.IsInf(c.MinBaselineBytes, 0) {
		es.Addf("min_baseline_bytes", "must be a finite number >= 0")
	}
	return es
}
