package frequency

import "github.com/toolwatch/toolwatch/internal/validate"

// Config is the detectors.frequency section of config.yaml.
// STUB: the detector's owner extends this with its knobs.
type Config struct {
	Enabled bool `yaml:"enabled"`
}

// DefaultConfig returns the documented defaults (config.yaml).
func DefaultConfig() Config { return Config{Enabled: true} }

// Validate checks ranges and cross-field rules; paths are relative to the
// section (e.g. "min_samples").
func (c *Config) Validate() validate.Errors { return nil }
