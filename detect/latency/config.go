package latency

import (
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
	// P99Ratio: a call alerts when its duration exceeds P99Ratio × baseline
	// p99 (and the other two bounds below).
	P99Ratio float64 `yaml:"p99_ratio"`
	// P999Ratio: ... and P999Ratio × baseline p99.9 (binds only for tails
	// heavier than log-normal σ≈1.8).
	P999Ratio float64 `yaml:"p999_ratio"`
	// MinBaselineMS floors the baseline p99 used for threshold and score,
	// so a tool that answers in 2 ms does not alert at 20 ms.
	MinBaselineMS float64 `yaml:"min_baseline_ms"`
	// RelearnSamples: after a tool.version change, calls of the new version
	// before its own baseline is used (instead of MinSamples).
	RelearnSamples int `yaml:"relearn_samples"`
	// RelearnFactor: until then the previous version's threshold, times
	// this factor, applies.
	RelearnFactor float64 `yaml:"relearn_factor"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config {
	return Config{
		Enabled:        true,
		MinSamples:     200,
		P99Ratio:       8,
		P999Ratio:      2,
		MinBaselineMS:  50,
		RelearnSamples: 100,
		RelearnFactor:  3,
	}
}

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_samples").
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	distdetect.Validate(&es, c.MinSamples, c.P99Ratio, c.P999Ratio, c.MinBaselineMS, "min_baseline_ms")
	if c.RelearnSamples < 50 || c.RelearnSamples > 1000000 {
		es.Addf("relearn_samples", "must be between 50 and 1000000")
	}
	if !(c.RelearnFactor >= 1 && c.RelearnFactor <= 1000) {
		es.Addf("relearn_factor", "must be between 1 and 1000")
	}
	return es
}
