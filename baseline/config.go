package baseline

import (
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `baseline` section, shared by all detectors.
type Config struct {
	// MaxKeys caps live (agent, tool) keys per detector; new keys beyond it
	// are rejected and counted until idle keys are evicted.
	MaxKeys int `yaml:"max_keys"`
	// IdleTTL evicts keys not seen for this long (event time).
	IdleTTL time.Duration `yaml:"idle_ttl"`
	// Compression is the t-digest compression (accuracy vs memory).
	Compression float64 `yaml:"compression"`
	// Epoch is how long one baseline epoch lasts; distributions keep the
	// previous and the current epoch, so old behaviour ages out after two.
	Epoch time.Duration `yaml:"epoch"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{MaxKeys: 200000, IdleTTL: 7 * 24 * time.Hour, Compression: 25, Epoch: 24 * time.Hour}
}

// Validate checks ranges.
func (c *Config) Validate() validate.Errors {
	var es validate.Errors
	if c.MaxKeys < 0 {
		es.Addf("max_keys", "must be >= 0 (0 means unlimited)")
	}
	if c.IdleTTL < 0 {
		es.Addf("idle_ttl", "must be >= 0s (0 means never)")
	}
	if c.Compression < 5 || c.Compression > 1000 {
		es.Addf("compression", "must be between 5 and 1000")
	}
	if c.Epoch < time.Minute {
		es.Addf("epoch", "must be >= 1m")
	}
	return es
}
