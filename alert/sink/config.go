// Package sink delivers alerts. STUB: the sinks' owner fills this in.
package sink

import "github.com/toolwatch/toolwatch/internal/validate"

// Config is the `sinks` section. STUB.
type Config struct{}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{} }

// Validate checks ranges.
func (c *Config) Validate() validate.Errors { return nil }
