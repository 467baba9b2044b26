package alert

import (
	"time"

	"github.com/toolwatch/toolwatch/internal/validate"
)

// Config is the `alerts` section. STUB: the alert package's owner extends it.
type Config struct {
	// Bands: minimum score of each severity; scores below Info raise nothing.
	Bands Bands `yaml:"bands"`
	// Cooldown folds repeats of a firing fingerprint into it.
	Cooldown time.Duration `yaml:"cooldown"`
	// ResolveAfter resolves a firing alert not seen again for this long.
	ResolveAfter time.Duration `yaml:"resolve_after"`
}

// Bands are the score thresholds of the severities.
type Bands struct {
	Info     float64 `yaml:"info"`
	Warning  float64 `yaml:"warning"`
	Critical float64 `yaml:"critical"`
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{Bands: Bands{Info: 40, Warning: 60, Critical: 80}, Cooldown: 15 * time.Minute, ResolveAfter: 30 * time.Minute}
}

// Validate checks ranges.
func (c *Config) Validate() validate.Errors { return nil }
