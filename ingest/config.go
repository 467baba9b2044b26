// Package ingest reads audit records from NATS. STUB: the ingest owner fills this in.
package ingest

import "github.com/toolwatch/toolwatch/internal/validate"

// NATSConfig is the `nats` section. STUB.
type NATSConfig struct {
	URL string `yaml:"url"`
}

// Config is the `ingest` section. STUB.
type Config struct{}

// DefaultNATSConfig returns the documented defaults.
func DefaultNATSConfig() NATSConfig { return NATSConfig{} }

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config { return Config{} }

// Validate checks ranges.
func (c *NATSConfig) Validate() validate.Errors { return nil }

// Validate checks ranges.
func (c *Config) Validate() validate.Errors { return nil }
